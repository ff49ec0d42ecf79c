import * as crypto from 'node:crypto';
import type { ArmSimulator } from '../../src/azure/simulator';
import { clientsAs, clientsFor, collect, startSimulatorWithClients, type SimClients } from '../helpers/arm-simulator';

const RG = 'rg-hopsworks-dev';
const OTHER_SUB = '00000000-0000-0000-0000-0000000000b2';
let sim: ArmSimulator;
let c: SimClients;
let readerClientId: string;
let rgScope: string;
let subScope: string;

beforeAll(async () => {
  ({ sim, clients: c } = await startSimulatorWithClients({
    timeScale: 0.001,
    // Replication far longer than any test: a new identity stays invisible until propagatePrincipal().
    propagationDelayMs: 10 * 60 * 60 * 1000,
    principals: [{ displayName: 'read-only-operator', clientId: crypto.randomUUID(), actions: ['*/read'] }],
    subscriptions: [
      { subscriptionId: '00000000-0000-0000-0000-000000000001', displayName: 'Sandbox subscription', resourceGroups: [{ name: RG, location: 'westeurope' }, { name: 'rg-analytics', location: 'eastus' }] },
      { subscriptionId: OTHER_SUB, displayName: 'Other team', resourceGroups: [{ name: 'rg-other', location: 'northeurope' }] },
    ],
  }));
  readerClientId = Object.values(sim.state.principals).find((p) => p.displayName === 'read-only-operator')!.clientId;
  rgScope = `/subscriptions/${sim.subscriptionId}/resourceGroups/${RG}`;
  subScope = `/subscriptions/${sim.subscriptionId}`;
});
afterAll(async () => {
  await sim.close();
});

const instanceRole = (name: string, scope: string) => ({
  roleName: name,
  roleType: 'CustomRole',
  description: 'Allow the hopsworks instance to access the storage and the docker repository',
  permissions: [
    {
      actions: ['Microsoft.Storage/storageAccounts/blobServices/containers/read', 'Microsoft.ContainerRegistry/registries/pull/read'],
      notActions: [],
      dataActions: ['Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'],
      notDataActions: [],
    },
  ],
  assignableScopes: [scope],
});

describe('managed identities', () => {
  it('creates an identity with principal and client ids, and a repeated PUT keeps the same principal', async () => {
    const first = await c.msi.userAssignedIdentities.createOrUpdate(RG, 'hopsworks-instance', { location: 'westeurope', tags: { app: 'hopsworks' } });
    expect(first).toMatchObject({ name: 'hopsworks-instance', tenantId: sim.tenantId, tags: { app: 'hopsworks' } });
    expect(first.id).toBe(`/subscriptions/${sim.subscriptionId}/resourcegroups/${RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/hopsworks-instance`);
    expect(first.principalId).toMatch(/^[0-9a-f-]{36}$/);
    const again = await c.msi.userAssignedIdentities.createOrUpdate(RG, 'hopsworks-instance', { location: 'westeurope' });
    expect([again.principalId, again.clientId]).toEqual([first.principalId, first.clientId]);
    expect((await c.msi.userAssignedIdentities.get(RG, 'hopsworks-instance')).principalId).toBe(first.principalId);
    expect((await collect(c.msi.userAssignedIdentities.listByResourceGroup(RG))).map((i) => i.name)).toEqual(['hopsworks-instance']);
  });
});

