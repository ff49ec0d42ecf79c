/**
 * The bot: translates chat turns into workflow calls and cards. The same class serves Teams (CloudAdapter)
 * and Slack (the Slack adapter produces Teams-shaped activities), so it reads only activities and
 * Adaptive Card submits; `channelId` matters only for @mentions and the Teams roster.
 */
import { randomUUID } from 'node:crypto';
import {
  ActivityTypes,
  TeamsActivityHandler,
  TurnContext,
  type AdaptiveCardInvokeResponse,
  type AdaptiveCardInvokeValue,
  type BotAdapter,
  type ConversationState,
  type StatePropertyAccessor,
  type UserState,
} from 'botbuilder';
import { DialogSet, type DialogContext, type DialogState, type DialogStateManagerConfiguration } from 'botbuilder-dialogs';
import { BotError, isBotError } from '../core/errors';
import type { Clock, Discovery, Logger, Planner, Workflow } from '../core/ports';
import type { ConversationRef } from '../core/types';
import { cardAttachment, escapeMarkdown, helpCard, noticeCard, statusDetailCard, statusListCard, welcomeCard, type CardJson } from './cards';
import type { ChatNotifier } from './notifier';
import { actorFromContext, conversationRefOf, isPersonalConversation, isSharedConversation, platformOf } from './teamsActor';
import { CardActionHandler } from './teamsInvoke';
import { showWizardCard, type WizardSession } from '../dialogs/cardPrompt';
import { parseCommand, type Command } from '../dialogs/commands';
import { SETUP_DIALOG, SetupDialog } from '../dialogs/setupDialog';
import { errorCard } from '../dialogs/submit';
import { TEARDOWN_DIALOG, TeardownDialog, type TeardownOptions } from '../dialogs/teardownDialog';

export interface HopsworksBotConfig {
  /** MicrosoftAppId; empty for local, unauthenticated runs. */
  appId?: string;
  /** HOPSWORKS_REQUIRED_APPROVALS, shown as "N of M" on cards. */
  requiredApprovals?: number;
}

export interface HopsworksBotDeps {
  workflow: Workflow;
  discovery: Discovery;
  planner: Planner;
  /** Allocates the request id before preflight (resources are tagged with it): `RequestRepository.nextId`. */
  ids: { nextId(): Promise<string> };
  conversationState: ConversationState;
  /** Saved with every turn when given; the bot keeps nothing per user today. */
  userState?: UserState;
  logger: Logger;
  config?: HopsworksBotConfig;
  clock?: Clock;
  /** Posts approval cards for pending requests when an admin channel is registered. */
  notifier?: Pick<ChatNotifier, 'postApprovalCard'>;
}

const systemClock: Clock = { now: () => new Date() };

/**
 * The turn-state key under which botbuilder-dialogs' DialogStateManager looks for its configuration
 * (memory scopes and path resolvers) before building it from the registered components.
 */
export const DIALOG_STATE_CONFIGURATION_KEY = 'DialogStateManagerConfiguration';

export class HopsworksBot extends TeamsActivityHandler {
  private readonly deps: HopsworksBotDeps;
  private readonly dialogs: DialogSet;
  private readonly dialogState: StatePropertyAccessor<DialogState>;
  private readonly sessions: StatePropertyAccessor<WizardSession | undefined>;
  private readonly welcomed: StatePropertyAccessor<boolean | undefined>;
  private readonly cardActions: CardActionHandler;
  private readonly clock: Clock;
  /**
   * The dialog state manager's memory scopes and path resolvers, built on the first turn and reused, as
   * botbuilder's own DialogManager does with its `stateConfiguration`: they hold no per-turn state, and
   * building them (a service collection resolved through schema checks) was a fifth of a short turn's CPU.
   */
  private stateConfiguration?: DialogStateManagerConfiguration;

