/* eslint-disable @typescript-eslint/no-explicit-any -- recorded Slack payloads are arbitrary JSON, read field by field */
/**
 * Overload: turns wait in a bounded line after their ack. When the line is full, a command or click is
 * still acked at once (Slack's 3 s rule), nothing runs, and the person is told the bot is busy.
 */
import { createSlackAdapter, type SlackIntegration, type SlackLogger } from '../../src/bot/slack';
import { BUSY_TEXT } from '../../src/bot/slack/adapter';
import { FAKE_BOT_TOKEN, blockActionsBody, findButton, postToSlackEndpoint, serveSlack, slashCommandBody, startSlackFake, type SlackFake } from '../helpers/slack-fake';
import { EchoBot } from './echo-bot';

const SECRET = 'slack-signing-secret-for-tests';
const ALICE = { id: 'U0ALICE', name: 'alice' };
const BOB = { id: 'U0BOB', name: 'bob' };

let fake: SlackFake;
let slack: SlackIntegration;
let bot: EchoBot;
let served: { url: string; close(): Promise<void> };
let url: string;
const logs: { level: string; msg?: string }[] = [];
const logger: SlackLogger = {
  debug: (_o, msg) => logs.push({ level: 'debug', msg }),
  info: (_o, msg) => logs.push({ level: 'info', msg }),
  warn: (_o, msg) => logs.push({ level: 'warn', msg }),
  error: (_o, msg) => logs.push({ level: 'error', msg }),
};

beforeAll(async () => {
  fake = await startSlackFake();
  // One turn at a time and one waiting: the third delivery finds the line full.
  slack = await createSlackAdapter({ botToken: FAKE_BOT_TOKEN, signingSecret: SECRET, apiUrl: fake.apiUrl, logger, webApiRetries: 0, maxConcurrentTurns: 1, maxQueuedTurns: 1 });
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
});

const post = (body: string) => postToSlackEndpoint(url, body, { secret: SECRET });
const command = (text: string, user = ALICE, channelId = 'C0PLATFORM') => slashCommandBody({ text, user, channelId, responseUrl: `${fake.responseBase}cmd` });

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

/** Blocks the bot inside one message turn with a second waiting: the line is full. */
async function fillTheLine(): Promise<() => void> {
  let release!: () => void;
  bot.gate = new Promise<void>((r) => (release = r));
  expect((await post(command('echo one'))).text).toBe('');
  await until(() => bot.received.length === 1);
  expect((await post(command('echo two'))).text).toBe('');
  expect(slack.adapter.load).toMatchObject({ running: 1, queued: 1 });
  return release;
}

it('a command that finds the line full is answered "busy" in its ack, privately, and never runs', async () => {
  const release = await fillTheLine();
  const started = Date.now();
  const busy = await post(command('echo three'));
  expect(Date.now() - started).toBeLessThan(2_000);
  expect(busy.status).toBe(200);
  expect(JSON.parse(busy.text)).toEqual({ response_type: 'ephemeral', text: BUSY_TEXT });
  expect(logs.some((l) => l.level === 'warn' && /overloaded/.test(l.msg ?? ''))).toBe(true);

  release();
  await slack.adapter.idle();
  // The two accepted commands ran in order; the turned-away one did not run at all.
  expect(bot.received.map((a) => a.text)).toEqual(['echo one', 'echo two']);
  expect(fake.callsTo('chat.postMessage').map((c) => c.args.text)).toEqual(['one', 'two']);

  // It was not recorded as delivered: sent again once the bot has room, it runs.
  await post(command('echo three'));
  await slack.adapter.idle();
  expect(bot.received.map((a) => a.text)).toEqual(['echo one', 'echo two', 'echo three']);
});