describe('role definitions and assignments', () => {
  it('creates a custom role, finds it by name at RG and subscription scope, and keeps role names tenant-unique', async () => {
    const guid = crypto.randomUUID();
    const def = await c.authorization.roleDefinitions.createOrUpdate(rgScope, guid, instanceRole('hopsworks-instance', rgScope));
    expect(def).toMatchObject({ name: guid, roleName: 'hopsworks-instance', roleType: 'CustomRole', assignableScopes: [rgScope] });
    expect(def.id).toBe(`/subscriptions/${sim.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${guid}`);
    expect((await c.authorization.roleDefinitions.get(rgScope, guid)).permissions?.[0].actions).toHaveLength(2);

    for (const scope of [rgScope, subScope]) {
      const found = await collect(c.authorization.roleDefinitions.list(scope, { filter: "roleName eq 'hopsworks-instance'" }));
      expect(found.map((d) => d.name)).toEqual([guid]);
    }
    expect(await collect(c.authorization.roleDefinitions.list(rgScope, { filter: "roleName eq 'no-such-role'" }))).toEqual([]);
    const builtIn = await collect(c.authorization.roleDefinitions.list(subScope, { filter: "roleName eq 'Reader'" }));
    expect(builtIn.map((d) => d.roleType)).toEqual(['BuiltInRole']);

    await expect(c.authorization.roleDefinitions.createOrUpdate(rgScope, crypto.randomUUID(), instanceRole('rooted', '/'))).rejects.toMatchObject({ statusCode: 400, code: 'InvalidAssignableScopes' });
    await expect(
      c.authorization.roleDefinitions.createOrUpdate(rgScope, crypto.randomUUID(), instanceRole('nowhere', `/subscriptions/${sim.subscriptionId}/resourceGroups/rg-missing`)),
    ).rejects.toMatchObject({ statusCode: 404, code: 'ResourceGroupNotFound' });

    // The same GUID again is an update; another GUID with the same name anywhere in the tenant is refused.
    await c.authorization.roleDefinitions.createOrUpdate(rgScope, guid, instanceRole('hopsworks-instance', rgScope));
    const otherRg = `/subscriptions/${sim.subscriptionId}/resourceGroups/rg-analytics`;
    await expect(
      c.authorization.roleDefinitions.createOrUpdate(otherRg, crypto.randomUUID(), instanceRole('hopsworks-instance', otherRg)),
    ).rejects.toMatchObject({ statusCode: 409, code: 'RoleDefinitionWithSameNameExists' });
  });

  it('refuses an assignment to a principal that has not propagated unless principalType is given', async () => {
    const identity = await c.msi.userAssignedIdentities.createOrUpdate(RG, 'fresh-identity', { location: 'westeurope' });
    const def = await c.authorization.roleDefinitions.createOrUpdate(rgScope, crypto.randomUUID(), instanceRole('fresh-role', rgScope));
    const guid = crypto.randomUUID();
    const err = await c.authorization.roleAssignments
      .create(rgScope, guid, { roleDefinitionId: def.id!, principalId: identity.principalId! })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 400, code: 'PrincipalNotFound' });
    expect(String((err as Error).message)).toContain('principalType');
    expect(sim.roleAssignments()).toHaveLength(0);

    const ra = await c.authorization.roleAssignments.create(rgScope, guid, { roleDefinitionId: def.id!, principalId: identity.principalId!, principalType: 'ServicePrincipal' });
    expect(ra).toMatchObject({ name: guid, principalId: identity.principalId, principalType: 'ServicePrincipal', scope: rgScope });
    // Same GUID and content again: idempotent. Same principal, role and scope under another GUID: conflict.
    const again = await c.authorization.roleAssignments.create(rgScope, guid, { roleDefinitionId: def.id!, principalId: identity.principalId!, principalType: 'ServicePrincipal' });
    expect(again.id).toBe(ra.id);
    await expect(
      c.authorization.roleAssignments.create(rgScope, crypto.randomUUID(), { roleDefinitionId: def.id!, principalId: identity.principalId!, principalType: 'ServicePrincipal' }),
    ).rejects.toMatchObject({ statusCode: 409, code: 'RoleAssignmentExists' });
    expect(sim.roleAssignments()).toHaveLength(1);

    const listed = await collect(c.authorization.roleAssignments.listForScope(rgScope, { filter: `principalId eq '${identity.principalId}'` }));
    expect(listed.map((a) => a.name)).toEqual([guid]);
    expect(await collect(c.authorization.roleAssignments.listForScope(rgScope, { filter: `principalId eq '${crypto.randomUUID()}'` }))).toEqual([]);

    // A role with assignments cannot be deleted; after removing the assignment it can.
    await expect(c.authorization.roleDefinitions.delete(rgScope, def.name!)).rejects.toMatchObject({ statusCode: 409, code: 'RoleDefinitionHasAssignments' });
    await c.authorization.roleAssignments.delete(rgScope, guid);
    await c.authorization.roleDefinitions.delete(rgScope, def.name!);
    await expect(c.authorization.roleDefinitions.get(rgScope, def.name!)).rejects.toMatchObject({ statusCode: 404 });
  });

  it('accepts an assignment without principalType once the principal has propagated', async () => {
    const identity = await c.msi.userAssignedIdentities.createOrUpdate(RG, 'settled-identity', { location: 'westeurope' });
    const def = await c.authorization.roleDefinitions.createOrUpdate(rgScope, crypto.randomUUID(), instanceRole('settled-role', rgScope));
    sim.propagatePrincipal(identity.principalId!);
    const ra = await c.authorization.roleAssignments.create(rgScope, crypto.randomUUID(), { roleDefinitionId: def.id!, principalId: identity.principalId! });
    expect(ra.principalType).toBe('ServicePrincipal');
  });
});

