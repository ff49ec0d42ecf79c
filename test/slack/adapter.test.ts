/* eslint-disable @typescript-eslint/no-explicit-any -- recorded Slack payloads are arbitrary JSON, read field by field */
/**
 * The Slack adapter end to end over HTTP: signed requests into Bolt's receiver, a small bot, and a
 * fake Slack Web API that records what the real WebClient sends.
 */
import { CardFactory, TurnContext, type ConversationReference } from 'botbuilder';
import { createSlackAdapter, type SlackIntegration, type SlackLogger } from '../../src/bot/slack';
import {
  FAKE_BOT_TOKEN,
  FAKE_BOT_USER,
  FAKE_TEAM,
  blockActionsBody,
  blockKitViolations,
  eventCallbackBody,
  findButton,
  mrkdwnTexts,
  postToSlackEndpoint,
  serveSlack,
  slashCommandBody,
  startSlackFake,
  viewSubmissionBody,
  type SlackFake,
} from '../helpers/slack-fake';
import { EchoBot, approvalCard } from './echo-bot';

const SECRET = 'slack-signing-secret-for-tests';
const ALICE = { id: 'U0ALICE', name: 'alice' };
const APPROVER = { id: 'U0APPROVER', name: 'bob' };
const OUTSIDER = { id: 'U0OUTSIDER', name: 'mallory' };

interface LogLine {
  level: string;
  obj: object;
  msg?: string;
}

let fake: SlackFake;
let slack: SlackIntegration;
let bot: EchoBot;
let served: { url: string; close(): Promise<void> };
let url: string;
const logs: LogLine[] = [];

const logger: SlackLogger = {
  debug: (obj, msg) => logs.push({ level: 'debug', obj, msg }),
  info: (obj, msg) => logs.push({ level: 'info', obj, msg }),
  warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
  error: (obj, msg) => logs.push({ level: 'error', obj, msg }),
};

beforeAll(async () => {
  fake = await startSlackFake();
  slack = await createSlackAdapter({ botToken: FAKE_BOT_TOKEN, signingSecret: SECRET, apiUrl: fake.apiUrl, logger, webApiRetries: 0 });
  served = await serveSlack(slack, (ctx) => bot.run(ctx));
  url = served.url;
});

afterAll(async () => {
  await served.close();
  await fake.close();
});

beforeEach(() => {
  bot = new EchoBot();
  fake.calls.length = 0;
  fake.responses.length = 0;
});

afterEach(() => {
  // Every message, update and modal the adapter sent stays within Block Kit's limits.
  expect(blockKitViolations(fake.calls)).toEqual([]);
});

const post = (body: string, opts: { retryNum?: number; timestamp?: number; signature?: string } = {}) => postToSlackEndpoint(url, body, { secret: SECRET, ...opts });
const command = (text: string, user = ALICE, channelId = 'C0PLATFORM', triggerId?: string) =>
  slashCommandBody({ text, user, channelId, responseUrl: `${fake.responseBase}cmd`, triggerId });

async function settle(): Promise<void> {
  await slack.adapter.idle();
}

function lastPosted() {
  const posts = fake.callsTo('chat.postMessage');
  return posts[posts.length - 1].args;
}

describe('request authenticity', () => {
  it('answers the url_verification challenge', async () => {
    const res = await post(JSON.stringify({ token: 'x', challenge: 'c-4f2a', type: 'url_verification' }));
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ challenge: 'c-4f2a' });
  });

  it('refuses a forged signature with 401 and never runs the bot', async () => {
    const res = await post(command('status'), { signature: `v0=${'0'.repeat(64)}` });
    expect(res.status).toBe(401);
    await settle();
    expect(bot.received).toHaveLength(0);
    expect(fake.calls).toHaveLength(0);
  });

  it('refuses a body signed with another secret', async () => {
    const body = command('status');
    const res = await postToSlackEndpoint(url, body, { secret: 'someone-elses-secret' });
    expect(res.status).toBe(401);
    await settle();
    expect(bot.received).toHaveLength(0);
  });

  it('refuses a correctly signed request older than five minutes (replay)', async () => {
    const res = await post(command('status'), { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    expect(res.status).toBe(401);
    await settle();
    expect(bot.received).toHaveLength(0);
  });

  it('answers 404 for other paths without reaching the bot', async () => {
    const res = await postToSlackEndpoint(url.replace('/slack/events', '/slack/other'), command('status'), { secret: SECRET });
    expect(res.status).toBe(404);
    expect(bot.received).toHaveLength(0);
  });
});

