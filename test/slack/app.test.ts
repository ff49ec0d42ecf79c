/* eslint-disable @typescript-eslint/no-explicit-any -- recorded Slack payloads are arbitrary JSON, read field by field */
/**
 * Slack through the real entry point: `createApp` (sandbox mode: built-in ARM simulator, SQLite store)
 * with SLACK_* pointing at the fake Slack Web API. From `/hopsworks setup` to the summary and the
 * private key, only signed HTTP requests go in and only Web API calls come out.
 * Run: node scripts/with-sandbox-ca.js npx jest test/slack
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/bot/config';
import { createApp, type App } from '../../src/index';
import { captureLog } from '../helpers/log-capture';
import {
  FAKE_BOT_TOKEN,
  blockActionsBody,
  blockKitViolations,
  buttonWhere,
  buttonsOf,
  messageBlocks,
  postToSlackEndpoint,
  slashCommandBody,
  startSlackFake,
  viewSubmissionBody,
  type RecordedButton,
  type SlackFake,
  type SlackUser,
} from '../helpers/slack-fake';

const SECRET = 'app-signing-secret';
const RITA: SlackUser = { id: 'U0RITA', name: 'rita' };
const BOB: SlackUser = { id: 'U0BOB', name: 'bob' };
const MALLORY: SlackUser = { id: 'U0MALLORY', name: 'mallory' };
const PLATFORM = 'C0PLATFORM';
const ADMINS = 'G0ADMINS';

let dir: string;
let fake: SlackFake;
let app: App;
const log = captureLog();
const logLines = log.lines;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hw-slack-app-'));
  fake = await startSlackFake();
  app = await createApp(
    loadConfig({
      PORT: '0',
      BOT_DB_PATH: join(dir, 'bot.sqlite'),
      LOG_LEVEL: 'debug',
      SLACK_BOT_TOKEN: FAKE_BOT_TOKEN,
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_API_URL: fake.apiUrl,
      // Rita is an approver too: she still may not approve her own request.
      HOPSWORKS_APPROVERS: `${BOB.id},${RITA.id}`,
      SIM_TIME_SCALE: '0.001',
    }),
    {
      logDestination: log.destination,
    },
  );
});

afterAll(async () => {
  await app?.close();
  await fake?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Waits for something the app does in the background (turns after the ack, the provisioning job). */
async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}

/** The server tracks Slack turns that outlive their request: idle means every turn has finished. */
const idle = () => eventually(() => app.server.stats().inFlight === 0 || undefined, 'all turns finished');

async function post(body: string): Promise<any> {
  const res = await postToSlackEndpoint(`${app.url}/slack/events`, body, { secret: SECRET });
  expect(res.status).toBe(200);
  return res.json;
}

async function command(user: SlackUser, channelId: string, text: string): Promise<void> {
  await post(slashCommandBody({ text, user, channelId, responseUrl: `${fake.responseBase}${user.id}` }));
  await idle();
}

async function click(user: SlackUser, channel: string, ts: string, button: RecordedButton, actionTs?: string): Promise<string> {
  const body = blockActionsBody({ user, channelId: channel, message: { ts, blocks: messageBlocks(fake, channel, ts) }, button, responseUrl: `${fake.responseBase}${user.id}`, actionTs });
  await post(body);
  await idle();
  return body;
}

const textOf = (blocks: unknown) => JSON.stringify(blocks ?? '');

