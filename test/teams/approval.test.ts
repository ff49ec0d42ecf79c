/**
 * Commands and Action.Execute paths through the real bot, SetupService and SQLite store, via botbuilder's
 * TestAdapter. Every refusal must be a clear message on the clicker's card and change nothing.
 */
import { ConversationState, TestAdapter } from 'botbuilder';
import { DEFAULT_BOT_ACTIONS, startArmSimulator, type ArmSimulator } from '../../src/azure/simulator';
import { installOnTurnError } from '../../src/bot/bot';
import { KeyValueBotStorage } from '../../src/bot/storage';
import { BotError } from '../../src/core/errors';
import { openSqliteStore } from '../../src/core/store/sqlite';
import type { Actor, SetupRequest } from '../../src/core/types';
import { MemoryLogger, submitInput, target } from '../helpers/core-fakes';
import { cardActions, cardInputs, cardProblems, cardTexts } from '../helpers/teams-cards';
import { ADMIN_CHANNEL, ALICE, MALLORY, PERSONAL_RITA, RITA, createTeamsWorld, invoke, say, type TeamsWorld } from '../helpers/teams-harness';

let sim: ArmSimulator;
let w: TeamsWorld;

beforeAll(async () => {
  sim = await startArmSimulator({ timeScale: 0.001, unregisteredProviders: [] });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async () => {
  // The onTurnError tests build no world.
  if (w) await w.close();
  w = undefined as unknown as TeamsWorld;
});

const ritaActor: Actor = { platform: 'teams', userId: 'aad-rita', displayName: 'Rita Requester' };

async function world(requiredApprovals = 1): Promise<void> {
  sim.setPrincipalPermissions(sim.botPrincipalId, [...DEFAULT_BOT_ACTIONS]);
  w = await createTeamsWorld({ sim, requiredApprovals });
}

async function pending(id = 'HW-1001', rg = 'rg-hops'): Promise<SetupRequest> {
  return w.service.submit(submitInput(id, { requester: ritaActor, target: target(rg) }));
}

type Body = Awaited<ReturnType<typeof invoke>>;

function cardOf(res: Body): Record<string, unknown> {
  expect(res.statusCode).toBe(200);
  expect(res.type).toBe('application/vnd.microsoft.card.adaptive');
  return res.value as Record<string, unknown>;
}

function verbs(card: Record<string, unknown>): (string | undefined)[] {
  return cardActions(card).map((a) => a.verb);
}

describe('approval card actions (Action.Execute)', () => {
  test('refresh: the server decides per user who gets the buttons', async () => {
    await world();
    const r = await pending();
    const data = { requestId: r.id, planHash: r.plan!.hash };
    const forAlice = cardOf(await invoke(w.adapter, ALICE, 'refresh', data));
    expect(cardProblems(forAlice)).toEqual([]);
    expect(verbs(forAlice)).toEqual(['approve', 'reject']);
    expect(cardInputs(forAlice)).toHaveProperty('rejectReason');
    const forMallory = cardOf(await invoke(w.adapter, MALLORY, 'refresh', data));
    expect(verbs(forMallory)).toEqual(['refresh']);
    expect(cardTexts(forMallory)).toContain('Waiting for approval (0 of 1)');
    // Rita is an approver too, but it is her own request.
    const forRita = cardOf(await invoke(w.adapter, RITA, 'refresh', data));
    expect(verbs(forRita)).toEqual(['refresh']);
    expect(cardTexts(forRita)[0]).toMatch(/You requested this; another approver decides/);
  });

  test('a non-approver gets a clear message and nothing changes', async () => {
    await world();
    const r = await pending();
    const card = cardOf(await invoke(w.adapter, MALLORY, 'approve', { requestId: r.id, planHash: r.plan!.hash }));
    // The display name is user text: escaped, so it cannot mention anyone.
    expect(cardTexts(card)[0]).toBe('Mallory \\<at\\>Outsider\\</at\\> is not on the approver list (HOPSWORKS_APPROVERS). Nothing was changed.');
    expect(verbs(card)).toEqual(['refresh']);
    expect((await w.store.get(r.id))!.state).toBe('pendingApproval');
    expect((await w.store.get(r.id))!.approvals).toEqual([]);
  });

  test('the requester cannot approve their own request', async () => {
    await world();
    const r = await pending();
    const card = cardOf(await invoke(w.adapter, RITA, 'approve', { requestId: r.id, planHash: r.plan!.hash }));
    expect(cardTexts(card)[0]).toMatch(/^You requested HW-1001, so another approver must decide on it/);
    expect((await w.store.get(r.id))!.approvals).toEqual([]);
  });

  test('an approver approves: the card shows who, the state changes; a second click changes nothing', async () => {
    await world();
    const r = await pending();
    const data = { requestId: r.id, planHash: r.plan!.hash };
    const card = cardOf(await invoke(w.adapter, ALICE, 'approve', data));
    expect(cardTexts(card)[0]).toBe('You approved HW-1001. Provisioning starts now.');
    expect(cardTexts(card)).toContain('Approved, starting');
    expect(cardTexts(card).some((t) => /^Approved by Alice Approver at 2026-11-26 04:00 UTC$/.test(t))).toBe(true);
    expect(verbs(card)).toEqual([]);
    const stored = (await w.store.get(r.id))!;
    expect(stored.state).toBe('approved');
    expect(stored.approvals.map((a) => a.actor.userId)).toEqual(['aad-alice']);
    const again = cardOf(await invoke(w.adapter, ALICE, 'approve', data));
    expect(cardTexts(again)[0]).toBe('Request HW-1001 is approved, not waiting for approval. Nothing was changed.');
    expect((await w.store.get(r.id))!.approvals).toHaveLength(1);
  });

  test('with two approvals required, the same approver clicking twice counts once', async () => {
    await world(2);
    const r = await pending();
    const data = { requestId: r.id, planHash: r.plan!.hash };
    const first = cardOf(await invoke(w.adapter, ALICE, 'approve', data));
    expect(cardTexts(first)[0]).toBe('You approved HW-1001. Waiting for more approvals.');
    expect(cardTexts(first)).toContain('Approvals: 1 of 2');
    expect(verbs(first)).toEqual(['refresh']);
    const second = cardOf(await invoke(w.adapter, ALICE, 'approve', data));
    expect(cardTexts(second)[0]).toBe('You already approved HW-1001. Nothing was changed.');
    expect((await w.store.get(r.id))!.state).toBe('pendingApproval');
  });

  test('an expired request cannot be approved', async () => {
    await world();
    const r = await pending();
    w.clock.advanceHours(73);
    const card = cardOf(await invoke(w.adapter, ALICE, 'approve', { requestId: r.id, planHash: r.plan!.hash }));
    expect(cardTexts(card)[0]).toMatch(/^Request HW-1001 expired at .* before it was approved; ask for a new one\. Nothing was changed\.$/);
    expect(cardTexts(card)).toContain('Expired');
    expect((await w.store.get(r.id))!.state).toBe('expired');
    expect((await w.store.get(r.id))!.approvals).toEqual([]);
  });

  test('an approval of a superseded plan is refused', async () => {
    await world();
    const r = await pending();
    const card = cardOf(await invoke(w.adapter, ALICE, 'approve', { requestId: r.id, planHash: 'f'.repeat(64) }));
    expect(cardTexts(card)[0]).toBe('The plan of HW-1001 changed since this card was sent; decide on the current plan instead. Nothing was changed.');
    expect(verbs(card)).toEqual(['approve', 'reject']);
    expect((await w.store.get(r.id))!.state).toBe('pendingApproval');
  });

  test('reject needs a reason; with one, the request is rejected', async () => {
    await world();
    const r = await pending();
    const data = { requestId: r.id, planHash: r.plan!.hash };
    const without = cardOf(await invoke(w.adapter, ALICE, 'reject', { ...data, rejectReason: '   ' }));
    expect(cardTexts(without)[0]).toBe('A rejection needs a reason, so the requester knows what to change. Nothing was changed.');
    expect((await w.store.get(r.id))!.state).toBe('pendingApproval');
    const card = cardOf(await invoke(w.adapter, ALICE, 'reject', { ...data, rejectReason: 'Use rg-platform instead' }));
    expect(cardTexts(card)).toContain('Rejected by Alice Approver at 2026-11-26 04:00 UTC: Use rg-platform instead');
    const stored = (await w.store.get(r.id))!;
    expect(stored.state).toBe('rejected');
    expect(stored.approvals[0]).toMatchObject({ decision: 'reject', reason: 'Use rg-platform instead' });
  });

  test('forged card data cannot pick the actor, and an unknown request is a plain message', async () => {
    await world();
    const r = await pending();
    const card = cardOf(await invoke(w.adapter, MALLORY, 'approve', { requestId: r.id, planHash: r.plan!.hash, actor: { userId: 'aad-alice' }, userId: 'aad-alice' }));
    expect(cardTexts(card)[0]).toMatch(/not on the approver list/);
    const missing = await invoke(w.adapter, ALICE, 'approve', { requestId: 'HW-9999', planHash: 'x' });
    expect(missing).toMatchObject({ statusCode: 200, type: 'application/vnd.microsoft.activity.message' });
    expect(String(missing.value)).toMatch(/HW-9999/);
  });

  test('retry of a failed request: only the requester or an approver', async () => {
    await world();
    const r = await pending();
    await w.service.approve(r.id, { platform: 'teams', userId: 'aad-alice', displayName: 'Alice Approver' }, r.plan!.hash);
    const approved = (await w.store.get(r.id))!;
    const provisioning = await w.store.update({ ...approved, state: 'provisioning' });
    await w.store.update({
      ...provisioning,
      state: 'failed',
      steps: { ...provisioning.steps, storageAccount: { status: 'failed', attempts: 1, error: { code: 'AuthorizationFailed', message: 'no', remediation: 'grant it' } } },
    });
    const refused = cardOf(await invoke(w.adapter, MALLORY, 'retry', { requestId: r.id }, PERSONAL_RITA));
    expect(cardTexts(refused)[0]).toBe('Only the requester or an approver can retry HW-1001. Nothing was changed.');
    expect(verbs(refused)).toEqual(['retry']);
    expect((await w.store.get(r.id))!.state).toBe('failed');
    const ok = cardOf(await invoke(w.adapter, RITA, 'retry', { requestId: r.id }, PERSONAL_RITA));
    expect(cardTexts(ok)[0]).toBe('Retrying HW-1001: the failed steps run again.');
    expect((await w.store.get(r.id))!.state).toBe('provisioning');
  });
});

describe('commands', () => {
  test('admin channel: refused for a non-approver, registered for an approver (without the thread part)', async () => {
    await world();
    const thread = { ...ADMIN_CHANNEL, conversationId: `${ADMIN_CHANNEL.conversationId};messageid=1700000000001` };
    await say(w.adapter, MALLORY, 'admin channel', thread);
    expect(cardTexts(w.adapter.lastCard())[0]).toBe('Only approvers can choose the admin channel');
    expect(await w.service.getAdminChannel('teams')).toBeUndefined();
    await say(w.adapter, ALICE, 'admin-channel', thread);
    expect(cardTexts(w.adapter.lastCard())[0]).toBe('Approval cards go to this conversation now');
    const ref = await w.service.getAdminChannel('teams');
    expect(ref!.reference).toMatchObject({ conversation: { id: ADMIN_CHANNEL.conversationId, conversationType: 'channel' } });
    await say(w.adapter, ALICE, 'admin channel', PERSONAL_RITA);
    expect(cardTexts(w.adapter.lastCard())[0]).toBe('Register a channel or group chat, not a personal chat');
  });

  test('status lists recent requests; status <id> (any case) shows steps and the audit trail', async () => {
    await world();
    await pending('HW-1001', 'rg-one');
    await pending('HW-1002', 'rg-two');
    w.clock.advance(5 * 60_000);
    await say(w.adapter, MALLORY, 'status', ADMIN_CHANNEL);
    const list = w.adapter.lastCard();
    expect(cardProblems(list)).toEqual([]);
    const texts = cardTexts(list);
    expect(texts).toEqual(expect.arrayContaining(['HW-1002', 'rg-two', 'HW-1001', 'rg-one', 'Rita Requester', 'Waiting for approval', '5m 00s']));
    expect(texts.indexOf('HW-1002')).toBeLessThan(texts.indexOf('HW-1001'));
    await say(w.adapter, RITA, 'status hw-1001');
    const detail = w.adapter.lastCard();
    expect(cardProblems(detail)).toEqual([]);
    expect(cardTexts(detail)).toEqual(expect.arrayContaining(['Setup HW-1001', 'Resource group: rg-one', '○ pending']));
    expect(cardTexts(detail).some((t) => t.startsWith('2026-11-26 04:00 UTC: submitted by Rita Requester'))).toBe(true);
    await say(w.adapter, RITA, 'status HW-4242');
    expect(cardTexts(w.adapter.lastCard())).toContain('There is no request HW-4242. Type status to list recent requests.');
    await say(w.adapter, RITA, 'status banana');
    expect(cardTexts(w.adapter.lastCard())[0]).toBe('"banana" is not a request id');
  });

  test('cancel <id>: the requester may, others may not', async () => {
    await world();
    await pending();
    await say(w.adapter, MALLORY, 'cancel hw-1001', ADMIN_CHANNEL);
    expect(cardTexts(w.adapter.lastCard())).toContain('Only the requester or an approver can cancel HW-1001.');
    expect((await w.store.get('HW-1001'))!.state).toBe('pendingApproval');
    await say(w.adapter, RITA, 'cancel HW-1001');
    expect(cardTexts(w.adapter.lastCard())[0]).toBe('HW-1001 is cancelled');
    expect((await w.store.get('HW-1001'))!.state).toBe('cancelled');
  });

  test('help, unknown text and the Start setup button', async () => {
    await world();
    await say(w.adapter, RITA, 'help');
    expect(cardTexts(w.adapter.lastCard())).toContain('setup: Prepare a resource group for managed.hopsworks.ai (guided, needs approval)');
    await say(w.adapter, RITA, 'frobnicate *now*');
    expect(cardTexts(w.adapter.lastCard())[0]).toBe('I do not know "frobnicate \\*now\\*". These are the commands:');
    await w.adapter.processActivity({ ...{ channelId: 'msteams', from: { id: RITA.id, name: RITA.name, aadObjectId: RITA.aadObjectId }, conversation: { id: 'a:personal-rita', conversationType: 'personal' } }, type: 'message', value: { command: 'setup' } } as never);
    expect(cardTexts(w.adapter.lastCard())).toContain('Step 1 of 3: where should the resources go?');
  });

  test('welcome once when the bot is installed', async () => {
    await world();
    const added = {
      type: 'conversationUpdate',
      channelId: 'msteams',
      recipient: { id: '28:hopsworks-bot', name: 'Hopsworks' },
      from: { id: RITA.id, name: RITA.name },
      conversation: { id: ADMIN_CHANNEL.conversationId, conversationType: 'channel', isGroup: true },
      membersAdded: [{ id: '28:hopsworks-bot', name: 'Hopsworks' }],
    };
    await w.adapter.processActivity(added as never);
    await w.adapter.processActivity({ ...added, type: 'installationUpdate', action: 'add', membersAdded: undefined } as never);
    const cards = w.adapter.cards();
    expect(cards).toHaveLength(1);
    expect(cardTexts(cards[0])).toEqual(expect.arrayContaining(['Welcome to the Hopsworks setup bot', 'In this channel, mention me followed by a command, e.g. @Hopsworks setup.']));
    // A person joining the team does not get the bot talking.
    await w.adapter.processActivity({ ...added, membersAdded: [{ id: '29:newcomer', name: 'New' }] } as never);
    expect(w.adapter.cards()).toHaveLength(1);
  });
});

describe('onTurnError', () => {
  test('the user gets a short safe message with a reference; the log gets the error', async () => {
    const logger = new MemoryLogger();
    const adapter = new TestAdapter(async () => {
      throw new Error('connection string Password=hunter2 leaked in a stack');
    });
    installOnTurnError(adapter, logger);
    await adapter.processActivity('hello');
    const reply = adapter.activeQueue[0];
    const text = JSON.stringify(reply.attachments);
    expect(text).toContain('Sorry, something went wrong');
    expect(text).toMatch(/reference: [0-9a-f]{8}/);
    expect(text).not.toContain('hunter2');
    expect(logger.entries.some((e) => e.level === 'error' && e.msg === 'unhandled error in a bot turn')).toBe(true);
  });

  test('two clicks at once: the second gets a short note and the conversation state is kept', async () => {
    const logger = new MemoryLogger();
    const store = openSqliteStore(':memory:');
    const conversationState = new ConversationState(new KeyValueBotStorage(store.kv));
    const adapter = new TestAdapter(async (ctx) => {
      await conversationState.createProperty<string>('wizard').set(ctx, 'step 2');
      await conversationState.saveChanges(ctx);
      throw new BotError('VERSION_CONFLICT', 'Bot state changed by another turn');
    });
    installOnTurnError(adapter, logger, conversationState);
    await adapter.processActivity('hello');
    expect(JSON.stringify(adapter.activeQueue[0].attachments)).toContain('Two clicks arrived at the same time');
    const keys = ['botstate:test/conversations/Convo1/'];
    expect((await store.kv.get(keys[0]))?.value).toMatchObject({ wizard: 'step 2' });
    await store.close();
  });
});