describe('slash command', () => {
  it('acks before the turn runs, then the bot answers in the channel', async () => {
    let release!: () => void;
    bot.gate = new Promise<void>((r) => (release = r));
    const res = await post(command('status HW-1001'));
    // The HTTP answer came back while the bot is still blocked inside its turn.
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    expect(fake.callsTo('chat.postMessage')).toHaveLength(0);
    release();
    await settle();

    const [activity] = bot.received;
    expect(activity).toMatchObject({
      type: 'message',
      text: 'status HW-1001',
      channelId: 'slack',
      from: { id: ALICE.id, name: ALICE.name },
      recipient: { id: FAKE_BOT_USER },
      conversation: { id: 'C0PLATFORM', isGroup: true },
    });
    const channelData = activity.channelData as Record<string, any>;
    expect(channelData.teamId).toBe(FAKE_TEAM);
    expect(channelData.triggerId).toEqual(expect.any(String));
    expect(channelData.responseUrl).toBe(`${fake.responseBase}cmd`);
    // The deprecated verification token never travels into the bot.
    expect(channelData.payload.token).toBeUndefined();

    const sent = lastPosted();
    expect(sent.channel).toBe('C0PLATFORM');
    expect(sent.text).toBe('You said: status HW-1001');
  });

  it('an empty command is the help command, and a DM command is personal', async () => {
    await post(command('', ALICE, 'D0ALICE'));
    await settle();
    expect(bot.received[0]).toMatchObject({ text: 'help', conversation: { id: 'D0ALICE', isGroup: false, conversationType: 'personal' } });
  });

  it('runs a retried or replayed delivery of the same command once', async () => {
    const body = command('status');
    expect((await post(body)).status).toBe(200);
    expect((await post(body, { retryNum: 1 })).status).toBe(200);
    await settle();
    expect(bot.received).toHaveLength(1);
    expect(fake.callsTo('chat.postMessage')).toHaveLength(1);
  });

  it('answers privately through response_url when the bot is not in the channel', async () => {
    fake.notInChannel.add('C0SECRET');
    await post(command('status', ALICE, 'C0SECRET'));
    await settle();
    expect(fake.responses).toHaveLength(1);
    expect(fake.responses[0].body).toMatchObject({ response_type: 'ephemeral', text: 'You said: status' });
    expect(JSON.stringify(fake.responses[0].body.blocks)).toContain('invite');
  });
});

describe('events', () => {
  it('turns an app mention into a message without the mention, once per event_id', async () => {
    const body = eventCallbackBody({ type: 'app_mention', user: ALICE.id, text: `<@${FAKE_BOT_USER}> status HW-7`, ts: '1700000100.000100', channel: 'C0PLATFORM' }, 'Ev0MENTION1');
    expect((await post(body)).status).toBe(200);
    expect((await post(body, { retryNum: 1 })).status).toBe(200);
    await settle();
    expect(bot.received).toHaveLength(1);
    expect(bot.received[0]).toMatchObject({ text: 'status HW-7', from: { id: ALICE.id }, conversation: { id: 'C0PLATFORM' } });
  });

  it('answers a mention inside a thread in that thread', async () => {
    await post(eventCallbackBody({ type: 'app_mention', user: ALICE.id, text: `<@${FAKE_BOT_USER}> help`, ts: '1700000200.000200', thread_ts: '1700000150.000100', channel: 'C0PLATFORM' }));
    await settle();
    expect(bot.received[0].conversation!.id).toBe('C0PLATFORM:1700000150.000100');
    expect(lastPosted()).toMatchObject({ channel: 'C0PLATFORM', thread_ts: '1700000150.000100' });
  });

  it('turns a direct message into a message and ignores bot and edited messages', async () => {
    await post(eventCallbackBody({ type: 'message', channel_type: 'im', user: ALICE.id, text: 'status', ts: '1700000300.000100', channel: 'D0ALICE' }));
    await post(eventCallbackBody({ type: 'message', channel_type: 'im', subtype: 'message_changed', ts: '1700000301.000100', channel: 'D0ALICE' }));
    await post(eventCallbackBody({ type: 'message', channel_type: 'im', user: FAKE_BOT_USER, bot_id: 'B0HOPSBOT', text: 'You said: status', ts: '1700000302.000100', channel: 'D0ALICE' }));
    await settle();
    expect(bot.received).toHaveLength(1);
    expect(bot.received[0]).toMatchObject({ text: 'status', conversation: { id: 'D0ALICE', isGroup: false } });
  });
});