  constructor(deps: HopsworksBotDeps) {
    super();
    this.deps = deps;
    this.clock = deps.clock ?? systemClock;
    this.dialogState = deps.conversationState.createProperty<DialogState>('dialogState');
    this.sessions = deps.conversationState.createProperty<WizardSession | undefined>('wizardSession');
    this.welcomed = deps.conversationState.createProperty<boolean | undefined>('welcomed');
    this.dialogs = new DialogSet(this.dialogState);
    this.dialogs.add(new SetupDialog({ ...deps, sessions: this.sessions }));
    this.dialogs.add(new TeardownDialog({ ...deps, sessions: this.sessions }));
    this.cardActions = new CardActionHandler({
      workflow: deps.workflow,
      logger: deps.logger,
      requiredApprovals: deps.config?.requiredApprovals ?? 1,
      clock: this.clock,
    });

    this.onMembersAdded(async (context, next) => {
      const botId = context.activity.recipient?.id;
      const added = context.activity.membersAdded ?? [];
      // Welcome once per conversation: when the bot itself is added (Teams install), or in a 1:1 chat when the user arrives.
      if (added.some((m) => m.id === botId) || (isPersonalConversation(context) && added.length > 0)) await this.welcome(context);
      await next();
    });
    this.onInstallationUpdateAdd(async (context, next) => {
      await this.welcome(context);
      await next();
    });
  }

  /**
   * Messages go straight to `handleMessage`; every other activity (invokes, conversation and installation
   * updates) takes ActivityHandler's route. That route emits a message through two handler chains ('Turn',
   * then 'Message' and its 'Dialog' next event): about ten of botbuilder's tsc-compiled async calls, which
   * between them got a quarter of a message turn's garbage promoted to the old generation (docs/performance.md,
   * tenth stop). The bot registers no handler on those chains, so skipping them changes no behaviour.
   */
  protected async onTurnActivity(context: TurnContext): Promise<void> {
    if (context.activity.type === ActivityTypes.Message) return this.handleMessage(context);
    return super.onTurnActivity(context);
  }

  /** Runs the turn and saves conversation (dialog) state, also when the turn failed half-way. */
  async run(context: TurnContext): Promise<void> {
    try {
      await super.run(context);
    } finally {
      await this.deps.conversationState.saveChanges(context, false);
      if (this.deps.userState) await this.deps.userState.saveChanges(context, false);
    }
  }

  protected async onAdaptiveCardInvoke(context: TurnContext, invokeValue: AdaptiveCardInvokeValue): Promise<AdaptiveCardInvokeResponse> {
    return this.cardActions.handle(context, invokeValue);
  }

  private async welcome(context: TurnContext): Promise<void> {
    if (await this.welcomed.get(context)) return;
    await this.welcomed.set(context, true);
    await this.reply(context, welcomeCard(isSharedConversation(context)));
  }

  private async reply(context: TurnContext, card: CardJson): Promise<void> {
    await context.sendActivity({ type: ActivityTypes.Message, attachments: [cardAttachment(card)] });
  }

  private async handleMessage(context: TurnContext): Promise<void> {
    const activity = context.activity;
    // In channels and group chats the text starts with "<at>Hopsworks</at>"; commands are what follows.
    const text = activity.text ? TurnContext.removeRecipientMention(activity) : '';
    const value = activity.value && typeof activity.value === 'object' ? (activity.value as Record<string, unknown>) : undefined;

    // A known command does not depend on the dialog stack, so the conversation state is only read when a
    // command needs it (setup, teardown, cancel) or the input may belong to a running wizard.
    if (value && typeof value.command === 'string' && !value.wizardId) return this.runCommand(context, parseCommand(value.command));
    const command = value ? undefined : parseCommand(text);
    if (command && command.name !== 'unknown' && command.name !== 'empty') return this.runCommand(context, command);

    // Free text or a card submission: the running wizard's, if there is one.
    const dc = await this.dialogContext(context);
    if (dc.activeDialog) {
      await dc.continueDialog();
      return;
    }
    if (command) return this.runCommand(context, command);
    if (typeof value?.wizardId === 'string') {
      await this.reply(context, noticeCard('warning', 'That card is no longer active', ['Nothing was changed. Type setup to start a new request.']));
      return;
    }
    await this.reply(context, helpCard());
  }

  private async dialogContext(context: TurnContext): Promise<DialogContext> {
    if (this.stateConfiguration) context.turnState.set(DIALOG_STATE_CONFIGURATION_KEY, this.stateConfiguration);
    const dc = await this.dialogs.createContext(context);
    this.stateConfiguration ??= dc.state.configuration;
    return dc;
  }

