/**
 * A Bot Framework adapter for Slack. Incoming: Bolt hands us verified, acknowledged slash commands,
 * button clicks, modal submissions and messages; each becomes an activity shaped like the one Teams
 * sends for the same card. Outgoing: messages, updates and deletes become Web API calls; Adaptive
 * Cards become Block Kit, and cards with inputs become modals.
 */
import {
  ActivityTypes,
  BotAdapter,
  INVOKE_RESPONSE_KEY,
  TurnContext,
  type Activity,
  type ConversationParameters,
  type ConversationReference,
  type InvokeResponse,
  type ResourceResponse,
} from 'botbuilder';
import type { App, types as SlackTypes } from '@slack/bolt';
import PQueue from 'p-queue';
import { BotError } from '../../core/errors';
import {
  ADAPTIVE_CARD_CONTENT_TYPE,
  LIMITS,
  addedTextBlocks,
  blockTexts,
  toPlain,
  actionNeedsForm,
  cardActions,
  cardSummary,
  decodeButtonValue,
  encodeButtonValue,
  escapeSlack,
  fitBlocks,
  isBotActionId,
  primaryFormAction,
  renderCard,
  renderModal,
  statusModal,
  toMrkdwn,
  truncate,
  validateInputs,
  viewStateToValues,
  type AcNode,
  type AdaptiveCard,
  type Block,
  type ButtonPayload,
} from './blockkit';
import type { SlackState } from './state';

type WebClient = App['client'];
// Slack payloads are JSON whose shape Slack documents; fields are checked where they are read.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type SlackPayload = Record<string, any>;

/** `activity.channelId` of every Slack activity. */
export const SLACK_CHANNEL_ID = 'slack';
/** `serviceUrl` marker: Slack activities are not sent through a Bot Framework connector. */
export const SLACK_SERVICE_URL = 'urn:slack:web-api';

/** Minimal structured logger (pino's call shape). */
export interface SlackLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export type BotLogic = (context: TurnContext) => Promise<void>;

/**
 * What the bot may put in `activity.channelData` for Slack:
 * - `ephemeralTo`: a Slack user id; the message is shown only to that person (`chat.postEphemeral`).
 * - `inputErrors`: `{ [inputId]: message }`; during a modal submission the errors are shown next to
 *   the fields and the modal stays open (`response_action: 'errors'`). Ignored elsewhere.
 */
export interface SlackOutgoingChannelData {
  ephemeralTo?: string;
  inputErrors?: Record<string, string>;
}

/** `activity.channelData` of incoming Slack activities. */
export interface SlackIncomingChannelData {
  teamId?: string;
  triggerId?: string;
  responseUrl?: string;
  /** `slash_command`, `block_actions`, `view_submission`, `app_mention` or `message`. */
  payloadType: string;
  /** The Slack payload, minus its deprecated verification token. */
  payload: Record<string, unknown>;
}

export type ViewAckResponse =
  | { response_action: 'errors'; errors: Record<string, string> }
  | { response_action: 'update'; view: Record<string, unknown> }
  | undefined;

type AckFn = (response?: ViewAckResponse) => Promise<void>;

/** Per-turn Slack facts the outgoing side needs (trigger for modals, the clicked message, the pending modal ack). */
interface SlackTurn {
  userId?: string;
  trigger?: { id: string; at: number; used: boolean };
  responseUrl?: string;
  /** The message a button was clicked on, or whose modal was submitted. */
  clicked?: { channel: string; ts: string };
  /** Conversation a submitted modal belongs to (for the next step's modal). */
  modalContext?: ModalMeta;
  viewAck?: { resolve: (r: ViewAckResponse) => void; settled: boolean };
  /** Set when the ack went out before the bot answered: the modal shows "working" and is updated by id. */
  deferredView?: { id: string; done: boolean; card: AdaptiveCard; index: number };
  /** Texts each message shows now (from the click payload, then from this turn's updates), keyed `<channel>:<ts>`. */
  shown: Map<string, Set<string>>;
  updated: Set<string>;
}

interface ModalMeta {
  /** Form id (the stored card). */
  f: string;
  /** Index of the submitting action in the card. */
  i: number;
  /** Channel and thread to answer in. */
  c: string;
  t?: string;
  /** The message holding the card, when there is one. */
  m?: string;
}

const TURN_KEY = Symbol('slackTurn');

export interface SlackAdapterOptions {
  client: WebClient;
  botUserId: string;
  botName: string;
  state: SlackState;
  logger: SlackLogger;
  /** Longest a modal submission waits for the bot's answer before acking (Slack allows 3 s). */
  ackDeadlineMs?: number;
  /** How long after a command or click its trigger_id may still open a modal (Slack: 3 s). */
  triggerTtlMs?: number;
  now?: () => number;
  /** Told about work that outlives its HTTP request (e.g. the HTTP server's `track`, so shutdown waits). */
  track?: (work: Promise<unknown>) => unknown;
  /** Turns (commands, clicks, messages) that run at once after their ack; the rest wait in line. Default 8. */
  maxConcurrentTurns?: number;
  /**
   * Turns started per second at most (default 5). Slack itself lets an app post about one message per
   * second per channel and 100-odd ephemeral messages a minute per workspace, so more turns would only
   * meet Slack's rate limits. Acks always come first: a flood of deliveries cannot starve them of the CPU,
   * and turns share the event loop with the acks (at 20 a second the ack p99 was twice a bare Bolt app's).
   */
  maxTurnsPerSecond?: number;
  /**
   * Turns that may wait in line. Beyond it the bot is overloaded: the command or click is still acked
   * at once (Slack's 3 s rule), nothing runs, and the person is told to try again. Default 50
   * (about 2.5 s of waiting at the default rate).
   */
  maxQueuedTurns?: number;
}