describe('outgoing text', () => {
  it('escapes &, < and > so mentions, broadcasts and links cannot be injected', async () => {
    await post(command('echo <!channel> ping <@U0BOSS> & <https://evil.example|click here> @here'));
    await settle();
    const sent = lastPosted();
    const texts = mrkdwnTexts(fake.calls);
    expect(texts.length).toBeGreaterThan(0);
    for (const t of texts) {
      expect(t.verbatim).toBe(true);
      expect(t.text).not.toMatch(/<[!@#]|<https?:/);
    }
    expect(texts[0].text).toContain('&lt;!channel&gt;');
    expect(texts[0].text).toContain('&amp;');
    expect(sent.text).not.toContain('<!channel>');
  });

  it('sends a message marked ephemeralTo only to that person', async () => {
    await post(command('private'));
    await settle();
    expect(fake.callsTo('chat.postMessage')).toHaveLength(0);
    expect(fake.callsTo('chat.postEphemeral')[0].args).toMatchObject({ channel: 'C0PLATFORM', user: ALICE.id, text: 'Only you can see this.' });
  });

  it('keeps an oversized card within Block Kit limits', async () => {
    await post(command('big'));
    await settle();
    const sent = lastPosted();
    expect(sent.blocks.length).toBeLessThanOrEqual(50);
    // The button survives the cut and its 2.5 kB payload is kept server-side.
    const button = sent.blocks.at(-1).elements[0];
    expect(button.text.text.length).toBeLessThanOrEqual(75);
    expect(JSON.parse(button.value)).toMatchObject({ k: 'ref' });
  });
});

describe('cards with inputs become modals', () => {
  it('posts the card with its buttons and opens the form at once with the command trigger', async () => {
    const body = command('form');
    const trigger = new URLSearchParams(body).get('trigger_id');
    await post(body);
    await settle();
    const sent = lastPosted();
    const next = findButton(sent.blocks, 'Next');
    const cancel = findButton(sent.blocks, 'Cancel');
    expect(next.style).toBe('primary');
    expect(JSON.parse(next.value!)).toMatchObject({ k: 'form' });
    expect(JSON.parse(cancel.value!)).toEqual({ k: 'submit', d: { wizardId: 'w1', stage: 'options', action: 'cancel' } });
    // Inputs are not in the message: Slack documents input blocks for modals.
    expect(sent.blocks.some((b: any) => b.type === 'input')).toBe(false);

    const [open] = fake.callsTo('views.open');
    expect(open.args.trigger_id).toBe(trigger);
    const view = open.args.view;
    expect(view.type).toBe('modal');
    expect(view.submit.text).toBe('Next');
    const inputs = view.blocks.filter((b: any) => b.type === 'input');
    expect(inputs.map((b: any) => [b.block_id, b.element.type])).toEqual([
      ['name', 'plain_text_input'],
      ['days', 'number_input'],
      ['region', 'static_select'],
      ['backup', 'checkboxes'],
    ]);
    expect(inputs[0]).toMatchObject({ optional: false, element: { initial_value: 'hopsdata' } });
    expect(inputs[1].element).toMatchObject({ min_value: '0', max_value: '365', initial_value: '7', is_decimal_allowed: false });
  });

  async function openForm() {
    await post(command('form'));
    await settle();
    const view = fake.callsTo('views.open').at(-1)!.args.view;
    bot.received.length = 0;
    return view;
  }

  it('shows the card author\'s error next to a field that fails the card\'s own checks, without a turn', async () => {
    const view = await openForm();
    const res = await post(viewSubmissionBody({ user: ALICE, view, values: { name: 'Not Valid!' } }));
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ response_action: 'errors', errors: { name: 'Use 3-24 lowercase letters and digits.' } });
    await settle();
    expect(bot.received).toHaveLength(0);
  });

  it('submits the values keyed by input id, merged with the action data, like Teams', async () => {
    const view = await openForm();
    const res = await post(viewSubmissionBody({ user: ALICE, view, values: { name: 'hopsprod', days: '30', region: 'northeurope', backup: true } }));
    expect(res.status).toBe(200);
    expect(res.text).toBe(''); // modal closes
    await settle();
    expect(bot.received[0]).toMatchObject({
      type: 'message',
      from: { id: ALICE.id },
      conversation: { id: 'C0PLATFORM' },
      value: { wizardId: 'w1', stage: 'options', action: 'next', name: 'hopsprod', days: '30', region: 'northeurope', backup: 'yes' },
    });
    expect(lastPosted().text).toBe('Saved hopsprod in northeurope for 30 days, backups yes');
  });

  it('keeps the modal open with the bot\'s own field errors (channelData.inputErrors)', async () => {
    const view = await openForm();
    const res = await post(viewSubmissionBody({ user: ALICE, view, values: { name: 'reserved' } }));
    expect(res.json).toEqual({ response_action: 'errors', errors: { name: 'That name is reserved.' } });
    await settle();
    expect(fake.callsTo('chat.postMessage').filter((c) => c.args.text === 'Check the form.')).toHaveLength(0);
  });

  it('replaces the modal when the bot answers with a card that has inputs (re-rendered step)', async () => {
    const view = await openForm();
    const posts = fake.callsTo('chat.postMessage').length;
    const res = await post(viewSubmissionBody({ user: ALICE, view, values: { name: 'taken' } }));
    expect(res.json.response_action).toBe('update');
    expect(JSON.stringify(res.json.view.blocks)).toContain('That name is taken');
    await settle();
    expect(fake.callsTo('chat.postMessage')).toHaveLength(posts);
  });

  it('when the bot updates the card in place (next wizard step), the modal and the message follow', async () => {
    const view = await openForm();
    const messageTs = JSON.parse(view.private_metadata).m;
    const res = await post(viewSubmissionBody({ user: ALICE, view, values: { name: 'nextstep' } }));
    expect(res.json.response_action).toBe('update');
    expect(JSON.stringify(res.json.view.blocks)).toContain('Step 2 of 2');
    expect(JSON.parse(res.json.view.private_metadata)).toMatchObject({ c: 'C0PLATFORM', m: messageTs });
    await settle();
    const [update] = fake.callsTo('chat.update');
    expect(update.args).toMatchObject({ channel: 'C0PLATFORM', ts: messageTs });
    expect(JSON.stringify(update.args.blocks)).toContain('Step 2 of 2');

    // The first step's form is gone with its card: its old button (still in a stale client) says so.
    const firstPost = fake.callsTo('chat.postMessage').find((c) => c.result?.ts === messageTs)!;
    await post(blockActionsBody({ user: ALICE, channelId: 'C0PLATFORM', message: { ts: messageTs, blocks: firstPost.args.blocks }, button: findButton(firstPost.args.blocks, 'Next'), responseUrl: `${fake.responseBase}a` }));
    await settle();
    expect(JSON.stringify(fake.callsTo('chat.postEphemeral').at(-1)?.args.blocks)).toContain('expired');
    // The current card's button opens the current step.
    const opened = fake.callsTo('views.open').length;
    await post(blockActionsBody({ user: ALICE, channelId: 'C0PLATFORM', message: { ts: messageTs, blocks: update.args.blocks }, button: findButton(update.args.blocks, 'Next'), responseUrl: `${fake.responseBase}a` }));
    await settle();
    expect(fake.callsTo('views.open')).toHaveLength(opened + 1);
    expect(JSON.stringify(fake.callsTo('views.open').at(-1)!.args.view.blocks)).toContain('Step 2 of 2');
  });

  it('a submitted modal is handled once even if Slack delivers it twice', async () => {
    const view = await openForm();
    const body = viewSubmissionBody({ user: ALICE, view: { ...view, id: 'V0ONCE', hash: 'h-once' }, values: { name: 'hopsonce' } });
    await post(body);
    await post(body);
    await settle();
    expect(bot.received).toHaveLength(1);
  });

  it('the form button in the message opens the modal later with its own trigger', async () => {
    await post(command('form'));
    await settle();
    const sent = fake.callsTo('chat.postMessage').at(-1)!;
    fake.calls.length = 0;
    bot.received.length = 0;
    const res = await post(
      blockActionsBody({ user: ALICE, channelId: 'C0PLATFORM', message: { ts: '1700009999.000100', blocks: sent.args.blocks }, button: findButton(sent.args.blocks, 'Next'), responseUrl: `${fake.responseBase}a`, triggerId: 'trig-later' }),
    );
    expect(res.status).toBe(200);
    await settle();
    expect(bot.received).toHaveLength(0);
    const [open] = fake.callsTo('views.open');
    expect(open.args.trigger_id).toBe('trig-later');
    expect(JSON.parse(open.args.view.private_metadata)).toMatchObject({ c: 'C0PLATFORM', m: '1700009999.000100' });
  });

  it('a closed modal and a click on a button the bot did not make are acked and change nothing', async () => {
    const view = await openForm();
    const calls = fake.calls.length;
    const closedBody = JSON.parse(new URLSearchParams(viewSubmissionBody({ user: ALICE, view, values: {} })).get('payload')!);
    const closed = await post(new URLSearchParams({ payload: JSON.stringify({ ...closedBody, type: 'view_closed', is_cleared: false }) }).toString());
    expect([closed.status, closed.text]).toEqual([200, '']);
    const sent = fake.callsTo('chat.postMessage').at(-1)!;
    const foreign = { ...findButton(sent.args.blocks, 'Cancel'), action_id: 'someone-elses-button' };
    const click = await post(blockActionsBody({ user: ALICE, channelId: 'C0PLATFORM', message: { ts: '1700009999.000300', blocks: sent.args.blocks }, button: foreign, responseUrl: `${fake.responseBase}a` }));
    expect([click.status, click.text]).toEqual([200, '']);
    await settle();
    expect(bot.received).toHaveLength(0);
    expect(fake.calls.length).toBe(calls);
  });

  it('a direct button (associatedInputs none) sends its data as a message value', async () => {
    await post(command('form'));
    await settle();
    const sent = fake.callsTo('chat.postMessage').at(-1)!;
    bot.received.length = 0;
    await post(blockActionsBody({ user: ALICE, channelId: 'C0PLATFORM', message: { ts: '1700009999.000200', blocks: sent.args.blocks }, button: findButton(sent.args.blocks, 'Cancel'), responseUrl: `${fake.responseBase}a` }));
    await settle();
    expect(bot.received[0]).toMatchObject({ type: 'message', value: { action: 'cancel', wizardId: 'w1' }, replyToId: 'C0PLATFORM:1700009999.000200' });
    expect(lastPosted().text).toBe('Cancelled.');
  });
});

