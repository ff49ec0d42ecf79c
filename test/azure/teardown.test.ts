import type { Plan, SetupRequest } from '../../src/core/types';
import { approverActor, assignmentsIn, inventory, requesterActor, startAzureHarness, type AzureHarness } from '../helpers/azure-provisioner';

describe('teardown', () => {
  let h: AzureHarness;
  beforeAll(async () => {
    h = await startAzureHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  async function setup(prefix: string, roleName: string): Promise<SetupRequest> {
    const target = h.newResourceGroup(prefix);
    const req = await h.submitApproved(target, { roleName });
    await h.runner().drain();
    const done = (await h.store.get(req.id))!;
    expect(done.state).toBe('succeeded');
    return done;
  }

  async function teardownPlan(parent: SetupRequest, confirmDeleteData: boolean): Promise<{ id: string; plan: Plan }> {
    const id = await h.store.nextId();
    const plan = await h.provisioner().preflight({ requestId: id, kind: 'teardown', target: parent.target, options: parent.options, parent, confirmDeleteData });
    return { id, plan };
  }

  async function applyTeardown(parent: SetupRequest, id: string, plan: Plan, confirmDeleteData: boolean): Promise<SetupRequest> {
    await h.service.submit({ id, kind: 'teardown', parentId: parent.id, requester: requesterActor, target: parent.target, options: parent.options, reason: 'Cluster retired', plan, conversations: { activityIds: {} }, confirmDeleteData });
    await h.service.approve(id, approverActor, plan.hash);
    await h.runner().drain();
    return (await h.store.get(id))!;
  }

  it('deletes exactly what the setup created, in reverse order, and nothing that was there before', async () => {
    const parent = await setup('rg-td', 'hopsworks-instance-td');
    const { target } = parent;
    const c = h.clients.forSubscription(target.subscriptionId);
    // Someone else's resources in the same resource group.
    await c.storage.storageAccounts.beginCreateAndWait(target.resourceGroup, `other${parent.id.replace(/\D/g, '')}x`, { location: target.location, kind: 'StorageV2', sku: { name: 'Standard_LRS' }, minimumTlsVersion: 'TLS1_2' });
    await c.msi.userAssignedIdentities.createOrUpdate(target.resourceGroup, 'team-identity', { location: target.location });
    const before = inventory(h.sim, target.resourceGroup);

    const { id, plan } = await teardownPlan(parent, true);
    expect(plan.missingPermissions).toEqual([]);
    expect(plan.steps.map((s) => `${s.id}:${s.action}`).sort()).toEqual([
      'blobContainer:delete',
      'containerRegistry:delete',
      'managedIdentity:delete',
      'roleAssignment:delete',
      'roleDefinition:delete',
      'sshPublicKey:delete',
      'storageAccount:delete',
    ]);
    const dep = (sid: string) => plan.steps.find((s) => s.id === sid)!.dependsOn;
    expect(dep('storageAccount')).toEqual(['blobContainer']);
    expect(dep('managedIdentity')).toEqual(['roleAssignment']);
    expect(dep('roleDefinition')).toEqual(['roleAssignment']);
    expect(plan.warnings.join('\n')).toContain('never undone');
    expect(plan.warnings.join('\n')).toContain(`deletes its 1 container(s) (${parent.options.containerName})`);

    const done = await applyTeardown(parent, id, plan, true);
    expect(done.state).toBe('succeeded');
    expect((await h.store.get(parent.id))!.state).toBe('tornDown');
    expect(inventory(h.sim, target.resourceGroup)).toEqual({
      'Microsoft.Storage/storageAccounts': before['Microsoft.Storage/storageAccounts'].filter((n) => n !== parent.options.storageAccountName),
      'Microsoft.ManagedIdentity/userAssignedIdentities': ['team-identity'],
    });
    expect(assignmentsIn(h.sim, target.resourceGroup)).toEqual([]);
    expect((h.sim.resources()['Microsoft.Authorization/roleDefinitions'] ?? []).map((r) => r.name)).not.toContain('hopsworks-instance-td');
  });

  it('keeps a storage account that holds containers unless deleting data is confirmed, and says how to confirm', async () => {
    const parent = await setup('rg-td-data', 'hopsworks-instance-tddata');
    const { plan } = await teardownPlan(parent, false);
    expect(plan.steps.find((s) => s.id === 'storageAccount')!.action).toBe('keep');
    expect(plan.steps.find((s) => s.id === 'blobContainer')!.action).toBe('keep');
    expect(plan.steps.find((s) => s.id === 'containerRegistry')!.action).toBe('delete');
    expect(plan.warnings.join('\n')).toMatch(/"delete data" confirmed/);
  });

  it('keeps a role that is still assigned elsewhere, and everything a setup only reused', async () => {
    const parent = await setup('rg-td-role', 'hopsworks-instance-tdrole');
    const c = h.clients.forSubscription(parent.target.subscriptionId);
    const scope = `/subscriptions/${parent.target.subscriptionId}/resourceGroups/${parent.target.resourceGroup}`;
    const other = h.sim.addPrincipal({ displayName: 'another workload', type: 'ServicePrincipal' });
    await c.authorization.roleAssignments.create(scope, '0b0b0b0b-1111-4222-8333-444444444444', {
      roleDefinitionId: parent.steps.roleDefinition.output!.roleDefinitionId,
      principalId: other.principalId,
      principalType: 'ServicePrincipal',
    });
    const { id, plan } = await teardownPlan(parent, true);
    expect(plan.steps.find((s) => s.id === 'roleDefinition')!.action).toBe('keep');
    expect(plan.steps.find((s) => s.id === 'roleAssignment')!.action).toBe('delete');
    expect(plan.warnings.join('\n')).toMatch(/still assigned elsewhere/);
    const done = await applyTeardown(parent, id, plan, true);
    expect(done.state).toBe('succeeded');
    expect(assignmentsIn(h.sim, parent.target.resourceGroup).map((a) => a.principalId)).toEqual([other.principalId]);

    // A second setup that reused everything of a first one tears down nothing.
    const first = await setup('rg-td-reuse', 'hopsworks-instance-tdreuse');
    const again = await h.submitApproved(first.target, { roleName: 'hopsworks-instance-tdreuse' });
    await h.runner().drain();
    const second = (await h.store.get(again.id))!;
    expect(second.state).toBe('succeeded');
    const td = await teardownPlan(second, true);
    expect(td.plan.steps.every((s) => s.action === 'keep')).toBe(true);
  });

  it('keeps a resource whose request tag no longer matches', async () => {
    const parent = await setup('rg-td-tag', 'hopsworks-instance-tdtag');
    const c = h.clients.forSubscription(parent.target.subscriptionId);
    await c.msi.userAssignedIdentities.createOrUpdate(parent.target.resourceGroup, 'hopsworks-instance', { location: parent.target.location, tags: { owner: 'data-platform' } });
    const { plan } = await teardownPlan(parent, true);
    expect(plan.steps.find((s) => s.id === 'managedIdentity')!.action).toBe('keep');
    expect(plan.warnings.join('\n')).toMatch(/no longer carries the tag hopsworks-setup-request/);
  });
});
