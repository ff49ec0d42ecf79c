/**
 * The HTTP front door, on node:http. It owns transport concerns only: body limits, JSON parsing,
 * routing, readiness probes and graceful shutdown. Anything malformed is answered here and never
 * reaches the bot.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TurnContext } from 'botbuilder';
import type { Logger } from './logger';
import type { TeamsCloudAdapter } from './teamsAdapter';

/** Bot Framework caps activities well below this; Slack payloads are smaller still. */
export const BODY_LIMIT_BYTES = 256 * 1024;

/** An incoming request whose body has already been read (within the limit). Bolt's receivers reuse `rawBody`. */
export type BufferedRequest = IncomingMessage & { rawBody: Buffer };

export type RouteHandler = (req: BufferedRequest, res: ServerResponse) => Promise<void> | void;

export interface ReadinessCheck {
  name: string;
  /** Resolves when healthy; rejects (or exceeds `timeoutMs`) otherwise. */
  check(signal: AbortSignal): Promise<void>;
  timeoutMs?: number;
  /**
   * A success is reused for this long, and concurrent probes share one run: /readyz is unauthenticated,
   * so a flood of probes must not become a flood of ARM calls.
   */
  cacheOkMs?: number;
}

export interface BotEndpoint {
  adapter: Pick<TeamsCloudAdapter, 'handleActivity'>;
  logic(context: TurnContext): Promise<void>;
}

export interface HttpServerOptions {
  logger: Logger;
  /** `POST /api/messages`. */
  bot: BotEndpoint;
  readiness: ReadinessCheck[];
  bodyLimitBytes?: number;
}

export interface ServerStats {
  /** Turns handed to the bot since start. */
  turns: number;
  /** Requests being answered plus work registered with `track`. */
  inFlight: number;
}

type Method = 'GET' | 'POST';

interface Route {
  method: Method;
  handler: RouteHandler;
  /** GET routes need no body. */
  readBody: boolean;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_CHECK_TIMEOUT_MS = 3000;

interface CheckResult {
  name: string;
  result: 'ok' | 'failed' | 'timeout';
}

export class HttpServer {
  readonly server: http.Server;
  private readonly routes = new Map<string, Route[]>();
  private readonly logger: Logger;
  private readonly bodyLimit: number;
  private readonly readiness: ReadinessCheck[];
  private turns = 0;
  private inFlight = 0;
  private drained: (() => void)[] = [];
  private shuttingDown = false;
  private readonly checkCache = new Map<string, { okUntil: number; running?: Promise<CheckResult> }>();

  constructor(options: HttpServerOptions) {
    this.logger = options.logger;
    this.bodyLimit = options.bodyLimitBytes ?? BODY_LIMIT_BYTES;
    this.readiness = options.readiness;
    this.server = http.createServer((req, res) => void this.handle(req, res));
    // A client that trickles its body must not hold a connection (and a shutdown) forever.
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 15_000;

    this.mount('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'alive' }), { readBody: false });
    this.mount('GET', '/readyz', (_req, res) => this.ready(res), { readBody: false });
    this.mount('POST', '/api/messages', (req, res) => this.botFramework(options.bot, req, res));
  }

  /** Adds a route (e.g. `POST /slack/events`). The handler gets the body already read, as `req.rawBody`. */
  mount(method: Method, path: string, handler: RouteHandler, options: { readBody?: boolean } = {}): void {
    const list = this.routes.get(path) ?? [];
    if (list.some((r) => r.method === method)) throw new Error(`${method} ${path} is already mounted`);
    list.push({ method, handler, readBody: options.readBody ?? method === 'POST' });
    this.routes.set(path, list);
  }

  /** Keeps shutdown waiting for work that outlives its HTTP request (e.g. a Slack turn after the 3 s ack). */
  track<T>(work: Promise<T>): Promise<T> {
    this.begin();
    return work.finally(() => this.end());
  }

  stats(): ServerStats {
    return { turns: this.turns, inFlight: this.inFlight };
  }

  async listen(port: number, host: string): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const { port: bound } = this.server.address() as AddressInfo;
    const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
    return `http://${shownHost}:${bound}`;
  }