describe('Action.Execute', () => {
  async function approvalMessage() {
    await post(command('approval', ALICE, 'C0ADMIN'));
    await settle();
    const call = fake.callsTo('chat.postMessage').at(-1)!;
    bot.received.length = 0;
    fake.calls.length = 0;
    return { ts: call.result!.ts as string, blocks: call.args.blocks as any[] };
  }

  const click = (msg: { ts: string; blocks: any[] }, label: string, user: { id: string; name: string }, actionTs?: string) =>
    post(blockActionsBody({ user, channelId: 'C0ADMIN', message: msg, button: findButton(msg.blocks, label), responseUrl: `${fake.responseBase}act`, actionTs }));

  it('renders Approve, Reject (with a confirm dialog) and a link button', async () => {
    const msg = await approvalMessage();
    const approve = findButton(msg.blocks, 'Approve');
    const reject = findButton(msg.blocks, 'Reject');
    expect(JSON.parse(approve.value!)).toEqual({ k: 'execute', v: 'approve', d: { requestId: 'HW-1001', planHash: 'abc123' } });
    expect(approve.confirm).toBeUndefined();
    expect(reject.style).toBe('danger');
    expect(reject.confirm).toMatchObject({ confirm: { text: 'Reject' }, style: 'danger' });
    expect(findButton(msg.blocks, 'Docs').url).toBe('https://docs.hopsworks.ai/');
  });

  it('a click becomes an adaptiveCard/action invoke from the verified user; the card is updated in place', async () => {
    const msg = await approvalMessage();
    expect((await click(msg, 'Approve', APPROVER)).status).toBe(200);
    await settle();
    expect(bot.received[0]).toMatchObject({
      type: 'invoke',
      name: 'adaptiveCard/action',
      from: { id: APPROVER.id, name: APPROVER.name },
      replyToId: `C0ADMIN:${msg.ts}`,
      value: { action: { type: 'Action.Execute', verb: 'approve', data: { requestId: 'HW-1001', planHash: 'abc123' } }, trigger: 'manual' },
    });
    const [update] = fake.callsTo('chat.update');
    expect(update.args).toMatchObject({ channel: 'C0ADMIN', ts: msg.ts });
    expect(JSON.stringify(update.args.blocks)).toContain('Approved by bob');
    expect(update.args.blocks.some((b: any) => b.type === 'actions')).toBe(false);
    // The response card says nothing beyond the shared update: no private message.
    expect(fake.callsTo('chat.postEphemeral')).toHaveLength(0);
  });

  it('a refused click tells only the clicker, and the shared card is untouched', async () => {
    const msg = await approvalMessage();
    await click(msg, 'Approve', OUTSIDER);
    await settle();
    expect(fake.callsTo('chat.update')).toHaveLength(0);
    const [eph] = fake.callsTo('chat.postEphemeral');
    expect(eph.args).toMatchObject({ channel: 'C0ADMIN', user: OUTSIDER.id });
    expect(JSON.stringify(eph.args.blocks)).toContain('Only approvers can decide');
    expect(JSON.stringify(eph.args.blocks)).not.toContain('Approval needed');
  });

  it('a double click delivers two distinct clicks (the bot decides), a replayed delivery only one', async () => {
    const msg = await approvalMessage();
    await Promise.all([click(msg, 'Approve', APPROVER, '1700006000.000001'), click(msg, 'Approve', APPROVER, '1700006000.000002')]);
    await click(msg, 'Approve', APPROVER, '1700006000.000002');
    await settle();
    expect(bot.received).toHaveLength(2);
  });

  it('Reject opens a modal for the reason; its submission is the invoke with the reason, applied to the card', async () => {
    const msg = await approvalMessage();
    await click(msg, 'Reject', APPROVER);
    await settle();
    expect(bot.received).toHaveLength(0);
    const view = fake.callsTo('views.open')[0].args.view;
    expect(view.submit.text).toBe('Reject');
    expect(view.blocks.filter((b: any) => b.type === 'input').map((b: any) => b.block_id)).toEqual(['rejectReason']);
    const res = await post(viewSubmissionBody({ user: APPROVER, view, values: { rejectReason: 'Wrong subscription' } }));
    expect(res.status).toBe(200);
    await settle();
    expect(bot.received[0]).toMatchObject({
      type: 'invoke',
      value: { action: { verb: 'reject', data: { requestId: 'HW-1001', planHash: 'abc123', rejectReason: 'Wrong subscription' } } },
    });
    const [update] = fake.callsTo('chat.update');
    expect(update.args).toMatchObject({ channel: 'C0ADMIN', ts: msg.ts });
    expect(JSON.stringify(update.args.blocks)).toContain('Rejected by bob: Wrong subscription');
  });
});

