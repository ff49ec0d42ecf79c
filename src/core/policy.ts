import { BotError } from './errors';
import { transition } from './state';
import type { Clock } from './ports';
import type { Actor, ApprovalRecord, Plan, SetupRequest } from './types';

/** Approval settings, read once from configuration. */
export interface ApprovalPolicy {
  /** Teams AAD object ids or UPNs, Slack user ids; matched case-insensitively. */
  approvers: string[];
  /** Distinct approvals needed (at least 1). */
  requiredApprovals: number;
  /** A pending request expires after this many hours. */
  approvalTtlHours: number;
}

/** Defaults from the environment contract. */
export const DEFAULT_POLICY: Omit<ApprovalPolicy, 'approvers'> = { requiredApprovals: 1, approvalTtlHours: 72 };

const norm = (s: string | undefined): string => (s ?? '').trim().toLowerCase();

/** True when the actor's user id or UPN is on the approver list. */
export function isApprover(policy: ApprovalPolicy, actor: Actor): boolean {
  const listed = new Set(policy.approvers.map(norm).filter((a) => a.length > 0));
  return listed.has(norm(actor.userId)) || (actor.upn !== undefined && listed.has(norm(actor.upn)));
}

/** True when both actors are the same person on the same platform (user id, or UPN when both have one). */
export function sameActor(a: Actor, b: Actor): boolean {
  if (a.platform !== b.platform) return false;
  if (norm(a.userId) === norm(b.userId)) return true;
  return a.upn !== undefined && b.upn !== undefined && norm(a.upn) !== '' && norm(a.upn) === norm(b.upn);
}

/** Key under which one person's approvals count once. */
function actorKey(a: Actor): string {
  return `${a.platform}:${norm(a.userId)}`;
}

/** When a request submitted at `submittedAt` expires. */
export function expiryFor(policy: ApprovalPolicy, submittedAt: Date): string {
  return new Date(submittedAt.getTime() + policy.approvalTtlHours * 3_600_000).toISOString();
}

/** True when a pending request is past its expiry. */
export function isOverdue(request: Pick<SetupRequest, 'state' | 'expiresAt'>, now: Date): boolean {
  return request.state === 'pendingApproval' && request.expiresAt !== undefined && Date.parse(request.expiresAt) <= now.getTime();
}

/**
 * Approvals that count for the current plan: one per distinct approver, bound to the current hash. Given
 * who is an approver now, only those count (someone removed from the list while the request waited does not).
 */
