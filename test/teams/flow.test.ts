/**
 * End to end over HTTP: the real CloudAdapter (no app id: local mode) talks to a fake Teams connector;
 * the real bot, SetupService, JobRunner, ChatNotifier and AzureProvisioner run against the ARM simulator.
 * Run: node scripts/with-sandbox-ca.js npx jest test/teams
 */
import { CloudAdapter, ConfigurationBotFrameworkAuthentication, ConversationState, type Activity } from 'botbuilder';
import { AzureProvisioner } from '../../src/azure/provisioner';
import { createAzureClients } from '../../src/azure/clients';
import { DEFAULT_BOT_ACTIONS, startArmSimulator, type ArmSimulator } from '../../src/azure/simulator';
import { DIALOG_STATE_CONFIGURATION_KEY, HopsworksBot, installOnTurnError } from '../../src/bot/bot';
import { ChatNotifier } from '../../src/bot/notifier';
import { KeyValueBotStorage } from '../../src/bot/storage';
import { JobRunner } from '../../src/core/runner';
import { SetupService } from '../../src/core/service';
import { openSqliteStore } from '../../src/core/store/sqlite';
import type { RequestEvent, Store } from '../../src/core/ports';
import { MemoryLogger } from '../helpers/core-fakes';
import { cardActions, cardInputs, cardProblems, cardTexts } from '../helpers/teams-cards';
import { cardOfMessage, startTeamsConnector, type Member, type TeamsConnector } from '../helpers/teams-connector';

const ALICE: Member = { id: '29:alice', name: 'Alice Approver', aadObjectId: 'aad-alice', userPrincipalName: 'alice@contoso.com' };
const CAROL: Member = { id: '29:carol', name: 'Carol Approver', aadObjectId: 'aad-carol', userPrincipalName: 'Carol@Contoso.com' };
const RITA: Member = { id: '29:rita', name: 'Rita Requester', aadObjectId: 'aad-rita', userPrincipalName: 'rita@contoso.com' };
const MALLORY: Member = { id: '29:mallory', name: 'Mallory Outsider', aadObjectId: 'aad-mallory', userPrincipalName: 'mallory@contoso.com' };

const ADMINS = '19:admins@thread.tacv2';
const RITA_DM = 'a:personal-29:rita';
const GENERAL = '19:general@thread.tacv2;messageid=1700000000000';

let sim: ArmSimulator;
let connector: TeamsConnector;
let store: Store;
let logger: MemoryLogger;
let adapter: CloudAdapter;
let bot: HopsworksBot;
let service: SetupService;
let notifier: ChatNotifier;
let runner: JobRunner;
let events: RequestEvent[];

beforeAll(async () => {
  sim = await startArmSimulator({ timeScale: 0.001, unregisteredProviders: [], propagationDelayMs: 0 });
  process.env.IDENTITY_ENDPOINT = sim.identityEndpoint;
  process.env.IDENTITY_HEADER = sim.identityHeader;
});
afterAll(async () => {
  await sim.close();
});

beforeEach(async () => {
  sim.setPrincipalPermissions(sim.botPrincipalId, [...DEFAULT_BOT_ACTIONS]);
  connector = await startTeamsConnector([ALICE, CAROL, RITA, MALLORY]);
  store = openSqliteStore(':memory:');
  logger = new MemoryLogger();
  const clock = { now: () => new Date() };
  adapter = new CloudAdapter(new ConfigurationBotFrameworkAuthentication({}));
  notifier = new ChatNotifier({ adapters: { teams: adapter }, appId: '', logger, requiredApprovals: 1, clock, coalesceMs: 20 });
  events = [];
  const recording = {
    requestChanged: async (e: RequestEvent) => {
      events.push(e);
      await notifier.requestChanged(e);
    },
    deliverSecret: (r: Parameters<ChatNotifier['deliverSecret']>[0], s: Parameters<ChatNotifier['deliverSecret']>[1]) => notifier.deliverSecret(r, s),
  };
  service = new SetupService({ store, notifier: recording, clock, logger, policy: { approvers: ['aad-alice', 'carol@contoso.com'], requiredApprovals: 1, approvalTtlHours: 72 } });
  notifier.attach(service);
  const clients = createAzureClients({ endpoint: sim.armEndpoint, retryOptions: { maxRetries: 3, retryDelayInMs: 5, maxRetryDelayInMs: 20 } });
  const provisioner = new AzureProvisioner(clients, { sleep: (ms) => new Promise((r) => setTimeout(r, ms / 1000)), lroPollIntervalMs: 2 });
  const conversationState = new ConversationState(new KeyValueBotStorage(store.kv));
  bot = new HopsworksBot({ workflow: service, discovery: provisioner, planner: provisioner, ids: store, conversationState, logger, clock, notifier, config: { appId: '', requiredApprovals: 1 } });
  installOnTurnError(adapter, logger, conversationState);
  runner = new JobRunner({ store, provisioner, notifier: recording, clock, logger, owner: 'test-runner', workflow: service });
});