describe('proactive messages', () => {
  const reference = (conversationId: string): Partial<ConversationReference> => ({
    channelId: 'slack',
    serviceUrl: 'urn:slack:web-api',
    conversation: { id: conversationId, isGroup: true, conversationType: 'channel', name: '' },
    bot: { id: FAKE_BOT_USER, name: 'hopsworks' },
    user: { id: ALICE.id, name: ALICE.name },
  });

  it('continueConversationAsync posts, updates and deletes; ids encode channel and ts', async () => {
    let id = '';
    await slack.adapter.continueConversationAsync('', reference('C0PLATFORM'), async (ctx: TurnContext) => {
      id = (await ctx.sendActivity({ attachments: [CardFactory.adaptiveCard(approvalCard('Provisioning 1 of 9', '', false))] }))!.id;
    });
    const post0 = fake.callsTo('chat.postMessage')[0];
    expect(post0.args.channel).toBe('C0PLATFORM');
    expect(id).toMatch(/^C0PLATFORM:\d+\.\d+$/);
    const ts = id.split(':')[1];

    await slack.adapter.continueConversationAsync('', reference('C0PLATFORM'), async (ctx: TurnContext) => {
      await ctx.updateActivity({ type: 'message', id, attachments: [CardFactory.adaptiveCard(approvalCard('Provisioning 5 of 9', '', false))] });
      // A reply in the card's thread: the card's activity id is the thread's conversation id.
      await ctx.adapter.continueConversationAsync('', { ...reference(id) }, async (threadCtx) => {
        await threadCtx.sendActivity('Step storageAccount done');
      });
      await ctx.deleteActivity(id);
    });
    expect(fake.callsTo('chat.update')[0].args).toMatchObject({ channel: 'C0PLATFORM', ts });
    expect(JSON.stringify(fake.callsTo('chat.update')[0].args.blocks)).toContain('Provisioning 5 of 9');
    expect(fake.callsTo('chat.postMessage')[1].args).toMatchObject({ channel: 'C0PLATFORM', thread_ts: ts, text: 'Step storageAccount done' });
    expect(fake.callsTo('chat.delete')[0].args).toMatchObject({ channel: 'C0PLATFORM', ts });
  });

  it('createConversationAsync opens the DM with conversations.open and sends there only', async () => {
    await slack.adapter.createConversationAsync('', 'slack', 'urn:slack:web-api', '', { isGroup: false, members: [{ id: ALICE.id, name: ALICE.name }], bot: { id: FAKE_BOT_USER, name: 'hopsworks' } } as any, async (ctx) => {
      expect(ctx.activity.conversation.id).toBe('D0ALICE');
      await ctx.sendActivity('-----BEGIN OPENSSH PRIVATE KEY----- fake');
    });
    expect(fake.callsTo('conversations.open')[0].args.users).toBe(ALICE.id);
    const posts = fake.callsTo('chat.postMessage');
    expect(posts).toHaveLength(1);
    expect(posts[0].args.channel).toBe('D0ALICE');
    // The key never reaches a log line.
    expect(JSON.stringify(logs)).not.toContain('PRIVATE KEY');
  });

  it('a failed Slack call surfaces as a coded error naming the method and Slack error', async () => {
    fake.failNext('chat.postMessage', 'is_archived');
    await expect(
      slack.adapter.continueConversationAsync('', reference('C0GONE'), async (ctx) => {
        await ctx.sendActivity('hello');
      }),
    ).rejects.toMatchObject({ code: 'INTERNAL', message: 'Slack chat.postMessage failed: is_archived.' });
  });
});


