/**
 * The core's Notifier for chat: posts and updates cards proactively through the adapter of the
 * conversation's platform (`continueConversationAsync` with stored references), records the activity
 * ids it posted so later events update cards in place, and coalesces bursts of step updates.
 */
import { TeamsInfo, TurnContext, type BotAdapter, type ConversationParameters, type ConversationReference } from 'botbuilder';
import { BotError } from '../core/errors';
import type { Clock, Logger, Notifier, RequestEvent, StepSecret, Workflow } from '../core/ports';
import type { Actor, ConversationRef, Platform, SetupRequest } from '../core/types';
import { approvalCard, cardAttachment, escapeMarkdown, noticeCard, privateKeyCard, progressCard, summaryCard, type CardJson } from './cards';

/** One adapter per platform; Slack is optional. */
export interface ChatAdapters {
  teams: BotAdapter;
  slack?: BotAdapter;
}

export interface ChatNotifierDeps {
  adapters: ChatAdapters;
  /** MicrosoftAppId ('' for local runs). */
  appId: string;
  logger: Logger;
  requiredApprovals: number;
  clock?: Clock;
  /** May be attached later (`attach`): the workflow also needs the notifier. */
  workflow?: Workflow;
  /** Step updates within this window are merged into one card update (ms). */
  coalesceMs?: number;
}

/** Keys of `conversations.activityIds` this notifier writes. */
export const ACTIVITY_KEYS = {
  approvalCard: 'approvalCard',
  requesterCard: 'requesterCard',
  progressCard: 'progressCard',
  progressReply: 'progressReply',
  summaryCard: 'summaryCard',
} as const;

const BOT_FRAMEWORK_AUDIENCE = 'https://api.botframework.com';
const systemClock: Clock = { now: () => new Date() };

type Ref = Partial<ConversationReference>;

export class ChatNotifier implements Notifier {
  private workflow?: Workflow;
  private readonly clock: Clock;
  private readonly coalesceMs: number;
  /** Per request: the newest snapshot waiting to be drawn, and the timer that will draw it. */
  private readonly pending = new Map<string, { request: SetupRequest; timer: NodeJS.Timeout }>();
  /** Per request: the chain of card operations, so updates never overtake each other. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly deps: ChatNotifierDeps) {
    this.workflow = deps.workflow;
    this.clock = deps.clock ?? systemClock;
    this.coalesceMs = deps.coalesceMs ?? 1500;
  }

  attach(workflow: Workflow): void {
    this.workflow = workflow;
  }

  async requestChanged(event: RequestEvent): Promise<void> {
    const r = event.request;
    if (event.type === 'stepChanged') {
      // Progress on a 10-step plan must not become 20 edits: keep the newest snapshot and draw it once.
      const waiting = this.pending.get(r.id);
      if (waiting) {
        if (r.version >= waiting.request.version) waiting.request = r;
        return;
      }
      const timer = setTimeout(() => {
        const entry = this.pending.get(r.id);
        this.pending.delete(r.id);
        if (entry) void this.enqueue(r.id, () => this.drawProgress(entry.request));
      }, this.coalesceMs);
      timer.unref?.();
      this.pending.set(r.id, { request: r, timer });
      return;
    }
    // Anything else is drawn at once and supersedes a waiting step update.
    const waiting = this.pending.get(r.id);
    if (waiting) {
      clearTimeout(waiting.timer);
      this.pending.delete(r.id);
    }
    const drawn = this.enqueue(r.id, () => this.handle(event));
    // The wizard tells the requester where the approval card went, so a submit waits for it. Other
    // events must not hold up an approver's click (Teams wants the invoke answer within seconds) or
    // the job runner; they are drawn in order in the background (`idle()` waits for them).
    if (event.type === 'submitted') await drawn;
  }

  /** Resolves when every scheduled card update has been sent (tests, graceful shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      for (const [id, entry] of this.pending) {
        clearTimeout(entry.timer);
        this.pending.delete(id);
        void this.enqueue(id, () => this.drawProgress(entry.request));
      }
      const chains = [...this.chains.values()];
      if (chains.length === 0 && this.pending.size === 0) return;
      await Promise.all(chains);
      if ([...this.chains.values()].every((c) => chains.includes(c)) && this.pending.size === 0) return;
    }
  }

  /**
   * Sends the private key to the requester's personal chat, once. The key is passed straight to the
   * chat service: it is not stored, not logged, and never goes to a channel.
   */
  async deliverSecret(request: SetupRequest, secret: StepSecret): Promise<void> {
    const card = privateKeyCard(request.id, request.options.sshKeyName, secret.value);
    const personal = request.conversations.requesterPersonal;
    try {
      if (personal) {
        await this.send(personal, async (ctx) => {
          await ctx.sendActivity({ attachments: [cardAttachment(card)] });
        });
      } else {
        await this.sendToNewPersonalChat(request, card);
      }
      this.deps.logger.info({ requestId: request.id, kind: secret.kind }, 'secret delivered to the requester personal chat');
    } catch (err) {
      // Only the message: a connector error could echo the request body, which holds the key.
      this.deps.logger.error({ requestId: request.id, kind: secret.kind, err: (err as Error).message }, 'could not deliver the secret; it is not kept');
      // The runner marks the step failed, so the requester sees it and a retry makes a new key.
      throw new BotError('INTERNAL', `The SSH private key of ${request.id} could not be sent to the requester's personal chat; the bot keeps no copy.`);
    }
  }

