/**
 * Fakes of the chat platforms' outgoing APIs at the HTTP level, shared by the benchmarks and the
 * reliability campaigns: a Bot Framework connector (where the bot POSTs its Teams replies) and a
 * Slack Web API. Both answer at once and can record what they were sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BUSY_TEXT } from '../../src/bot/slack/adapter';

export interface RecordedCall {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface FakeServer {
  url: string;
  calls: RecordedCall[];
  /** Number of requests served, recorded or not. */
  count(): number;
  close(): Promise<void>;
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closer(server: http.Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Bot Framework connector: `POST /v3/conversations/{id}/activities[/{replyToId}]` (send/reply),
 * `PUT …/activities/{id}` (update), `POST /v3/conversations` (create a 1:1), members lookups.
 */
export async function startFakeConnector(opts: { record?: boolean } = {}): Promise<FakeServer> {
  const calls: RecordedCall[] = [];
  let n = 0;
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    n += 1;
    if (opts.record) calls.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
    const url = req.url ?? '';
    let reply: unknown = { id: `activity-${n}` };
    if (req.method === 'POST' && /^\/v3\/conversations\/?$/.test(url)) reply = { id: `a:personal-${n}`, activityId: `activity-${n}` };
    else if (req.method === 'GET' && /\/members\//.test(url)) {
      const userId = decodeURIComponent(url.split('/members/')[1] ?? 'user');
      reply = { id: userId, name: 'Bench User', aadObjectId: userId, userPrincipalName: `${userId}@example.com`, tenantId: 'tenant' };
    } else if (req.method === 'GET' && /\/members\/?$/.test(url)) reply = [];
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(reply));
  });
  const url = await listen(server);
  return { url, calls, count: () => n, close: closer(server) };
}

/** Slack Web API: `POST /api/{method}` answered like Slack does for the methods a bot uses. */
/** Web API calls by method, and how many of them were the bot's "busy" notice. */
export interface SlackApiStats {
  byMethod: Record<string, number>;
  busy: number;
}

export async function startFakeSlackApi(opts: { record?: boolean } = {}): Promise<FakeServer & { stats(): SlackApiStats }> {
  const calls: RecordedCall[] = [];
  const byMethod: Record<string, number> = {};
  let busy = 0;
  let n = 0;
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    n += 1;
    if (opts.record) calls.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
    const apiMethod = (req.url ?? '').replace(/^\/api\//, '').split('?')[0];
    byMethod[apiMethod] = (byMethod[apiMethod] ?? 0) + 1;
    const ts = `${Math.floor(Date.now() / 1000)}.${String(n).padStart(6, '0')}`;
    let params: Record<string, unknown> = {};
    try {
      params = (req.headers['content-type'] ?? '').includes('json')
        ? (JSON.parse(body || '{}') as Record<string, unknown>)
        : Object.fromEntries(new URLSearchParams(body));
    } catch {
      params = {};
    }
    if (params.text === BUSY_TEXT) busy += 1;
    const channel = typeof params.channel === 'string' ? params.channel : 'C0BENCH';
    let reply: Record<string, unknown> = { ok: true };
    switch (apiMethod) {
      case 'auth.test':
        reply = { ok: true, url: 'https://bench.slack.com/', team: 'Bench', user: 'hopsworks', team_id: 'T0BENCH', user_id: 'U0BOT', bot_id: 'B0BOT' };
        break;
      case 'chat.postMessage':
      case 'chat.update':
      case 'chat.postEphemeral':
        reply = { ok: true, channel, ts, message_ts: ts, message: { ts, text: params.text ?? '' } };
        break;
      case 'conversations.open':
        reply = { ok: true, channel: { id: `D0${String(params.users ?? 'USER').replace(/[^A-Z0-9]/gi, '').slice(0, 8)}` } };
        break;
      case 'views.open':
      case 'views.update':
      case 'views.push':
        reply = { ok: true, view: { id: `V${n}`, hash: `h${n}` } };
        break;
      case 'users.info':
        reply = { ok: true, user: { id: params.user ?? 'U0', name: 'bench', real_name: 'Bench User', profile: { display_name: 'Bench User' } } };
        break;
      default:
        reply = { ok: true };
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(reply));
  });
  const url = await listen(server);
  return { url: `${url}/api/`, calls, count: () => n, stats: () => ({ byMethod: { ...byMethod }, busy }), close: closer(server) };
}

/**
 * A pass-through in front of the simulator's managed-identity endpoint that remembers every
 * access token it hands out, so a test can look for those tokens where they must never be.
 */
export async function startRecordingIdentityProxy(target: string): Promise<FakeServer & { tokens: string[] }> {
  const tokens: string[] = [];
  let n = 0;
  const server = http.createServer(async (req, res) => {
    n += 1;
    const body = await readBody(req);
    const upstream = new URL(req.url ?? '/', target.endsWith('/') ? target : `${target}/`);
    // Keep the path of the configured endpoint, add the query the client sent.
    const base = new URL(target);
    upstream.pathname = base.pathname;
    upstream.search = new URL(req.url ?? '/', 'http://x').search;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
    const answer = await fetch(upstream, { method: req.method, headers, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body });
    const text = await answer.text();
    try {
      const parsed = JSON.parse(text) as { access_token?: string };
      if (parsed.access_token) tokens.push(parsed.access_token);
    } catch {
      // not a token answer
    }
    res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
    res.end(text);
  });
  const url = await listen(server);
  const path = new URL(target).pathname;
  return { url: `${url}${path === '/' ? '' : path}`, calls: [], tokens, count: () => n, close: closer(server) };
}
