/* eslint-disable @typescript-eslint/no-explicit-any -- recorded Slack payloads are arbitrary JSON, read field by field */
/**
 * The whole flow in Slack, over HTTP: signed Slack requests into the bot's HTTP server, the real bot,
 * SetupService, JobRunner, ChatNotifier and AzureProvisioner against the ARM simulator, and a fake
 * Slack Web API that records every call the Slack adapter makes.
 * Run: node scripts/with-sandbox-ca.js npx jest test/slack
 */
import { Writable } from 'node:stream';
import { CloudAdapter, ConfigurationBotFrameworkAuthentication, ConversationState } from 'botbuilder';
import { AzureProvisioner } from '../../src/azure/provisioner';
import { createAzureClients } from '../../src/azure/clients';
import { DEFAULT_BOT_ACTIONS, startArmSimulator, type ArmSimulator } from '../../src/azure/simulator';
import { HopsworksBot, installOnTurnError } from '../../src/bot/bot';
import { createLogger, type Logger } from '../../src/bot/logger';
import { ChatNotifier } from '../../src/bot/notifier';
import { HttpServer } from '../../src/bot/server';
import { createSlackAdapter, type SlackIntegration } from '../../src/bot/slack';
import { decodeButtonValue } from '../../src/bot/slack/blockkit';
import { KeyValueBotStorage } from '../../src/bot/storage';
import { JobRunner } from '../../src/core/runner';
import { SetupService } from '../../src/core/service';
import { openSqliteStore } from '../../src/core/store/sqlite';
import type { Store } from '../../src/core/ports';
import {
  FAKE_BOT_TOKEN,
  blockActionsBody,
  blockKitViolations,
  postToSlackEndpoint,
  slashCommandBody,
  startSlackFake,
  viewSubmissionBody,
  type SlackCall,
  type SlackFake,
  type SlackUser,
} from '../helpers/slack-fake';

const SECRET = 'flow-signing-secret';
const RITA: SlackUser = { id: 'U0RITA', name: 'rita' };
const BOB: SlackUser = { id: 'U0BOB', name: 'bob' };
const MALLORY: SlackUser = { id: 'U0MALLORY', name: 'mallory' };
const PLATFORM = 'C0PLATFORM';
const ADMINS = 'G0ADMINS';

let sim: ArmSimulator;
let fake: SlackFake;
let store: Store;
let logLines: string[];
let logger: Logger;
let slack: SlackIntegration;
let server: HttpServer;
let url: string;
let service: SetupService;
let notifier: ChatNotifier;
let runner: JobRunner;

beforeAll(async () => {
  sim = await startArmSimulator({ timeScale: 0.001, unregisteredProviders: [], propagationDelayMs: 0 });
  process.env.IDENTITY_ENDPOINT = sim.identityEndpoint;
  process.env.IDENTITY_HEADER = sim.identityHeader;
  sim.setPrincipalPermissions(sim.botPrincipalId, [...DEFAULT_BOT_ACTIONS]);
  fake = await startSlackFake();
  store = openSqliteStore(':memory:');
  logLines = [];
  logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, cb) {
        logLines.push(String(chunk));
        cb();
      },
    }) as any,
  });
  const clock = { now: () => new Date() };
  slack = await createSlackAdapter({ botToken: FAKE_BOT_TOKEN, signingSecret: SECRET, apiUrl: fake.apiUrl, logger, kv: store.kv, webApiRetries: 0 });
  const teams = new CloudAdapter(new ConfigurationBotFrameworkAuthentication({}));
  notifier = new ChatNotifier({ adapters: { teams, slack: slack.adapter }, appId: '', logger, requiredApprovals: 1, clock, coalesceMs: 20 });
  service = new SetupService({ store, notifier, clock, logger, policy: { approvers: ['U0BOB', 'U0RITA'], requiredApprovals: 1, approvalTtlHours: 72 } });
  notifier.attach(service);
  const clients = createAzureClients({ endpoint: sim.armEndpoint, retryOptions: { maxRetries: 3, retryDelayInMs: 5, maxRetryDelayInMs: 20 } });
  const provisioner = new AzureProvisioner(clients, { sleep: (ms) => new Promise((r) => setTimeout(r, ms / 1000)), lroPollIntervalMs: 2 });
  const conversationState = new ConversationState(new KeyValueBotStorage(store.kv));
  const bot = new HopsworksBot({ workflow: service, discovery: provisioner, planner: provisioner, ids: store, conversationState, logger, clock, notifier, config: { appId: '', requiredApprovals: 1 } });
  installOnTurnError(teams, logger, conversationState);
  installOnTurnError(slack.adapter, logger, conversationState);
  runner = new JobRunner({ store, provisioner, notifier, clock, logger, owner: 'slack-flow', workflow: service });
  server = new HttpServer({ logger, readiness: [], bot: { adapter: teams, logic: (ctx) => bot.run(ctx) } });
  // How the composition root mounts Slack: one route on the bot's one server.
  server.mount('POST', '/slack/events', (req, res) => slack.handleRequest(req, res, (ctx) => bot.run(ctx)));
  url = `${await server.listen(0, '127.0.0.1')}/slack/events`;
});

