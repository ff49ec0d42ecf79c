import { BotError } from './errors';
import type { Clock } from './ports';
import type { RequestState, SetupRequest, Target } from './types';

/** Legal transitions: anything not listed is refused with `ILLEGAL_TRANSITION`. */
export const TRANSITIONS: Readonly<Record<RequestState, readonly RequestState[]>> = {
  draft: ['pendingApproval'],
  pendingApproval: ['approved', 'rejected', 'expired', 'cancelled'],
  approved: ['provisioning'],
  provisioning: ['succeeded', 'failed'],
  // A retry resumes at the failed steps.
  failed: ['provisioning'],
  succeeded: ['tearingDown'],
  tearingDown: ['tornDown'],
  rejected: [],
  expired: [],
  cancelled: [],
  tornDown: [],
};

/** States that hold the one-active-request-per-resource-group lock. */
export const ACTIVE_STATES: readonly RequestState[] = ['pendingApproval', 'approved', 'provisioning', 'tearingDown'];

/** States a request never leaves. */
export const TERMINAL_STATES: readonly RequestState[] = ['rejected', 'expired', 'cancelled', 'tornDown'];

/** True when `from → to` is in the transition table. */
export function canTransition(from: RequestState, to: RequestState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** True when a request in `state` holds its resource group's lock. */
export function isActive(state: RequestState): boolean {
  return ACTIVE_STATES.includes(state);
}

/**
 * Pure state change: returns a copy in state `to` with `updatedAt` from the clock.
 * Throws `ILLEGAL_TRANSITION` for a move the table does not list (never a silent no-op).
 */
export function transition(request: SetupRequest, to: RequestState, clock: Clock): SetupRequest {
  if (!canTransition(request.state, to)) {
    throw new BotError('ILLEGAL_TRANSITION', `Request ${request.id} cannot go from ${request.state} to ${to}.`, {
      details: { id: request.id, from: request.state, to },
    });
  }
  return { ...request, state: to, updatedAt: clock.now().toISOString() };
}

/** Lock key of a target: subscription and resource group, case-insensitive as in Azure. */
export function lockKey(target: Pick<Target, 'subscriptionId' | 'resourceGroup'>): string {
  return `${target.subscriptionId.toLowerCase()}/${target.resourceGroup.toLowerCase()}`;
}

/**
 * Two active requests on one resource group conflict unless one is the other's teardown:
 * a running teardown and its parent in `tearingDown` legitimately share the lock.
 */
export function locksConflict(a: Pick<SetupRequest, 'id' | 'parentId'>, b: Pick<SetupRequest, 'id' | 'parentId'>): boolean {
  if (a.id === b.id) return false;
  return !(a.parentId === b.id || b.parentId === a.id);
}