afterEach(async () => {
  await notifier.idle();
  await store.close();
  await connector.close();
});

interface Where {
  id: string;
  type: 'personal' | 'channel';
}
const DM: Where = { id: RITA_DM, type: 'personal' };
const ADMIN: Where = { id: ADMINS, type: 'channel' };

/** One inbound activity through CloudAdapter.process, as the HTTP server would hand it over. */
async function turn(user: Member, where: Where, extra: Partial<Activity>): Promise<{ status: number; body: unknown }> {
  const activity: Partial<Activity> = {
    type: 'message',
    id: `in-${Math.random().toString(16).slice(2)}`,
    channelId: 'msteams',
    serviceUrl: connector.url,
    from: { id: user.id, name: user.name, aadObjectId: user.aadObjectId },
    recipient: { id: '28:hopsworks-bot', name: 'Hopsworks' },
    conversation: { id: where.id, conversationType: where.type, isGroup: where.type !== 'personal', tenantId: 'tenant-1', name: '' },
    ...extra,
  };
  let status = 0;
  let body: unknown;
  const res = {
    socket: undefined,
    status: (code: number) => {
      status = code;
    },
    header: () => undefined,
    send: (b: unknown) => {
      body = b;
    },
    end: () => undefined,
  };
  await adapter.process({ body: activity as Record<string, unknown>, headers: {}, method: 'POST' }, res, (ctx) => bot.run(ctx));
  return { status, body };
}

async function say(user: Member, where: Where, text: string): Promise<void> {
  const mention = where.type === 'channel';
  await turn(user, where, {
    text: mention ? `<at>Hopsworks</at> ${text}` : text,
    entities: mention ? [{ type: 'mention', mentioned: { id: '28:hopsworks-bot', name: 'Hopsworks' }, text: '<at>Hopsworks</at>' }] : [],
  });
}

async function click(user: Member, where: Where, value: Record<string, unknown>): Promise<void> {
  await turn(user, where, { value });
}

async function execute(user: Member, verb: string, data: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { status, body } = await turn(user, ADMIN, { type: 'invoke', name: 'adaptiveCard/action', value: { action: { type: 'Action.Execute', verb, data } } });
  expect(status).toBe(200);
  const b = body as { statusCode: number; type: string; value: Record<string, unknown> };
  expect(b.type).toBe('application/vnd.microsoft.card.adaptive');
  return b.value;
}

function data(card: Record<string, unknown>, action: string): Record<string, unknown> {
  const found = cardActions(card).find((a) => a.data?.action === action);
  if (!found) throw new Error(`no ${action} on ${JSON.stringify(cardTexts(card)).slice(0, 300)}`);
  return found.data!;
}

/** Runs the wizard in a conversation and confirms; returns the request id. */
async function requestSetup(where: Where, rg = 'rg-hopsworks-dev'): Promise<string> {
  await say(RITA, where, 'setup');
  const wizardId = connector.inConversation(where.id)[0].id;
  const card = () => cardOfMessage(connector.messages.get(wizardId));
  await click(RITA, where, { ...data(card(), 'next'), resourceGroup: rg });
  const inputs = Object.fromEntries(Object.entries(cardInputs(card())).map(([k, v]) => [k, v === undefined ? '' : String(v)]));
  await click(RITA, where, { ...inputs, reason: 'Feature store for fraud', ...data(card(), 'next') });
  await click(RITA, where, data(card(), 'confirm'));
  expect(connector.messages.get(wizardId)!.updates).toBe(3);
  return (await store.list())[0].id;
}

function texts(conversationId: string): string[] {
  return connector.inConversation(conversationId).flatMap((m) => cardTexts(cardOfMessage(m)));
}

