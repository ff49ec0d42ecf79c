import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/ports';
import type { AzureClients } from './clients';

/** The subset of pino the provisioner uses; never given a secret. */
export interface LoggerLike {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

export interface BackoffOptions {
  /** Give up after this long (wall clock). */
  maxMs: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

export interface AzureProvisionerOptions {
  /** Source of name suffixes; inject a fixed sequence in tests. Default: crypto random hex. */
  random?: () => string;
  clock?: Clock;
  logger?: LoggerLike;
  /** PrincipalNotFound retries after creating an identity (directory replication). */
  propagationRetry?: BackoffOptions;
  /** Polling `providers.get` after `providers.register`, which has no poller. */
  providerPolling?: BackoffOptions;
  /** Poll interval for long-running operations when the server sends no Retry-After. */
  lroPollIntervalMs?: number;
  /** Injectable wait, so a simulator's time scale can be honoured. Default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

export interface ResolvedOptions {
  random: () => string;
  clock: Clock;
  logger: LoggerLike;
  propagationRetry: Required<BackoffOptions>;
  providerPolling: Required<BackoffOptions>;
  lroPollIntervalMs: number;
  sleep: (ms: number) => Promise<void>;
}

const silent: LoggerLike = { info: () => undefined, warn: () => undefined };

export function resolveOptions(o: AzureProvisionerOptions = {}): ResolvedOptions {
  return {
    random: o.random ?? (() => randomBytes(8).toString('hex')),
    clock: o.clock ?? { now: () => new Date() },
    logger: o.logger ?? silent,
    propagationRetry: { initialDelayMs: 2000, maxDelayMs: 30_000, ...(o.propagationRetry ?? { maxMs: 600_000 }) },
    providerPolling: { initialDelayMs: 2000, maxDelayMs: 15_000, ...(o.providerPolling ?? { maxMs: 900_000 }) },
    lroPollIntervalMs: o.lroPollIntervalMs ?? 2000,
    sleep: o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
  };
}

export interface Ctx {
  clients: AzureClients;
  opts: ResolvedOptions;
}

/**
 * Retries `fn` while `retryable(err)` holds, with exponential backoff bounded by `maxMs` of clock time.
 * Used only for conditions the SDK's HTTP retry policy cannot know about (replication delays, registration).
 */
export async function withBackoff<T>(ctx: Ctx, b: Required<BackoffOptions>, retryable: (err: unknown) => boolean, fn: () => Promise<T>): Promise<T> {
  const start = ctx.opts.clock.now().getTime();
  let delay = b.initialDelayMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const elapsed = ctx.opts.clock.now().getTime() - start;
      if (!retryable(err) || elapsed + delay > b.maxMs) throw err;
      await ctx.opts.sleep(delay);
      delay = Math.min(delay * 2, b.maxDelayMs);
    }
  }
}
