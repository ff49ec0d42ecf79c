/**
 * The setup wizard through botbuilder's TestAdapter, with the real core (SetupService + SQLite) and the
 * real AzureProvisioner against the ARM simulator. Run: node scripts/with-sandbox-ca.js npx jest test/teams
 */
import { ConversationState } from 'botbuilder';
import { DEFAULT_BOT_ACTIONS, startArmSimulator, type ArmSimulator } from '../../src/azure/simulator';
import { seedSubscription } from '../../src/azure/simulator/state';
import { HopsworksBot } from '../../src/bot/bot';
import { KeyValueBotStorage } from '../../src/bot/storage';
import { cardActions, cardInputs, cardProblems, cardTexts } from '../helpers/teams-cards';
import {
  ADMIN_CHANNEL,
  ALICE,
  MALLORY,
  PERSONAL_RITA,
  RITA,
  TranscriptAdapter,
  actionData,
  createTeamsWorld,
  say,
  submit,
  type TeamsWorld,
  type Where,
} from '../helpers/teams-harness';

let sim: ArmSimulator;
let w: TeamsWorld;

// One simulator per file: @azure/identity caches the managed-identity token per process.
beforeAll(async () => {
  sim = await startArmSimulator({ timeScale: 0.001, unregisteredProviders: [] });
});
afterAll(async () => {
  await sim.close();
});
beforeEach(async () => {
  sim.setPrincipalPermissions(sim.botPrincipalId, [...DEFAULT_BOT_ACTIONS]);
  w = await createTeamsWorld({ sim });
});
afterEach(async () => {
  await w.close();
});

type Card = Record<string, unknown>;

/** The options the card proposes, as Teams submits them (numbers as strings). */
function formValues(card: Card, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const inputs = cardInputs(card);
  const values: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(inputs)) values[k] = v === undefined || v === null ? '' : String(v);
  return { ...values, ...overrides };
}

function errorUnder(card: Card, inputId: string): string | undefined {
  const body = card.body as { id?: string; text?: string; color?: string }[];
  const i = body.findIndex((b) => b.id === inputId);
  const next = body[i + 1];
  return next && next.color === 'Attention' && !next.id ? next.text : undefined;
}

async function startAndPickResourceGroup(where: Where = PERSONAL_RITA, rg = 'rg-hopsworks-dev'): Promise<Card> {
  await say(w.adapter, RITA, 'setup', where);
  const targetCard = w.adapter.lastCard();
  await submit(w.adapter, RITA, { ...actionData(targetCard, 'next'), resourceGroup: rg }, where);
  return w.adapter.lastCard();
}

async function toPlan(where: Where = PERSONAL_RITA, overrides: Record<string, unknown> = { reason: 'Feature store for the fraud team' }): Promise<Card> {
  const options = await startAndPickResourceGroup(where);
  await submit(w.adapter, RITA, { ...formValues(options, overrides), ...actionData(options, 'next') }, where);
  return w.adapter.lastCard();
}