/** What an overloaded bot answers instead of running a command. Nothing was done, so trying again is safe. */
export const BUSY_TEXT = 'The Hopsworks bot is busy right now and did not run this; nothing was changed. Try again in a minute.';
/** One busy notice per person in this window (a flood of clicks gets one answer, not hundreds). */
const BUSY_NOTICE_EVERY_MS = 30_000;

/** Splits `C123` / `C123:1700000000.000100` (thread) / Teams-style `C123;messageid=C123:ts`. */
export function parseConversationId(id: string): { channel: string; threadTs?: string } {
  const teamsStyle = /^([^;:]+);messageid=(?:[^:]+:)?([0-9.]+)$/.exec(id);
  if (teamsStyle) return { channel: teamsStyle[1], threadTs: teamsStyle[2] };
  const i = id.indexOf(':');
  return i < 0 ? { channel: id } : { channel: id.slice(0, i), threadTs: id.slice(i + 1) };
}

/** Activity ids are `<channel>:<ts>`; the same string is the conversation id of that message's thread. */
export function parseActivityId(id: string | undefined): { channel: string; ts: string } | undefined {
  if (!id) return undefined;
  const i = id.indexOf(':');
  if (i <= 0 || !/^\d+\.\d+$/.test(id.slice(i + 1))) return undefined;
  return { channel: id.slice(0, i), ts: id.slice(i + 1) };
}

function slackErrorCode(err: unknown): string | undefined {
  if (err instanceof BotError && typeof err.details?.slackError === 'string') return err.details.slackError;
  const data = (err as { data?: { error?: unknown } })?.data;
  return typeof data?.error === 'string' ? data.error : undefined;
}

function withoutToken(payload: Record<string, unknown>): Record<string, unknown> {
  const { token: _token, ...rest } = payload;
  return rest;
}

export class SlackAdapter extends BotAdapter {
  readonly botUserId: string;
  readonly botName: string;
  private readonly client: WebClient;
  private readonly state: SlackState;
  private readonly logger: SlackLogger;
  private readonly ackDeadlineMs: number;
  private readonly triggerTtlMs: number;
  private readonly now: () => number;
  private readonly inFlight = new Set<Promise<void>>();
  private logic?: BotLogic;
  private readonly track?: (work: Promise<unknown>) => unknown;
  /** Turns after their ack: a few at once, each started only after pending I/O (other acks) had its turn. */
  private readonly turns: PQueue;
  private readonly maxQueuedTurns: number;
  /** Turns start at least this far apart (the per-second cap, without a timer left running when idle). */
  private readonly turnSpacingMs: number;
  private nextTurnAt = 0;
  private readonly busyNoticeAt = new Map<string, number>();
  /** Deliveries turned away since the last overload log line. */
  private shedCount = 0;
  private shedLoggedAt = 0;

  constructor(opts: SlackAdapterOptions) {
    super();
    this.client = opts.client;
    this.botUserId = opts.botUserId;
    this.botName = opts.botName;
    this.state = opts.state;
    this.logger = opts.logger;
    this.ackDeadlineMs = opts.ackDeadlineMs ?? 2500;
    this.triggerTtlMs = opts.triggerTtlMs ?? 2500;
    this.now = opts.now ?? Date.now;
    this.track = opts.track;
    this.turns = new PQueue({ concurrency: opts.maxConcurrentTurns ?? 8 });
    this.turnSpacingMs = 1000 / (opts.maxTurnsPerSecond ?? 5);
    this.maxQueuedTurns = opts.maxQueuedTurns ?? 50;
  }

  /** Turns waiting in line and running now, and deliveries turned away so far (tests, diagnostics). */
  get load(): { queued: number; running: number; shed: number } {
    return { queued: this.turns.size, running: this.turns.pending, shed: this.shedCount };
  }

  /** The bot's turn handler (`bot.run`). Set once by the composition root. */
  setLogic(logic: BotLogic): void {
    this.logic = logic;
  }

  /** Resolves when every turn started so far (and the ones they start) has finished. For shutdown and tests. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  // -------------------------------------------------------------------------------------------
  // Incoming (called by the Bolt middleware in ./index.ts, after Bolt verified the signature)

  /** `/hopsworks <subcommand>` → message activity with text = subcommand. */
  async onSlashCommand(body: Record<string, string>, ack: (busyText?: string) => Promise<void>): Promise<void> {
    if (this.overloaded('slash_command')) {
      // The ack itself carries the answer (shown only to the person): no turn, no Web API call.
      await ack(BUSY_TEXT);
      return;
    }
    await ack();
    this.enqueue(() => this.handleSlashCommand(body));
  }

  private async handleSlashCommand(body: Record<string, string>): Promise<void> {
    if (!(await this.state.firstDelivery(`cmd:${body.trigger_id}`))) return this.logDuplicate('slash_command');
    const text = (body.text ?? '').trim() || 'help';
    const activity = this.baseActivity({
      type: ActivityTypes.Message,
      id: `cmd:${body.trigger_id}`,
      userId: body.user_id,
      userName: body.user_name,
      channel: body.channel_id,
      channelName: body.channel_name,
      teamId: body.team_id,
      payloadType: 'slash_command',
      payload: body,
      triggerId: body.trigger_id,
      responseUrl: body.response_url,
    });
    activity.text = text;
    await this.runTurn(activity, this.newTurn(body.user_id, body.trigger_id, body.response_url));
  }

