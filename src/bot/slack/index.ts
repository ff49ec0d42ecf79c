/**
 * Slack wiring: Bolt's HTTPReceiver verifies each request's signature (signing secret, 5-minute
 * window), answers `url_verification` and `ssl_check`, and acks; Bolt's App hands the payload to the
 * one global middleware below, which only passes it to the SlackAdapter. The receiver's request listener is
 * mounted on the bot's one HTTP server instead of a server of its own.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { App, HTTPReceiver, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import { BotError } from '../../core/errors';
import type { KeyValueStore } from '../../core/ports';
import { SlackAdapter, type BotLogic, type SlackLogger } from './adapter';
import { MODAL_CALLBACK_ID } from './blockkit';
import { SlackState } from './state';

export { SlackAdapter, SLACK_CHANNEL_ID, SLACK_SERVICE_URL, parseActivityId, parseConversationId } from './adapter';
export type { SlackOutgoingChannelData, SlackIncomingChannelData, BotLogic, SlackLogger } from './adapter';

export interface SlackConfig {
  botToken: string;
  signingSecret: string;
  /** Web API base URL (SLACK_API_URL); Slack's own when unset. */
  apiUrl?: string;
  logger: SlackLogger;
  /** Shared store for forms and delivery keys (several instances); memory when unset. */
  kv?: KeyValueStore;
  /** Path the receiver answers on. */
  endpoint?: string;
  /** Modal submissions wait at most this long for the bot's answer before acking. */
  ackDeadlineMs?: number;
  /** Retries of failed Web API calls (429s are always honoured with Retry-After). */
  webApiRetries?: number;
  /** Told about turns that outlive their HTTP request, e.g. `HttpServer.track`, so shutdown waits for them. */
  track?: (work: Promise<unknown>) => unknown;
  /** Turns run at once after their ack (default 8), started per second (default 5) and waiting (default 50; beyond, "busy"). */
  maxConcurrentTurns?: number;
  maxTurnsPerSecond?: number;
  maxQueuedTurns?: number;
}

