/**
 * `teardown <id>`: the delete plan goes through approval like a setup; deleting a storage account that
 * holds data is an explicit choice that recomputes the plan. Real core, real provisioner, ARM simulator.
 */
import { DEFAULT_BOT_ACTIONS, startArmSimulator, type ArmSimulator } from '../../src/azure/simulator';
import { JobRunner } from '../../src/core/runner';
import type { SetupRequest } from '../../src/core/types';
import { cardInputs, cardProblems, cardTexts } from '../helpers/teams-cards';
import { ALICE, RITA, actionData, createTeamsWorld, say, submit, type TeamsWorld } from '../helpers/teams-harness';

let sim: ArmSimulator;
let w: TeamsWorld;

beforeAll(async () => {
  sim = await startArmSimulator({ timeScale: 0.001, unregisteredProviders: [], propagationDelayMs: 0 });
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

/** A setup that really ran against the simulator, through the core. */
async function succeededSetup(rg: string): Promise<SetupRequest> {
  const id = await w.store.nextId();
  const target = { subscriptionId: sim.subscriptionId, resourceGroup: rg, location: 'westeurope', tenantId: sim.tenantId };
  const options = await w.provisioner.suggestOptions(target, id);
  const plan = await w.provisioner.preflight({ requestId: id, kind: 'setup', target, options });
  const requester = { platform: 'teams' as const, userId: 'aad-rita', displayName: 'Rita Requester' };
  await w.service.submit({ id, kind: 'setup', requester, target, options, reason: 'fraud team', plan, conversations: { activityIds: {} } });
  await w.service.approve(id, { platform: 'teams', userId: 'aad-alice', displayName: 'Alice Approver' }, plan.hash);
  const runner = new JobRunner({ store: w.store, provisioner: w.provisioner, notifier: w.notifier, clock: w.clock, logger: w.logger, owner: 't' });
  await runner.drain();
  const done = (await w.store.get(id))!;
  expect(done.state).toBe('succeeded');
  return done;
}

function errorUnder(card: Record<string, unknown>, inputId: string): string | undefined {
  const body = card.body as { id?: string; text?: string; color?: string }[];
  const next = body[body.findIndex((b) => b.id === inputId) + 1];
  return next && next.color === 'Attention' && !next.id ? next.text : undefined;
}

test('teardown shows the delete plan, keeps the data unless the toggle says otherwise, and needs a reason', async () => {
  const setup = await succeededSetup('rg-hopsworks-dev');
  sim.markContainerHasBlobs(setup.options.storageAccountName, setup.options.containerName);
  await say(w.adapter, RITA, `teardown ${setup.id.toLowerCase()}`);
  const card = () => w.adapter.lastCard();
  expect(cardProblems(card())).toEqual([]);
  expect(cardTexts(card())[0]).toBe('Teardown plan for HW-1002');
  expect(cardTexts(card())).toContain('delete');
  expect(cardTexts(card())).toContain('keep');
  expect(cardTexts(card()).some((t) => /storage account .* is kept: it holds 1 blob container/i.test(t))).toBe(true);
  expect(cardInputs(card())).toMatchObject({ confirmDeleteData: 'false', reason: '' });
  const firstHash = actionData(card(), 'confirm').planHash;

  await submit(w.adapter, RITA, { ...actionData(card(), 'confirm'), confirmDeleteData: 'false', reason: '' });
  expect(errorUnder(card(), 'reason')).toBe('Say why these resources should be deleted.');

  await submit(w.adapter, RITA, { ...actionData(card(), 'confirm'), confirmDeleteData: 'true', reason: 'Project ended' });
  expect(cardTexts(card())).toContain('The plan now also deletes the storage account and its data. Check it and confirm again.');
  expect(actionData(card(), 'confirm').planHash).not.toBe(firstHash);
  expect(cardInputs(card())).toMatchObject({ confirmDeleteData: 'true', reason: 'Project ended' });
  expect(await w.store.list({ kind: 'teardown' })).toEqual([]);

  await submit(w.adapter, RITA, { ...actionData(card(), 'confirm'), confirmDeleteData: 'true', reason: 'Project ended' });
  const [teardown] = await w.store.list({ kind: 'teardown' });
  expect(teardown).toMatchObject({ id: 'HW-1002', kind: 'teardown', parentId: setup.id, state: 'pendingApproval', confirmDeleteData: true, reason: 'Project ended' });
  expect(teardown.plan!.steps.find((s) => s.kind === 'storageAccount')!.action).toBe('delete');
  expect(w.adapter.cards().length).toBe(2);
});

test('teardown of an unknown request, or without an id, changes nothing', async () => {
  await say(w.adapter, ALICE, 'teardown HW-4711');
  expect(cardTexts(w.adapter.lastCard())[0]).toBe('There is no setup request HW-4711 to tear down.');
  await say(w.adapter, ALICE, 'teardown');
  expect(cardTexts(w.adapter.lastCard())[0]).toBe('Which request?');
  expect(await w.store.list()).toEqual([]);
});

test('teardown of a setup that is still waiting for approval is refused at once, without a delete plan', async () => {
  const id = await w.store.nextId();
  const target = { subscriptionId: sim.subscriptionId, resourceGroup: 'rg-hopsworks-dev', location: 'westeurope', tenantId: sim.tenantId };
  const options = await w.provisioner.suggestOptions(target, id);
  const plan = await w.provisioner.preflight({ requestId: id, kind: 'setup', target, options });
  const requester = { platform: 'teams' as const, userId: 'aad-rita', displayName: 'Rita Requester' };
  await w.service.submit({ id, kind: 'setup', requester, target, options, reason: 'fraud team', plan, conversations: { activityIds: {} } });
  const requestsBefore = sim.requestLog.length;

  await say(w.adapter, RITA, `teardown ${id}`);
  const texts = cardTexts(w.adapter.lastCard());
  expect(texts[0]).toBe(`${id} is pendingApproval; only a setup that has succeeded can be torn down. To stop it instead, type cancel ${id}.`);
  expect(texts.some((t) => /Teardown plan/.test(t))).toBe(false);
  expect(await w.store.list({ kind: 'teardown' })).toEqual([]);
  expect((await w.store.get(id))!.state).toBe('pendingApproval');
  // No preflight ran: not a single ARM request was made for the refused teardown.
  expect(sim.requestLog.length).toBe(requestsBefore);
});