  /** A button click. Form buttons open their modal; others become the card's Submit/Execute activity. */
  async onBlockAction(body: SlackPayload, ack: () => Promise<void>): Promise<void> {
    await ack();
    if (this.overloaded('block_actions')) {
      this.busyNotice(body.user?.id, body.channel?.id ?? body.container?.channel_id, body.container?.thread_ts ?? body.message?.thread_ts);
      return;
    }
    // A form button opens its modal with the click's trigger, which Slack honours for 3 s: it goes ahead of
    // the turns waiting in line and is not held back by the per-second spacing (it runs no bot logic).
    const action: SlackPayload | undefined = Array.isArray(body.actions) ? body.actions[0] : undefined;
    const decoded = action ? decodeButtonValue(action.value) : undefined;
    this.enqueue(() => this.handleBlockAction(body, action, decoded), decoded?.k === 'form');
  }

  /** `action` is the click's first action and `decoded` its button value, both read once at the ack. */
  private async handleBlockAction(body: SlackPayload, action: SlackPayload | undefined, decoded: ButtonPayload | undefined): Promise<void> {
    if (!action || typeof action.action_id !== 'string' || !isBotActionId(action.action_id)) return;
    if (action.url) return; // Action.OpenUrl: Slack opened the link; it still tells us about the click.
    let payload = decoded;
    if (!payload) return;
    const userId: string = body.user?.id;
    const channel: string | undefined = body.channel?.id ?? body.container?.channel_id;
    const messageTs: string | undefined = body.container?.message_ts ?? body.message?.ts;
    const threadTs: string | undefined = body.container?.thread_ts ?? body.message?.thread_ts;
    if (!userId || !channel) return;

    let card: AdaptiveCard | undefined;
    if (payload.k === 'ref' || payload.k === 'form') {
      const formId = payload.k === 'ref' ? payload.r : payload.f;
      const index = payload.i;
      const stored = await this.state.loadForm(formId);
      if (!stored) {
        await this.postEphemeralText(channel, userId, 'This card has expired. Run `/hopsworks help` to start again.', threadTs);
        return;
      }
      card = stored.card as AdaptiveCard;
      if (payload.k === 'form') {
        const meta: ModalMeta = { f: formId, i: index, c: channel, t: threadTs, m: messageTs };
        await this.openModal(body.trigger_id, card, index, meta);
        return;
      }
      const resolved = this.directPayload(cardActions(card)[index]);
      if (!resolved) return;
      payload = resolved;
    }

    if (!(await this.state.firstDelivery(`act:${userId}:${action.action_ts ?? body.trigger_id}`))) return this.logDuplicate('block_actions');
    const activity = this.baseActivity({
      type: payload.k === 'execute' ? ActivityTypes.Invoke : ActivityTypes.Message,
      id: `act:${channel}:${action.action_ts ?? body.trigger_id}`,
      userId,
      userName: body.user?.name ?? body.user?.username,
      channel,
      threadTs,
      teamId: body.team?.id ?? body.user?.team_id,
      payloadType: 'block_actions',
      payload: body,
      triggerId: body.trigger_id,
      responseUrl: body.response_url,
    });
    if (messageTs) activity.replyToId = `${channel}:${messageTs}`;
    this.applyActionValue(activity, payload, {});
    const turn = this.newTurn(userId, body.trigger_id, body.response_url);
    if (messageTs) {
      turn.clicked = { channel, ts: messageTs };
      if (Array.isArray(body.message?.blocks)) turn.shown.set(`${channel}:${messageTs}`, blockTexts(body.message.blocks));
    }
    await this.runTurn(activity, turn);
  }

  /**
   * A submitted modal. The card's own input checks run first (errors next to the fields); then the
   * turn runs and the ack waits for its first answer, at most `ackDeadlineMs`: `inputErrors` keep the
   * modal open with errors, a card with inputs replaces the modal (the next wizard step), anything
   * else closes it and is posted in the conversation.
   */
  async onViewSubmission(body: SlackPayload, ack: AckFn): Promise<void> {
    const view = body.view ?? {};
    const meta = this.parseMeta(view.private_metadata);
    const userId: string | undefined = body.user?.id;
    const stored = meta ? await this.state.loadForm(meta.f) : undefined;
    if (!meta || !stored || !userId) {
      const firstInput = (Array.isArray(view.blocks) ? view.blocks : []).find((b: Block) => b.type === 'input');
      if (firstInput) await ack({ response_action: 'errors', errors: { [String(firstInput.block_id)]: 'This form has expired. Close it and start again.' } });
      else await ack();
      return;
    }
    const card = stored.card as AdaptiveCard;
    const action = cardActions(card)[meta.i];
    const values = viewStateToValues(card, view.state?.values);
    const errors = validateInputs(card, values);
    if (Object.keys(errors).length > 0) {
      await ack({ response_action: 'errors', errors });
      return;
    }
    const payload = action ? this.directPayload(action) : undefined;
    if (!payload || !(await this.state.firstDelivery(`view:${view.id}:${view.hash}`))) {
      await ack();
      return;
    }
    const activity = this.baseActivity({
      type: payload.k === 'execute' ? ActivityTypes.Invoke : ActivityTypes.Message,
      id: `view:${view.id}:${view.hash}`,
      userId,
      userName: body.user?.name ?? body.user?.username,
      channel: meta.c,
      threadTs: meta.t,
      teamId: body.team?.id ?? body.user?.team_id,
      payloadType: 'view_submission',
      payload: body,
      triggerId: body.trigger_id,
    });
    if (meta.m) activity.replyToId = `${meta.c}:${meta.m}`;
    this.applyActionValue(activity, payload, values);

    const turn = this.newTurn(userId, undefined, undefined);
    if (meta.m) turn.clicked = { channel: meta.c, ts: meta.m };
    turn.modalContext = meta;
    let settle!: (r: ViewAckResponse) => void;
    const decided = new Promise<ViewAckResponse>((resolve) => (settle = resolve));
    turn.viewAck = {
      settled: false,
      resolve: (r) => {
        if (turn.viewAck && !turn.viewAck.settled) {
          turn.viewAck.settled = true;
          settle(r);
        }
      },
    };
    // Slack closes the request after 3 s: a slower answer replaces the form with "working on it",
    // and the modal is updated by its id once the bot has answered.
    const timer = setTimeout(() => {
      if (!turn.viewAck || turn.viewAck.settled || typeof view.id !== 'string') return turn.viewAck?.resolve(undefined);
      turn.deferredView = { id: view.id, done: false, card, index: meta.i };
      turn.viewAck.resolve({ response_action: 'update', view: statusModal(card, ':hourglass_flowing_sand: Working on it… this takes a few seconds.') });
    }, this.ackDeadlineMs);
    const running = this.runTurn(activity, turn).finally(async () => {
      turn.viewAck?.resolve(undefined);
      if (turn.deferredView && !turn.deferredView.done) await this.updateDeferredView(turn, statusModal(card, this.answeredIn(meta.c)));
    });
    this.start(running);
    const response = await decided;
    clearTimeout(timer);
    await ack(response);
  }

