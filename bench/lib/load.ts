/**
 * autocannon, run in this process against a child server. Latencies are taken from autocannon's
 * per-response event (float milliseconds) rather than its whole-millisecond histogram, so that
 * sub-millisecond differences between the bot and its baselines stay visible.
 */
import { summarize, type LatencySummary } from './stats';

// autocannon ships no type declarations; this is the part of its API we use.
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}
interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  pipelining?: number;
  timeout?: number;
  requests: Array<{ setupRequest?: (req: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest }>;
}
interface AutocannonResult {
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number; average: number };
  statusCodeStats: Record<string, { count: number }>;
}
interface AutocannonInstance extends NodeJS.EventEmitter {
  stop(): void;
}
type Autocannon = (opts: AutocannonOptions, cb: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;
const autocannon = require('autocannon') as Autocannon;

export interface LoadResult extends LatencySummary {
  connections: number;
  durationS: number;
  /** Responses counted (2xx). */
  requests: number;
  rps: number;
  non2xx: number;
  errors: number;
  statusCodes: Record<string, number>;
}

/** Builds one request; `conn` is a user number below the connection count (as many chat users as connections). */
export type RequestFactory = (conn: number) => AutocannonRequest;

export async function runLoad(opts: { url: string; connections: number; durationS: number; request: RequestFactory }): Promise<LoadResult> {
  let nextConn = 0;
  const samples: number[] = [];
  const started = Date.now();
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const instance = autocannon(
      {
        url: opts.url,
        connections: opts.connections,
        duration: opts.durationS,
        timeout: 30,
        requests: [
          {
            // autocannon resets a connection's context after every request, so it cannot carry a user id:
            // requests take the users 0..connections-1 in turn (one user per connection on average).
            setupRequest: (req) => ({ ...req, ...opts.request(nextConn++ % opts.connections) }),
          },
        ],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) samples.push(responseTime);
    });
  });
  const elapsedS = (Date.now() - started) / 1000;
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([k, v]) => [k, v.count]));
  return {
    ...summarize(samples),
    connections: opts.connections,
    durationS: opts.durationS,
    requests: samples.length,
    rps: Math.round(samples.length / elapsedS),
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    statusCodes,
  };
}