export interface SlackIntegration {
  adapter: SlackAdapter;
  app: App;
  /**
   * Node request handler for `POST /slack/events`. The body must be unread, or already buffered
   * into `req.rawBody` (a Buffer): the signature is computed over the exact bytes Slack sent.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse, logic?: BotLogic): void;
}

/**
 * Bolt and its WebClient log request and response bodies at debug level; a direct message can
 * carry the SSH private key, so only info and above are passed on.
 */
function boltLogger(logger: SlackLogger): BoltLogger {
  const join = (msg: unknown[]) => msg.map((m) => (m instanceof Error ? m.message : String(m))).join(' ');
  return {
    debug: () => undefined,
    info: (...msg: unknown[]) => logger.info({ component: 'slack' }, join(msg)),
    warn: (...msg: unknown[]) => logger.warn({ component: 'slack' }, join(msg)),
    error: (...msg: unknown[]) => logger.error({ component: 'slack' }, join(msg)),
    setLevel: () => undefined,
    getLevel: () => LogLevel.INFO,
    setName: () => undefined,
  };
}

/** Builds the Bolt app and the adapter; checks the bot token with `auth.test` (a bad token fails startup). */
export async function createSlackAdapter(config: SlackConfig): Promise<SlackIntegration> {
  const logger = boltLogger(config.logger);
  const endpoint = config.endpoint ?? '/slack/events';
  const receiver = new HTTPReceiver({
    signingSecret: config.signingSecret,
    endpoints: [endpoint],
    logger,
    processBeforeResponse: false,
  });
  const slackApiUrl = config.apiUrl ? (config.apiUrl.endsWith('/') ? config.apiUrl : `${config.apiUrl}/`) : undefined;
  const app = new App({
    token: config.botToken,
    receiver,
    logger,
    // Bolt's conversation store is not used (bot state lives in the shared store); its default in-memory
    // store would look up, and fail to find, a conversation on every request, building an Error each time.
    convoStore: false,
    deferInitialization: true,
    clientOptions: {
      ...(slackApiUrl ? { slackApiUrl } : {}),
      logger,
      ...(config.webApiRetries !== undefined ? { retryConfig: { retries: config.webApiRetries } } : {}),
    },
  });

  let auth: { user_id?: string; user?: string };
  try {
    await app.init();
    auth = (await app.client.auth.test()) as { user_id?: string; user?: string };
  } catch (err) {
    const code = (err as { data?: { error?: string } }).data?.error ?? (err as Error).message;
    throw new BotError('CONFIG', `SLACK_BOT_TOKEN was rejected by Slack (${code}). Copy the Bot User OAuth Token (xoxb-…) from the Slack app's OAuth & Permissions page.`, { cause: err });
  }
  if (!auth.user_id) throw new BotError('CONFIG', 'Slack auth.test returned no bot user id; is SLACK_BOT_TOKEN a bot token (xoxb-…)?');

  const adapter = new SlackAdapter({
    client: app.client,
    botUserId: auth.user_id,
    botName: auth.user ?? 'hopsworks',
    state: new SlackState({ kv: config.kv }),
    logger: config.logger,
    ackDeadlineMs: config.ackDeadlineMs,
    track: config.track,
    maxConcurrentTurns: config.maxConcurrentTurns,
    maxTurnsPerSecond: config.maxTurnsPerSecond,
    maxQueuedTurns: config.maxQueuedTurns,
  });

  // One global middleware hands every verified payload to the adapter, instead of one listener per kind:
  // Bolt runs every listener's middleware chain for every request, and on Node 20 each chain's argument
  // objects get new hidden classes each time; seven listeners cost ~50 µs of CPU per request more than
  // this dispatch (docs/performance.md). It is the last middleware and does not call next().
  app.use(async (args) => {
    const body = args.body as unknown as Record<string, unknown>;
    if ('command' in args && args.command) {
      await adapter.onSlashCommand(body as Record<string, string>, (busyText) => (busyText ? args.ack({ response_type: 'ephemeral', text: busyText }) : args.ack()));
    } else if ('action' in args && args.action) {
      const actionId = (args.action as { action_id?: unknown }).action_id;
      // Clicks on anything but the bot's own elements (there should be none) are only acked, so Slack shows no error.
      if (typeof actionId === 'string' && actionId.startsWith('hw:')) await adapter.onBlockAction(body, () => args.ack());
      else await args.ack();
    } else if ('view' in args && args.view && args.view.callback_id === MODAL_CALLBACK_ID) {
      if (body.type === 'view_submission') await adapter.onViewSubmission(body, (r) => (r ? args.ack(r as never) : args.ack()));
      else await args.ack();
    } else if ('event' in args && args.event) {
      const event = args.event as unknown as Record<string, unknown>;
      // Mentions in channels; in direct messages every message is for the bot.
      if (event.type === 'app_mention' || (event.type === 'message' && event.channel_type === 'im')) await adapter.onMessageEvent(body, event);
    }
  });
  app.error(async (err) => {
    config.logger.error({ err: { message: err.message, code: (err as { code?: string }).code } }, 'slack listener failed');
  });

  return {
    adapter,
    app,
    handleRequest(req, res, logic) {
      if (logic) adapter.setLogic(logic);
      const body = (req as { body?: unknown }).body;
      const buffered = req as IncomingMessage & { rawBody?: Buffer };
      if (!Buffer.isBuffer(buffered.rawBody) && (Buffer.isBuffer(body) || typeof body === 'string')) buffered.rawBody = Buffer.from(body);
      try {
        receiver.requestListener(req, res);
      } catch {
        // Bolt throws for paths and methods it does not serve.
        if (!res.headersSent) {
          res.writeHead(404);
          res.end();
        }
      }
    },
  };
}
