/* eslint-disable @typescript-eslint/no-explicit-any -- recorded Slack payloads are arbitrary JSON, read field by field */
/**
 * A fake Slack: the Web API (records every call, answers like Slack), response_url endpoints, request
 * signing exactly as Slack signs, payload builders with the shapes of Slack's documentation, and a
 * Block Kit limit checker that walks every recorded call.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackCall {
  method: string;
  args: Record<string, any>;
  token?: string;
  /** What the fake answered. */
  result?: Record<string, any>;
}

export interface SlackFake {
  /** Web API base URL (SLACK_API_URL). */
  apiUrl: string;
  /** Base for response_url values: `${responseBase}<anything>`. */
  responseBase: string;
  calls: SlackCall[];
  responses: Array<{ path: string; body: any }>;
  callsTo(method: string): SlackCall[];
  /** Makes the next call to `method` fail with Slack error `error`. */
  failNext(method: string, error: string): void;
  /** Channels the bot is not a member of (chat.postMessage answers not_in_channel). */
  notInChannel: Set<string>;
  close(): Promise<void>;
}

export const FAKE_BOT_TOKEN = 'xoxb-1234-5678-fake';
export const FAKE_BOT_USER = 'U0HOPSBOT';
export const FAKE_TEAM = 'T0TEAM';

function parseForm(raw: string): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    // WebClient sends arrays and objects as JSON strings inside the form.
    out[k] = (k === 'blocks' || k === 'view' || k === 'attachments' || k === 'metadata') && v ? JSON.parse(v) : v;
  }
  return out;
}