export function countedApprovals(request: SetupRequest, stillApprover?: (actor: Actor) => boolean): ApprovalRecord[] {
  const hash = request.plan?.hash;
  const seen = new Set<string>();
  return request.approvals.filter((a) => {
    if (a.decision !== 'approve' || a.planHash !== hash) return false;
    if (stillApprover && !stillApprover(a.actor)) return false;
    const key = actorKey(a.actor);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Throws `NO_APPROVERS_CONFIGURED` / `NOT_AN_APPROVER` unless the actor may decide. */
export function assertApprover(policy: ApprovalPolicy, actor: Actor): void {
  if (policy.approvers.filter((a) => a.trim() !== '').length === 0) {
    throw new BotError(
      'NO_APPROVERS_CONFIGURED',
      'No approvers are configured, so nobody can approve requests. An administrator must set HOPSWORKS_APPROVERS.',
    );
  }
  if (!isApprover(policy, actor)) {
    throw new BotError('NOT_AN_APPROVER', `${actor.displayName} is not on the approver list (HOPSWORKS_APPROVERS).`, {
      details: { userId: actor.userId },
    });
  }
}

/**
 * Outcome of a decision: either the request to store (decision recorded), or an overdue request to
 * store as expired before refusing with `REQUEST_EXPIRED`.
 */
export type DecisionOutcome =
  | { kind: 'recorded'; request: SetupRequest; approved: boolean; rejected: boolean }
  | { kind: 'expired'; request: SetupRequest };

/** Checks shared by approve and reject, in the order a person would want to hear them. */
function checkDecision(
  request: SetupRequest,
  actor: Actor,
  planHash: string,
  policy: ApprovalPolicy,
  clock: Clock,
): { kind: 'expired'; request: SetupRequest } | undefined {
  assertApprover(policy, actor);
  if (request.state === 'expired') {
    // Same answer whether the sweep or an earlier click expired it.
    throw new BotError('REQUEST_EXPIRED', `Request ${request.id} expired at ${request.expiresAt} before it was approved; ask for a new one.`, {
      details: { id: request.id, expiresAt: request.expiresAt },
    });
  }
  if (request.state !== 'pendingApproval') {
    throw new BotError('NOT_PENDING', `Request ${request.id} is ${request.state}, not waiting for approval.`, {
      details: { id: request.id, state: request.state },
    });
  }
  if (isOverdue(request, clock.now())) {
    return { kind: 'expired', request: transition(request, 'expired', clock) };
  }
  if (sameActor(actor, request.requester)) {
    throw new BotError('SELF_APPROVAL', `You requested ${request.id}, so another approver must decide on it. You can cancel it instead.`, {
      details: { id: request.id },
    });
  }
  if (request.plan === undefined || planHash !== request.plan.hash) {
    throw new BotError(
      'PLAN_SUPERSEDED',
      `The plan of ${request.id} changed since this card was sent; decide on the current plan instead.`,
      { details: { id: request.id, planHash, currentHash: request.plan?.hash } },
    );
  }
  const earlier = request.approvals.find((a) => a.planHash === planHash && sameActor(a.actor, actor));
  if (earlier !== undefined) {
    throw new BotError('ALREADY_DECIDED', `You already ${earlier.decision === 'approve' ? 'approved' : 'rejected'} ${request.id}.`, {
      details: { id: request.id, decision: earlier.decision },
    });
  }
  return undefined;
}

/** Records an approval of `planHash`; the request becomes approved once enough distinct approvers agree. */
export function decideApprove(request: SetupRequest, actor: Actor, planHash: string, policy: ApprovalPolicy, clock: Clock): DecisionOutcome {
  const expired = checkDecision(request, actor, planHash, policy, clock);
  if (expired) return expired;
  const record: ApprovalRecord = { actor, decision: 'approve', planHash, at: clock.now().toISOString() };
  let next: SetupRequest = { ...request, approvals: [...request.approvals, record], updatedAt: record.at };
  const approved = countedApprovals(next, (a) => isApprover(policy, a)).length >= Math.max(1, policy.requiredApprovals);
  if (approved) next = transition(next, 'approved', clock);
  return { kind: 'recorded', request: next, approved, rejected: false };
}

/** Records a rejection with its reason; one rejection by an approver rejects the request. */
export function decideReject(
  request: SetupRequest,
  actor: Actor,
  planHash: string,
  reason: string,
  policy: ApprovalPolicy,
  clock: Clock,
): DecisionOutcome {
  const trimmed = (reason ?? '').trim();
  if (trimmed === '') {
    throw new BotError('REASON_REQUIRED', 'A rejection needs a reason, so the requester knows what to change.');
  }
  const expired = checkDecision(request, actor, planHash, policy, clock);
  if (expired) return expired;
  const record: ApprovalRecord = { actor, decision: 'reject', planHash, reason: trimmed, at: clock.now().toISOString() };
  const next = transition({ ...request, approvals: [...request.approvals, record] }, 'rejected', clock);
  return { kind: 'recorded', request: next, approved: false, rejected: true };
}

/** The requester or an approver may cancel a pending request. */
export function decideCancel(request: SetupRequest, actor: Actor, policy: ApprovalPolicy, clock: Clock): SetupRequest {
  if (!sameActor(actor, request.requester) && !isApprover(policy, actor)) {
    throw new BotError('NOT_ALLOWED', `Only the requester or an approver can cancel ${request.id}.`, { details: { id: request.id } });
  }
  if (request.state !== 'pendingApproval') {
    throw new BotError('NOT_PENDING', `Request ${request.id} is ${request.state}; only a request waiting for approval can be cancelled.`, {
      details: { id: request.id, state: request.state },
    });
  }
  return transition(request, 'cancelled', clock);
}

/** failed → provisioning: failed (and interrupted) steps go back to pending, done steps stay done. */
export function decideRetry(request: SetupRequest, actor: Actor, policy: ApprovalPolicy, clock: Clock): SetupRequest {
  if (!sameActor(actor, request.requester) && !isApprover(policy, actor)) {
    throw new BotError('NOT_ALLOWED', `Only the requester or an approver can retry ${request.id}.`, { details: { id: request.id } });
  }
  if (request.state !== 'failed') {
    throw new BotError('ILLEGAL_TRANSITION', `Request ${request.id} is ${request.state}; only a failed request can be retried.`, {
      details: { id: request.id, from: request.state, to: 'provisioning' },
    });
  }
  const steps = Object.fromEntries(
    Object.entries(request.steps).map(([id, s]) => [id, s.status === 'done' ? s : { ...s, status: 'pending' as const, error: undefined }]),
  );
  return transition({ ...request, steps }, 'provisioning', clock);
}

/**
 * Replaces the plan of a pending request. Approvals of the old hash stop counting (they stay in the
 * record for the audit) and the request waits for fresh approvals.
 */
export function decideReplan(request: SetupRequest, actor: Actor, plan: Plan, policy: ApprovalPolicy, clock: Clock): SetupRequest {
  if (!sameActor(actor, request.requester) && !isApprover(policy, actor)) {
    throw new BotError('NOT_ALLOWED', `Only the requester or an approver can change the plan of ${request.id}.`, { details: { id: request.id } });
  }
  if (request.state !== 'pendingApproval') {
    throw new BotError('NOT_PENDING', `Request ${request.id} is ${request.state}; only a pending plan can change.`, {
      details: { id: request.id, state: request.state },
    });
  }
  if (plan.missingPermissions.length > 0) throw missingPermissionsError(request.id, plan);
  const steps = Object.fromEntries(plan.steps.map((s) => [s.id, { status: 'pending' as const, attempts: 0 }]));
  return { ...request, plan, steps, updatedAt: clock.now().toISOString() };
}

/** `MISSING_PERMISSIONS` naming the actions the bot's identity lacks. */
export function missingPermissionsError(id: string, plan: Plan): BotError {
  return new BotError(
    'MISSING_PERMISSIONS',
    `The bot's identity lacks ${plan.missingPermissions.join(', ')} on the resource group, so ${id} cannot be applied. ` +
      'Grant the role in manifest/azure and run the plan again.',
    { details: { id, missingPermissions: plan.missingPermissions } },
  );
}

/** A teardown may only target a setup request that succeeded; refuses with NOT_FOUND or NOT_ALLOWED and a next step. */
export function assertCanTearDown(parent: SetupRequest | undefined, parentId: string): SetupRequest {
  if (!parent || parent.kind !== 'setup') {
    throw new BotError('NOT_FOUND', `There is no setup request ${parentId} to tear down.`, { details: { parentId } });
  }
  if (parent.state !== 'succeeded') {
    const hint =
      parent.state === 'pendingApproval'
        ? ` To stop it instead, type cancel ${parent.id}.`
        : parent.state === 'failed'
          ? ` Type retry ${parent.id} to finish it first.`
          : '';
    throw new BotError('NOT_ALLOWED', `${parent.id} is ${parent.state}; only a setup that has succeeded can be torn down.${hint}`, {
      details: { parentId: parent.id, state: parent.state },
    });
  }
  return parent;
}