afterAll(async () => {
  await slack.adapter.idle();
  await notifier.idle();
  await server.close(1000);
  await store.close();
  await fake.close();
  await sim.close();
});

const post = (body: string, retryNum?: number) => postToSlackEndpoint(url, body, { secret: SECRET, retryNum });

async function settle(): Promise<void> {
  await slack.adapter.idle();
  await notifier.idle();
  await slack.adapter.idle();
}

async function command(user: SlackUser, channelId: string, text: string) {
  const res = await post(slashCommandBody({ text, user, channelId, responseUrl: `${fake.responseBase}${user.id}` }));
  expect(res.status).toBe(200);
  await settle();
}

/** The latest state of a message: its post, then every chat.update of it. */
function messageState(channel: string, ts: string): any[] {
  let blocks: any[] = [];
  for (const c of fake.calls) {
    if (c.method === 'chat.postMessage' && c.result?.ts === ts && c.result?.channel === channel) blocks = c.args.blocks;
    if (c.method === 'chat.update' && c.args.ts === ts && c.args.channel === channel) blocks = c.args.blocks;
  }
  return blocks;
}

function textOf(blocks: any[]): string {
  return JSON.stringify(blocks);
}

function buttons(blocks: any[]): any[] {
  return blocks.filter((b) => b.type === 'actions').flatMap((b) => b.elements);
}

function buttonWhere(blocks: any[], test: (payload: any, button: any) => boolean): any {
  const found = buttons(blocks).find((b) => test(decodeButtonValue(b.value), b));
  if (!found) throw new Error(`no such button in ${textOf(blocks).slice(0, 400)}`);
  return found;
}

function posted(channel: string, contains: string): SlackCall[] {
  return fake.callsTo('chat.postMessage').filter((c) => c.args.channel === channel && JSON.stringify(c.args.blocks ?? c.args.text).includes(contains));
}

async function click(user: SlackUser, channel: string, ts: string, button: any, actionTs?: string, retryNum?: number, body?: string) {
  const payload = body ?? blockActionsBody({ user, channelId: channel, message: { ts, blocks: messageState(channel, ts) }, button, responseUrl: `${fake.responseBase}${user.id}`, actionTs });
  const res = await post(payload, retryNum);
  expect(res.status).toBe(200);
  return payload;
}