  /** Posts (or re-posts, with `force`) the approval card of a pending request to the admin channel. */
  async postApprovalCard(request: SetupRequest, opts: { force?: boolean } = {}): Promise<void> {
    const wf = this.requireWorkflow();
    const admin = await wf.getAdminChannel(request.requester.platform);
    if (!admin) return;
    const existing = request.conversations.activityIds[ACTIVITY_KEYS.approvalCard];
    if (existing && !opts.force) {
      await this.updateApprovalCard(request);
      return;
    }
    let postedId: string | undefined;
    await this.send(admin, async (ctx) => {
      const card = await this.baseApprovalCard(ctx, request);
      const res = await ctx.sendActivity({ attachments: [cardAttachment(card)] });
      postedId = res?.id;
    });
    if (postedId) await wf.recordConversation(request.id, { approval: admin }, { [ACTIVITY_KEYS.approvalCard]: postedId });
  }

  // --- event handling ----------------------------------------------------------------------------

  private async handle(event: RequestEvent): Promise<void> {
    const r = await this.latest(event.request);
    const who = escapeMarkdown(event.actor?.displayName ?? 'the bot');
    const id = escapeMarkdown(r.id);
    switch (event.type) {
      case 'submitted':
        await this.postApprovalCard(r);
        return;
      case 'approvalRecorded':
        await this.updateApprovalCard(r);
        await this.tellRequester(r, 'info', `${who} approved ${id}`, ['It needs more approvals before anything is created.']);
        return;
      case 'approved':
        await this.updateApprovalCard(r);
        await this.tellRequester(r, 'success', `${id} is approved`, [`Approved by ${who}. Provisioning starts now; progress is shown here.`]);
        return;
      case 'rejected': {
        await this.updateApprovalCard(r);
        const last = [...r.approvals].reverse().find((a) => a.decision === 'reject');
        await this.tellRequester(r, 'error', `${id} was rejected`, [
          `Rejected by ${who}${last?.reason ? `: ${escapeMarkdown(last.reason)}` : '.'}`,
          'Nothing was created. Type setup to make a new request.',
        ]);
        return;
      }
      case 'cancelled':
        await this.updateApprovalCard(r);
        if (event.actor && event.actor.userId !== r.requester.userId) {
          await this.tellRequester(r, 'info', `${id} was cancelled`, [`Cancelled by ${who}. Nothing was created.`]);
        }
        return;
      case 'expired':
        await this.updateApprovalCard(r);
        await this.tellRequester(r, 'warning', `${id} expired`, ['Nobody approved it in time, so nothing was created. Type setup to make a new request.']);
        return;
      case 'provisioningStarted':
        await this.updateApprovalCard(r);
        await this.drawProgress(r);
        return;
      case 'stepChanged':
        await this.drawProgress(r);
        return;
      case 'failed':
        await this.drawProgress(r);
        await this.updateApprovalCard(r);
        await this.tellRequester(r, 'error', `${id} failed`, ['The progress card shows the error and what to do. Retry resumes at the failed steps.']);
        return;
      case 'succeeded':
        await this.drawProgress(r);
        await this.updateApprovalCard(r);
        if (r.kind === 'setup' && r.outputs) await this.postSummary(r);
        return;
      case 'tornDown':
        await this.drawProgress(r);
        await this.updateApprovalCard(r);
        await this.tellRequester(r, 'success', `${id} is done`, ['The resources the bot created are deleted.']);
        return;
    }
  }