describe('permissions', () => {
  it('lists the caller’s actions on a resource group: the bot holds what the plan needs', async () => {
    const perms = await collect(c.authorization.permissions.listForResourceGroup(RG));
    const actions = perms.flatMap((p) => p.actions ?? []);
    expect(actions).toEqual(expect.arrayContaining([
      'Microsoft.Authorization/roleDefinitions/write',
      'Microsoft.Authorization/roleAssignments/write',
      'Microsoft.Compute/sshPublicKeys/generateKeyPair/action',
      'Microsoft.ContainerRegistry/registries/write',
      'Microsoft.ManagedIdentity/userAssignedIdentities/write',
      'Microsoft.Storage/storageAccounts/write',
      'Microsoft.Resources/subscriptions/resourceGroups/read',
    ]));
  });

  it('answers an under-privileged identity with its own permissions and 403 AuthorizationFailed on writes, changing nothing', async () => {
    const reader = clientsAs(sim, readerClientId);
    const perms = await collect(reader.authorization.permissions.listForResourceGroup(RG));
    expect(perms.flatMap((p) => p.actions ?? [])).toEqual(['*/read']);
    const before = sim.resources();
    const err = await reader.storage.storageAccounts
      .beginCreateAndWait(RG, 'readerstore001', { location: 'westeurope', sku: { name: 'Standard_LRS' }, kind: 'StorageV2', minimumTlsVersion: 'TLS1_2' })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    expect(String((err as Error).message)).toContain("does not have authorization to perform action 'Microsoft.Storage/storageAccounts/write'");
    await expect(reader.authorization.roleDefinitions.createOrUpdate(rgScope, crypto.randomUUID(), instanceRole('reader-role', rgScope))).rejects.toMatchObject({ statusCode: 403 });
    await expect(reader.resources.providers.register('Microsoft.Network')).rejects.toMatchObject({ statusCode: 403 });
    expect(sim.resources()).toEqual(before);
    expect(sim.requestLog.filter((e) => e.status === 403).every((e) => e.principal !== sim.botPrincipalId)).toBe(true);

    // Permissions changed by a test apply on the next request.
    sim.setPrincipalPermissions(readerClientId, ['*/read', 'Microsoft.Storage/storageAccounts/write']);
    await reader.storage.storageAccounts.beginCreateAndWait(RG, 'readerstore001', { location: 'westeurope', sku: { name: 'Standard_LRS' }, kind: 'StorageV2', minimumTlsVersion: 'TLS1_2' });
  });
});

describe('one tenant, several subscriptions', () => {
  it('keeps role names unique across the tenant and storage names global across subscriptions', async () => {
    const other = clientsFor(sim, c.credential, OTHER_SUB);
    expect((await collect(c.subscriptions.subscriptions.list())).map((s) => s.subscriptionId).sort()).toEqual([sim.subscriptionId, OTHER_SUB].sort());
    const otherScope = `/subscriptions/${OTHER_SUB}/resourceGroups/rg-other`;
    await other.authorization.roleDefinitions.createOrUpdate(otherScope, crypto.randomUUID(), instanceRole('tenant-wide-name', otherScope));
    await expect(
      c.authorization.roleDefinitions.createOrUpdate(rgScope, crypto.randomUUID(), instanceRole('tenant-wide-name', rgScope)),
    ).rejects.toMatchObject({ statusCode: 409, code: 'RoleDefinitionWithSameNameExists' });
    // Not visible by name from a scope it cannot be assigned at.
    expect(await collect(c.authorization.roleDefinitions.list(rgScope, { filter: "roleName eq 'tenant-wide-name'" }))).toEqual([]);

    await other.storage.storageAccounts.beginCreateAndWait('rg-other', 'sharedname001', { location: 'northeurope', sku: { name: 'Standard_LRS' }, kind: 'StorageV2', minimumTlsVersion: 'TLS1_2' });
    await expect(
      c.storage.storageAccounts.beginCreateAndWait(RG, 'sharedname001', { location: 'westeurope', sku: { name: 'Standard_LRS' }, kind: 'StorageV2', minimumTlsVersion: 'TLS1_2' }),
    ).rejects.toMatchObject({ statusCode: 409, code: 'StorageAccountAlreadyTaken' });
  });

  it('refuses a principalType that contradicts the directory once the principal is known', async () => {
    const def = await c.authorization.roleDefinitions.createOrUpdate(rgScope, crypto.randomUUID(), instanceRole('type-check-role', rgScope));
    await expect(
      c.authorization.roleAssignments.create(rgScope, crypto.randomUUID(), { roleDefinitionId: def.id!, principalId: sim.botPrincipalId, principalType: 'User' }),
    ).rejects.toMatchObject({ statusCode: 400, code: 'UnmatchedPrincipalType' });
  });
});