test('setup → approval (refusals, double click, retried delivery) → progress in place → summary and private key by DM, through createApp', async () => {
  await command(BOB, ADMINS, 'admin-channel');
  await command(RITA, PLATFORM, 'setup');
  const wizard = fake.callsTo('chat.postMessage').find((c) => c.args.channel === PLATFORM)!;
  const wizardTs = wizard.result!.ts as string;

  const answers: Record<string, string> = { resourceGroup: 'rg-hopsworks-dev', reason: 'Feature store for fraud' };
  let view: any = fake.callsTo('views.open').at(-1)?.args.view;
  for (let step = 0; step < 8; step++) {
    if (!view) {
      // The modal is not open (a trigger or an ack window passed): open it from the card, as a person would.
      const form = buttonsOf(messageBlocks(fake, PLATFORM, wizardTs)).find((b) => b.value && JSON.parse(b.value).k === 'form');
      if (!form) break;
      await click(RITA, PLATFORM, wizardTs, form);
      view = fake.callsTo('views.open').at(-1)!.args.view;
    }
    const inputs: string[] = view.blocks.filter((b: any) => b.type === 'input').map((b: any) => b.block_id);
    const values = Object.fromEntries(inputs.filter((id) => answers[id] !== undefined).map((id) => [id, answers[id]]));
    const answer = await post(viewSubmissionBody({ user: RITA, view: { ...view, id: 'V0APP', hash: `h${step}` }, values }));
    expect(answer?.response_action).not.toBe('errors');
    await idle();
    view = answer?.response_action === 'update' && answer.view.submit ? answer.view : undefined;
  }

  const plan = messageBlocks(fake, PLATFORM, wizardTs);
  await click(RITA, PLATFORM, wizardTs, buttonWhere(plan, (p) => p?.k === 'submit' && p.d?.action === 'confirm'));
  const [request] = await app.store.list();
  expect(request).toMatchObject({ state: 'pendingApproval', requester: { platform: 'slack', userId: RITA.id } });

  const approvalPost = await eventually(
    () => fake.callsTo('chat.postMessage').find((c) => c.args.channel === ADMINS && JSON.stringify(c.args.blocks).includes(request.id)),
    'the approval message in the admin channel',
  );
  const approvalTs = approvalPost.result!.ts as string;
  const approve = buttonWhere(messageBlocks(fake, ADMINS, approvalTs), (p) => p?.k === 'execute' && p.v === 'approve');
  expect(buttonsOf(messageBlocks(fake, ADMINS, approvalTs)).find((b) => b.text.text === 'Reject')?.confirm).toBeDefined();

  // A non-approver and the requester herself are refused, privately; nothing changes.
  const before = fake.calls.length;
  await click(MALLORY, ADMINS, approvalTs, approve);
  await click(RITA, ADMINS, approvalTs, approve);
  const refusals = fake.calls.slice(before).filter((c) => c.method === 'chat.postEphemeral');
  expect(refusals.map((c) => c.args.user)).toEqual([MALLORY.id, RITA.id]);
  expect(textOf(refusals[0].args.blocks)).toMatch(/approver/i);
  expect(textOf(refusals[1].args.blocks)).toMatch(/You requested HW-\d+/);
  expect(fake.calls.slice(before).filter((c) => c.method === 'chat.update' && c.args.ts === approvalTs)).toHaveLength(0);
  expect((await app.store.get(request.id))!.approvals).toHaveLength(0);

  // Bob double-clicks Approve, and Slack delivers one of the clicks again: one approval is recorded.
  const [firstClick] = await Promise.all([click(BOB, ADMINS, approvalTs, approve, '1700100000.000001'), click(BOB, ADMINS, approvalTs, approve, '1700100000.000002')]);
  expect((await postToSlackEndpoint(`${app.url}/slack/events`, firstClick, { secret: SECRET, retryNum: 1 })).status).toBe(200);
  await idle();
  const approved = (await app.store.get(request.id))!;
  expect(approved.approvals).toHaveLength(1);
  expect(approved.approvals[0].actor).toMatchObject({ platform: 'slack', userId: BOB.id });
  await eventually(() => textOf(messageBlocks(fake, ADMINS, approvalTs)).includes('Approved by bob') || undefined, 'the approval message says who approved');

  const done = await eventually(async () => {
    const r = await app.store.get(request.id);
    return r && (r.state === 'succeeded' || r.state === 'failed') ? r : undefined;
  }, 'provisioning finished');
  expect(done.state).toBe('succeeded');

  // Progress is updated in place in the requester's channel and in a thread under the approval message.
  const [progressChannel, progressTs] = done.conversations.activityIds.progressCard.split(':');
  expect(progressChannel).toBe(PLATFORM);
  await eventually(() => textOf(messageBlocks(fake, PLATFORM, progressTs)).includes('Done') || undefined, 'the progress card says Done');
  expect(fake.callsTo('chat.update').filter((c) => c.args.ts === progressTs).length).toBeGreaterThan(0);
  const replyId = done.conversations.activityIds.progressReply;
  expect(fake.callsTo('chat.postMessage').find((c) => `${c.result?.channel}:${c.result?.ts}` === replyId)?.args).toMatchObject({ channel: ADMINS, thread_ts: approvalTs });

  // The summary lists the managed.hopsworks.ai form values.
  const summary = await eventually(
    () => fake.calls.find((c) => c.args.channel === PLATFORM && textOf(c.args.blocks).includes(done.outputs!.managedIdentityResourceId)),
    'the summary with the form values',
  );
  for (const v of [done.outputs!.storageAccountName, done.outputs!.registryName, done.outputs!.managedIdentityName, done.outputs!.subscriptionId]) expect(textOf(summary.args.blocks)).toContain(v);

  const keyPost = await eventually(() => fake.calls.find((c) => JSON.stringify(c.args).includes('PRIVATE KEY')), 'the private key');
  expect(keyPost.method).toBe('chat.postMessage');
  expect(fake.callsTo('conversations.open').map((c) => c.args.users)).toEqual([RITA.id]);
  expect(keyPost.args.channel).toBe('D0RITA');
  expect(fake.calls.filter((c) => JSON.stringify(c.args).includes('PRIVATE KEY'))).toHaveLength(1);
  const keyLine = (JSON.stringify(keyPost.args.blocks).match(/PRIVATE KEY-----(?:\\r)?\\n([A-Za-z0-9+/=]{20,})/) ?? [])[1];
  expect(keyLine).toBeDefined();
  // Neither the store nor the debug-level logs of the whole run (Bolt and the Slack SDK included) carry the key.
  expect(JSON.stringify([await app.store.list(), await app.store.listAudit(request.id)])).not.toContain(keyLine);
  expect(logLines.length).toBeGreaterThan(0);
  expect(logLines.join('')).not.toContain(keyLine);

  expect(blockKitViolations(fake.calls)).toEqual([]);
});