  private async runCommand(context: TurnContext, command: Command): Promise<void> {
    try {
      switch (command.name) {
        case 'setup':
          return await this.startWizard(await this.dialogContext(context), 'setup');
        case 'teardown':
          if (!command.id) return await this.needId(context, 'teardown', command.badId);
          return await this.startWizard(await this.dialogContext(context), 'teardown', { parentId: command.id });
        case 'cancel':
          if (command.badId) return await this.needId(context, 'cancel', command.badId);
          if (!command.id) return await this.cancelWizard(await this.dialogContext(context));
          return await this.cancelRequest(context, command.id);
        case 'retry':
          if (!command.id) return await this.needId(context, 'retry', command.badId);
          return await this.retryRequest(context, command.id);
        case 'status':
          if (command.badId) return await this.needId(context, 'status', command.badId);
          return await this.status(context, command.id);
        case 'adminChannel':
          return await this.registerAdminChannel(context);
        case 'help':
          return await this.reply(context, helpCard());
        case 'empty':
          return await this.reply(context, helpCard());
        case 'unknown':
          return await this.reply(context, helpCard(`I do not know "${command.text.slice(0, 60)}". These are the commands:`));
      }
    } catch (err) {
      await this.reply(context, errorCard(err, this.deps.logger, { command: command.name }));
    }
  }

  private async needId(context: TurnContext, verb: string, badId?: string): Promise<void> {
    const lines = [`Type ${verb} followed by a request id, e.g. ${verb} HW-1042. Type status to list recent requests.`];
    await this.reply(context, noticeCard('warning', badId ? `"${escapeMarkdown(badId.slice(0, 40))}" is not a request id` : `Which request?`, lines));
  }

  private async startWizard(dc: DialogContext, kind: 'setup' | 'teardown', options?: TeardownOptions): Promise<void> {
    const context = dc.context;
    if (dc.activeDialog) {
      // One wizard per conversation: the older card says it was replaced, so its buttons are clearly dead.
      await showWizardCard(context, this.sessions, noticeCard('info', 'Replaced by a new wizard', ['Nothing was requested from this card.']), this.deps.logger);
      await dc.cancelAllDialogs();
    }
    const from = context.activity.from;
    await this.sessions.set(context, { wizardId: randomUUID(), kind, ownerId: from?.id ?? '', ownerName: from?.name || 'the requester' });
    await dc.beginDialog(kind === 'setup' ? SETUP_DIALOG : TEARDOWN_DIALOG, options ?? {});
  }

  private async cancelWizard(dc: DialogContext): Promise<void> {
    if (!dc.activeDialog) {
      await this.reply(dc.context, noticeCard('info', 'Nothing to cancel here', ['To withdraw a submitted request, type cancel followed by its id, e.g. cancel HW-1042.']));
      return;
    }
    await showWizardCard(dc.context, this.sessions, noticeCard('info', 'Cancelled', ['Nothing was created or requested. Type setup to start again.']), this.deps.logger);
    await dc.cancelAllDialogs();
    await this.sessions.delete(dc.context);
  }

  private async cancelRequest(context: TurnContext, id: string): Promise<void> {
    const actor = await actorFromContext(context, this.deps.logger);
    const request = await this.deps.workflow.cancel(id, actor);
    await this.reply(context, noticeCard('success', `${escapeMarkdown(request.id)} is cancelled`, ['Nothing will be created for it. The approval card shows it as cancelled.']));
  }

  private async retryRequest(context: TurnContext, id: string): Promise<void> {
    const actor = await actorFromContext(context, this.deps.logger);
    const request = await this.deps.workflow.retry(id, actor);
    await this.reply(context, noticeCard('success', `Retrying ${escapeMarkdown(request.id)}`, ['Finished steps are kept; the failed steps run again. The progress card updates as they finish.']));
  }

  private async status(context: TurnContext, id?: string): Promise<void> {
    const now = this.clock.now();
    if (!id) {
      const requests = await this.deps.workflow.listSummaries({ limit: 10 });
      await this.reply(context, statusListCard(requests, now));
      return;
    }
    const request = await this.deps.workflow.get(id);
    if (!request) throw new BotError('NOT_FOUND', `There is no request ${id}. Type status to list recent requests.`);
    const audit = await this.deps.workflow.audit(id);
    await this.reply(context, statusDetailCard(request, audit, now, this.deps.config?.requiredApprovals ?? 1, (a) => this.deps.workflow.isApprover(a)));
  }