it('clicks that find the line full are acked, change nothing, and each person is told once', async () => {
  await post(command('approval', ALICE, 'C0ADMIN'));
  await slack.adapter.idle();
  const call = fake.callsTo('chat.postMessage').at(-1)!;
  const msg = { ts: call.result!.ts as string, blocks: call.args.blocks as any[] };
  bot.received.length = 0;
  fake.calls.length = 0;

  const release = await fillTheLine();
  const click = (user: { id: string; name: string }, actionTs: string) =>
    post(blockActionsBody({ user, channelId: 'C0ADMIN', message: msg, button: findButton(msg.blocks, 'Approve'), responseUrl: `${fake.responseBase}act`, actionTs }));
  for (let i = 0; i < 5; i++) expect((await click(BOB, `1700000400.00010${i}`)).status).toBe(200);
  expect((await click(ALICE, '1700000401.000100')).status).toBe(200);
  await until(() => fake.callsTo('chat.postEphemeral').length === 2);

  release();
  await slack.adapter.idle();
  // No click reached the bot; the card was not touched; Bob got one notice for five clicks, Alice one.
  expect(bot.received.map((a) => a.type)).toEqual(['message', 'message']);
  expect(fake.callsTo('chat.update')).toHaveLength(0);
  const notices = fake.callsTo('chat.postEphemeral').map((c) => ({ user: c.args.user, text: c.args.text }));
  expect(notices).toEqual([
    { user: BOB.id, text: BUSY_TEXT },
    { user: ALICE.id, text: BUSY_TEXT },
  ]);
});

it('a form button opens its modal ahead of the turns waiting in line, while its 3 s trigger is still good', async () => {
  // One turn a second: four commands queued behind the form make the last start about 4 s later.
  const capped = await createSlackAdapter({ botToken: FAKE_BOT_TOKEN, signingSecret: SECRET, apiUrl: fake.apiUrl, logger, webApiRetries: 0, maxTurnsPerSecond: 1, maxQueuedTurns: 10 });
  const echo = new EchoBot();
  const cappedServer = await serveSlack(capped, (ctx) => echo.run(ctx));
  const send = (body: string) => postToSlackEndpoint(cappedServer.url, body, { secret: SECRET });
  try {
    await send(command('form'));
    await until(() => fake.callsTo('chat.postMessage').length === 1);
    const posted = fake.callsTo('chat.postMessage')[0];
    const opened = fake.callsTo('views.open').length;
    for (const i of [1, 2, 3, 4]) await send(command(`echo ${i}`));
    const clickedAt = Date.now();
    const click = blockActionsBody({ user: ALICE, channelId: 'C0PLATFORM', message: { ts: posted.result!.ts, blocks: posted.args.blocks }, button: findButton(posted.args.blocks, 'Next'), responseUrl: `${fake.responseBase}a` });
    expect((await send(click)).status).toBe(200);
    await until(() => fake.callsTo('views.open').length === opened + 1);
    expect(Date.now() - clickedAt).toBeLessThan(2500);
    // The commands queued before the click are still waiting or running.
    expect(echo.received.filter((a) => /^echo /.test(a.text ?? '')).length).toBeLessThan(4);
    await capped.adapter.idle();
    expect(echo.received.filter((a) => /^echo /.test(a.text ?? ''))).toHaveLength(4);
  } finally {
    await cappedServer.close();
  }
});

it('turns start no faster than the per-second cap, and every command within the line still runs', async () => {
  const capped = await createSlackAdapter({ botToken: FAKE_BOT_TOKEN, signingSecret: SECRET, apiUrl: fake.apiUrl, logger, webApiRetries: 0, maxTurnsPerSecond: 10, maxQueuedTurns: 10 });
  const started: number[] = [];
  const echo = new EchoBot();
  const cappedServer = await serveSlack(capped, (ctx) => {
    started.push(Date.now());
    return echo.run(ctx);
  });
  const cappedUrl = cappedServer.url;
  try {
    const acks = await Promise.all([1, 2, 3, 4, 5].map((i) => postToSlackEndpoint(cappedUrl, command(`echo ${i}`), { secret: SECRET })));
    expect(acks.map((a) => a.text)).toEqual(['', '', '', '', '']);
    await capped.adapter.idle();
    expect(echo.received).toHaveLength(5);
    // 10 per second: five turns take at least 400 ms from the first start to the last.
    expect(started[4] - started[0]).toBeGreaterThanOrEqual(390);
  } finally {
    await cappedServer.close();
  }
});
