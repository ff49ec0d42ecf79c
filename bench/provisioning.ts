/**
 * Provisioning makespan: B2's `bench/provision.ts` (the plan run by the real JobRunner against the
 * simulator with realistic, time-scaled durations). Run as a subprocess; its JSON result is parsed.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { ROOT } from './lib/procs';

export interface ProvisioningResult {
  makespanS: number;
  criticalPathS: number;
  sequentialS: number;
  ratioToCriticalPath: number;
  ratioToSequential: number;
  armRequestsPerSetup: number;
  /** The provision benchmark's own output, as it printed it. */
  raw: Record<string, unknown>;
}

function pickNumber(obj: Record<string, unknown>, ...keys: string[]): number {
  for (const k of keys) {
    const v = k.split('.').reduce<unknown>((o, part) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[part] : undefined), obj);
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return NaN;
}

export async function runProvisioningBench(opts: { timeScale: number }): Promise<ProvisioningResult> {
  const entry = path.join(ROOT, 'bench', 'provision.ts');
  if (!existsSync(entry)) throw new Error('bench/provision.ts does not exist (helper B2)');
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, '--json'], {
      cwd: ROOT,
      env: { ...process.env, BENCH_TIME_SCALE: String(opts.timeScale) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`bench/provision.ts exited with ${code}: ${(stderr || stdout).slice(-2000)}`));
    });
  });
  const jsonText = extractJson(out);
  if (!jsonText) throw new Error(`bench/provision.ts printed no JSON result:\n${out.slice(-2000)}`);
  const raw = JSON.parse(jsonText) as Record<string, unknown>;
  const makespanS = pickNumber(raw, 'makespanS', 'makespan.seconds', 'makespanSeconds', 'parallel.makespanS');
  const criticalPathS = pickNumber(raw, 'criticalPathS', 'criticalPath.seconds', 'criticalPathSeconds', 'criticalPath.lengthS');
  const sequentialS = pickNumber(raw, 'sequentialS', 'sequential.seconds', 'sequentialSeconds', 'sequential.makespanS');
  return {
    makespanS,
    criticalPathS,
    sequentialS,
    ratioToCriticalPath: pickNumber(raw, 'ratioToCriticalPath', 'ratios.criticalPath', 'makespanToCriticalPath') || makespanS / criticalPathS,
    ratioToSequential: pickNumber(raw, 'ratioToSequential', 'ratios.sequential', 'makespanToSequential') || makespanS / sequentialS,
    armRequestsPerSetup: pickNumber(raw, 'armRequestsPerSetup', 'armRequests', 'requestsPerSetup', 'arm.requests'),
    raw,
  };
}

/** The last top-level JSON object in the output (the benchmark may print a table before it). */
function extractJson(text: string): string | undefined {
  const trimmed = text.trim();
  for (let i = trimmed.lastIndexOf('\n{'); ; i = trimmed.lastIndexOf('\n{', i - 1)) {
    const candidate = trimmed.slice(i + 1);
    try {
      JSON.parse(candidate);
      return candidate;
    } catch {
      if (i <= 0) break;
    }
  }
  try {
    JSON.parse(trimmed);
    return trimmed;
  } catch {
    return undefined;
  }
}