  private async registerAdminChannel(context: TurnContext): Promise<void> {
    const platform = platformOf(context);
    if (isPersonalConversation(context)) {
      await this.reply(
        context,
        noticeCard('warning', 'Register a channel or group chat, not a personal chat', [
          'Approval cards go where the approvers are. Open that channel or group chat and type @Hopsworks admin channel there.',
        ]),
      );
      return;
    }
    const actor = await actorFromContext(context, this.deps.logger);
    const ref = adminChannelRef(conversationRefOf(context));
    try {
      await this.deps.workflow.setAdminChannel(actor, ref);
    } catch (err) {
      if (isBotError(err, 'NOT_AN_APPROVER') || isBotError(err, 'NO_APPROVERS_CONFIGURED')) {
        await this.reply(context, noticeCard('error', 'Only approvers can choose the admin channel', [escapeMarkdown(err.message), 'Nothing was changed.']));
        return;
      }
      throw err;
    }
    const pending = (await this.deps.workflow.list({ states: ['pendingApproval'], limit: 100 })).filter((r) => r.requester.platform === platform);
    let posted = 0;
    for (const r of pending) {
      if (!this.deps.notifier) break;
      if (r.conversations.activityIds.approvalCard && sameConversation(r.conversations.approval, ref)) continue;
      try {
        await this.deps.notifier.postApprovalCard(r, { force: true });
        posted++;
      } catch (err) {
        this.deps.logger.warn({ err, requestId: r.id }, 'could not post a pending approval card to the new admin channel');
      }
    }
    await this.reply(
      context,
      noticeCard('success', 'Approval cards go to this conversation now', [
        `Registered by ${escapeMarkdown(actor.displayName)}.`,
        posted > 0 ? `Posted ${posted} pending approval card${posted === 1 ? '' : 's'} here.` : 'No requests are waiting for approval right now.',
      ]),
    );
  }
}

/** A Teams channel reference without the thread part, so approval cards start their own threads. */
function adminChannelRef(ref: ConversationRef): ConversationRef {
  const reference = JSON.parse(JSON.stringify(ref.reference)) as { conversation?: { id?: string; conversationType?: string } };
  if (reference.conversation?.id && reference.conversation.conversationType === 'channel') {
    reference.conversation.id = reference.conversation.id.split(';')[0];
  }
  return { platform: ref.platform, reference: reference as Record<string, unknown> };
}

function sameConversation(a: ConversationRef | undefined, b: ConversationRef): boolean {
  const id = (r: ConversationRef | undefined): string | undefined => (r?.reference as { conversation?: { id?: string } } | undefined)?.conversation?.id;
  return id(a) !== undefined && id(a) === id(b);
}

/**
 * The one catch-all for a platform adapter: the user gets a short, safe message; the log gets the rest.
 * Errors the core raised carry user-safe messages and are shown as such.
 */
export function installOnTurnError(adapter: BotAdapter, logger: Logger, conversationState?: ConversationState): void {
  adapter.onTurnError = async (context: TurnContext, error: Error): Promise<void> => {
    const ref = randomUUID().slice(0, 8);
    logger.error(
      { err: error, ref, activityType: context.activity?.type, channelId: context.activity?.channelId, conversationId: context.activity?.conversation?.id },
      'unhandled error in a bot turn',
    );
    const concurrent = isBotError(error, 'VERSION_CONFLICT');
    const card = concurrent
      ? noticeCard('warning', 'Two clicks arrived at the same time', ['The first one counts; this one changed nothing. Use the latest card.'])
      : isBotError(error)
        ? noticeCard('error', 'That did not work', [escapeMarkdown(error.message)])
        : noticeCard('error', 'Sorry, something went wrong', [`Nothing was changed. Try again; if it keeps failing, give an administrator this reference: ${ref}.`]);
    try {
      if (context.activity?.type === ActivityTypes.Invoke) {
        await context.sendActivity({ type: 'invokeResponse', value: { status: 200, body: { statusCode: 200, type: 'application/vnd.microsoft.card.adaptive', value: card } } });
      } else {
        await context.sendActivity({ attachments: [cardAttachment(card)] });
      }
      // A broken dialog stack must not trap the conversation: start clean next time. A concurrent
      // click is no breakage: the other turn's wizard state stays.
      if (conversationState && !isBotError(error)) await conversationState.delete(context);
    } catch (sendErr) {
      logger.error({ err: sendErr, ref }, 'could not tell the user about the error');
    }
  };
}
