/**
 * Universal Actions (Action.Execute, invoke `adaptiveCard/action`): approve, reject, refresh, retry.
 * The server decides everything from the authenticated actor; the card only says which request and
 * which plan hash the person was looking at. The response is the card this one user sees next, with
 * a line telling them what happened (or why nothing did).
 */
import type { AdaptiveCardInvokeResponse, AdaptiveCardInvokeValue, TurnContext } from 'botbuilder';
import { isBotError, requestOfRefusal } from '../core/errors';
import { sameActor } from '../core/policy';
import type { Clock, Logger, Workflow } from '../core/ports';
import type { Actor, SetupRequest } from '../core/types';
import { approvalCard, escapeMarkdown, progressCard, type CardJson, type NoticeKind } from './cards';
import { actorFromContext } from './teamsActor';

export const CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';
export const MESSAGE_CONTENT_TYPE = 'application/vnd.microsoft.activity.message';

export interface CardActionDeps {
  workflow: Workflow;
  logger: Logger;
  requiredApprovals: number;
  clock: Clock;
}

/** Refusals a person can act on: shown as a warning on their card, nothing changes. */
const REFUSALS = new Set(['NOT_AN_APPROVER', 'NO_APPROVERS_CONFIGURED', 'SELF_APPROVAL', 'ALREADY_DECIDED', 'REQUEST_EXPIRED', 'PLAN_SUPERSEDED', 'NOT_PENDING', 'REASON_REQUIRED', 'NOT_ALLOWED', 'ILLEGAL_TRANSITION', 'MISSING_PERMISSIONS']);

export class CardActionHandler {
  constructor(private readonly deps: CardActionDeps) {}

  async handle(context: TurnContext, invoke: AdaptiveCardInvokeValue): Promise<AdaptiveCardInvokeResponse> {
    const verb = invoke.action?.verb;
    const data = (invoke.action?.data ?? {}) as Record<string, unknown>;
    const id = typeof data.requestId === 'string' ? data.requestId : '';
    const planHash = typeof data.planHash === 'string' ? data.planHash : '';
    const actor = await actorFromContext(context, this.deps.logger);
    switch (verb) {
      case 'refresh':
        return this.approvalView(id, actor);
      case 'approve':
        return this.decide(id, actor, async () => {
          const r = await this.deps.workflow.approve(id, actor, planHash);
          const counted = r.state === 'pendingApproval' ? ' Waiting for more approvals.' : r.kind === 'teardown' ? ' Deleting starts now.' : ' Provisioning starts now.';
          return { request: r, notice: `You approved ${r.id}.${counted}` };
        });
      case 'reject': {
        const reason = typeof data.rejectReason === 'string' ? data.rejectReason : '';
        return this.decide(id, actor, async () => {
          const r = await this.deps.workflow.reject(id, actor, planHash, reason);
          return { request: r, notice: `You rejected ${r.id}. The requester has been told your reason.` };
        });
      }
      case 'retry':
        return this.retry(id, actor);
      default:
        return message(400, `This card action (${escapeMarkdown(String(verb ?? ''))}) is not supported.`);
    }
  }

  private async decide(id: string, actor: Actor, run: () => Promise<{ request: SetupRequest; notice: string }>): Promise<AdaptiveCardInvokeResponse> {
    try {
      const { request, notice } = await run();
      return card(this.renderApproval(request, actor, notice, 'success'));
    } catch (err) {
      return this.refusal(id, actor, err);
    }
  }

  private async refusal(id: string, actor: Actor, err: unknown): Promise<AdaptiveCardInvokeResponse> {
    // The request the refusal was decided on (no second read), else the stored one.
    const current = requestOfRefusal(err) ?? (await this.deps.workflow.get(id).catch(() => undefined));
    if (!current?.plan) return message(200, isBotError(err) ? err.message : `There is no request ${id}.`);
    if (isBotError(err) && REFUSALS.has(err.code)) {
      return card(this.renderApproval(current, actor, `${err.message} Nothing was changed.`, 'warning'));
    }
    this.deps.logger.error({ err, requestId: id }, 'card action failed');
    return card(this.renderApproval(current, actor, 'Something went wrong; nothing was changed. Try again in a minute.', 'error'));
  }

  private async approvalView(id: string, actor: Actor): Promise<AdaptiveCardInvokeResponse> {
    const request = await this.deps.workflow.get(id);
    if (!request?.plan) return message(200, `There is no request ${id}.`);
    return card(this.renderApproval(request, actor));
  }

  /** Buttons only for an approver who may still decide on this plan; everyone else sees the state. */
  private renderApproval(request: SetupRequest, actor: Actor, notice?: string, noticeKind?: NoticeKind): CardJson {
    const decided = request.approvals.some((a) => a.planHash === request.plan?.hash && sameActor(a.actor, actor));
    const actionable = this.deps.workflow.isApprover(actor) && !sameActor(actor, request.requester) && !decided;
    let why = notice;
    if (!why && request.state === 'pendingApproval' && !actionable) {
      if (sameActor(actor, request.requester)) why = 'You requested this; another approver decides. You can cancel it with cancel ' + request.id + '.';
      else if (decided) why = 'You already decided on this plan.';
    }
    return approvalCard({
      request,
      requiredApprovals: this.deps.requiredApprovals,
      actionable,
      notice: why,
      noticeKind: noticeKind ?? 'info',
      now: this.deps.clock.now(),
      isApprover: (a) => this.deps.workflow.isApprover(a),
    });
  }

  private async retry(id: string, actor: Actor): Promise<AdaptiveCardInvokeResponse> {
    try {
      const request = await this.deps.workflow.retry(id, actor);
      return card(progressCard({ request, now: this.deps.clock.now(), notice: `Retrying ${request.id}: the failed steps run again.`, noticeKind: 'success' }));
    } catch (err) {
      const current = await this.deps.workflow.get(id).catch(() => undefined);
      if (!current) return message(200, `There is no request ${id}.`);
      const known = isBotError(err) && REFUSALS.has(err.code);
      if (!known) this.deps.logger.error({ err, requestId: id }, 'retry failed');
      const why = known ? `${(err as Error).message} Nothing was changed.` : 'Something went wrong; nothing was changed.';
      return card(progressCard({ request: current, now: this.deps.clock.now(), notice: why, noticeKind: 'warning' }));
    }
  }
}

function card(value: CardJson): AdaptiveCardInvokeResponse {
  return { statusCode: 200, type: CARD_CONTENT_TYPE, value };
}

function message(statusCode: number, text: string): AdaptiveCardInvokeResponse {
  return { statusCode, type: MESSAGE_CONTENT_TYPE, value: text as unknown as Record<string, unknown> };
}
