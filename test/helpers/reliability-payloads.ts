/**
 * Incoming payloads as the platforms send them: Bot Framework activities from Teams, and Slack
 * slash commands / interactivity payloads signed exactly as Slack signs them.
 */
import { createHmac, randomUUID } from 'node:crypto';

export interface TeamsUser {
  id: string;
  name: string;
  aadObjectId?: string;
}

export const TEAMS_TENANT = '72f988bf-0000-0000-0000-000000000001';

let seq = 0;

/** A Teams activity addressed to the bot, replies going to `serviceUrl`. */
export function teamsActivity(opts: {
  serviceUrl: string;
  type?: string;
  text?: string;
  name?: string;
  value?: unknown;
  from?: TeamsUser;
  conversationId?: string;
  conversationType?: 'personal' | 'channel' | 'groupChat';
}): Record<string, unknown> {
  seq += 1;
  const from = opts.from ?? { id: '29:bench-user', name: 'Bench User', aadObjectId: '00000000-0000-0000-0000-0000000000b1' };
  const activity: Record<string, unknown> = {
    type: opts.type ?? 'message',
    id: `act-${Date.now()}-${seq}`,
    timestamp: new Date().toISOString(),
    localTimestamp: new Date().toISOString(),
    channelId: 'msteams',
    serviceUrl: opts.serviceUrl,
    from,
    conversation: {
      id: opts.conversationId ?? `a:bench-${from.id}`,
      conversationType: opts.conversationType ?? 'personal',
      tenantId: TEAMS_TENANT,
      isGroup: (opts.conversationType ?? 'personal') !== 'personal',
    },
    recipient: { id: '28:hopsworks-bot', name: 'Hopsworks setup' },
    locale: 'en-US',
    channelData: { tenant: { id: TEAMS_TENANT } },
    entities: [{ type: 'clientInfo', locale: 'en-US', country: 'US', platform: 'Web', timezone: 'Europe/Berlin' }],
  };
  if (opts.text !== undefined) activity.text = opts.text;
  if (opts.name !== undefined) activity.name = opts.name;
  if (opts.value !== undefined) activity.value = opts.value;
  return activity;
}

/** The invoke Teams sends for an Adaptive Card `Action.Execute` click. */
export function teamsExecuteInvoke(opts: {
  serviceUrl: string;
  verb: string;
  data: Record<string, unknown>;
  from?: TeamsUser;
  conversationId?: string;
}): Record<string, unknown> {
  return teamsActivity({
    serviceUrl: opts.serviceUrl,
    type: 'invoke',
    name: 'adaptiveCard/action',
    from: opts.from,
    conversationId: opts.conversationId,
    conversationType: 'channel',
    value: { action: { type: 'Action.Execute', verb: opts.verb, data: opts.data }, trigger: 'manual' },
  });
}

/** Headers Slack puts on every request: `v0=` HMAC-SHA256 over `v0:{ts}:{raw body}`. */
export function slackSignature(signingSecret: string, rawBody: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const sig = createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex');
  return { 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': `v0=${sig}` };
}

export interface SlackUser {
  id: string;
  name: string;
}

export const SLACK_TEAM = 'T0BENCH';

/** Form body of a slash command, as Slack POSTs it. */
export function slackCommandBody(opts: { text: string; user?: SlackUser; channelId?: string; command?: string; responseUrl?: string }): string {
  const user = opts.user ?? { id: 'U0BENCH', name: 'bench' };
  seq += 1;
  return new URLSearchParams({
    token: 'deprecated-verification-token',
    team_id: SLACK_TEAM,
    team_domain: 'bench',
    channel_id: opts.channelId ?? 'C0BENCH',
    channel_name: 'hopsworks',
    user_id: user.id,
    user_name: user.name,
    command: opts.command ?? '/hopsworks',
    text: opts.text,
    api_app_id: 'A0BENCH',
    is_enterprise_install: 'false',
    response_url: opts.responseUrl ?? 'https://hooks.slack.com/commands/T0BENCH/1/x',
    trigger_id: `${Date.now()}.${seq}.${randomUUID().slice(0, 8)}`,
  }).toString();
}

/** `payload=` form body of a `block_actions` interaction (a button click in a message). */
export function slackBlockActionsBody(opts: {
  actionId: string;
  value?: string;
  blockId?: string;
  user?: SlackUser;
  channelId?: string;
  messageTs?: string;
  stateValues?: Record<string, unknown>;
}): string {
  const user = opts.user ?? { id: 'U0BENCH', name: 'bench' };
  seq += 1;
  const messageTs = opts.messageTs ?? '1700000000.000100';
  const payload = {
    type: 'block_actions',
    user: { id: user.id, username: user.name, name: user.name, team_id: SLACK_TEAM },
    api_app_id: 'A0BENCH',
    token: 'deprecated-verification-token',
    container: { type: 'message', message_ts: messageTs, channel_id: opts.channelId ?? 'C0BENCH', is_ephemeral: false },
    trigger_id: `${Date.now()}.${seq}.${randomUUID().slice(0, 8)}`,
    team: { id: SLACK_TEAM, domain: 'bench' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: opts.channelId ?? 'C0BENCH', name: 'hopsworks' },
    message: { type: 'message', user: 'U0BOT', ts: messageTs, bot_id: 'B0BOT', text: 'card', blocks: [] },
    state: { values: opts.stateValues ?? {} },
    response_url: 'https://hooks.slack.com/actions/T0BENCH/1/x',
    actions: [
      {
        action_id: opts.actionId,
        block_id: opts.blockId ?? 'actions',
        text: { type: 'plain_text', text: 'Click', emoji: true },
        value: opts.value,
        type: 'button',
        // Unique per click: the adapter treats a repeated (user, action_ts) as Slack retrying a delivery.
        action_ts: `${Math.floor(Date.now() / 1000)}.${String(seq % 1_000_000).padStart(6, '0')}`,
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** A stored Teams conversation reference (what the bot keeps to message a conversation proactively). */
export function teamsConversationRef(opts: {
  serviceUrl: string;
  conversationId: string;
  user: TeamsUser;
  conversationType?: 'personal' | 'channel' | 'groupChat';
}): { platform: 'teams'; reference: Record<string, unknown> } {
  return {
    platform: 'teams',
    reference: {
      channelId: 'msteams',
      serviceUrl: opts.serviceUrl,
      locale: 'en-US',
      user: { id: opts.user.id, name: opts.user.name, aadObjectId: opts.user.aadObjectId },
      bot: { id: '28:hopsworks-bot', name: 'Hopsworks setup' },
      conversation: { id: opts.conversationId, conversationType: opts.conversationType ?? 'personal', tenantId: TEAMS_TENANT, isGroup: (opts.conversationType ?? 'personal') !== 'personal' },
    },
  };
}