  /**
   * Stops accepting connections, waits for in-flight requests and tracked work (up to `graceMs`),
   * then closes what is left.
   */
  async close(graceMs = 25_000): Promise<void> {
    this.shuttingDown = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    if (this.inFlight > 0) {
      this.logger.info({ inFlight: this.inFlight }, 'waiting for in-flight work before shutdown');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        new Promise<boolean>((resolve) => this.drained.push(() => resolve(false))),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), graceMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) this.logger.warn({ inFlight: this.inFlight, graceMs }, 'shutdown grace period over; dropping in-flight work');
    }
    this.server.closeAllConnections();
    await closed;
  }

  private begin(): void {
    this.inFlight++;
  }

  private end(): void {
    this.inFlight--;
    if (this.inFlight === 0) {
      for (const resolve of this.drained.splice(0)) resolve();
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    this.begin();
    let ended = false;
    const done = () => {
      if (ended) return;
      ended = true;
      this.end();
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const quiet = path === '/healthz' || path === '/readyz';
      this.logger[quiet ? 'debug' : 'info']({ method: req.method, path, status: res.statusCode, ms: Math.round(ms) }, 'http');
    };
    res.on('finish', done);
    res.on('close', done);

    const path = (req.url ?? '/').split('?')[0];
    try {
      if (this.shuttingDown) {
        res.setHeader('connection', 'close');
        throw new HttpError(503, 'shutting down');
      }
      const candidates = this.routes.get(path);
      if (!candidates) throw new HttpError(404, 'not found');
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      const route = candidates.find((r) => r.method === method);
      if (!route) {
        res.setHeader('allow', [...candidates.map((r) => r.method), ...(candidates.some((r) => r.method === 'GET') ? ['HEAD'] : [])].join(', '));
        throw new HttpError(405, 'method not allowed');
      }
      const buffered = req as BufferedRequest;
      buffered.rawBody = route.readBody ? await this.readBody(req, res) : Buffer.alloc(0);
      // Tracked on its own: a turn whose client hung up still finishes before shutdown closes the store.
      await this.track(Promise.resolve().then(() => route.handler(buffered, res)));
    } catch (err) {
      if (err instanceof HttpError) {
        if (!res.headersSent) sendJson(res, err.status, { error: err.message });
        else res.end();
        return;
      }
      this.logger.error({ err, method: req.method, path }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.end();
    }
  }

  private readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer> {
    const declared = Number(req.headers['content-length']);
    const tooLarge = () => {
      // The rest of the body is discarded, not read into memory; the connection is not reused.
      res.setHeader('connection', 'close');
      req.resume();
      return new HttpError(413, `body larger than ${this.bodyLimit} bytes`);
    };
    if (Number.isFinite(declared) && declared > this.bodyLimit) return Promise.reject(tooLarge());
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.bodyLimit) {
          req.off('data', onData);
          reject(tooLarge());
          return;
        }
        chunks.push(chunk);
      };
      req.on('data', onData);
      req.once('end', () => resolve(Buffer.concat(chunks)));
      req.once('error', reject);
    });
  }

  private async botFramework(bot: BotEndpoint, req: BufferedRequest, res: ServerResponse): Promise<void> {
    let body: unknown;
    try {
      body = JSON.parse(req.rawBody.toString('utf8'));
    } catch {
      throw new HttpError(400, 'body is not valid JSON');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new HttpError(400, 'body must be a JSON object (a Bot Framework activity)');
    }
    // botbuilder answers a missing or non-string `type` with a thrown validation error (a 500).
    const type = (body as { type?: unknown }).type;
    if (typeof type !== 'string' || type.trim() === '') {
      throw new HttpError(400, 'body must be a Bot Framework activity with a string "type"');
    }
    const authorization = req.headers.authorization ?? '';
    const answer = await bot.adapter.handleActivity(authorization, body as Record<string, unknown>, async (context) => {
      this.turns++;
      await bot.logic(context);
    });
    if (answer.authFailure !== undefined) {
      this.logger.warn({ reason: answer.authFailure }, 'Bot Framework request refused by authentication');
      throw new HttpError(401, 'unauthorized');
    }
    if (answer.body === undefined || answer.body === null) {
      res.statusCode = answer.status;
      res.end();
    } else {
      sendJson(res, answer.status, answer.body);
    }
  }

  private async ready(res: ServerResponse): Promise<void> {
    if (this.shuttingDown) {
      sendJson(res, 503, { status: 'unavailable', failing: ['shutdown'] });
      return;
    }
    const results = await Promise.all(this.readiness.map((c) => this.runCheck(c)));
    const checks = Object.fromEntries(results.map((r) => [r.name, r.result]));
    const failing = results.filter((r) => r.result !== 'ok').map((r) => r.name);
    if (failing.length === 0) sendJson(res, 200, { status: 'ready', checks });
    else sendJson(res, 503, { status: 'unavailable', failing, checks });
  }

  private runCheck(check: ReadinessCheck): Promise<CheckResult> {
    if (!check.cacheOkMs) return this.executeCheck(check);
    const entry = this.checkCache.get(check.name) ?? { okUntil: 0 };
    this.checkCache.set(check.name, entry);
    if (Date.now() < entry.okUntil) return Promise.resolve({ name: check.name, result: 'ok' });
    entry.running ??= this.executeCheck(check).then((r) => {
      entry.running = undefined;
      if (r.result === 'ok') entry.okUntil = Date.now() + (check.cacheOkMs ?? 0);
      return r;
    });
    return entry.running;
  }

  private async executeCheck(check: ReadinessCheck): Promise<CheckResult> {
    const controller = new AbortController();
    const timeoutMs = check.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve('timeout');
      }, timeoutMs);
    });
    try {
      const outcome = await Promise.race([check.check(controller.signal).then(() => 'ok' as const), timeout]);
      if (outcome === 'timeout') this.logger.warn({ check: check.name, timeoutMs }, 'readiness check timed out');
      return { name: check.name, result: outcome };
    } catch (err) {
      this.logger.warn({ check: check.name, err }, 'readiness check failed');
      return { name: check.name, result: 'failed' };
    } finally {
      clearTimeout(timer);
    }
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}