  /** An @mention in a channel or a direct message → message activity. */
  async onMessageEvent(body: SlackPayload, event: SlackPayload): Promise<void> {
    if (event.user && !event.subtype && !event.bot_id && this.overloaded('event')) {
      this.busyNotice(event.user, event.channel, event.thread_ts);
      return;
    }
    this.enqueue(() => this.handleMessageEvent(body, event));
  }

  private async handleMessageEvent(body: SlackPayload, event: SlackPayload): Promise<void> {
    if (!event.user || event.subtype || event.bot_id) return;
    if (!(await this.state.firstDelivery(`evt:${body.event_id ?? `${event.channel}:${event.ts}`}`))) return this.logDuplicate('event');
    const text = String(event.text ?? '')
      .replace(new RegExp(`<@${this.botUserId}(\\|[^>]*)?>`, 'g'), '')
      .trim();
    const activity = this.baseActivity({
      type: ActivityTypes.Message,
      // Not `<channel>:<ts>`: botbuilder copies the incoming id into replies' replyToId, which would thread every answer.
      id: `msg:${event.channel}:${event.ts}`,
      userId: event.user,
      userName: event.user,
      channel: event.channel,
      threadTs: event.thread_ts,
      teamId: body.team_id ?? event.team,
      payloadType: event.type === 'app_mention' ? 'app_mention' : 'message',
      payload: body,
    });
    // Slack sends entities escaped; the bot sees what the person typed.
    activity.text = text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    await this.runTurn(activity, this.newTurn(event.user, undefined, undefined));
  }

  // -------------------------------------------------------------------------------------------
  // BotAdapter: outgoing

  async sendActivities(context: TurnContext, activities: Partial<Activity>[]): Promise<ResourceResponse[]> {
    const turn = this.turnOf(context);
    const responses: ResourceResponse[] = [];
    for (const activity of activities) {
      switch (activity.type) {
        case 'delay':
          await new Promise((r) => setTimeout(r, typeof activity.value === 'number' ? activity.value : 1000));
          responses.push({ id: '' });
          break;
        case ActivityTypes.InvokeResponse:
          context.turnState.set(INVOKE_RESPONSE_KEY, activity);
          responses.push({ id: '' });
          break;
        case ActivityTypes.Message:
        case undefined:
          await yieldToIo();
          responses.push(await this.sendMessage(activity, turn));
          break;
        default:
          // typing, trace, endOfConversation: nothing to show in Slack.
          responses.push({ id: '' });
      }
    }
    return responses;
  }

  async updateActivity(context: TurnContext, activity: Partial<Activity>): Promise<ResourceResponse | void> {
    const target = parseActivityId(activity.id);
    if (!target) throw new BotError('VALIDATION', `Cannot update Slack message "${activity.id}": not a Slack activity id.`);
    const rendered = await this.renderMessage(activity);
    const { text, blocks } = rendered;
    const turn = this.turnOf(context);
    const channelData = (isRecord(activity.channelData) ? activity.channelData : {}) as SlackOutgoingChannelData;
    // A wizard moves to its next step by updating its card: the open modal follows it.
    if ((await this.settleModal(turn, channelData, rendered, target.channel, target.ts)) === 'errors') return { id: activity.id! };
    await this.call('chat.update', () => this.client.chat.update({ channel: target.channel, ts: target.ts, text, blocks: blocks as unknown as SlackTypes.KnownBlock[] }));
    await this.state.replaceMessageForms(target.channel, target.ts, rendered.formIds);
    turn.updated.add(`${target.channel}:${target.ts}`);
    turn.shown.set(`${target.channel}:${target.ts}`, blockTexts(blocks));
    return { id: `${target.channel}:${target.ts}` };
  }

  async deleteActivity(_context: TurnContext, reference: Partial<ConversationReference>): Promise<void> {
    const target = parseActivityId(reference.activityId);
    if (!target) throw new BotError('VALIDATION', `Cannot delete Slack message "${reference.activityId}": not a Slack activity id.`);
    await this.call('chat.delete', () => this.client.chat.delete({ channel: target.channel, ts: target.ts }));
    await this.state.replaceMessageForms(target.channel, target.ts, []);
  }

