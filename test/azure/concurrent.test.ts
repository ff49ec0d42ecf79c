/**
 * Two setups planned at the same time in two resource groups share the tenant-unique custom role: applying
 * them at once must leave the role assignable in both groups, and both role assignments must succeed.
 */
import { assignmentsIn, startAzureHarness, type AzureHarness } from '../helpers/azure-provisioner';

describe('concurrent setups sharing the custom role', () => {
  let h: AzureHarness;
  beforeAll(async () => {
    h = await startAzureHarness({ unregisteredProviders: [], propagationDelayMs: 0 });
  });
  afterAll(async () => {
    await h.close();
  });

  it('extends the role for both resource groups instead of one write dropping the other', async () => {
    const a = h.newResourceGroup('rg-conc-a');
    const b = h.newResourceGroup('rg-conc-b');
    const p = h.provisioner();
    // Both plans are made before either applies: each sees no role yet (or the role without the other group).
    const ra = await h.submitApproved(a, { registryName: 'hopsworksconca' }, p);
    const rb = await h.submitApproved(b, { registryName: 'hopsworksconcb' }, p);
    expect(ra.options.roleName).toBe(rb.options.roleName);

    await Promise.all([h.runner(p, 'one').drain(), h.runner(p, 'two').drain()]);

    const [da, db] = [await h.store.get(ra.id), await h.store.get(rb.id)];
    expect({ a: da!.state, b: db!.state }).toEqual({ a: 'succeeded', b: 'succeeded' });
    expect(assignmentsIn(h.sim, a.resourceGroup)).toHaveLength(1);
    expect(assignmentsIn(h.sim, b.resourceGroup)).toHaveLength(1);
    const roleId = da!.steps.roleDefinition.output!.roleDefinitionId;
    const role = await h.clients.forSubscription(a.subscriptionId).authorization.roleDefinitions.getById(roleId);
    const scopes = (role.assignableScopes ?? []).map((s) => s.toLowerCase());
    expect(scopes).toEqual(expect.arrayContaining([`/subscriptions/${a.subscriptionId}/resourcegroups/${a.resourceGroup}`.toLowerCase(), `/subscriptions/${b.subscriptionId}/resourcegroups/${b.resourceGroup}`.toLowerCase()]));
  });
});
