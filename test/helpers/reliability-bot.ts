/**
 * The whole bot as a child process in live mode against an ARM simulator the test runs itself, with
 * fake chat APIs: what an operator would deploy, minus Azure. It runs the build `npm start` runs
 * (./bot-bundle) on plain Node, so a restart takes a fraction of a second, which the crash campaign needs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { ArmSimulator } from '../../src/azure/simulator';
import { botBundle } from './bot-bundle';

export { removeBotBundle } from './bot-bundle';

export const ROOT = path.resolve(__dirname, '..', '..');

export interface BotProcess {
  url: string;
  pid: number;
  proc: ChildProcess;
  /** Everything the process wrote to stdout and stderr (its logs). */
  logs(): string;
  alive(): boolean;
  exited: Promise<number | null>;
  /** SIGTERM and wait. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait: no shutdown code runs. */
  kill(): Promise<void>;
}

export function liveBotEnv(sim: ArmSimulator, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR,
    NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
    AZURE_MODE: 'live',
    AZURE_SUBSCRIPTION_ID: sim.subscriptionId,
    AZURE_ARM_ENDPOINT: sim.armEndpoint,
    IDENTITY_ENDPOINT: sim.identityEndpoint,
    IDENTITY_HEADER: sim.identityHeader,
    LOG_LEVEL: 'info',
    ...extra,
  };
}

export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts the bot and waits for `/readyz` (store and ARM reachable). */
export async function spawnBot(env: NodeJS.ProcessEnv, opts: { port?: number; timeoutMs?: number; logSink?: string[] } = {}): Promise<BotProcess> {
  const port = opts.port ?? (await freePort());
  const proc = spawn(process.execPath, ['--enable-source-maps', botBundle()], {
    cwd: ROOT,
    env: { ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: string[] = opts.logSink ?? [];
  proc.stdout!.on('data', (b: Buffer) => chunks.push(b.toString()));
  proc.stderr!.on('data', (b: Buffer) => chunks.push(b.toString()));
  let done = false;
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      done = true;
      resolve(code);
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (done) throw new Error(`bot exited before it was ready:\n${chunks.join('').slice(-4000)}`);
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`bot not ready within ${opts.timeoutMs ?? 60_000} ms:\n${chunks.join('').slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    url,
    pid: proc.pid!,
    proc,
    logs: () => chunks.join(''),
    alive: () => !done,
    exited,
    stop: async () => {
      if (!done) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    kill: async () => {
      if (!done) proc.kill('SIGKILL');
      await exited;
    },
  };
}

/** Polls `check` until it returns a value (bounded; the bound is a safety net, not a timing assertion). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

