import { updateWithRetry } from './cas';
import { BotError, refusedOn } from './errors';
import { assertAcyclic, computePlanHash } from './plan';
import {
  assertApprover,
  assertCanTearDown,
  decideApprove,
  decideCancel,
  decideReject,
  decideReplan,
  decideRetry,
  expiryFor,
  isApprover,
  isOverdue,
  missingPermissionsError,
  type ApprovalPolicy,
  type DecisionOutcome,
} from './policy';
import { lockKey, transition } from './state';
import type {
  Clock,
  Logger,
  Notifier,
  RequestEventType,
  RequestQuery,
  Store,
  SubmitInput,
  Workflow,
} from './ports';
import type { Actor, AuditEvent, ConversationRef, Plan, RequestConversations, RequestSummary, SetupRequest } from './types';

/** What `SetupService` is built from (composition root). */
export interface SetupServiceDeps {
  store: Store;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  policy: ApprovalPolicy;
  /** Called when a request becomes runnable (approved, retried), so this instance's job runner starts it at once. */
  onRunnable?: (requestId: string) => void;
}

/** Actor recorded for what the bot does on its own (expiry sweep, job runner). */
export const SYSTEM_ACTOR: AuditEvent['actor'] = { platform: 'system', userId: 'system', displayName: 'Hopsworks setup bot' };

/** kv key of a platform's admin channel. */
export const adminChannelKey = (platform: Actor['platform']): string => `adminChannel:${platform}`;

interface Effect {
  audit: { type: string; detail?: Record<string, unknown> };
  event?: RequestEventType;
  /** Refusal to raise after the change is stored (an approve click that expired the request). */
  refuse?: BotError;
}

/**
 * The request workflow: every mutation is read → pure decision (policy.ts/state.ts) → compare-and-set
 * (re-decided on conflict) → audit event → notifier event. Notifier failures are logged, never undo a decision.
 */
export class SetupService implements Workflow {
  private readonly store: Store;
  private readonly notifier: Notifier;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly policy: ApprovalPolicy;
  private readonly onRunnable?: (requestId: string) => void;

  constructor(deps: SetupServiceDeps) {
    this.store = deps.store;
    this.notifier = deps.notifier;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.policy = { ...deps.policy, approvers: [...deps.policy.approvers] };
    this.onRunnable = deps.onRunnable;
    const listed = this.policy.approvers.filter((a) => a.trim() !== '').length;
    if (listed > 0 && listed < this.policy.requiredApprovals) {
      this.logger.warn({ approvers: listed, requiredApprovals: this.policy.requiredApprovals }, 'fewer approvers than required approvals: no request can be approved');
    }
  }

  /** Creates the request in pendingApproval; refuses missing permissions, a foreign plan hash and a locked resource group. */
  async submit(input: SubmitInput): Promise<SetupRequest> {
    const id = (input.id ?? '').trim();
    if (id === '') throw new BotError('VALIDATION', 'A request id is required (allocate one with nextId()).');
    const reason = (input.reason ?? '').trim();
    if (reason === '') throw new BotError('VALIDATION', 'Say why you need this: the approver reads the reason before deciding.');
    if (!input.plan) throw new BotError('VALIDATION', `Request ${id} has no plan.`);
    if (input.plan.missingPermissions.length > 0) throw missingPermissionsError(id, input.plan);
    this.assertPlanMatches(id, input.target, input.plan);
    if (this.policy.approvers.filter((a) => a.trim() !== '').length === 0) {
      throw new BotError(
        'NO_APPROVERS_CONFIGURED',
        'No approvers are configured, so nobody could approve this request. An administrator must set HOPSWORKS_APPROVERS.',
      );
    }
    if (input.kind === 'teardown') await this.assertTeardownParent(id, input);
    else if (input.parentId !== undefined) throw new BotError('VALIDATION', 'Only a teardown request has a parent request.');

    const now = this.clock.now();
    const draft: SetupRequest = {
      id,
      kind: input.kind,
      ...(input.parentId !== undefined ? { parentId: input.parentId } : {}),
      state: 'draft',
      requester: input.requester,
      conversations: { ...input.conversations, activityIds: { ...(input.conversations?.activityIds ?? {}) } },
      target: input.target,
      options: input.options,
      reason,
      plan: input.plan,
      approvals: [],
      steps: Object.fromEntries(input.plan.steps.map((s) => [s.id, { status: 'pending' as const, attempts: 0 }])),
      ...(input.confirmDeleteData !== undefined ? { confirmDeleteData: input.confirmDeleteData } : {}),
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      version: 0,
    };
    const pending = { ...transition(draft, 'pendingApproval', this.clock), expiresAt: expiryFor(this.policy, now) };
    const stored = await this.store.create(pending);
    await this.record(stored, input.requester, {
      audit: {
        type: 'submitted',
        detail: {
          kind: stored.kind,
          parentId: stored.parentId,
          target: stored.target,
          reason,
          planHash: input.plan.hash,
          steps: input.plan.steps.length,
          monthlyUsd: input.plan.cost?.monthlyTotal,
          expiresAt: stored.expiresAt,
        },
      },
      event: 'submitted',
    });
    return stored;
  }

