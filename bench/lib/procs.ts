import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');

/** A server built by scripts/build.js and run by plain Node (as `npm start` runs the bot), so the pid we measure is the server's own. */
export interface ChildServer {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Milliseconds from spawn to the first 200 on the readiness URL. */
  readyMs: number;
  output(): string;
  stop(): Promise<number | null>;
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * CPU time (user + system) the process has used so far, in ms, from /proc/<pid>/stat. Linux counts it in
 * USER_HZ ticks, which is 100 per second on every architecture Node runs on (10 ms resolution).
 */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`no CPU times for pid ${pid}`);
  return (utime + stime) * 10;
}

export function mib(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}

export async function startChild(opts: {
  name: string;
  /** A built JavaScript file (scripts/build.js). */
  script: string;
  env: NodeJS.ProcessEnv;
  readyUrl: string;
  timeoutMs?: number;
  /** Extra Node flags, e.g. --cpu-prof (not allowed in NODE_OPTIONS). */
  nodeArgs?: string[];
}): Promise<ChildServer> {
  const started = process.hrtime.bigint();
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.script], {
    cwd: ROOT,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (b: Buffer): void => {
    out += b.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  // BENCH_CHILD_LOG_DIR: every child's whole output in <dir>/<name>-<pid>.log (e.g. with --trace-gc).
  if (process.env.BENCH_CHILD_LOG_DIR) {
    const file = createWriteStream(path.join(process.env.BENCH_CHILD_LOG_DIR, `${opts.name.replace(/[^A-Za-z0-9]+/g, '-')}-${proc.pid}.log`));
    proc.stdout!.pipe(file, { end: false });
    proc.stderr!.pipe(file, { end: false });
    proc.once('exit', () => file.end());
  }
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let readyMs = NaN;
  let dead = false;
  void exited.then(() => (dead = true));
  while (Date.now() < deadline && !dead) {
    try {
      const res = await fetch(opts.readyUrl, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) {
        readyMs = Number(process.hrtime.bigint() - started) / 1e6;
        break;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  if (!Number.isFinite(readyMs)) {
    proc.kill('SIGKILL');
    throw new Error(`${opts.name} did not become ready at ${opts.readyUrl}${dead ? ' (it exited)' : ''}:\n${out.slice(-4000)}`);
  }
  return {
    name: opts.name,
    proc,
    pid: proc.pid!,
    readyMs,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Ask the kernel for a free loopback port (the children must be told their port up front). */
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