describe('setup wizard', () => {
  test('step 1 offers the resource groups with their locations (one subscription: no subscription picker)', async () => {
    await say(w.adapter, RITA, 'setup');
    const card = w.adapter.lastCard();
    expect(cardProblems(card)).toEqual([]);
    const body = card.body as { id?: string; choices?: { title: string; value: string }[] }[];
    expect(body.find((b) => b.id === 'subscriptionId')).toBeUndefined();
    const rg = body.find((b) => b.id === 'resourceGroup')!;
    expect(rg.choices).toEqual([
      { title: 'rg-analytics (eastus)', value: 'rg-analytics' },
      { title: 'rg-hopsworks-dev (westeurope)', value: 'rg-hopsworks-dev' },
      { title: 'rg-hopsworks-prod (northeurope)', value: 'rg-hopsworks-prod' },
    ]);
  });

  test('several subscriptions: the subscription is chosen first, then its resource groups, on the same card', async () => {
    const second = seedSubscription({ subscriptionId: '00000000-0000-0000-0000-000000000002', displayName: 'Analytics', resourceGroups: [{ name: 'rg-a', location: 'eastus' }] });
    sim.state.subscriptions[second.subscriptionId] = second;
    try {
    await say(w.adapter, RITA, 'setup');
    const subCard = w.adapter.lastCard();
    const subs = (subCard.body as { id?: string; choices?: { value: string }[] }[]).find((b) => b.id === 'subscriptionId')!;
    expect(subs.choices!.map((c) => c.value)).toEqual(['00000000-0000-0000-0000-000000000002', sim.subscriptionId]);
    await submit(w.adapter, RITA, { ...actionData(subCard, 'next'), subscriptionId: 'not-listed' });
    expect(errorUnder(w.adapter.lastCard(), 'subscriptionId')).toBe('Choose one of the listed subscriptions.');
    await submit(w.adapter, RITA, { ...actionData(w.adapter.lastCard(), 'next'), subscriptionId: '00000000-0000-0000-0000-000000000002' });
    const rgCard = w.adapter.lastCard();
    const rgs = (rgCard.body as { id?: string; choices?: { title: string }[] }[]).find((b) => b.id === 'resourceGroup')!;
    expect(rgs.choices!.map((c) => c.title)).toEqual(['rg-a (eastus)']);
    expect(w.adapter.cards()).toHaveLength(1);
    } finally {
      delete sim.state.subscriptions[second.subscriptionId];
    }
  });

  test('step 2 has every default filled in and the request id; the card is updated in place', async () => {
    const card = await startAndPickResourceGroup();
    expect(w.adapter.cards()).toHaveLength(1);
    expect(w.adapter.updates).toBe(1);
    expect(cardProblems(card)).toEqual([]);
    const inputs = cardInputs(card);
    expect(inputs.storageAccountName).toMatch(/^[a-z0-9]{3,24}$/);
    expect(inputs.registryName).toMatch(/^[a-zA-Z0-9]{5,50}$/);
    expect(inputs.containerName).toBeTruthy();
    expect(inputs.identityName).toBeTruthy();
    expect(inputs.sshKeyName).toBeTruthy();
    expect(inputs.acrRetentionDays).toBe(7);
    expect(inputs.sshKeyMode).toBe('generate');
    expect(inputs.reason).toBe('');
    expect(cardTexts(card)).toEqual(expect.arrayContaining(['Request: HW-1001', 'Resource group: rg-hopsworks-dev', 'Location: westeurope']));
  });

  test('invalid values are shown under their fields, entered values are kept, nothing is requested', async () => {
    const options = await startAndPickResourceGroup();
    await submit(w.adapter, RITA, { ...formValues(options, { backupRetentionDays: '3', acrRetentionDays: 'many', reason: '  ', hopsworksSpObjectId: 'not-a-guid' }), ...actionData(options, 'next') });
    const card = w.adapter.lastCard();
    expect(w.adapter.cards()).toHaveLength(1);
    expect(errorUnder(card, 'backupRetentionDays')).toBe('Backup retention is 0 (no backups) or at least 7 days, as managed.hopsworks.ai requires.');
    expect(errorUnder(card, 'acrRetentionDays')).toMatch(/1 to 365/);
    expect(errorUnder(card, 'reason')).toMatch(/approver reads it/);
    expect(errorUnder(card, 'hopsworksSpObjectId')).toMatch(/GUID/);
    expect(errorUnder(card, 'storageAccountName')).toBeUndefined();
    expect(cardInputs(card).hopsworksSpObjectId).toBe('not-a-guid');
    expect(await w.store.list()).toEqual([]);
  });

  test('a name Azure does not allow comes back from the planner as an error under that field', async () => {
    const options = await startAndPickResourceGroup();
    await submit(w.adapter, RITA, { ...formValues(options, { storageAccountName: 'Bad_Name', reason: 'fraud team' }), ...actionData(options, 'next') });
    const card = w.adapter.lastCard();
    expect(errorUnder(card, 'storageAccountName')).toMatch(/lowercase/i);
    expect(cardInputs(card).storageAccountName).toBe('Bad_Name');
    expect(cardInputs(card).reason).toBe('fraud team');
  });

  test('a pasted private key is refused and kept nowhere', async () => {
    const options = await startAndPickResourceGroup();
    const secret = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAsecretsecret\n-----END OPENSSH PRIVATE KEY-----';
    await submit(w.adapter, RITA, { ...formValues(options, { sshKeyMode: 'provided', sshPublicKey: secret, reason: 'r' }), ...actionData(options, 'next') });
    const card = w.adapter.lastCard();
    expect(errorUnder(card, 'sshPublicKey')).toMatch(/private key/);
    expect(cardInputs(card).sshPublicKey).toBe('');
    const dialogState = await w.store.kv.get('botstate:msteams/conversations/a:personal-rita/');
    expect(JSON.stringify(dialogState)).toContain('"values"');
    expect(JSON.stringify(dialogState)).not.toContain('secretsecret');
    expect(w.logger.text()).not.toContain('secretsecret');
  });

  test('step 3 shows the plan with actions, cost and hash; Edit goes back with the values kept', async () => {
    const plan = await toPlan();
    expect(cardProblems(plan)).toEqual([]);
    const texts = cardTexts(plan);
    expect(texts).toContain('create');
    expect(texts.some((t) => t.startsWith('Plan hash: '))).toBe(true);
    expect(texts.some((t) => t.startsWith('Total: $'))).toBe(true);
    expect(cardActions(plan).map((a) => a.data?.action)).toEqual(['confirm', 'edit', 'cancel']);
    await submit(w.adapter, RITA, actionData(plan, 'edit'));
    const back = w.adapter.lastCard();
    expect(cardInputs(back).reason).toBe('Feature store for the fraud team');
    expect(w.adapter.cards()).toHaveLength(1);
  });

  test('Confirm submits the request with the authenticated requester and tells what an admin must do', async () => {
    const plan = await toPlan();
    const confirm = actionData(plan, 'confirm');
    // A forged requester in the card data is ignored: the actor comes from the activity.
    await submit(w.adapter, RITA, { ...confirm, requester: { userId: 'aad-alice' } });
    const [request] = await w.store.list();
    expect(request).toMatchObject({ id: 'HW-1001', kind: 'setup', state: 'pendingApproval', reason: 'Feature store for the fraud team' });
    expect(request.requester).toMatchObject({ platform: 'teams', userId: 'aad-rita', displayName: 'Rita Requester' });
    expect(request.target).toMatchObject({ resourceGroup: 'rg-hopsworks-dev', location: 'westeurope', subscriptionId: w.sim.subscriptionId, tenantId: w.sim.tenantId });
    expect(request.plan!.hash).toBe(confirm.planHash);
    expect(request.conversations.requester?.reference).toMatchObject({ conversation: { id: 'a:personal-rita' } });
    expect(request.conversations.requesterPersonal).toBeDefined();
    const texts = w.adapter.cards().flatMap(cardTexts);
    expect(texts).toContain('HW-1001 waits for approval, but no admin channel is registered');
    // The wizard card became the read-only record of what was submitted.
    expect(cardActions(w.adapter.cards()[0])).toEqual([]);
  });

  test('a second click on Confirm (stale card) changes nothing', async () => {
    const plan = await toPlan();
    const confirm = actionData(plan, 'confirm');
    await submit(w.adapter, RITA, confirm);
    await submit(w.adapter, RITA, confirm);
    expect(await w.store.list()).toHaveLength(1);
    expect(cardTexts(w.adapter.lastCard())).toContain('That card is no longer active');
  });

  test('a click on a card of an earlier wizard is stale; the current wizard goes on', async () => {
    await say(w.adapter, RITA, 'setup');
    const first = actionData(w.adapter.lastCard(), 'next');
    await say(w.adapter, RITA, 'setup');
    expect(cardTexts(w.adapter.cards()[0])).toContain('Replaced by a new wizard');
    await submit(w.adapter, RITA, { ...first, resourceGroup: 'rg-analytics' });
    expect(cardTexts(w.adapter.lastCard())).toContain('That card is out of date');
    const current = w.adapter.cards()[1];
    await submit(w.adapter, RITA, { ...actionData(current, 'next'), resourceGroup: 'rg-analytics' });
    expect(cardTexts(w.adapter.cards()[1])).toContain('Resource group: rg-analytics');
  });

  test('Cancel on the card, or typing cancel, ends the wizard with nothing requested', async () => {
    const options = await startAndPickResourceGroup();
    await submit(w.adapter, RITA, actionData(options, 'cancel'));
    expect(cardTexts(w.adapter.cards()[0])).toContain('Setup cancelled');
    await say(w.adapter, RITA, 'setup');
    await say(w.adapter, RITA, 'CANCEL');
    expect(cardTexts(w.adapter.cards()[1])).toContain('Cancelled');
    expect(await w.store.list()).toEqual([]);
    await say(w.adapter, RITA, 'cancel');
    expect(cardTexts(w.adapter.lastCard())).toContain('Nothing to cancel here');
  });

  test('status and help in the middle of the wizard answer without touching it; the wizard goes on', async () => {
    const options = await startAndPickResourceGroup();
    await say(w.adapter, RITA, 'status');
    await say(w.adapter, RITA, 'help');
    expect(w.adapter.cards()).toHaveLength(3);
    expect(cardTexts(w.adapter.cards()[1])).toContain('Recent requests');
    expect(cardTexts(w.adapter.cards()[0])).toContain('Resource group: rg-hopsworks-dev');
    await submit(w.adapter, RITA, { ...formValues(options, { reason: 'after a status' }), ...actionData(options, 'next') });
    // The wizard's card is updated in place with the plan.
    const plan = w.adapter.cards()[0];
    expect(cardProblems(plan)).toEqual([]);
    expect(cardActions(plan).map((a) => a.data?.action)).toEqual(['confirm', 'edit', 'cancel']);
  });

  test('in a channel, the @mention is stripped and only the person who started the wizard can use its card', async () => {
    const where: Where = { conversationId: '19:general@thread.tacv2;messageid=1700000000000', conversationType: 'channel' };
    await say(w.adapter, RITA, 'setup', where);
    const card = w.adapter.lastCard();
    await submit(w.adapter, MALLORY, { ...actionData(card, 'next'), resourceGroup: 'rg-analytics' }, where);
    expect(cardTexts(w.adapter.lastCard())).toContain('Only Rita Requester can fill in this card');
    await submit(w.adapter, RITA, { ...actionData(card, 'next'), resourceGroup: 'rg-analytics' }, where);
    expect(cardTexts(w.adapter.cards()[0])).toContain('Resource group: rg-analytics');
  });

  test('a restart in the middle of the wizard loses nothing (dialog state lives in the store)', async () => {
    const options = await startAndPickResourceGroup();
    // A new bot instance over the same store, as after a process restart.
    const bot2 = new HopsworksBot({
      workflow: w.service,
      discovery: (w.bot as unknown as { deps: { discovery: never } }).deps.discovery,
      planner: (w.bot as unknown as { deps: { planner: never } }).deps.planner,
      ids: w.store,
      conversationState: new ConversationState(new KeyValueBotStorage(w.store.kv)),
      logger: w.logger,
      clock: w.clock,
    });
    const adapter2 = new TranscriptAdapter((ctx) => bot2.run(ctx));
    await submit(adapter2, RITA, { ...formValues(options, { reason: 'after restart' }), ...actionData(options, 'next') });
    const plan = adapter2.lastCard();
    expect(cardTexts(plan).some((t) => t.startsWith('Plan hash: '))).toBe(true);
    await submit(adapter2, RITA, actionData(plan, 'confirm'));
    expect((await w.store.list()).map((r) => r.reason)).toEqual(['after restart']);
  });

  test('a second setup for the same resource group is refused with the existing request id', async () => {
    await submit(w.adapter, RITA, actionData(await toPlan(), 'confirm'));
    w.adapter.clear();
    await submit(w.adapter, RITA, actionData(await toPlan(), 'confirm'));
    const texts = w.adapter.cards().flatMap(cardTexts);
    expect(texts).toContain('That resource group already has an active request');
    expect(texts.some((t) => t.includes('HW-1001'))).toBe(true);
    expect((await w.store.list()).map((r) => r.id)).toEqual(['HW-1001']);
  });

  test('missing permissions: the plan says what to grant and cannot be confirmed', async () => {
    w.sim.setPrincipalPermissions(w.sim.botPrincipalId, ['*/read', 'Microsoft.Storage/*']);
    const plan = await toPlan();
    expect(cardTexts(plan)).toContain('Missing permissions: the plan cannot be applied');
    expect(cardActions(plan).map((a) => a.data?.action)).toEqual(['edit', 'cancel']);
  });

  test('with an admin channel registered, the requester is told the card went there', async () => {
    await say(w.adapter, ALICE, 'admin channel', ADMIN_CHANNEL);
    await submit(w.adapter, RITA, actionData(await toPlan(), 'confirm'));
    expect(w.adapter.cards().flatMap(cardTexts)).toContain('HW-1001 is waiting for approval');
  });

  test('with no approvers configured, Confirm tells the requester what an admin must do and stores nothing', async () => {
    await w.close();
    w = await createTeamsWorld({ sim, approvers: [] });
    await submit(w.adapter, RITA, actionData(await toPlan(), 'confirm'));
    const texts = w.adapter.cards().flatMap(cardTexts);
    expect(texts).toContain('Nobody can approve requests yet');
    expect(cardTexts(w.adapter.cards()[0])[0]).toBe('Not submitted');
    expect(texts.some((t) => t.includes('HOPSWORKS_APPROVERS'))).toBe(true);
    expect(await w.store.list()).toEqual([]);
  });

  test('Back returns to the resource group; another one gets its own location under the same request id', async () => {
    const options = await startAndPickResourceGroup();
    await submit(w.adapter, RITA, { ...formValues(options, { reason: 'keep me' }), ...actionData(options, 'back') });
    const target = w.adapter.lastCard();
    expect((target.body as { id?: string }[]).some((b) => b.id === 'resourceGroup')).toBe(true);
    await submit(w.adapter, RITA, { ...actionData(target, 'next'), resourceGroup: 'rg-hopsworks-prod' });
    const again = w.adapter.lastCard();
    expect(cardTexts(again)).toEqual(expect.arrayContaining(['Resource group: rg-hopsworks-prod', 'Location: northeurope', 'Request: HW-1001']));
    expect(w.adapter.cards()).toHaveLength(1);
  });
});
