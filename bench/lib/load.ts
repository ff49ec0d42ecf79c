/**
 * autocannon, run in this process against a child server. Latencies are taken from autocannon's
 * per-response event (float milliseconds) rather than its whole-millisecond histogram, so that
 * sub-millisecond differences between the bot and its baselines stay visible; each connection's first
 * response is left out (see below).
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
  /** 2xx responses, including each connection's first (which is not a latency sample). */
  requests: number;
  /** Connections' first responses, left out of the latency samples (they include connection setup). */
  connectionSetups: number;
  /** The slowest of those first responses (connect, accept and the request), for the record. */
  connectionSetupMaxMs: number;
  rps: number;
  non2xx: number;
  errors: number;
  statusCodes: Record<string, number>;
}

/** Builds one request; `conn` is a user number below the connection count (as many chat users as connections). */
export type RequestFactory = (conn: number) => AutocannonRequest;

export async function runLoad(opts: { url: string; connections: number; durationS: number; request: RequestFactory }): Promise<LoadResult> {
  return combineRuns([await runLoadSamples(opts)]);
}

/** One autocannon run, with its latency samples (ms) rather than their summary. */
export type LoadRun = Omit<LoadResult, keyof LatencySummary> & { samples: number[]; elapsedS: number };

export async function runLoadSamples(opts: { url: string; connections: number; durationS: number; request: RequestFactory }): Promise<LoadRun> {
  let nextConn = 0;
  const samples: number[] = [];
  const connected = new WeakSet<object>();
  let acked = 0;
  let connectionSetups = 0;
  let connectionSetupMaxMs = 0;
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
    instance.on('response', (client: { conn?: object }, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode < 200 || statusCode >= 300) return;
      acked += 1;
      // autocannon writes a connection's first request before the connection is made and times it from
      // there, so its time includes the TCP connect and the server's accept. A server busy with the other
      // connections accepts new ones one per event-loop turn (a bare node:http server too), which made the
      // first requests of a 50-connection run wait up to 1-2 s, for the bot and the baselines alike. Like
      // wrk, the figures here start once a connection exists: its first response is not a sample.
      const conn = client?.conn;
      if (conn && !connected.has(conn)) {
        connected.add(conn);
        connectionSetups += 1;
        connectionSetupMaxMs = Math.max(connectionSetupMaxMs, responseTime);
        return;
      }
      samples.push(responseTime);
    });
  });
  const elapsedS = (Date.now() - started) / 1000;
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([k, v]) => [k, v.count]));
  return {
    samples,
    elapsedS,
    connections: opts.connections,
    durationS: opts.durationS,
    requests: acked,
    connectionSetups,
    connectionSetupMaxMs,
    rps: Math.round(acked / elapsedS),
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    statusCodes,
  };
}

/** Runs measured in slices against one server, summarised as one run: latency over all samples, counts added. */
export function combineRuns(runs: LoadRun[]): LoadResult {
  const samples = runs.flatMap((r) => r.samples);
  const statusCodes: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.statusCodes)) statusCodes[k] = (statusCodes[k] ?? 0) + v;
  const sum = (f: (r: LoadRun) => number) => runs.reduce((a, r) => a + f(r), 0);
  const durationS = sum((r) => r.durationS);
  const requests = sum((r) => r.requests);
  return {
    ...summarize(samples),
    connections: runs[0]?.connections ?? 0,
    durationS,
    requests,
    connectionSetups: sum((r) => r.connectionSetups),
    connectionSetupMaxMs: Math.max(0, ...runs.map((r) => r.connectionSetupMaxMs)),
    rps: Math.round(requests / Math.max(1e-9, sum((r) => r.elapsedS))),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    statusCodes,
  };
}
