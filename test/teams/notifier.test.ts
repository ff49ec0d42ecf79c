/**
 * ChatNotifier against a fake Teams connector through the real CloudAdapter: cards are updated in place,
 * a burst of step updates becomes one edit, and a secret that cannot be delivered is not kept anywhere.
 */
import { CloudAdapter, ConfigurationBotFrameworkAuthentication } from 'botbuilder';
import { ChatNotifier } from '../../src/bot/notifier';
import { isBotError } from '../../src/core/errors';
import { SetupService } from '../../src/core/service';
import { openSqliteStore } from '../../src/core/store/sqlite';
import type { Store } from '../../src/core/ports';
import type { Actor, ConversationRef, PlanStep, SetupRequest } from '../../src/core/types';
import { ManualClock, MemoryLogger, plan, step, submitInput, target } from '../helpers/core-fakes';
import { cardProblems, cardTexts } from '../helpers/teams-cards';
import { cardOfMessage, startTeamsConnector, type TeamsConnector } from '../helpers/teams-connector';

const rita: Actor = { platform: 'teams', userId: 'aad-rita', displayName: 'Rita Requester' };
const alice: Actor = { platform: 'teams', userId: 'aad-alice', displayName: 'Alice Approver' };

let connector: TeamsConnector;
let store: Store;
let logger: MemoryLogger;
let clock: ManualClock;
let notifier: ChatNotifier;
let service: SetupService;

function ref(url: string, conversationId: string, conversationType: string): ConversationRef {
  return {
    platform: 'teams',
    reference: {
      channelId: 'msteams',
      serviceUrl: url,
      bot: { id: '28:hopsworks-bot', name: 'Hopsworks' },
      user: { id: '29:rita', name: 'Rita Requester', aadObjectId: 'aad-rita' },
      conversation: { id: conversationId, conversationType, tenantId: 'tenant-1', isGroup: conversationType !== 'personal' },
    },
  };
}

beforeEach(async () => {
  connector = await startTeamsConnector([
    { id: '29:alice', name: 'Alice Approver', aadObjectId: 'aad-alice' },
    { id: '29:rita', name: 'Rita Requester', aadObjectId: 'aad-rita' },
  ]);
  store = openSqliteStore(':memory:');
  logger = new MemoryLogger();
  clock = new ManualClock('2026-11-26T04:00:00.000Z');
  const adapter = new CloudAdapter(new ConfigurationBotFrameworkAuthentication({}));
  notifier = new ChatNotifier({ adapters: { teams: adapter }, appId: '', logger, requiredApprovals: 1, clock, coalesceMs: 60_000 });
  service = new SetupService({ store, notifier, clock, logger, policy: { approvers: ['aad-alice'], requiredApprovals: 1, approvalTtlHours: 72 } });
  notifier.attach(service);
  await service.setAdminChannel(alice, ref(connector.url, '19:admins@thread.tacv2', 'channel'));
});
afterEach(async () => {
  await notifier.idle();
  await store.close();
  await connector.close();
});

function tenSteps(): PlanStep[] {
  return Array.from({ length: 10 }, (_, i) => step(`s${i}`, i === 0 ? [] : [`s${i - 1}`]));
}

async function provisioning(conversations: SetupRequest['conversations']): Promise<SetupRequest> {
  const steps = tenSteps();
  const t = target();
  const r = await service.submit(submitInput('HW-1001', { requester: rita, target: t, plan: plan(t, steps), conversations }));
  await service.approve(r.id, alice, r.plan!.hash);
  const approved = (await store.get(r.id))!;
  const started = await store.update({ ...approved, state: 'provisioning' });
  await notifier.requestChanged({ type: 'provisioningStarted', request: started });
  await notifier.idle();
  return started;
}