  /** The stored request carries the activity ids recorded since the event's snapshot was taken. */
  private async latest(r: SetupRequest): Promise<SetupRequest> {
    const stored = await this.workflow?.get(r.id).catch(() => undefined);
    if (!stored) return r;
    if (stored.version >= r.version) return stored;
    return { ...r, conversations: stored.conversations };
  }

  private async updateApprovalCard(r: SetupRequest): Promise<void> {
    const ref = r.conversations.approval;
    const activityId = r.conversations.activityIds[ACTIVITY_KEYS.approvalCard];
    if (!ref || !activityId || !r.plan) return;
    await this.send(ref, async (ctx) => {
      const card = await this.baseApprovalCard(ctx, r);
      await ctx.updateActivity({ id: activityId, type: 'message', attachments: [cardAttachment(card)] });
    });
  }

  /**
   * The card everyone in the admin channel sees. In Teams, when the approvers in the channel are known,
   * it is read-only and refreshes automatically for them into the card with the buttons (the server
   * decides on each refresh). Elsewhere the buttons are on the card and the server refuses non-approvers.
   */
  private async baseApprovalCard(ctx: TurnContext, r: SetupRequest): Promise<CardJson> {
    const now = this.clock.now();
    const pending = r.state === 'pendingApproval';
    const approverIds = pending ? await this.approverIdsInChannel(ctx) : [];
    return approvalCard({
      request: r,
      requiredApprovals: this.deps.requiredApprovals,
      actionable: approverIds.length === 0,
      refreshUserIds: approverIds,
      now,
      ...(this.workflow ? { isApprover: (a: Actor) => this.workflow!.isApprover(a) } : {}),
    });
  }

  /** Teams ids (29:…) of channel members the core calls approvers; [] when the roster is unavailable. */
  private async approverIdsInChannel(ctx: TurnContext): Promise<string[]> {
    if (ctx.activity.channelId !== 'msteams' || !this.workflow) return [];
    try {
      const page = await TeamsInfo.getPagedMembers(ctx, 60);
      return page.members
        .filter((m) => this.workflow!.isApprover({ platform: 'teams', userId: m.aadObjectId || m.id, upn: m.userPrincipalName || undefined, displayName: m.name }))
        .map((m) => m.id)
        .slice(0, 60);
    } catch (err) {
      this.deps.logger.debug({ err: (err as Error).message }, 'channel roster unavailable; approval card carries the buttons');
      return [];
    }
  }

  /** Progress in the requester's conversation and as a reply under the approval card, updated in place. */
  private async drawProgress(r0: SetupRequest): Promise<void> {
    const r = await this.latest(r0);
    const card = progressCard({ request: r, now: this.clock.now() });
    const ids = r.conversations.activityIds;
    const recorded: Record<string, string> = {};
    if (r.conversations.requester) {
      const id = await this.upsert(r.conversations.requester, ids[ACTIVITY_KEYS.progressCard], card);
      if (id) recorded[ACTIVITY_KEYS.progressCard] = id;
    }
    const approval = r.conversations.approval;
    const approvalId = ids[ACTIVITY_KEYS.approvalCard];
    if (approval && approvalId) {
      const id = await this.upsert(threadOf(approval, approvalId), ids[ACTIVITY_KEYS.progressReply], card, approvalId);
      if (id) recorded[ACTIVITY_KEYS.progressReply] = id;
    }
    const fresh = Object.entries(recorded).filter(([k, v]) => ids[k] !== v);
    if (fresh.length > 0) await this.requireWorkflow().recordConversation(r.id, {}, Object.fromEntries(fresh));
  }

  private async postSummary(r: SetupRequest): Promise<void> {
    if (!r.conversations.requester || r.conversations.activityIds[ACTIVITY_KEYS.summaryCard]) return;
    const id = await this.upsert(r.conversations.requester, undefined, summaryCard(r));
    if (id) await this.requireWorkflow().recordConversation(r.id, {}, { [ACTIVITY_KEYS.summaryCard]: id });
  }

