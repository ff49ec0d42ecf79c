/**
 * Every ARM SDK client the bot builds goes through one keep-alive agent: a request reuses an idle
 * connection whatever client sends it, and a burst opens only as many connections as it has requests
 * in flight, which later bursts then reuse.
 */
import { createAzureClients } from '../../src/azure/clients';
import { startAzureHarness, type AzureHarness } from '../helpers/azure-provisioner';

describe('ARM connections', () => {
  let h: AzureHarness;
  beforeAll(async () => {
    h = await startAzureHarness({ unregisteredProviders: [], propagationDelayMs: 0 });
  });
  afterAll(async () => {
    await h.close();
  });

  it('are shared by all the clients and kept alive between requests', async () => {
    const rg = h.newResourceGroup('rg-connections');
    const clients = createAzureClients({ endpoint: h.sim.armEndpoint });
    const c = clients.forSubscription(rg.subscriptionId);
    // Each call below is made by a different SDK package's client, one after another.
    const calls = [
      () => c.resources.resourceGroups.get(rg.resourceGroup),
      () => c.storage.storageAccounts.listByResourceGroup(rg.resourceGroup).next(),
      () => c.registry.registries.listByResourceGroup(rg.resourceGroup).next(),
      () => c.msi.userAssignedIdentities.listByResourceGroup(rg.resourceGroup).next(),
      () => c.compute.sshPublicKeys.listByResourceGroup(rg.resourceGroup).next(),
      () => c.authorization.roleAssignments.listForResourceGroup(rg.resourceGroup).next(),
      () => clients.subscriptions.subscriptions.list().next(),
    ];
    const before = h.sim.connections().opened;
    for (const call of calls) await call();
    expect(h.sim.connections().opened - before).toBe(1);

    // Seven at once need seven connections (one is idle already); seven more at once reuse them all.
    await Promise.all(calls.map((call) => call()));
    const afterFirstBurst = h.sim.connections().opened;
    expect(afterFirstBurst - before).toBeLessThanOrEqual(7);
    await Promise.all(calls.map((call) => call()));
    expect(h.sim.connections().opened).toBe(afterFirstBurst);
  });
});