  /** Records an approval bound to `planHash`; approved once enough distinct approvers agree. */
  async approve(id: string, actor: Actor, planHash: string): Promise<SetupRequest> {
    return this.decide(id, actor, (cur) => decideApprove(cur, actor, planHash, this.policy, this.clock), planHash);
  }

  /** One rejection with a reason rejects the request. */
  async reject(id: string, actor: Actor, planHash: string, reason: string): Promise<SetupRequest> {
    return this.decide(id, actor, (cur) => decideReject(cur, actor, planHash, reason, this.policy, this.clock), planHash);
  }

  /** The requester or an approver withdraws a pending request. */
  async cancel(id: string, actor: Actor): Promise<SetupRequest> {
    return this.mutate(id, actor, (cur) => ({
      request: decideCancel(cur, actor, this.policy, this.clock),
      result: { audit: { type: 'cancelled', detail: { from: cur.state } }, event: 'cancelled' as const },
    }));
  }

  /** failed → provisioning; the job runner resumes at the failed steps. */
  async retry(id: string, actor: Actor): Promise<SetupRequest> {
    return this.mutate(id, actor, (cur) => {
      const next = decideRetry(cur, actor, this.policy, this.clock);
      const failedSteps = Object.entries(cur.steps)
        .filter(([, s]) => s.status !== 'done')
        .map(([stepId]) => stepId);
      return { request: next, result: { audit: { type: 'retried', detail: { resumeSteps: failedSteps } }, event: 'provisioningStarted' as const } };
    });
  }

  /** Replaces a pending request's plan: approvals of the old hash stop counting. */
  async replan(id: string, actor: Actor, plan: Plan): Promise<SetupRequest> {
    return this.mutate(id, actor, (cur) => {
      this.assertPlanMatches(id, cur.target, plan);
      const next = decideReplan(cur, actor, plan, this.policy, this.clock);
      return {
        request: next,
        result: { audit: { type: 'replanned', detail: { oldHash: cur.plan?.hash, planHash: plan.hash } }, event: 'submitted' as const },
      };
    });
  }

  async recordConversation(id: string, patch: Partial<RequestConversations>, activityIds?: Record<string, string>): Promise<SetupRequest> {
    const { request } = await updateWithRetry(this.store, id, (cur) => ({
      request: {
        ...cur,
        conversations: {
          ...cur.conversations,
          ...patch,
          activityIds: { ...cur.conversations.activityIds, ...(patch.activityIds ?? {}), ...(activityIds ?? {}) },
        },
        updatedAt: this.clock.now().toISOString(),
      },
      result: undefined,
    }));
    return request;
  }

  /** Moves every overdue pending request to expired. */
  async expireDue(): Promise<SetupRequest[]> {
    // Summaries: the sweep runs on every poll and reads whole requests only for the overdue ones.
    const pending = await this.store.listSummaries({ states: ['pendingApproval'], limit: 10_000 });
    const expired: SetupRequest[] = [];
    for (const candidate of pending) {
      if (!isOverdue(candidate, this.clock.now())) continue;
      try {
        const res = await updateWithRetry(this.store, candidate.id, (cur) =>
          isOverdue(cur, this.clock.now()) ? { request: transition(cur, 'expired', this.clock), result: undefined } : undefined,
        );
        if (!res.changed) continue;
        await this.record(res.request, SYSTEM_ACTOR, { audit: { type: 'expired', detail: { expiresAt: res.request.expiresAt } }, event: 'expired' });
        expired.push(res.request);
      } catch (err) {
        this.logger.error({ err, requestId: candidate.id }, 'expiry sweep could not expire a request');
      }
    }
    return expired;
  }

  async get(id: string): Promise<SetupRequest | undefined> {
    return this.store.get(id);
  }

  async list(query?: RequestQuery): Promise<SetupRequest[]> {
    return this.store.list(query);
  }

  async listSummaries(query?: RequestQuery): Promise<RequestSummary[]> {
    return this.store.listSummaries(query);
  }

  async audit(id: string): Promise<AuditEvent[]> {
    return this.store.listAudit(id);
  }

  isApprover(actor: Actor): boolean {
    return isApprover(this.policy, actor);
  }