test('a burst of 20 step updates on a 10-step plan becomes one edit of each progress card', async () => {
  let r = await provisioning({ requester: ref(connector.url, 'a:personal-rita', 'personal'), activityIds: {} });
  const ids = r.conversations.activityIds;
  expect(ids.progressCard).toBeUndefined();
  r = (await store.get(r.id))!;
  const progressId = r.conversations.activityIds.progressCard;
  const replyId = r.conversations.activityIds.progressReply;
  expect(connector.messages.get(replyId)!.conversationId).toBe(`19:admins@thread.tacv2;messageid=${r.conversations.activityIds.approvalCard}`);
  const putsBefore = connector.calls.filter((c) => c.startsWith('PUT')).length;
  let events = 0;
  for (const s of r.plan!.steps) {
    for (const status of ['running', 'done'] as const) {
      clock.advance(1000);
      const cur = (await store.get(r.id))!;
      const next = await store.update({ ...cur, steps: { ...cur.steps, [s.id]: { status, attempts: 1, startedAt: '2026-11-26T04:00:00.000Z', ...(status === 'done' ? { finishedAt: clock.now().toISOString() } : {}) } } });
      await notifier.requestChanged({ type: 'stepChanged', request: next, stepId: s.id });
      events++;
    }
  }
  await notifier.idle();
  const puts = connector.calls.filter((c) => c.startsWith('PUT')).length - putsBefore;
  expect(events).toBe(20);
  // One edit per progress card (requester's chat and the approval thread), not 20 each.
  expect(puts).toBe(2);
  const card = cardOfMessage(connector.messages.get(progressId));
  expect(cardProblems(card)).toEqual([]);
  expect(cardTexts(card).filter((t) => t === '✔ done')).toHaveLength(10);
  expect(cardTexts(card)).toContain('Progress: 10 of 10 steps');
});

test('a terminal event is drawn at once and supersedes a waiting step update', async () => {
  const r = await provisioning({ requester: ref(connector.url, 'a:personal-rita', 'personal'), activityIds: {} });
  const cur = (await store.get(r.id))!;
  const waiting = await store.update({ ...cur, steps: { ...cur.steps, s0: { status: 'running', attempts: 1, startedAt: clock.now().toISOString() } } });
  await notifier.requestChanged({ type: 'stepChanged', request: waiting, stepId: 's0' });
  const failed = await store.update({
    ...waiting,
    state: 'failed',
    steps: { ...waiting.steps, s0: { status: 'failed', attempts: 3, startedAt: clock.now().toISOString(), finishedAt: clock.now().toISOString(), error: { code: 'AuthorizationFailed', message: 'The client does not have authorization.', remediation: 'Grant the bot role.' } } },
  });
  await notifier.requestChanged({ type: 'failed', request: failed });
  await notifier.idle();
  const progressId = (await store.get(r.id))!.conversations.activityIds.progressCard;
  const texts = cardTexts(cardOfMessage(connector.messages.get(progressId)));
  expect(texts).toContain('Failed');
  expect(texts).toContain('What to do: Grant the bot role.');
  expect(connector.inConversation('a:personal-rita').flatMap((m) => cardTexts(cardOfMessage(m)))).toContain('HW-1001 failed');
});

test('a private key that cannot be delivered fails loudly and is kept nowhere', async () => {
  // Started in a channel: the key needs a new 1:1 chat, and the connector refuses to open it.
  const r = await provisioning({ requester: ref(connector.url, '19:general@thread.tacv2', 'channel'), activityIds: {} });
  connector.failCreateConversation = true;
  const key = '-----BEGIN RSA PRIVATE KEY-----\nMIIEsecretKEYmaterial0123456789\n-----END RSA PRIVATE KEY-----\n';
  let caught: unknown;
  try {
    await notifier.deliverSecret((await store.get(r.id))!, { kind: 'sshPrivateKey', value: key });
  } catch (err) {
    caught = err;
  }
  expect(isBotError(caught, 'INTERNAL')).toBe(true);
  expect((caught as Error).message).not.toContain('secretKEY');
  expect(logger.text()).not.toContain('secretKEY');
  expect([...connector.messages.values()].some((m) => JSON.stringify(m.activity).includes('secretKEY'))).toBe(false);
  expect(JSON.stringify(await store.list())).not.toContain('secretKEY');
  // Delivered once the chat can be opened, and only there.
  connector.failCreateConversation = false;
  await notifier.deliverSecret((await store.get(r.id))!, { kind: 'sshPrivateKey', value: key });
  const withKey = [...connector.messages.values()].filter((m) => JSON.stringify(m.activity).includes('secretKEY'));
  expect(withKey.map((m) => m.conversationId)).toEqual(['a:personal-29:rita']);
});
