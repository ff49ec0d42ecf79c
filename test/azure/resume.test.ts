import { updateWithRetry } from '../../src/core/cas';
import { topologicalOrder } from '../../src/core/plan';
import { transition } from '../../src/core/state';
import type { SetupRequest } from '../../src/core/types';
import { assignmentsIn, counterRandom, inventory, startAzureHarness, type AzureHarness } from '../helpers/azure-provisioner';

/**
 * A bot process killed between steps, simulated in-process: a first "process" runs the plan's steps one after
 * another and records each result like the job runner does, then stops after step k — having already sent
 * step k+1's ARM calls but before recording it (the worst moment). A fresh provisioner and JobRunner on the
 * same store and simulator must finish the request with exactly one of each resource.
 */
describe('resuming after the bot process stopped', () => {
  let h: AzureHarness;
  // One suffix sequence for the whole file, so every resource group gets new global names quickly.
  const random = counterRandom(100);
  beforeAll(async () => {
    h = await startAzureHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  async function firstProcess(req: SetupRequest, stopAfter: number): Promise<void> {
    const p = h.provisioner({ random });
    const clock = { now: () => new Date() };
    let cur = (await updateWithRetry(h.store, req.id, (r) => ({ request: transition(r, 'provisioning', clock), result: undefined }))).request;
    const order = topologicalOrder(cur.plan!.steps);
    for (let i = 0; i < order.length && i <= stopAfter; i++) {
      const step = order[i];
      cur = (await updateWithRetry(h.store, req.id, (r) => ({ request: { ...r, steps: { ...r.steps, [step.id]: { status: 'running', attempts: 1 } } }, result: undefined }))).request;
      const result = await p.executeStep(cur, step);
      if (i === stopAfter) return; // killed: the ARM calls happened, the result was never stored
      cur = (
        await updateWithRetry(h.store, req.id, (r) => ({
          request: { ...r, steps: { ...r.steps, [step.id]: { status: 'done', attempts: 1, output: result.output } } },
          result: undefined,
        }))
      ).request;
    }
  }

  it('finishes with exactly one of each resource whatever step the first process stopped after', async () => {
    const probe = await h.submitApproved(h.newResourceGroup('rg-probe'), {}, h.provisioner({ random }));
    await h.runner(h.provisioner({ random })).drain();
    expect((await h.store.get(probe.id))!.state).toBe('succeeded');
    // Providers are registered now; stopping after a read-only step proves nothing more, so stop after each writing step.
    const order = topologicalOrder(probe.plan!.steps);
    const stopPoints = order.map((s, i) => ({ s, i })).filter(({ s }) => s.kind !== 'registerProvider').map(({ i }) => i);
    expect(stopPoints).toHaveLength(8);

    for (const k of stopPoints) {
      const target = h.newResourceGroup(`rg-kill${k}`);
      const req = await h.submitApproved(target, { roleName: 'hopsworks-instance-resume' }, h.provisioner({ random }));
      await firstProcess(req, k);
      await h.runner(h.provisioner({ random }), `second-process-${k}`).drain();
      const done = (await h.store.get(req.id))!;
      expect({ k, state: done.state, errors: Object.values(done.steps).map((s) => s.error).filter(Boolean) }).toEqual({ k, state: 'succeeded', errors: [] });
      expect(inventory(h.sim, target.resourceGroup)).toEqual({
        'Microsoft.Storage/storageAccounts': [req.options.storageAccountName],
        'Microsoft.Storage/storageAccounts/blobServices/containers': [req.options.containerName],
        'Microsoft.ContainerRegistry/registries': [req.options.registryName],
        'Microsoft.ManagedIdentity/userAssignedIdentities': ['hopsworks-instance'],
        'Microsoft.Compute/sshPublicKeys': ['hopsworksKey'],
      });
      expect(assignmentsIn(h.sim, target.resourceGroup)).toHaveLength(1);
      // The first process never handed its key over: the requester gets exactly one, for the key that exists now.
      expect(h.notifier.secrets.filter((s) => s.requestId === req.id)).toHaveLength(1);
      expect(done.outputs?.sshKeyName).toBe('hopsworksKey');
    }
    expect(h.sim.resources()['Microsoft.Authorization/roleDefinitions'].filter((r) => r.name === 'hopsworks-instance-resume')).toHaveLength(1);
  });

  it('429 with Retry-After and 5xx (also after the write took effect) are absorbed by the SDK retry policy', async () => {
    const target = h.newResourceGroup('rg-faults');
    const req = await h.submitApproved(target, { roleName: 'hopsworks-instance-faults' }, h.provisioner({ random }));
    h.sim.setFaults({ rate429: 0.15, rate5xx: 0.15, retryAfterSeconds: 0, seed: 7, afterWorkShare: 0.5 });
    const logStart = h.sim.requestLog.length;
    try {
      await h.runner(h.provisioner({ random })).drain();
    } finally {
      h.sim.setFaults(undefined);
    }
    const faults = h.sim.requestLog.slice(logStart).filter((e) => e.fault);
    expect(faults.some((f) => f.fault === '429')).toBe(true);
    expect(faults.some((f) => f.fault === '5xx')).toBe(true);
    const done = (await h.store.get(req.id))!;
    expect({ state: done.state, errors: Object.values(done.steps).map((s) => s.error).filter(Boolean) }).toEqual({ state: 'succeeded', errors: [] });
    expect(inventory(h.sim, target.resourceGroup)['Microsoft.Storage/storageAccounts']).toEqual([req.options.storageAccountName]);
    expect(assignmentsIn(h.sim, target.resourceGroup)).toHaveLength(1);
    expect(h.notifier.secrets.filter((s) => s.requestId === req.id)).toHaveLength(1);
  });
});