describe('Teams end to end over the connector', () => {
  test('setup → approval card in the admin channel → approve → progress in place → summary and private key in the personal chat', async () => {
    await say(ALICE, ADMIN, 'admin channel');
    const id = await requestSetup(DM);

    // The approval card: read-only for everyone, refreshing for the approvers the core recognises (Carol by UPN).
    const [approvalMsg] = connector.inConversation(ADMINS).filter((m) => cardTexts(cardOfMessage(m)).some((t) => t.startsWith('Setup request')));
    const approval = cardOfMessage(approvalMsg);
    expect(cardProblems(approval)).toEqual([]);
    expect(approval.refresh).toMatchObject({ action: { verb: 'refresh', data: { requestId: id } }, userIds: ['29:alice', '29:carol'] });
    expect(cardActions(approval).map((a) => a.verb)).toEqual(['refresh']);
    expect(cardTexts(approval)).toEqual(expect.arrayContaining(['Requester: Rita Requester', 'Reason: Feature store for fraud', 'Resource group: rg-hopsworks-dev', 'Approvals: 0 of 1']));
    expect(texts(RITA_DM)).toContain(`${id} is waiting for approval`);
    const planHash = (approval.refresh as { action: { data: { planHash: string } } }).action.data.planHash;

    const forCarol = await execute(CAROL, 'refresh', { requestId: id, planHash });
    expect(cardActions(forCarol).map((a) => a.verb)).toEqual(['approve', 'reject']);
    const forMallory = await execute(MALLORY, 'refresh', { requestId: id, planHash });
    expect(cardActions(forMallory).map((a) => a.verb)).toEqual(['refresh']);

    const answer = await execute(CAROL, 'approve', { requestId: id, planHash });
    expect(cardTexts(answer)[0]).toBe(`You approved ${id}. Provisioning starts now.`);
    await notifier.idle();
    // Everyone's card was updated in place with who approved.
    expect(connector.messages.get(approvalMsg.id)!.updates).toBeGreaterThanOrEqual(1);
    expect(cardTexts(cardOfMessage(connector.messages.get(approvalMsg.id)))).toEqual(expect.arrayContaining(['Approved, starting']));
    expect(cardTexts(cardOfMessage(connector.messages.get(approvalMsg.id))).some((t) => t.startsWith('Approved by Carol Approver at '))).toBe(true);
    expect(texts(RITA_DM)).toContain(`${id} is approved`);

    await runner.drain();
    await notifier.idle();
    const request = (await store.get(id))!;
    expect(request.state).toBe('succeeded');

    // Progress: one card in Rita's chat and one reply in the approval card's thread, each updated in place.
    const progressId = request.conversations.activityIds.progressCard;
    const replyId = request.conversations.activityIds.progressReply;
    const progress = connector.messages.get(progressId)!;
    const reply = connector.messages.get(replyId)!;
    expect(progress.conversationId).toBe(RITA_DM);
    expect(reply.conversationId).toBe(`${ADMINS};messageid=${approvalMsg.id}`);
    const finalProgress = cardOfMessage(progress);
    expect(cardProblems(finalProgress)).toEqual([]);
    expect(cardTexts(finalProgress)).toContain('Done');
    expect(cardTexts(finalProgress).filter((t) => t === '✔ done')).toHaveLength(request.plan!.steps.length);
    const stepEvents = events.filter((e) => e.type === 'stepChanged').length;
    // Coalesced: far fewer edits than step events.
    expect(progress.updates).toBeLessThan(stepEvents);
    expect(connector.inConversation(RITA_DM).filter((m) => cardTexts(cardOfMessage(m)).some((t) => t.startsWith('Setup HW-'))).length).toBe(1);

    // Summary card with the form values, in Rita's conversation.
    const summary = cardOfMessage(connector.messages.get(request.conversations.activityIds.summaryCard));
    expect(cardProblems(summary)).toEqual([]);
    const st = cardTexts(summary);
    expect(st[0]).toBe('Values for managed.hopsworks.ai');
    expect(st).toEqual(expect.arrayContaining([request.outputs!.storageAccountName, request.outputs!.registryName, request.outputs!.managedIdentityResourceId, sim.subscriptionId, sim.tenantId]));

    // The private key: only in Rita's personal chat, once, and nowhere in the store, the logs or the channel.
    const keyCards = [...connector.messages.values()].filter((m) => JSON.stringify(m.activity).includes('PRIVATE KEY'));
    expect(keyCards).toHaveLength(1);
    expect(keyCards[0].conversationId).toBe(RITA_DM);
    const keyText = String(cardInputs(cardOfMessage(keyCards[0])).privateKey);
    const keyBody = keyText.split('\n')[1];
    expect(keyBody.length).toBeGreaterThan(20);
    const everythingStored = JSON.stringify([await store.list(), await store.listAudit(id), await store.kv.get(`botstate:msteams/conversations/${RITA_DM}/`)]);
    expect(everythingStored).not.toContain(keyBody);
    expect(logger.text()).not.toContain(keyBody);
  });

  test('a requester who started in a channel gets the private key in a new 1:1 chat, never in the channel', async () => {
    await say(ALICE, ADMIN, 'admin channel');
    const where: Where = { id: GENERAL, type: 'channel' };
    const id = await requestSetup(where, 'rg-analytics');
    const r = (await store.get(id))!;
    expect(r.conversations.requesterPersonal).toBeUndefined();
    await service.approve(id, { platform: 'teams', userId: 'aad-alice', displayName: 'Alice Approver' }, r.plan!.hash);
    await runner.drain();
    await notifier.idle();
    expect(connector.created).toHaveLength(1);
    expect(connector.created[0]).toMatchObject({ isGroup: false, members: [{ id: '29:rita' }], tenantId: 'tenant-1' });
    const keyMessages = [...connector.messages.values()].filter((m) => JSON.stringify(m.activity).includes('PRIVATE KEY'));
    expect(keyMessages.map((m) => m.conversationId)).toEqual([RITA_DM]);
    expect(connector.inConversation(GENERAL).some((m) => JSON.stringify(m.activity).includes('PRIVATE KEY'))).toBe(false);
    expect((await store.get(id))!.conversations.requesterPersonal?.reference).toMatchObject({ conversation: { id: RITA_DM } });
  });

  test('a failed step shows the ARM error, the remediation and Retry; retry by the requester finishes the job', async () => {
    await say(ALICE, ADMIN, 'admin channel');
    // Each test provisions its own resource group: the simulator is shared by the file.
    const id = await requestSetup(DM, 'rg-hopsworks-prod');
    const r = (await store.get(id))!;
    await service.approve(id, { platform: 'teams', userId: 'aad-alice', displayName: 'Alice Approver' }, r.plan!.hash);
    // The role assignment is refused after the plan was approved (someone removed the bot's right).
    sim.setPrincipalPermissions(sim.botPrincipalId, DEFAULT_BOT_ACTIONS.filter((a) => !a.startsWith('Microsoft.Authorization/roleAssignments')));
    await runner.drain();
    await notifier.idle();
    const failed = (await store.get(id))!;
    expect(failed.state).toBe('failed');
    const card = cardOfMessage(connector.messages.get(failed.conversations.activityIds.progressCard));
    expect(cardProblems(card)).toEqual([]);
    const t = cardTexts(card);
    expect(t).toContain('Failed');
    expect(t.some((x) => /failed: AuthorizationFailed$/.test(x))).toBe(true);
    expect(t.some((x) => x.startsWith('What to do: '))).toBe(true);
    expect(cardActions(card)).toEqual([expect.objectContaining({ verb: 'retry', data: { requestId: id } })]);
    expect(texts(RITA_DM)).toContain(`${id} failed`);

    sim.setPrincipalPermissions(sim.botPrincipalId, [...DEFAULT_BOT_ACTIONS]);
    const refused = await execute(MALLORY, 'retry', { requestId: id });
    expect(cardTexts(refused)[0]).toMatch(/Only the requester or an approver can retry/);
    const retried = await execute(RITA, 'retry', { requestId: id });
    expect(cardTexts(retried)[0]).toBe(`Retrying ${id}: the failed steps run again.`);
    await runner.drain();
    await notifier.idle();
    expect((await store.get(id))!.state).toBe('succeeded');
    expect(cardTexts(cardOfMessage(connector.messages.get(failed.conversations.activityIds.progressCard)))).toContain('Done');
  });

  test('the wizard keeps working in two conversations at once while the dialog memory configuration is built only once', async () => {
    const seen: unknown[] = [];
    adapter.use(async (context, next) => {
      await next();
      seen.push(context.turnState.get(DIALOG_STATE_CONFIGURATION_KEY));
    });
    const first = await requestSetup(DM, 'rg-hopsworks-dev');
    const second = await requestSetup(ADMIN, 'rg-analytics');
    expect((await store.get(first))!.target.resourceGroup).toBe('rg-hopsworks-dev');
    expect((await store.get(second))!.target.resourceGroup).toBe('rg-analytics');
    // Every turn used the same memory scopes and path resolvers (botbuilder-dialogs found them under its key).
    expect(seen.length).toBeGreaterThanOrEqual(8);
    expect(seen[0]).toBeDefined();
    expect(seen.every((c) => c === seen[0])).toBe(true);
  });

  test('registering the admin channel late posts the pending approval cards there', async () => {
    const id = await requestSetup(DM);
    expect(texts(RITA_DM)).toContain(`${id} waits for approval, but no admin channel is registered`);
    expect(connector.inConversation(ADMINS)).toHaveLength(0);
    await say(ALICE, ADMIN, 'admin channel');
    const posted = connector.inConversation(ADMINS).map((m) => cardTexts(cardOfMessage(m)));
    expect(posted.some((t) => t[0] === `Setup request ${id}: rg-hopsworks-dev`)).toBe(true);
    expect(posted.some((t) => t.includes('Posted 1 pending approval card here.'))).toBe(true);
    expect((await store.get(id))!.conversations.activityIds.approvalCard).toBeDefined();
  });
});