export async function startSlackFake(): Promise<SlackFake> {
  const calls: SlackCall[] = [];
  const responses: Array<{ path: string; body: any }> = [];
  const failures = new Map<string, string>();
  const notInChannel = new Set<string>();
  let seq = 0;
  const nextTs = () => `${1700000000 + ++seq}.${String(seq).padStart(6, '0')}`;

  const answer = (method: string, args: Record<string, any>): Record<string, unknown> => {
    const failure = failures.get(method);
    if (failure) {
      failures.delete(method);
      return { ok: false, error: failure };
    }
    switch (method) {
      case 'auth.test':
        return { ok: true, url: 'https://fake.slack.com/', team: 'Fake', user: 'hopsworks', team_id: FAKE_TEAM, user_id: FAKE_BOT_USER, bot_id: 'B0HOPSBOT' };
      case 'chat.postMessage': {
        if (!args.channel) return { ok: false, error: 'channel_not_found' };
        if (notInChannel.has(args.channel)) return { ok: false, error: 'not_in_channel' };
        const ts = nextTs();
        return { ok: true, channel: args.channel, ts, message: { type: 'message', user: FAKE_BOT_USER, text: args.text, blocks: args.blocks, ts } };
      }
      case 'chat.update':
        return { ok: true, channel: args.channel, ts: args.ts, text: args.text };
      case 'chat.postEphemeral':
        return { ok: true, message_ts: nextTs() };
      case 'chat.delete':
        return { ok: true, channel: args.channel, ts: args.ts };
      case 'views.open':
      case 'views.update':
        if (!args.trigger_id && method === 'views.open') return { ok: false, error: 'invalid_arguments' };
        return { ok: true, view: { ...args.view, id: `V${++seq}`, hash: `h${seq}` } };
      case 'conversations.open':
        return { ok: true, channel: { id: `D${String(args.users).replace(/^U/, '')}` } };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = req.url ?? '/';
      if (url.startsWith('/response/')) {
        responses.push({ path: url, body: JSON.parse(raw || '{}') });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
        return;
      }
      const method = url.replace(/^\/api\//, '').split('?')[0];
      const args = (req.headers['content-type'] ?? '').includes('application/json') ? JSON.parse(raw || '{}') : parseForm(raw);
      const auth = req.headers.authorization;
      const token = auth?.startsWith('Bearer ') ? auth.slice(7) : args.token;
      const body = token === FAKE_BOT_TOKEN ? answer(method, args) : { ok: false, error: 'invalid_auth' };
      calls.push({ method, args, token, result: body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    responseBase: `http://127.0.0.1:${port}/response/`,
    calls,
    responses,
    callsTo: (method) => calls.filter((c) => c.method === method),
    failNext: (method, error) => failures.set(method, error),
    notInChannel,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// -----------------------------------------------------------------------------------------------
// Signed requests

/** Slack's request signature: `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<raw body>` with the signing secret. */
export function slackSignature(secret: string, body: string, timestamp: number): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export interface SlackPostOptions {
  secret: string;
  /** Seconds since the epoch; now by default. */
  timestamp?: number;
  retryNum?: number;
  /** Replaces the computed signature (forgery tests). */
  signature?: string;
  contentType?: string;
}

export interface SlackHttpResult {
  status: number;
  text: string;
  json?: any;
}

export async function postToSlackEndpoint(url: string, body: string, opts: SlackPostOptions): Promise<SlackHttpResult> {
  const timestamp = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    'content-type': opts.contentType ?? (body.startsWith('{') ? 'application/json' : 'application/x-www-form-urlencoded'),
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': opts.signature ?? slackSignature(opts.secret, body, timestamp),
  };
  if (opts.retryNum !== undefined) {
    headers['x-slack-retry-num'] = String(opts.retryNum);
    headers['x-slack-retry-reason'] = 'http_timeout';
  }
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

// -----------------------------------------------------------------------------------------------
// Payloads (shapes from docs.slack.dev: slash commands, block_actions, view_submission, Events API)

let triggerSeq = 0;
export function newTriggerId(): string {
  triggerSeq += 1;
  return `${Date.now()}.${triggerSeq}.abcdef0123456789`;
}

export interface SlackUser {
  id: string;
  name: string;
}

/** Form-encoded body of a slash command. */
export function slashCommandBody(a: { text: string; user: SlackUser; channelId: string; channelName?: string; responseUrl: string; triggerId?: string; command?: string }): string {
  return new URLSearchParams({
    token: 'gIkuvaNzQIHg97ATvDxqgjtO',
    team_id: FAKE_TEAM,
    team_domain: 'fake',
    channel_id: a.channelId,
    channel_name: a.channelName ?? (a.channelId.startsWith('D') ? 'directmessage' : 'platform'),
    user_id: a.user.id,
    user_name: a.user.name,
    command: a.command ?? '/hopsworks',
    text: a.text,
    api_app_id: 'A0HOPS',
    is_enterprise_install: 'false',
    response_url: a.responseUrl,
    trigger_id: a.triggerId ?? newTriggerId(),
  }).toString();
}

export interface RecordedButton {
  action_id: string;
  value?: string;
  url?: string;
  text: { text: string };
  style?: string;
  confirm?: unknown;
}

/** Finds a button by its label in a recorded message's blocks. */
export function findButton(blocks: any[], label: string): RecordedButton {
  for (const b of blocks ?? []) {
    if (b.type !== 'actions') continue;
    for (const e of b.elements) if (e.type === 'button' && e.text?.text === label) return e as RecordedButton;
  }
  throw new Error(`no button "${label}" in blocks: ${JSON.stringify(blocks).slice(0, 500)}`);
}

/** `payload=` form body of a block_actions interaction on a message the bot posted. */
export function blockActionsBody(a: {
  user: SlackUser;
  channelId: string;
  message: { ts: string; blocks: any[]; thread_ts?: string };
  button: RecordedButton;
  responseUrl: string;
  triggerId?: string;
  actionTs?: string;
}): string {
  const payload = {
    type: 'block_actions',
    user: { id: a.user.id, username: a.user.name, name: a.user.name, team_id: FAKE_TEAM },
    api_app_id: 'A0HOPS',
    token: 'gIkuvaNzQIHg97ATvDxqgjtO',
    container: { type: 'message', message_ts: a.message.ts, channel_id: a.channelId, is_ephemeral: false, thread_ts: a.message.thread_ts },
    trigger_id: a.triggerId ?? newTriggerId(),
    team: { id: FAKE_TEAM, domain: 'fake' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: a.channelId, name: 'platform' },
    message: { type: 'message', user: FAKE_BOT_USER, ts: a.message.ts, thread_ts: a.message.thread_ts, text: 'card', blocks: a.message.blocks },
    state: { values: {} },
    response_url: a.responseUrl,
    actions: [
      {
        action_id: a.button.action_id,
        block_id: 'b1',
        text: { type: 'plain_text', text: a.button.text.text, emoji: true },
        value: a.button.value,
        ...(a.button.url ? { url: a.button.url } : {}),
        style: a.button.style,
        type: 'button',
        action_ts: a.actionTs ?? `${Math.floor(Date.now() / 1000)}.${String(++triggerSeq).padStart(6, '0')}`,
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/**
 * `payload=` form body of a view_submission for a modal the bot opened: `values` by input block id,
 * turned into the state shape Slack uses for each element type.
 */
export function viewSubmissionBody(a: { user: SlackUser; view: any; values: Record<string, string | string[] | boolean | null>; triggerId?: string }): string {
  const state: Record<string, Record<string, unknown>> = {};
  for (const block of a.view.blocks ?? []) {
    if (block.type !== 'input') continue;
    const el = block.element;
    const v = a.values[block.block_id];
    let entry: Record<string, unknown>;
    switch (el.type) {
      case 'plain_text_input':
      case 'number_input':
        entry = { type: el.type, value: v === undefined ? (el.initial_value ?? null) : v };
        break;
      case 'static_select':
      case 'radio_buttons': {
        const chosen = v === undefined ? el.initial_option : el.options.find((o: any) => o.value === v);
        entry = { type: el.type, selected_option: chosen ?? null };
        break;
      }
      case 'checkboxes':
      case 'multi_static_select': {
        const wanted = v === undefined ? (el.initial_options ?? []).map((o: any) => o.value) : v === true ? [el.options[0].value] : v === false || v === null ? [] : ([] as string[]).concat(v as string | string[]);
        entry = { type: el.type, selected_options: el.options.filter((o: any) => wanted.includes(o.value)) };
        break;
      }
      default:
        throw new Error(`fake: unsupported element ${el.type}`);
    }
    state[block.block_id] = { [el.action_id]: entry };
  }
  const payload = {
    type: 'view_submission',
    team: { id: FAKE_TEAM, domain: 'fake' },
    user: { id: a.user.id, username: a.user.name, name: a.user.name, team_id: FAKE_TEAM },
    api_app_id: 'A0HOPS',
    token: 'gIkuvaNzQIHg97ATvDxqgjtO',
    trigger_id: a.triggerId ?? newTriggerId(),
    view: {
      id: a.view.id ?? 'V0MODAL',
      team_id: FAKE_TEAM,
      type: 'modal',
      blocks: a.view.blocks,
      private_metadata: a.view.private_metadata,
      callback_id: a.view.callback_id,
      state: { values: state },
      hash: a.view.hash ?? `${Date.now()}.${++triggerSeq}`,
      title: a.view.title,
      clear_on_close: false,
      notify_on_close: false,
      close: a.view.close,
      submit: a.view.submit,
      root_view_id: a.view.id ?? 'V0MODAL',
      app_id: 'A0HOPS',
      bot_id: 'B0HOPSBOT',
    },
    response_urls: [],
    is_enterprise_install: false,
    enterprise: null,
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

let eventSeq = 0;
/** Events API `event_callback` JSON body. */
export function eventCallbackBody(event: Record<string, unknown>, eventId?: string): string {
  return JSON.stringify({
    token: 'gIkuvaNzQIHg97ATvDxqgjtO',
    team_id: FAKE_TEAM,
    api_app_id: 'A0HOPS',
    event: { event_ts: event.ts, ...event },
    type: 'event_callback',
    event_id: eventId ?? `Ev${Date.now()}${++eventSeq}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ enterprise_id: null, team_id: FAKE_TEAM, user_id: FAKE_BOT_USER, is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
  });
}

// -----------------------------------------------------------------------------------------------
// Block Kit limits

const LIM = {
  messageBlocks: 50,
  modalBlocks: 100,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  header: 150,
  contextElements: 10,
  actionsElements: 25,
  buttonText: 75,
  buttonValue: 2000,
  id: 255,
  optionText: 75,
  optionValue: 150,
  options: 100,
  label: 2000,
  placeholder: 150,
  modalTitle: 24,
  modalButton: 24,
  privateMetadata: 3000,
  messageText: 40000,
};

/** Every Block Kit limit violation in the recorded calls (empty when all is well). */
export function blockKitViolations(calls: SlackCall[]): string[] {
  const problems: string[] = [];
  const check = (cond: boolean, what: string) => {
    if (!cond) problems.push(what);
  };
  const textLen = (t: any) => (typeof t?.text === 'string' ? t.text.length : 0);
  const walkBlocks = (blocks: any[], where: string, max: number) => {
    check(Array.isArray(blocks), `${where}: blocks is not an array`);
    if (!Array.isArray(blocks)) return;
    check(blocks.length <= max, `${where}: ${blocks.length} blocks > ${max}`);
    blocks.forEach((b, i) => {
      const at = `${where} block ${i} (${b.type})`;
      if (b.block_id !== undefined) check(String(b.block_id).length <= LIM.id, `${at}: block_id too long`);
      switch (b.type) {
        case 'section':
          check(textLen(b.text) > 0 || Array.isArray(b.fields), `${at}: empty section`);
          check(textLen(b.text) <= LIM.sectionText, `${at}: text ${textLen(b.text)} > ${LIM.sectionText}`);
          if (b.fields) {
            check(b.fields.length <= LIM.fields, `${at}: too many fields`);
            for (const f of b.fields) check(textLen(f) <= LIM.fieldText, `${at}: field too long`);
          }
          break;
        case 'header':
          check(b.text?.type === 'plain_text', `${at}: header must be plain_text`);
          check(textLen(b.text) <= LIM.header, `${at}: header ${textLen(b.text)} > ${LIM.header}`);
          break;
        case 'context':
          check(b.elements.length <= LIM.contextElements, `${at}: too many context elements`);
          for (const e of b.elements) check(textLen(e) <= LIM.sectionText, `${at}: context text too long`);
          break;
        case 'actions':
          check(b.elements.length <= LIM.actionsElements, `${at}: too many elements`);
          for (const e of b.elements) {
            check(textLen(e.text) <= LIM.buttonText, `${at}: button text ${textLen(e.text)} > ${LIM.buttonText}`);
            check(String(e.action_id ?? '').length <= LIM.id, `${at}: action_id too long`);
            if (e.value !== undefined) check(String(e.value).length <= LIM.buttonValue, `${at}: button value ${String(e.value).length} > ${LIM.buttonValue}`);
            if (e.confirm) {
              check(textLen(e.confirm.title) <= 100, `${at}: confirm title too long`);
              check(textLen(e.confirm.text) <= 300, `${at}: confirm text too long`);
              check(textLen(e.confirm.confirm) <= 30 && textLen(e.confirm.deny) <= 30, `${at}: confirm buttons too long`);
            }
          }
          check(new Set(b.elements.map((e: any) => e.action_id)).size === b.elements.length, `${at}: duplicate action_id`);
          break;
        case 'input': {
          check(textLen(b.label) <= LIM.label, `${at}: label too long`);
          const el = b.element;
          if (el.placeholder) check(textLen(el.placeholder) <= LIM.placeholder, `${at}: placeholder too long`);
          if (el.options) {
            check(el.options.length <= LIM.options, `${at}: too many options`);
            if (el.type === 'radio_buttons' || el.type === 'checkboxes') check(el.options.length <= 10, `${at}: too many ${el.type} options`);
            for (const o of el.options) {
              check(textLen(o.text) <= LIM.optionText, `${at}: option text too long`);
              check(String(o.value).length <= LIM.optionValue, `${at}: option value too long`);
            }
          }
          break;
        }
        default:
          problems.push(`${at}: unexpected block type`);
      }
    });
  };
  for (const call of calls) {
    const { method, args } = call;
    if (['chat.postMessage', 'chat.update', 'chat.postEphemeral'].includes(method)) {
      check(typeof args.text === 'string' && args.text.length <= LIM.messageText, `${method}: text fallback missing or too long`);
      if (args.blocks) walkBlocks(args.blocks, method, LIM.messageBlocks);
    }
    if (method === 'views.open' || method === 'views.update') {
      const v = args.view;
      check(textLen(v.title) <= LIM.modalTitle, `${method}: title too long`);
      check(textLen(v.submit) <= LIM.modalButton && textLen(v.close) <= LIM.modalButton, `${method}: button too long`);
      check(String(v.private_metadata ?? '').length <= LIM.privateMetadata, `${method}: private_metadata too long`);
      walkBlocks(v.blocks, method, LIM.modalBlocks);
    }
  }
  return problems;
}

/** Every mrkdwn text in recorded messages, for injection checks. */
export function mrkdwnTexts(calls: SlackCall[]): Array<{ text: string; verbatim: unknown }> {
  const out: Array<{ text: string; verbatim: unknown }> = [];
  const visit = (node: any) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node && typeof node === 'object') {
      if (node.type === 'mrkdwn') out.push({ text: node.text, verbatim: node.verbatim });
      Object.values(node).forEach(visit);
    }
  };
  for (const c of calls) if (c.args.blocks) visit(c.args.blocks);
  return out;
}

// -----------------------------------------------------------------------------------------------
// Reading what the bot posted

/** The blocks a message shows now: its chat.postMessage, then every chat.update of it. */
export function messageBlocks(fake: SlackFake, channel: string, ts: string): any[] {
  let blocks: any[] = [];
  for (const c of fake.calls) {
    if (c.method === 'chat.postMessage' && c.result?.ts === ts && c.result?.channel === channel) blocks = c.args.blocks;
    if (c.method === 'chat.update' && c.args.ts === ts && c.args.channel === channel) blocks = c.args.blocks;
  }
  return blocks;
}

/** Every button of a message's blocks. */
export function buttonsOf(blocks: any[]): any[] {
  return (blocks ?? []).filter((b) => b.type === 'actions').flatMap((b) => b.elements);
}

/** The button whose decoded value (JSON) passes `test`. */
export function buttonWhere(blocks: any[], test: (payload: any, button: any) => boolean): RecordedButton {
  const found = buttonsOf(blocks).find((b) => {
    let payload: unknown;
    try {
      payload = b.value ? JSON.parse(b.value) : undefined;
    } catch {
      payload = undefined;
    }
    return test(payload, b);
  });
  if (!found) throw new Error(`no such button in ${JSON.stringify(blocks).slice(0, 400)}`);
  return found;
}

/** The parts of a Slack integration a test server needs (see `createSlackAdapter`). */
interface ServableSlack {
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse, logic?: (context: any) => Promise<void>): void;
  adapter: { idle(): Promise<void> };
}

/**
 * Serves a Slack integration's endpoint on a loopback port, as the bot's HTTP server does.
 * `close()` waits for the turns still running, then closes the server.
 */
export async function serveSlack(slack: ServableSlack, logic: (context: any) => Promise<void>): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => slack.handleRequest(req, res, logic));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`,
    async close() {
      await slack.adapter.idle();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