  /** Proactive messages: runs `logic` with a context bound to the stored conversation reference. */
  async continueConversation(reference: Partial<ConversationReference>, logic: BotLogic): Promise<void> {
    const activity = TurnContext.applyConversationReference(
      { type: ActivityTypes.Event, name: 'ContinueConversation' },
      { ...reference, channelId: SLACK_CHANNEL_ID, serviceUrl: reference.serviceUrl ?? SLACK_SERVICE_URL },
      true,
    );
    const context = new TurnContext(this, activity);
    context.turnState.set(TURN_KEY, this.newTurn(undefined, undefined, undefined));
    await this.runMiddleware(context, logic);
  }

  /** Same as `continueConversation`; the app id / claims / audience of Bot Framework do not apply to Slack. */
  override async continueConversationAsync(
    _botAppIdOrClaims: unknown,
    reference: Partial<ConversationReference>,
    logicOrAudience: BotLogic | string,
    maybeLogic?: BotLogic,
  ): Promise<void> {
    const logic = typeof logicOrAudience === 'function' ? logicOrAudience : maybeLogic;
    if (!logic) throw new BotError('INTERNAL', 'continueConversationAsync needs a logic callback.');
    return this.continueConversation(reference, logic);
  }

  /**
   * Opens the direct message with `conversationParameters.members[0].id` (a Slack user id) through
   * `conversations.open` and runs `logic` there. This is how secrets reach only the requester.
   */
  override async createConversationAsync(
    _botAppId: string,
    _channelId: string,
    _serviceUrl: string,
    _audience: string,
    conversationParameters: ConversationParameters,
    logic: BotLogic,
  ): Promise<void> {
    const userId = conversationParameters.members?.[0]?.id;
    if (!userId) throw new BotError('VALIDATION', 'createConversationAsync needs members[0].id (the Slack user id).');
    const opened = await this.call('conversations.open', () => this.client.conversations.open({ users: userId }));
    const dm = (opened as { channel?: { id?: string } }).channel?.id;
    if (!dm) throw new BotError('INTERNAL', 'Slack did not return a direct-message channel.');
    const reference: Partial<ConversationReference> = {
      channelId: SLACK_CHANNEL_ID,
      serviceUrl: SLACK_SERVICE_URL,
      bot: { id: this.botUserId, name: this.botName },
      user: { id: userId, name: conversationParameters.members?.[0]?.name ?? userId },
      conversation: { id: dm, isGroup: false, conversationType: 'personal', name: 'direct message' },
    };
    const activity = TurnContext.applyConversationReference({ type: ActivityTypes.Event, name: 'CreateConversation' }, reference, true);
    const context = new TurnContext(this, activity);
    context.turnState.set(TURN_KEY, this.newTurn(undefined, undefined, undefined));
    await this.runMiddleware(context, logic);
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  private newTurn(userId: string | undefined, triggerId: string | undefined, responseUrl: string | undefined): SlackTurn {
    return {
      userId,
      trigger: triggerId ? { id: triggerId, at: this.now(), used: false } : undefined,
      responseUrl,
      updated: new Set(),
      shown: new Map(),
    };
  }

  private turnOf(context: TurnContext): SlackTurn {
    let turn = context.turnState.get(TURN_KEY) as SlackTurn | undefined;
    if (!turn) {
      turn = this.newTurn(undefined, undefined, undefined);
      context.turnState.set(TURN_KEY, turn);
    }
    return turn;
  }

  /**
   * Queues a turn after its ack. It starts on setImmediate (or later, to keep to the per-second cap), so
   * the acks of requests that arrived meanwhile are written first; at most `maxConcurrentTurns` run at once.
   * `urgent` work (opening a modal before its trigger expires) goes first and is not spaced.
   */
  private enqueue(turn: () => Promise<void>, urgent = false): void {
    this.start(
      this.turns.add(
        async () => {
          const now = Date.now();
          const at = urgent ? now : Math.max(now, this.nextTurnAt);
          if (!urgent) this.nextTurnAt = at + this.turnSpacingMs;
          await (at > now ? new Promise<void>((resolve) => setTimeout(resolve, at - now)) : yieldToIo());
          await turn();
        },
        { priority: urgent ? 1 : 0 },
      ),
    );
  }

  /** True when the line is full: the delivery is turned away (and counted, and logged now and then). */
  private overloaded(kind: string): boolean {
    if (this.turns.size < this.maxQueuedTurns) return false;
    this.shedCount++;
    const now = this.now();
    if (now - this.shedLoggedAt >= 10_000) {
      this.shedLoggedAt = now;
      this.logger.warn({ kind, queued: this.turns.size, running: this.turns.pending, shedSoFar: this.shedCount }, 'slack: overloaded; deliveries are acked and the people told to try again');
    }
    return true;
  }

  /** Tells someone whose click or message was turned away, at most once per person per 30 s. */
  private busyNotice(userId: string | undefined, channel: string | undefined, threadTs?: string): void {
    if (!userId || !channel) return;
    const now = this.now();
    const last = this.busyNoticeAt.get(userId);
    if (last !== undefined && now - last < BUSY_NOTICE_EVERY_MS) return;
    this.busyNoticeAt.set(userId, now);
    if (this.busyNoticeAt.size > 10_000) {
      for (const [u, at] of this.busyNoticeAt) if (now - at >= BUSY_NOTICE_EVERY_MS) this.busyNoticeAt.delete(u);
    }
    this.start(this.postEphemeralText(channel, userId, BUSY_TEXT, threadTs));
  }

  /** Work that goes on after the ack: logged when it fails, tracked for idle() and the server's shutdown. */
  private start(work: Promise<void>): void {
    const tracked = work.catch((err) => this.logger.error({ err }, 'slack turn failed'));
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
    this.track?.(tracked);
  }

  private logDuplicate(kind: string): void {
    this.logger.info({ kind }, 'slack delivery already handled; ignoring the repeat');
  }

  private async runTurn(activity: Partial<Activity>, turn: SlackTurn): Promise<void> {
    const logic = this.logic;
    if (!logic) throw new BotError('CONFIG', 'Slack adapter has no bot logic: call setLogic(bot.run) at startup.');
    const context = new TurnContext(this, activity);
    context.turnState.set(TURN_KEY, turn);
    await yieldToIo();
    await this.runMiddleware(context, logic);
    if (activity.type === ActivityTypes.Invoke) await this.applyInvokeResponse(context, turn);
  }

  private baseActivity(a: {
    type: string;
    id: string;
    userId: string;
    userName?: string;
    channel: string;
    channelName?: string;
    threadTs?: string;
    teamId?: string;
    payloadType: string;
    payload: Record<string, unknown>;
    triggerId?: string;
    responseUrl?: string;
  }): Partial<Activity> {
    const personal = a.channel.startsWith('D');
    const channelData: SlackIncomingChannelData = {
      teamId: a.teamId,
      triggerId: a.triggerId,
      responseUrl: a.responseUrl,
      payloadType: a.payloadType,
      payload: withoutToken(a.payload),
    };
    return {
      type: a.type,
      id: a.id,
      timestamp: new Date(this.now()),
      channelId: SLACK_CHANNEL_ID,
      serviceUrl: SLACK_SERVICE_URL,
      from: { id: a.userId, name: a.userName ?? a.userId, role: 'user' },
      recipient: { id: this.botUserId, name: this.botName, role: 'bot' },
      conversation: {
        id: a.threadTs ? `${a.channel}:${a.threadTs}` : a.channel,
        isGroup: !personal,
        conversationType: personal ? 'personal' : 'channel',
        tenantId: a.teamId,
        name: a.channelName ?? '',
      },
      channelData,
    };
  }

  /** The Teams shape: Submit → message `value` (data merged with inputs); Execute → `adaptiveCard/action` invoke. */
  private applyActionValue(activity: Partial<Activity>, payload: ButtonPayload, inputs: Record<string, string>): void {
    if (payload.k === 'execute') {
      const data = { ...(isRecord(payload.d) ? payload.d : {}), ...inputs };
      activity.name = 'adaptiveCard/action';
      activity.value = { action: { type: 'Action.Execute', verb: payload.v, data }, trigger: 'manual' };
      return;
    }
    if (payload.k === 'submit') {
      if (typeof payload.d === 'string' && Object.keys(inputs).length === 0) {
        activity.text = payload.d;
        return;
      }
      activity.value = { ...(isRecord(payload.d) ? payload.d : {}), ...inputs };
    }
  }

  private directPayload(action: AcNode | undefined): ButtonPayload | undefined {
    if (!action) return undefined;
    if (action.type === 'Action.Execute') return { k: 'execute', v: typeof action.verb === 'string' ? action.verb : '', d: action.data ?? {} };
    if (action.type === 'Action.Submit') return { k: 'submit', d: action.data ?? {} };
    return undefined;
  }

  private parseMeta(raw: unknown): ModalMeta | undefined {
    if (typeof raw !== 'string') return undefined;
    try {
      const m = JSON.parse(raw) as ModalMeta;
      return typeof m.f === 'string' && typeof m.i === 'number' && typeof m.c === 'string' ? m : undefined;
    } catch {
      return undefined;
    }
  }

  private async openModal(triggerId: string | undefined, card: AdaptiveCard, index: number, meta: ModalMeta): Promise<boolean> {
    if (!triggerId) return false;
    const view = renderModal(card, index, JSON.stringify(meta));
    try {
      await this.call('views.open', () => this.client.views.open({ trigger_id: triggerId, view: view as unknown as SlackTypes.View }));
      return true;
    } catch (err) {
      // An expired trigger only means the person clicks the form button in the message instead.
      this.logger.info({ code: slackErrorCode(err) }, 'slack modal not opened');
      return false;
    }
  }

  /** Adaptive Cards in `activity.attachments` (plus `text`) → blocks; forms are stored so buttons can open them. */
  private async renderMessage(
    activity: Partial<Activity>,
  ): Promise<{ text: string; blocks: Block[]; forms: Array<{ card: AdaptiveCard; formId: string; primary: number }>; formIds: string[] }> {
    const blocks: Block[] = [];
    const forms: Array<{ card: AdaptiveCard; formId: string; primary: number }> = [];
    const formIds: string[] = [];
    const summaries: string[] = [];
    if (typeof activity.text === 'string' && activity.text.trim()) {
      blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(toMrkdwn(activity.text), LIMITS.sectionText), verbatim: true } });
      summaries.push(activity.text);
    }
    let cardNo = 0;
    for (const attachment of activity.attachments ?? []) {
      if (attachment.contentType !== ADAPTIVE_CARD_CONTENT_TYPE || !isRecord(attachment.content)) continue;
      const card = attachment.content as AdaptiveCard;
      const actions = cardActions(card);
      const direct = actions.map((a) => (this.directPayload(a) ? encodeButtonValue(this.directPayload(a)!) : undefined));
      const needsStore = actions.some((a, i) => actionNeedsForm(card, a) || (direct[i]?.length ?? 0) > LIMITS.buttonValue);
      const formId = needsStore ? await this.state.saveForm({ card }) : undefined;
      if (formId) formIds.push(formId);
      const primary = primaryFormAction(card);
      if (formId !== undefined && primary !== undefined) forms.push({ card, formId, primary });
      blocks.push(
        ...renderCard(card, {
          surface: 'message',
          idPrefix: cardNo > 0 ? `${cardNo}.` : '',
          encodeAction: (action, index) => {
            if (actionNeedsForm(card, action) && formId) return encodeButtonValue({ k: 'form', f: formId, i: index });
            const value = direct[index];
            if (value === undefined) return undefined;
            if (value.length <= LIMITS.buttonValue) return value;
            return formId ? encodeButtonValue({ k: 'ref', r: formId, i: index }) : undefined;
          },
        }),
      );
      summaries.push(cardSummary(card));
      cardNo += 1;
    }
    const summary = summaries.filter(Boolean).join(' — ') || (typeof activity.summary === 'string' ? activity.summary : '');
    return {
      text: truncate(escapeSlack(toPlain(summary) || this.botName), LIMITS.messageText),
      blocks: fitBlocks(blocks, LIMITS.blocksPerMessage),
      forms,
      formIds,
    };
  }

  private async sendMessage(activity: Partial<Activity>, turn: SlackTurn): Promise<ResourceResponse> {
    const channelData = (isRecord(activity.channelData) ? activity.channelData : {}) as SlackOutgoingChannelData;
    const conversationId = activity.conversation?.id;
    if (!conversationId) throw new BotError('VALIDATION', 'Slack message without a conversation id.');
    const parsed = parseConversationId(conversationId);
    const channel = parsed.channel;
    // `replyToId` naming a message of this channel means "under that message": its thread.
    const replyTo = parseActivityId(activity.replyToId);
    const threadTs = parsed.threadTs ?? (replyTo && replyTo.channel === channel ? replyTo.ts : undefined);
    const rendered = await this.renderMessage(activity);

    const settled = await this.settleModal(turn, channelData, rendered, channel);
    if (settled === 'errors' || settled === 'update') return { id: '' };

    if (channelData.ephemeralTo) {
      const res = await this.call('chat.postEphemeral', () =>
        this.client.chat.postEphemeral({ channel, user: channelData.ephemeralTo!, thread_ts: threadTs, text: rendered.text, blocks: rendered.blocks as unknown as SlackTypes.KnownBlock[] }),
      );
      return { id: `${channel}:${(res as { message_ts?: string }).message_ts ?? ''}` };
    }

    let ts: string;
    let postedChannel = channel;
    try {
      const res = (await this.call('chat.postMessage', () =>
        this.client.chat.postMessage({
          channel,
          thread_ts: threadTs,
          text: rendered.text,
          blocks: rendered.blocks as unknown as SlackTypes.KnownBlock[],
          unfurl_links: false,
          unfurl_media: false,
        }),
      )) as { ts?: string; channel?: string };
      ts = res.ts ?? '';
      postedChannel = res.channel ?? channel;
      if (ts && rendered.formIds.length > 0) await this.state.replaceMessageForms(postedChannel, ts, rendered.formIds);
    } catch (err) {
      const code = slackErrorCode(err);
      if ((code === 'not_in_channel' || code === 'channel_not_found') && turn.responseUrl) {
        await this.respondEphemeral(turn.responseUrl, rendered);
        return { id: '' };
      }
      throw err;
    }

    const form = rendered.forms[0];
    if (form && turn.trigger && !turn.trigger.used && this.now() - turn.trigger.at < this.triggerTtlMs) {
      turn.trigger.used = true;
      await this.openModal(turn.trigger.id, form.card, form.primary, { f: form.formId, i: form.primary, c: postedChannel, t: threadTs, m: ts });
    }
    return { id: `${postedChannel}:${ts}` };
  }

  /**
   * While a submitted modal waits for its ack, the bot's first answer decides what the modal does:
   * `inputErrors` keep it open with the errors next to the fields; a card with inputs becomes the
   * modal's next view; anything else closes it. After a deferred ack the same happens through
   * `views.update` (field errors then show above the form: Slack pins them to fields only in an ack).
   */
  private async settleModal(
    turn: SlackTurn,
    channelData: SlackOutgoingChannelData,
    rendered: { forms: Array<{ card: AdaptiveCard; formId: string; primary: number }> },
    channel: string,
    messageTs?: string,
  ): Promise<'errors' | 'update' | 'closed' | undefined> {
    const deferred = turn.deferredView && !turn.deferredView.done ? turn.deferredView : undefined;
    if (!deferred && (!turn.viewAck || turn.viewAck.settled)) return undefined;
    const errors: Record<string, string> = {};
    if (isRecord(channelData.inputErrors)) {
      for (const [k, v] of Object.entries(channelData.inputErrors)) errors[k] = truncate(toPlain(String(v)), LIMITS.inputLabel);
    }
    const form = rendered.forms[0];
    const metaFor = (f: { formId: string; primary: number }) =>
      JSON.stringify({ ...turn.modalContext!, c: channel, f: f.formId, i: f.primary, ...(messageTs ? { m: messageTs } : {}) } satisfies ModalMeta);

    if (deferred) {
      if (Object.keys(errors).length > 0 && turn.modalContext) {
        await this.updateDeferredView(turn, renderModal(deferred.card, deferred.index, JSON.stringify(turn.modalContext), Object.values(errors).join(' ')));
        return 'errors';
      }
      if (form && turn.modalContext) {
        await this.updateDeferredView(turn, renderModal(form.card, form.primary, metaFor(form)));
        return 'update';
      }
      await this.updateDeferredView(turn, statusModal(deferred.card, this.answeredIn(channel)));
      return 'closed';
    }

    if (Object.keys(errors).length > 0) {
      turn.viewAck!.resolve({ response_action: 'errors', errors });
      return 'errors';
    }
    if (form && turn.modalContext) {
      turn.viewAck!.resolve({ response_action: 'update', view: renderModal(form.card, form.primary, metaFor(form)) });
      return 'update';
    }
    turn.viewAck!.resolve(undefined);
    return 'closed';
  }

  private answeredIn(channel: string): string {
    return `:white_check_mark: Done. The answer is in <#${channel}>; you can close this.`;
  }

  private async updateDeferredView(turn: SlackTurn, view: Record<string, unknown>): Promise<void> {
    const deferred = turn.deferredView;
    if (!deferred || deferred.done) return;
    deferred.done = true;
    try {
      await this.call('views.update', () => this.client.views.update({ view_id: deferred.id, view: view as unknown as SlackTypes.View }));
    } catch {
      // The person may have closed the modal meanwhile; the message in the channel carries the answer.
    }
  }

  /** The bot is not in the channel a command came from: answer privately through the command's response_url. */
  private async respondEphemeral(responseUrl: string, rendered: { text: string; blocks: Block[] }): Promise<void> {
    const blocks = fitBlocks(
      [
        ...rendered.blocks,
        { type: 'context', elements: [{ type: 'mrkdwn', text: `Only you can see this: invite <@${this.botUserId}> to this channel so it can post here.`, verbatim: true }] },
      ],
      LIMITS.blocksPerMessage,
    );
    const res = await fetch(responseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ response_type: 'ephemeral', text: rendered.text, blocks }),
    });
    if (!res.ok) this.logger.warn({ status: res.status }, 'slack response_url rejected the reply');
  }

  private async postEphemeralText(channel: string, user: string, text: string, threadTs?: string): Promise<void> {
    const md = toMrkdwn(text);
    await this.call('chat.postEphemeral', () =>
      this.client.chat.postEphemeral({
        channel,
        user,
        thread_ts: threadTs,
        text: truncate(md, LIMITS.sectionText),
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: truncate(md, LIMITS.sectionText), verbatim: true } }],
      }),
    );
  }

  /**
   * Applies an Action.Execute answer. In Teams the response card is the clicker's own view, and a
   * change everyone should see is made with updateActivity. Slack has one view per message, so the
   * clicker is shown, privately, only what the response card adds to the message as it now stands
   * (e.g. "You are not an approver"); a message or an error response goes to the clicker alone too.
   */
  private async applyInvokeResponse(context: TurnContext, turn: SlackTurn): Promise<void> {
    const activity = context.turnState.get(INVOKE_RESPONSE_KEY) as Partial<Activity> | undefined;
    const response = activity?.value as InvokeResponse | undefined;
    const body = response?.body as { statusCode?: number; type?: string; value?: unknown } | undefined;
    const userId = turn.userId;
    const { channel, threadTs } = parseConversationId(context.activity.conversation.id);
    if (!response || !body || !userId) return;
    const status = body.statusCode ?? response.status ?? 200;
    if (status >= 400 || body.type === 'application/vnd.microsoft.error') {
      const message = isRecord(body.value) && typeof body.value.message === 'string' ? body.value.message : 'That action could not be completed.';
      await this.postEphemeralText(channel, userId, message, threadTs);
      return;
    }
    if (body.type === 'application/vnd.microsoft.activity.message') {
      if (typeof body.value === 'string' && body.value) await this.postEphemeralText(channel, userId, body.value, threadTs);
      return;
    }
    if (body.type !== ADAPTIVE_CARD_CONTENT_TYPE || !isRecord(body.value)) return;
    const where = turn.clicked;
    const shown = where ? turn.shown.get(`${where.channel}:${where.ts}`) : undefined;
    const rendered = renderCard(body.value as AdaptiveCard, { surface: 'message' });
    const added = shown ? addedTextBlocks(rendered, shown) : rendered.filter((b) => b.type !== 'actions');
    if (added.length === 0) return;
    const blocks = fitBlocks(added, LIMITS.blocksPerMessage);
    // The notification text is what this person is told, not the card's title.
    const text = truncate([...blockTexts(added)][0] ?? this.botName, LIMITS.messageText);
    await this.call('chat.postEphemeral', () =>
      this.client.chat.postEphemeral({ channel, user: userId, thread_ts: threadTs, text, blocks: blocks as unknown as SlackTypes.KnownBlock[] }),
    );
  }

  /** One place that calls Slack, so failures carry a code and never log message content. */
  private async call<T>(method: string, fn: () => Promise<T>): Promise<T> {
    try {
      await yieldToIo();
      const result = await fn();
      await yieldToIo();
      return result;
    } catch (err) {
      const code = slackErrorCode(err);
      this.logger.warn({ method, code: code ?? (err as Error)?.message }, 'slack web api call failed');
      throw new BotError('INTERNAL', `Slack ${method} failed${code ? `: ${code}` : ''}.`, { cause: err, details: { method, slackError: code } });
    }
  }
}

/**
 * Lets I/O that is already waiting (other requests, whose acks Slack times out) run before a turn's next
 * stretch of CPU work. Turns yield when they start, before each message and around each Web API call, so
 * no ack waits behind a whole turn (docs/performance.md, Slack acks at one connection).
 */
function yieldToIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function isRecord(v: unknown): v is SlackPayload {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