  async getAdminChannel(platform: Actor['platform']): Promise<ConversationRef | undefined> {
    const entry = await this.store.kv.get(adminChannelKey(platform));
    return entry?.value as ConversationRef | undefined;
  }

  /** Approvers only; the channel is stored per platform of the reference. */
  async setAdminChannel(actor: Actor, ref: ConversationRef): Promise<void> {
    assertApprover(this.policy, actor);
    if (ref.platform !== actor.platform) {
      throw new BotError('VALIDATION', `An admin channel for ${ref.platform} must be registered from ${ref.platform}.`);
    }
    await this.store.kv.put(adminChannelKey(ref.platform), ref, '*');
    this.logger.info({ platform: ref.platform, userId: actor.userId }, 'admin channel registered');
  }

  private async decide(id: string, actor: Actor, decideFn: (cur: SetupRequest) => DecisionOutcome, planHash: string): Promise<SetupRequest> {
    return this.mutate(id, actor, (cur) => {
      const outcome = decideFn(cur);
      if (outcome.kind === 'expired') {
        return {
          request: outcome.request,
          result: {
            audit: { type: 'expired', detail: { expiresAt: cur.expiresAt, onDecisionBy: actor.userId } },
            event: 'expired' as const,
            refuse: new BotError('REQUEST_EXPIRED', `Request ${id} expired at ${cur.expiresAt} before it was approved; ask for a new one.`, {
              details: { id, expiresAt: cur.expiresAt },
            }),
          },
        };
      }
      const last = outcome.request.approvals[outcome.request.approvals.length - 1];
      const effect: Effect = outcome.rejected
        ? { audit: { type: 'rejected', detail: { planHash, reason: last?.reason } }, event: 'rejected' }
        : {
            audit: { type: outcome.approved ? 'approved' : 'approvalRecorded', detail: { planHash, approvals: outcome.request.approvals.length } },
            event: outcome.approved ? 'approved' : 'approvalRecorded',
          };
      return { request: outcome.request, result: effect };
    });
  }

  private async mutate(id: string, actor: Actor, decideFn: (cur: SetupRequest) => { request: SetupRequest; result: Effect }): Promise<SetupRequest> {
    let seen: SetupRequest | undefined;
    let outcome: Awaited<ReturnType<typeof updateWithRetry<Effect>>>;
    try {
      outcome = await updateWithRetry(this.store, id, (cur) => decideFn((seen = cur)));
    } catch (err) {
      if (seen) refusedOn(err, seen);
      throw err;
    }
    const { request, result } = outcome;
    if (result) {
      await this.record(request, actor, result);
      if (result.refuse) {
        refusedOn(result.refuse, request);
        throw result.refuse;
      }
    }
    return request;
  }

  /** Audit, then notify; a failing notifier is logged and never fails the decision. */
  private async record(request: SetupRequest, actor: AuditEvent['actor'], effect: Effect): Promise<void> {
    const at = this.clock.now().toISOString();
    try {
      await this.store.appendAudit({ requestId: request.id, at, actor, type: effect.audit.type, detail: effect.audit.detail });
    } catch (err) {
      this.logger.error({ err, requestId: request.id, type: effect.audit.type }, 'audit append failed');
    }
    this.logger.info({ requestId: request.id, state: request.state, event: effect.audit.type, actor: actor.userId }, 'request changed');
    if (request.state === 'approved' || effect.audit.type === 'retried') this.onRunnable?.(request.id);
    if (!effect.event) return;
    try {
      await this.notifier.requestChanged({ type: effect.event, request, ...(actor.platform !== 'system' ? { actor: actor as Actor } : {}) });
    } catch (err) {
      this.logger.warn({ err, requestId: request.id, event: effect.event }, 'notifier failed; the decision stands');
    }
  }

  private assertPlanMatches(id: string, target: SubmitInput['target'], plan: Plan): void {
    assertAcyclic(plan.steps);
    const expected = computePlanHash(target, plan.steps);
    if (plan.hash !== expected) {
      throw new BotError('VALIDATION', `The plan of ${id} does not match its hash; run the preflight again.`, {
        details: { id, planHash: plan.hash, expected },
      });
    }
  }

  private async assertTeardownParent(id: string, input: SubmitInput): Promise<void> {
    if (!input.parentId) throw new BotError('VALIDATION', `Teardown ${id} must name the setup request whose resources it deletes.`);
    const parent = assertCanTearDown(await this.store.get(input.parentId), input.parentId);
    if (lockKey(parent.target) !== lockKey(input.target)) {
      throw new BotError('VALIDATION', `Teardown ${id} must target ${parent.target.resourceGroup}, where ${parent.id} created its resources.`);
    }
  }
}