  /** Updates the activity when it exists, else posts it; returns the activity id. */
  private async upsert(ref: ConversationRef, activityId: string | undefined, card: CardJson, replyToId?: string): Promise<string | undefined> {
    let id = activityId;
    await this.send(ref, async (ctx) => {
      if (activityId) {
        try {
          await ctx.updateActivity({ id: activityId, type: 'message', attachments: [cardAttachment(card)] });
          return;
        } catch (err) {
          this.deps.logger.warn({ err: (err as Error).message }, 'could not update a card in place; posting it again');
        }
      }
      const res = await ctx.sendActivity({ type: 'message', attachments: [cardAttachment(card)], ...(replyToId ? { replyToId } : {}) });
      id = res?.id;
    });
    return id;
  }

  private async tellRequester(r: SetupRequest, kind: 'info' | 'success' | 'warning' | 'error', title: string, lines: string[]): Promise<void> {
    const ref = r.conversations.requester;
    if (!ref) return;
    await this.send(ref, async (ctx) => {
      await ctx.sendActivity({ attachments: [cardAttachment(noticeCard(kind, title, lines))] });
    });
  }

  /** A 1:1 chat the bot opens with the requester (Teams: user id and tenant from their conversation). */
  private async sendToNewPersonalChat(r: SetupRequest, card: CardJson): Promise<void> {
    const ref = r.conversations.requester;
    if (!ref) throw new Error('no requester conversation to find the requester in');
    const reference = ref.reference as Ref;
    const user = reference.user;
    if (!user?.id) throw new Error('the requester conversation has no user');
    const adapter = this.adapterFor(ref.platform);
    const tenantId = (reference.conversation as { tenantId?: string } | undefined)?.tenantId;
    const params: ConversationParameters = {
      isGroup: false,
      bot: reference.bot!,
      members: [user],
      ...(tenantId ? { tenantId, channelData: { tenant: { id: tenantId } } } : {}),
    } as ConversationParameters;
    let personal: ConversationRef | undefined;
    await adapter.createConversationAsync(this.deps.appId, reference.channelId ?? 'msteams', reference.serviceUrl ?? '', BOT_FRAMEWORK_AUDIENCE, params, async (ctx) => {
      await ctx.sendActivity({ attachments: [cardAttachment(card)] });
      const created = TurnContext.getConversationReference(ctx.activity) as Ref;
      delete created.activityId;
      personal = { platform: ref.platform, reference: JSON.parse(JSON.stringify(created)) as Record<string, unknown> };
    });
    // The conversation (not the key) is worth remembering for the next private message.
    if (personal && this.workflow) await this.workflow.recordConversation(r.id, { requesterPersonal: personal }).catch(() => undefined);
  }

  private async send(ref: ConversationRef, logic: (ctx: TurnContext) => Promise<void>): Promise<void> {
    const adapter = this.adapterFor(ref.platform);
    await adapter.continueConversationAsync(this.deps.appId, ref.reference as Ref, logic);
  }

  private adapterFor(platform: Platform): BotAdapter {
    const adapter = platform === 'slack' ? this.deps.adapters.slack : this.deps.adapters.teams;
    if (!adapter) throw new Error(`No chat adapter for ${platform}`);
    return adapter;
  }

  private requireWorkflow(): Workflow {
    if (!this.workflow) throw new Error('ChatNotifier.attach(workflow) was not called');
    return this.workflow;
  }

  /** Runs card operations of one request one after another; a failure is logged and never blocks the next. */
  private enqueue(requestId: string, op: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(requestId) ?? Promise.resolve();
    const next = prev
      .then(op)
      .catch((err) => this.deps.logger.warn({ err: (err as Error).message, requestId }, 'could not update the chat cards of a request'));
    this.chains.set(requestId, next);
    void next.finally(() => {
      if (this.chains.get(requestId) === next) this.chains.delete(requestId);
    });
    return next;
  }
}

/** Where replies under a card go: in a Teams channel the thread of that card, elsewhere the same conversation. */
export function threadOf(ref: ConversationRef, activityId: string): ConversationRef {
  const reference = JSON.parse(JSON.stringify(ref.reference)) as Ref & { conversation?: { id: string; conversationType?: string } };
  if (ref.platform === 'teams' && reference.conversation?.conversationType === 'channel') {
    reference.conversation.id = `${reference.conversation.id.split(';')[0]};messageid=${activityId}`;
  }
  return { platform: ref.platform, reference: reference as Record<string, unknown> };
}