describe('a bot slower than Slack\'s 3 seconds', () => {
  let slow: SlackIntegration;
  let slowServer: { url: string; close(): Promise<void> };
  let slowUrl: string;

  beforeAll(async () => {
    // A short ack window stands in for a slow Azure call; the gate below makes the order certain.
    slow = await createSlackAdapter({ botToken: FAKE_BOT_TOKEN, signingSecret: SECRET, apiUrl: fake.apiUrl, logger, webApiRetries: 0, ackDeadlineMs: 30 });
    slowServer = await serveSlack(slow, (ctx) => bot.run(ctx));
    slowUrl = slowServer.url;
  });

  afterAll(async () => {
    await slowServer.close();
  });

  async function submitWhileBlocked(name: string) {
    await postToSlackEndpoint(slowUrl, command('form'), { secret: SECRET });
    await slow.adapter.idle();
    const view = fake.callsTo('views.open').at(-1)!.args.view;
    let release!: () => void;
    bot.gate = new Promise<void>((r) => (release = r));
    const res = await postToSlackEndpoint(slowUrl, viewSubmissionBody({ user: ALICE, view: { ...view, id: 'V0SLOW' }, values: { name } }), { secret: SECRET });
    release();
    await slow.adapter.idle();
    return res;
  }

  it('acks with a "working" view, then shows the next step with views.update', async () => {
    const res = await submitWhileBlocked('taken');
    expect(res.json.response_action).toBe('update');
    expect(JSON.stringify(res.json.view.blocks)).toContain('Working on it');
    expect(res.json.view.submit).toBeUndefined();
    const [update] = fake.callsTo('views.update');
    expect(update.args.view_id).toBe('V0SLOW');
    expect(JSON.stringify(update.args.view.blocks)).toContain('That name is taken');
    expect(update.args.view.submit.text).toBe('Next');
  });

  it('says where the answer went when the answer is a message', async () => {
    await submitWhileBlocked('hopsprod');
    const [update] = fake.callsTo('views.update');
    expect(update.args.view_id).toBe('V0SLOW');
    expect(JSON.stringify(update.args.view.blocks)).toContain('The answer is in <#C0PLATFORM>');
    expect(lastPosted().text).toBe('Saved hopsprod in westeurope for 7 days, backups no');
  });
});