test('setup in Slack: modal wizard → plan → approval in the admin channel → progress in place → summary and private key by DM', async () => {
  // An approver registers the admin channel (the bot was invited there).
  await command(BOB, ADMINS, 'admin-channel');
  expect(await service.getAdminChannel('slack')).toMatchObject({ platform: 'slack', reference: { conversation: { id: ADMINS } } });

  // The requester starts: the wizard card is posted and its form opens at once with the command's trigger.
  await command(RITA, PLATFORM, 'setup');
  const wizardPost = fake.callsTo('chat.postMessage').filter((c) => c.args.channel === PLATFORM).at(-1)!;
  const wizardTs = wizardPost.result!.ts as string;

  // Fill each step of the modal: choose the resource group, give a reason, keep the defaults.
  // A trigger_id lives 3 s and a submission's ack waits at most 2.5 s: when the bot took longer, the
  // modal is not open (or closed) and the person clicks the form button on the wizard card, as in Slack.
  const answers: Record<string, string> = { resourceGroup: 'rg-hopsworks-dev', reason: 'Feature store for fraud' };
  let view: any = fake.callsTo('views.open').at(-1)?.args.view;
  for (let step = 0; step < 8; step++) {
    if (!view) {
      const formButton = buttons(messageState(PLATFORM, wizardTs)).find((b) => decodeButtonValue(b.value)?.k === 'form');
      if (!formButton) break;
      const opened = fake.callsTo('views.open').length;
      await click(RITA, PLATFORM, wizardTs, formButton);
      await settle();
      expect(fake.callsTo('views.open')).toHaveLength(opened + 1);
      view = fake.callsTo('views.open').at(-1)!.args.view;
    }
    expect(view.type).toBe('modal');
    const inputs = view.blocks.filter((b: any) => b.type === 'input').map((b: any) => b.block_id);
    const values = Object.fromEntries(inputs.filter((id: string) => answers[id] !== undefined).map((id: string) => [id, answers[id]]));
    const res = await post(viewSubmissionBody({ user: RITA, view: { ...view, id: 'V0WIZARD', hash: `h${step}` }, values }));
    expect(res.status).toBe(200);
    if (res.json?.response_action === 'errors') throw new Error(`form refused: ${JSON.stringify(res.json.errors)}`);
    await settle();
    view = res.json?.response_action === 'update' ? res.json.view : undefined;
  }
  expect(view).toBeUndefined();

  // The wizard card became the plan, updated in place; confirming submits it for approval.
  const plan = messageState(PLATFORM, wizardTs);
  expect(textOf(plan)).toContain('rg-hopsworks-dev');
  await click(RITA, PLATFORM, wizardTs, buttonWhere(plan, (p) => p?.k === 'submit' && p.d?.action === 'confirm'));
  await settle();
  const [request] = await store.list();
  expect(request).toMatchObject({ state: 'pendingApproval', requester: { platform: 'slack', userId: RITA.id }, target: { resourceGroup: 'rg-hopsworks-dev' } });

  // The approval message in the admin channel carries Approve and Reject for everyone; the server decides.
  const [approvalPost] = posted(ADMINS, request.id);
  expect(approvalPost).toBeDefined();
  const approvalTs = approvalPost.result!.ts as string;
  const approval = messageState(ADMINS, approvalTs);
  const approve = buttonWhere(approval, (p) => p?.k === 'execute' && p.v === 'approve');
  const reject = buttons(approval).find((b) => b.text.text === 'Reject');
  expect(reject.confirm).toBeDefined();

  // A non-approver and the requester herself (also an approver) are refused, privately; nothing changes.
  const before = fake.calls.length;
  await click(MALLORY, ADMINS, approvalTs, approve);
  await click(RITA, ADMINS, approvalTs, approve);
  await settle();
  const refusals = fake.calls.slice(before).filter((c) => c.method === 'chat.postEphemeral');
  expect(refusals.map((c) => c.args.user)).toEqual([MALLORY.id, RITA.id]);
  expect(JSON.stringify(refusals[0].args.blocks)).toMatch(/approver/i);
  expect(JSON.stringify(refusals[1].args.blocks)).toMatch(/You requested HW-\d+/);
  expect(fake.calls.slice(before).filter((c) => c.method === 'chat.update' && c.args.ts === approvalTs)).toHaveLength(0);
  expect((await store.get(request.id))!.approvals).toHaveLength(0);

  // Bob double-clicks Approve; Slack also retries one delivery. Exactly one approval is recorded.
  const first = await Promise.all([click(BOB, ADMINS, approvalTs, approve, '1700100000.000001'), click(BOB, ADMINS, approvalTs, approve, '1700100000.000002')]);
  await click(BOB, ADMINS, approvalTs, approve, undefined, 1, first[0]);
  await settle();
  const approved = (await store.get(request.id))!;
  expect(approved.approvals).toHaveLength(1);
  expect(approved.approvals[0].actor).toMatchObject({ platform: 'slack', userId: BOB.id });
  // Everyone's approval message now says who approved, without buttons.
  expect(textOf(messageState(ADMINS, approvalTs))).toContain('Approved by bob');
  expect(buttons(messageState(ADMINS, approvalTs)).filter((b) => b.value)).toHaveLength(0);

  // Provisioning: progress is updated in place in the requester's channel and in the approval thread.
  await runner.drain();
  await settle();
  const done = (await store.get(request.id))!;
  expect(done.state).toBe('succeeded');
  const progressId = done.conversations.activityIds.progressCard;
  const replyId = done.conversations.activityIds.progressReply;
  const [progressChannel, progressTs] = progressId.split(':');
  expect(progressChannel).toBe(PLATFORM);
  expect(fake.callsTo('chat.update').filter((c) => c.args.ts === progressTs).length).toBeGreaterThan(0);
  expect(textOf(messageState(PLATFORM, progressTs))).toContain('Done');
  const replyPost = fake.callsTo('chat.postMessage').find((c) => `${c.result?.channel}:${c.result?.ts}` === replyId)!;
  expect(replyPost.args).toMatchObject({ channel: ADMINS, thread_ts: approvalTs });

  // The summary lists the managed.hopsworks.ai form values.
  const summary = textOf(messageState(PLATFORM, done.conversations.activityIds.summaryCard.split(':')[1]));
  for (const v of [done.outputs!.storageAccountName, done.outputs!.registryName, done.outputs!.managedIdentityName, sim.subscriptionId]) expect(summary).toContain(v);

  // The private key went once, to Rita's DM only, and nowhere else: not a channel, not the store, not a log.
  expect(fake.callsTo('conversations.open').map((c) => c.args.users)).toEqual([RITA.id]);
  const withKey = fake.calls.filter((c) => JSON.stringify(c.args).includes('PRIVATE KEY'));
  expect(withKey.map((c) => [c.method, c.args.channel])).toEqual([['chat.postMessage', `D${RITA.id.slice(1)}`]]);
  const keyLine = (JSON.stringify(withKey[0].args.blocks).match(/PRIVATE KEY-----(?:\\r)?\\n([A-Za-z0-9+/=]{20,})/) ?? [])[1];
  expect(keyLine).toBeDefined();
  expect(JSON.stringify([await store.list(), await store.listAudit(request.id)])).not.toContain(keyLine);
  expect(logLines.join('')).not.toContain(keyLine);

  // Every message, update and modal stayed within Block Kit's limits.
  expect(blockKitViolations(fake.calls)).toEqual([]);
});
