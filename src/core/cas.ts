import { BotError, isBotError } from './errors';
import type { RequestRepository } from './ports';
import type { AuditEvent, SetupRequest } from './types';

/** How many times a decision is re-read and re-made when another writer got there first. */
export const CAS_ATTEMPTS = 5;

/**
 * Read → decide → compare-and-set, re-reading and re-deciding on `VERSION_CONFLICT`.
 * `decide` is pure and may throw a refusal (nothing is written) or return `undefined` (nothing to change).
 * Returns the stored request and what `decide` attached, or the unchanged request when there was nothing to do.
 */
export async function updateWithRetry<T>(
  store: RequestRepository,
  id: string,
  decide: (current: SetupRequest) => { request: SetupRequest; result: T; audit?: AuditEvent[] } | undefined,
  /**
   * The caller's copy of the request as it last stored it. The first attempt decides on it without
   * reading; if someone else wrote since, the compare-and-set fails and the loop re-reads as usual.
   */
  known?: SetupRequest,
): Promise<{ request: SetupRequest; result?: T; changed: boolean }> {
  let lastConflict: unknown;
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const current = attempt === 0 && known?.id === id ? known : await store.get(id);
    if (!current) throw new BotError('NOT_FOUND', `There is no request ${id}.`, { details: { id } });
    const decision = decide(current);
    if (!decision) return { request: current, changed: false };
    try {
      const stored = await store.update({ ...decision.request, version: current.version }, decision.audit);
      return { request: stored, result: decision.result, changed: true };
    } catch (err) {
      if (!isBotError(err, 'VERSION_CONFLICT')) throw err;
      lastConflict = err;
    }
  }
  throw new BotError('VERSION_CONFLICT', `Request ${id} kept changing while being updated; try again.`, { cause: lastConflict, details: { id } });
}
