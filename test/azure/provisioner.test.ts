import { isBotError } from '../../src/core/errors';
import type { PlanStep, SetupRequest } from '../../src/core/types';
import { TAG_MANAGED_BY, TAG_REQUEST } from '../../src/azure/arm';
import { HOPSWORKS_ROLE_ACTIONS, INSTANCE_ROLE_ACTIONS, INSTANCE_ROLE_DATA_ACTIONS } from '../../src/azure/roles';
import { DEFAULT_BOT_ACTIONS } from '../../src/azure/simulator';
import { assignmentsIn, counterRandom, inventory, requesterActor, startAzureHarness, type AzureHarness } from '../helpers/azure-provisioner';

const byId = (steps: PlanStep[], id: string): PlanStep => {
  const s = steps.find((x) => x.id === id);
  if (!s) throw new Error(`no step ${id}`);
  return s;
};

describe('AzureProvisioner against the ARM simulator (real SDK clients over HTTPS)', () => {
  let h: AzureHarness;
  beforeAll(async () => {
    h = await startAzureHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('discovers subscriptions with their tenant and resource groups with their location', async () => {
    const p = h.provisioner();
    const subs = await p.listSubscriptions();
    expect(subs).toContainEqual(expect.objectContaining({ subscriptionId: h.sim.subscriptionId, tenantId: h.sim.tenantId }));
    const rgs = await p.listResourceGroups(h.sim.subscriptionId);
    expect(rgs).toContainEqual({ name: 'rg-hopsworks-dev', location: 'westeurope' });
  });

  it('fresh resource group: plans the guide, applies it through the JobRunner and returns every form value', async () => {
    const target = h.newResourceGroup('rg-fresh', 'northeurope');
    const p = h.provisioner();
    const req = await h.submitApproved(target, {}, p);
    const plan = req.plan!;
    // Long-running operations answer 202 and are polled (Retry-After) like real Storage and ACR.
    h.sim.setLatency({ inlineLroMaxMs: 1 });
    expect(plan.missingPermissions).toEqual([]);
    expect(plan.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(plan.cost.priceListDate).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(plan.cost.monthlyTotal).toBeGreaterThan(40);

    const sa = byId(plan.steps, 'storageAccount');
    expect(sa).toMatchObject({ action: 'create', dependsOn: ['provider:Microsoft.Storage'] });
    expect(sa.properties).toMatchObject({ kind: 'StorageV2', sku: 'Standard_RAGRS', minimumTlsVersion: 'TLS1_2', allowBlobPublicAccess: false, enableHttpsTrafficOnly: true, location: 'northeurope' });
    expect(sa.properties.tags).toEqual({ [TAG_REQUEST]: req.id, [TAG_MANAGED_BY]: 'hopsworks-setup-bot' });
    expect(byId(plan.steps, 'containerRegistry').properties).toMatchObject({ sku: 'Premium', adminUserEnabled: false });
    expect(byId(plan.steps, 'registryRetention')).toMatchObject({ dependsOn: ['containerRegistry'], properties: { days: 7, status: 'enabled' } });
    expect(byId(plan.steps, 'roleDefinition').properties).toMatchObject({
      permissions: [{ actions: [...INSTANCE_ROLE_ACTIONS], notActions: [], dataActions: [...INSTANCE_ROLE_DATA_ACTIONS], notDataActions: [] }],
      assignableScopes: [`/subscriptions/${target.subscriptionId}/resourceGroups/${target.resourceGroup}`],
    });
    expect(byId(plan.steps, 'roleAssignment').dependsOn.sort()).toEqual(['managedIdentity', 'roleDefinition']);
    // The default subscription starts with two providers unregistered.
    expect(plan.steps.filter((s) => s.kind === 'registerProvider' && s.action === 'create').map((s) => s.id).sort()).toEqual([
      'provider:Microsoft.ContainerRegistry',
      'provider:Microsoft.ManagedIdentity',
    ]);

    try {
      await h.runner(p).drain();
    } finally {
      h.sim.setLatency({ inlineLroMaxMs: 250 });
    }
    const done = (await h.store.get(req.id))!;
    expect(done.state).toBe('succeeded');
    expect(done.outputs).toEqual({
      resourceGroup: target.resourceGroup,
      location: 'northeurope',
      storageAccountName: done.options.storageAccountName,
      containerName: done.options.containerName,
      registryName: done.options.registryName,
      sshKeyName: 'hopsworksKey',
      managedIdentityName: 'hopsworks-instance',
      managedIdentityResourceId: expect.stringMatching(/\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/hopsworks-instance$/),
      backupRetentionDays: 7,
      subscriptionId: target.subscriptionId,
      tenantId: h.sim.tenantId,
    });
    expect(inventory(h.sim, target.resourceGroup)).toEqual({
      'Microsoft.Storage/storageAccounts': [done.options.storageAccountName],
      'Microsoft.Storage/storageAccounts/blobServices/containers': [done.options.containerName],
      'Microsoft.ContainerRegistry/registries': [done.options.registryName],
      'Microsoft.ManagedIdentity/userAssignedIdentities': ['hopsworks-instance'],
      'Microsoft.Compute/sshPublicKeys': ['hopsworksKey'],
    });
    const assignments = assignmentsIn(h.sim, target.resourceGroup);
    expect(assignments).toHaveLength(1);
    expect(assignments[0]).toMatchObject({ principalId: done.steps.managedIdentity.output!.principalId, principalType: 'ServicePrincipal' });

    // The generated private key went to the requester once and nowhere else.
    const secrets = h.notifier.secrets.filter((s) => s.requestId === req.id);
    expect(secrets).toHaveLength(1);
    expect(secrets[0].secret.value).toContain('PRIVATE KEY');
    const keyBody = secrets[0].secret.value.split('\n')[1];
    const stored = JSON.stringify([await h.store.get(req.id), await h.store.listAudit(req.id)]);
    expect(stored).not.toContain(keyBody);
    expect(h.logger.text()).not.toContain(keyBody);
  });

  it('everything already exists: the plan is all reuse and applying it makes zero ARM writes', async () => {
    const target = h.newResourceGroup('rg-again');
    const first = await h.submitApproved(target);
    await h.runner().drain();
    expect((await h.store.get(first.id))!.state).toBe('succeeded');

    const p = h.provisioner();
    const id = await h.store.nextId();
    const options = await p.suggestOptions(target, id);
    // The earlier request's resources are proposed again.
    expect(options).toMatchObject({ storageAccountName: first.options.storageAccountName, registryName: first.options.registryName, containerName: first.options.containerName });
    const plan = await p.preflight({ requestId: id, kind: 'setup', target, options });
    expect(plan.steps.map((s) => `${s.id}:${s.action}`).filter((s) => !s.endsWith(':reuse'))).toEqual([]);
    expect(plan.cost.monthlyTotal).toBe(0);
    expect(plan.warnings.join('\n')).toMatch(/no new key pair is generated/);

    const writesBefore = h.sim.countWrites();
    const req = await h.service.submit({ id, kind: 'setup', requester: requesterActor, target, options, reason: 'Second cluster', plan, conversations: { activityIds: {} } });
    await h.service.approve(req.id, { platform: 'teams', userId: 'aad-alice', displayName: 'Alice' }, plan.hash);
    await h.runner(p).drain();
    const done = (await h.store.get(id))!;
    expect(done.state).toBe('succeeded');
    expect(h.sim.countWrites() - writesBefore).toBe(0);
    expect(done.outputs?.storageAccountName).toBe(first.options.storageAccountName);
    expect(done.outputs?.managedIdentityResourceId).toBe((await h.store.get(first.id))!.outputs?.managedIdentityResourceId);
  });

  it('skips taken global names when suggesting, and refuses a typed name that is taken, quoting the rule', async () => {
    const target = h.newResourceGroup('rg-names');
    // A separate sequence so the first generated storage name is known: hopsworksbbbb0001.
    let n = 1;
    const random = () => `bbbb${String(n++).padStart(4, '0')}`;
    h.sim.takeGlobalName('storage', 'hopsworksbbbb0001');
    h.sim.takeGlobalName('registry', 'hopsworksecr');
    const p = h.provisioner({ random });
    const options = await p.suggestOptions(target, 'HW-9001');
    expect(options.storageAccountName).toBe('hopsworksbbbb0002');
    expect(options.registryName).not.toBe('hopsworksecr');
    expect(options.registryName).toMatch(/^hopsworks[a-z0-9]{8}$/);

    const err = await p.preflight({ requestId: 'HW-9001', kind: 'setup', target, options: { ...options, storageAccountName: 'hopsworksbbbb0001' } }).catch((e: unknown) => e);
    expect(isBotError(err, 'VALIDATION')).toBe(true);
    expect((err as Error).message).toContain('already taken');
    expect((err as Error).message).toContain('3-24 characters, lowercase letters and numbers');
    expect((err as { details: { field: string } }).details.field).toBe('storageAccountName');

    const bad = await p.preflight({ requestId: 'HW-9001', kind: 'setup', target, options: { ...options, registryName: 'hops-ecr' } }).catch((e: unknown) => e);
    expect((bad as { details: { field: string } }).details.field).toBe('registryName');
    expect((bad as Error).message).toContain('5-50 characters');
  });

  it('registers unregistered providers and polls until they are Registered', async () => {
    for (const ns of ['Microsoft.Network', 'Microsoft.Compute', 'Microsoft.Storage']) h.sim.setProviderState(ns, 'NotRegistered');
    const target = h.newResourceGroup('rg-providers');
    const req = await h.submitApproved(target);
    expect(req.plan!.steps.filter((s) => s.kind === 'registerProvider' && s.action === 'create').map((s) => s.id).sort()).toEqual([
      'provider:Microsoft.Compute',
      'provider:Microsoft.Network',
      'provider:Microsoft.Storage',
    ]);
    expect(req.plan!.missingPermissions).toEqual([]);
    await h.runner().drain();
    const done = (await h.store.get(req.id))!;
    expect(done.state).toBe('succeeded');
    for (const ns of ['Microsoft.Network', 'Microsoft.Compute', 'Microsoft.Storage']) {
      expect(done.steps[`provider:${ns}`].output).toEqual({ namespace: ns, registrationState: 'Registered' });
    }
    expect(h.sim.countWrites(/\/providers\/Microsoft\.Network\/register$/i)).toBe(1);
  });

  it('lists missing permissions by name and the core refuses to submit the plan', async () => {
    const target = h.newResourceGroup('rg-perms');
    const without = new Set(['Microsoft.Authorization/roleDefinitions/write', 'Microsoft.Compute/sshPublicKeys/generateKeyPair/action']);
    h.sim.setPrincipalPermissions(h.sim.botPrincipalId, DEFAULT_BOT_ACTIONS.filter((a) => !without.has(a)));
    try {
      const p = h.provisioner();
      const id = await h.store.nextId();
      const options = await p.suggestOptions(target, id);
      const plan = await p.preflight({ requestId: id, kind: 'setup', target, options });
      expect(plan.missingPermissions.sort()).toEqual([...without].sort());
      const err = await h.service
        .submit({ id, kind: 'setup', requester: requesterActor, target, options, reason: 'x', plan, conversations: { activityIds: {} } })
        .catch((e: unknown) => e);
      expect(isBotError(err, 'MISSING_PERMISSIONS')).toBe(true);
      expect(await h.store.get(id)).toBeUndefined();
    } finally {
      h.sim.setPrincipalPermissions(h.sim.botPrincipalId, [...DEFAULT_BOT_ACTIONS]);
    }
  });

  it('an identity that cannot do the preflight reads gets MISSING_PERMISSIONS naming them, before any plan', async () => {
    const target = h.newResourceGroup('rg-noread');
    const p = h.provisioner();
    const options = await p.suggestOptions(target, 'HW-9100');
    h.sim.setPrincipalPermissions(h.sim.botPrincipalId, DEFAULT_BOT_ACTIONS.filter((a) => a !== 'Microsoft.ContainerRegistry/registries/read'));
    try {
      const err = await p.preflight({ requestId: 'HW-9100', kind: 'setup', target, options }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'MISSING_PERMISSIONS', details: { missingPermissions: ['Microsoft.ContainerRegistry/registries/read'] } });
    } finally {
      h.sim.setPrincipalPermissions(h.sim.botPrincipalId, [...DEFAULT_BOT_ACTIONS]);
    }
  });

  it('a step the identity may not do fails with the ARM code, message and a remediation naming the action', async () => {
    const target = h.newResourceGroup('rg-denied');
    const req = await h.submitApproved(target);
    // Permission removed after approval: apply meets AuthorizationFailed.
    h.sim.setPrincipalPermissions(h.sim.botPrincipalId, DEFAULT_BOT_ACTIONS.filter((a) => a !== 'Microsoft.ContainerRegistry/registries/write'));
    try {
      await h.runner().drain();
    } finally {
      h.sim.setPrincipalPermissions(h.sim.botPrincipalId, [...DEFAULT_BOT_ACTIONS]);
    }
    const failed = (await h.store.get(req.id))!;
    expect(failed.state).toBe('failed');
    expect(failed.steps.containerRegistry.error).toMatchObject({
      code: 'AuthorizationFailed',
      message: expect.stringContaining('Microsoft.ContainerRegistry/registries/write'),
      remediation: expect.stringContaining(`"Microsoft.ContainerRegistry/registries/write" on /subscriptions/${target.subscriptionId}/resourceGroups/${target.resourceGroup}`),
    });
    // Retry after the fix finishes the request.
    await h.service.retry(req.id, requesterActor);
    await h.runner().drain();
    const retried = (await h.store.get(req.id))!;
    expect(Object.entries(retried.steps).filter(([, st]) => st.status !== 'done')).toEqual([]);
    expect(retried.state).toBe('succeeded');
  });

  it('setups in one subscription read each registered provider once; a provider unregistered since the plan fails its step with a clear remediation', async () => {
    const providerReads = (from: number) =>
      h.sim.requestLog.slice(from).filter((e) => e.method === 'GET' && /\/providers\/Microsoft\.[A-Za-z]+$/.test(e.path) && !e.path.includes('/resourceGroups/')).length;
    // Three approved setups (their plans read the providers) run together: the steps read each namespace at most once.
    // (Earlier tests registered the two the default subscription starts without.)
    for (const ns of ['Microsoft.ContainerRegistry', 'Microsoft.ManagedIdentity']) h.sim.setProviderState(ns, 'Registered');
    const reqs = [];
    // Each from its own name sequence: plans made before any of them ran would otherwise all propose the same free names.
    for (const [i, name] of ['rg-burst-a', 'rg-burst-b', 'rg-burst-c'].entries()) reqs.push(await h.submitApproved(h.newResourceGroup(name), {}, h.provisioner({ random: counterRandom(100 * (i + 1)) })));
    for (const r of reqs) expect(r.plan!.steps.filter((s) => s.kind === 'registerProvider').every((s) => s.action === 'reuse')).toBe(true);
    const before = h.sim.requestLog.length;
    await h.runner().drain();
    for (const r of reqs) expect(Object.entries((await h.store.get(r.id))!.steps).filter(([, st]) => st.status !== 'done')).toEqual([]);
    expect(providerReads(before)).toBeLessThanOrEqual(5);
    // A fourth right after: no provider read at all.
    const next = await h.submitApproved(h.newResourceGroup('rg-burst-d'), {}, h.provisioner({ random: counterRandom(400) }));
    const beforeNext = h.sim.requestLog.length;
    await h.runner().drain();
    expect((await h.store.get(next.id))!.state).toBe('succeeded');
    expect(providerReads(beforeNext)).toBe(0);

    // Eleven minutes later the trust has lapsed: the step reads again, and finds the provider unregistered
    // since the plan. It fails before any resource is written instead of meeting MissingSubscriptionRegistration.
    const later = { now: () => new Date(Date.now() + 11 * 60_000) };
    const p = h.provisioner({ clock: later, random: counterRandom(600) });
    const target = h.newResourceGroup('rg-unregistered');
    const req = await h.submitApproved(target, {}, p);
    h.sim.setProviderState('Microsoft.Storage', 'NotRegistered');
    try {
      await h.runner(p).drain();
      const failed = (await h.store.get(req.id))!;
      expect(failed.state).toBe('failed');
      expect(failed.steps['provider:Microsoft.Storage'].error).toMatchObject({
        code: 'ProviderNoLongerRegistered',
        message: expect.stringContaining('Microsoft.Storage was registered when the plan was made and is now NotRegistered'),
        remediation: expect.stringContaining('az provider register --namespace Microsoft.Storage'),
      });
      expect(inventory(h.sim, target.resourceGroup).storageAccounts ?? []).toEqual([]);
      // Registered again by an admin: retry finishes the request.
      h.sim.setProviderState('Microsoft.Storage', 'Registered');
      await h.service.retry(req.id, requesterActor);
      await h.runner(p).drain();
      expect((await h.store.get(req.id))!.state).toBe('succeeded');
    } finally {
      h.sim.setProviderState('Microsoft.Storage', 'Registered');
    }
  });

  it('a global name taken after approval fails the step with the ARM code (from the LRO or the response) and a remediation', async () => {
    const target = h.newResourceGroup('rg-race');
    const req = await h.submitApproved(target);
    h.sim.takeGlobalName('registry', req.options.registryName);
    h.sim.takeGlobalName('storage', req.options.storageAccountName);
    await h.runner().drain();
    const failed = (await h.store.get(req.id))!;
    expect(failed.state).toBe('failed');
    const errors = [failed.steps.containerRegistry.error, failed.steps.storageAccount.error].filter(Boolean);
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) {
      expect(e!.code).toMatch(/AlreadyInUse|StorageAccountAlreadyTaken/);
      expect(e!.remediation).toMatch(/Start a new setup/);
    }
  });

  it('a registry create whose long-running operation fails reports the code ACR put only in the message', async () => {
    const target = h.newResourceGroup('rg-lro-fail');
    h.sim.setProviderState('Microsoft.ContainerRegistry', 'Registered');
    const p = h.provisioner();
    const id = await h.store.nextId();
    const options = await p.suggestOptions(target, id);
    const plan = await p.preflight({ requestId: id, kind: 'setup', target, options });
    const request = { id, kind: 'setup', target, options, plan, steps: {} } as unknown as SetupRequest;
    // A 3 s creation (scaled): core-lro's first poll waits for Retry-After, and by then the registry is gone.
    h.sim.setLatency({ inlineLroMaxMs: 1, durations: { registry: 3_000_000 } });
    try {
      const running = p.executeStep(request, byId(plan.steps, 'containerRegistry')).catch((e: unknown) => e);
      const c = h.clients.forSubscription(target.subscriptionId);
      // The registry is deleted by someone while its creation is still running.
      for (let i = 0; i < 1000 && !(await c.registry.registries.get(target.resourceGroup, options.registryName).then(() => true, () => false)); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      await c.registry.registries.beginDeleteAndWait(target.resourceGroup, options.registryName, { updateIntervalInMs: 5 });
      const err = await running;
      expect(err).toMatchObject({
        code: 'AZURE',
        details: { error: { code: 'ResourceNotFound', message: 'The registry was deleted while the operation was running.', remediation: expect.any(String) } },
      });
    } finally {
      h.sim.setLatency({ inlineLroMaxMs: 250, durations: { registry: 20_000 } });
    }
  });

  it('drift in an earlier setup (TLS 1.0 and public blobs, registry not Premium, retention off, role actions changed) becomes update steps that fix it', async () => {
    const target = h.newResourceGroup('rg-drift');
    const first = await h.submitApproved(target, { roleName: 'hopsworks-instance-drift' });
    await h.runner().drain();
    const c = h.clients.forSubscription(target.subscriptionId);
    await c.registry.registries.beginUpdateAndWait(target.resourceGroup, first.options.registryName, { policies: { retentionPolicy: { days: 7, status: 'disabled' } } }, { updateIntervalInMs: 5 });
    await c.registry.registries.beginUpdateAndWait(target.resourceGroup, first.options.registryName, { sku: { name: 'Standard' }, adminUserEnabled: true }, { updateIntervalInMs: 5 });
    await c.storage.storageAccounts.update(target.resourceGroup, first.options.storageAccountName, { minimumTlsVersion: 'TLS1_0', allowBlobPublicAccess: true });
    const guid = (await h.store.get(first.id))!.steps.roleDefinition.output!.guid;
    const scope = `/subscriptions/${target.subscriptionId}/resourceGroups/${target.resourceGroup}`;
    const role = await c.authorization.roleDefinitions.get(scope, guid);
    await c.authorization.roleDefinitions.createOrUpdate(scope, guid, { ...role, permissions: [{ actions: INSTANCE_ROLE_ACTIONS.slice(0, 3), notActions: [], dataActions: [], notDataActions: [] }] });

    const p = h.provisioner();
    const id = await h.store.nextId();
    const options = { ...(await p.suggestOptions(target, id)), roleName: 'hopsworks-instance-drift' };
    const plan = await p.preflight({ requestId: id, kind: 'setup', target, options });
    expect(byId(plan.steps, 'containerRegistry')).toMatchObject({ action: 'update', properties: { sku: 'Premium', adminUserEnabled: false } });
    expect(byId(plan.steps, 'registryRetention')).toMatchObject({ action: 'update', dependsOn: ['containerRegistry'] });
    expect(byId(plan.steps, 'roleDefinition').action).toBe('update');
    expect(byId(plan.steps, 'storageAccount')).toMatchObject({ action: 'update', properties: { minimumTlsVersion: 'TLS1_2', allowBlobPublicAccess: false } });
    expect(plan.warnings.filter((w) => w.startsWith('Drift:'))).toHaveLength(4);
    await h.service.submit({ id, kind: 'setup', requester: requesterActor, target, options, reason: 'fix drift', plan, conversations: { activityIds: {} } });
    await h.service.approve(id, { platform: 'teams', userId: 'aad-alice', displayName: 'Alice' }, plan.hash);
    await h.runner(p).drain();
    expect((await h.store.get(id))!.state).toBe('succeeded');
    const reg = await c.registry.registries.get(target.resourceGroup, first.options.registryName);
    expect(reg.sku.name).toBe('Premium');
    expect(reg.adminUserEnabled).toBe(false);
    expect(reg.policies?.retentionPolicy).toMatchObject({ days: 7, status: 'enabled' });
    const sa = await c.storage.storageAccounts.getProperties(target.resourceGroup, first.options.storageAccountName);
    expect(sa).toMatchObject({ minimumTlsVersion: 'TLS1_2', allowBlobPublicAccess: false });
    const fixed = await c.authorization.roleDefinitions.get(scope, guid);
    expect([...(fixed.permissions?.[0].actions ?? [])].sort()).toEqual([...INSTANCE_ROLE_ACTIONS].sort());
  });

  it('a role name used in the tenant with other permissions is never reused: the plan picks another name', async () => {
    const target = h.newResourceGroup('rg-rolename');
    const c = h.clients.forSubscription(target.subscriptionId);
    const otherScope = `/subscriptions/${target.subscriptionId}/resourceGroups/rg-analytics`;
    await c.authorization.roleDefinitions.createOrUpdate(otherScope, '3f2a7c1e-5b6d-4e8f-9a0b-1c2d3e4f5a6b', {
      roleName: 'hopsworks-taken',
      roleType: 'CustomRole',
      permissions: [{ actions: ['Microsoft.Storage/*/read'], notActions: [], dataActions: [], notDataActions: [] }],
      assignableScopes: [otherScope],
    });
    const req = await h.submitApproved(target, { roleName: 'hopsworks-taken' });
    const role = byId(req.plan!.steps, 'roleDefinition');
    expect(role.action).toBe('create');
    expect(role.properties.roleName).not.toBe('hopsworks-taken');
    expect(req.plan!.warnings.join('\n')).toContain('already exists in the tenant with other permissions');
    await h.runner().drain();
    expect((await h.store.get(req.id))!.state).toBe('succeeded');
  });

  it('a second resource group reuses the tenant-wide role by extending its assignable scopes', async () => {
    const a = h.newResourceGroup('rg-shared-a');
    const b = h.newResourceGroup('rg-shared-b');
    const first = await h.submitApproved(a, { roleName: 'hopsworks-instance-shared' });
    await h.runner().drain();
    const second = await h.submitApproved(b, { roleName: 'hopsworks-instance-shared' });
    const role = byId(second.plan!.steps, 'roleDefinition');
    expect(role.action).toBe('update');
    expect(role.properties.assignableScopes).toHaveLength(2);
    await h.runner().drain();
    expect((await h.store.get(second.id))!.state).toBe('succeeded');
    expect((await h.store.get(second.id))!.steps.roleDefinition.output!.guid).toBe((await h.store.get(first.id))!.steps.roleDefinition.output!.guid);
  });

  it('Step 1: with the hopsworks.ai service principal object id, its 35-action role is created and assigned', async () => {
    const target = h.newResourceGroup('rg-step1');
    const sp = h.sim.addPrincipal({ displayName: 'hopsworks.ai', type: 'ServicePrincipal' });
    const req: SetupRequest = await h.submitApproved(target, { hopsworksSpObjectId: sp.principalId });
    const def = byId(req.plan!.steps, 'hopsworksRoleDefinition');
    expect((def.properties.permissions as Array<{ actions: string[] }>)[0].actions).toEqual([...HOPSWORKS_ROLE_ACTIONS]);
    expect(req.plan!.warnings.join('\n')).toContain('az ad sp create --id d4abcc44-2c40-40bd-9bba-986df591c28f');
    await h.runner().drain();
    expect((await h.store.get(req.id))!.state).toBe('succeeded');
    expect(assignmentsIn(h.sim, target.resourceGroup).map((x) => x.principalId)).toContain(sp.principalId);
  });

  it('an uploaded public key is created as given and no secret is produced', async () => {
    const target = h.newResourceGroup('rg-ownkey');
    const { generateKeyPairSync } = await import('node:crypto');
    const sshpk = (await import('sshpk')).default;
    const pub = sshpk.parseKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'pem');
    const req = await h.submitApproved(target, { sshKeyMode: 'provided', sshPublicKey: `${pub.toString('ssh')} me@laptop`, sshKeyName: 'my-key' });
    expect(byId(req.plan!.steps, 'sshPublicKey').title).toContain(pub.fingerprint('sha256').toString());
    await h.runner().drain();
    const done = (await h.store.get(req.id))!;
    expect(done.state).toBe('succeeded');
    expect(done.steps.sshPublicKey.output!.publicKeyFingerprint).toBe(pub.fingerprint('sha256').toString());
    expect(h.notifier.secrets.filter((s) => s.requestId === req.id)).toHaveLength(0);
  });

  it('is deterministic: the same inputs give the same plan hash', async () => {
    const target = h.newResourceGroup('rg-hash');
    const p1 = h.provisioner({ random: counterRandom(500) });
    const p2 = h.provisioner({ random: counterRandom(500) });
    const o1 = await p1.suggestOptions(target, 'HW-7000');
    const o2 = await p2.suggestOptions(target, 'HW-7000');
    expect(o2).toEqual(o1);
    const a = await p1.preflight({ requestId: 'HW-7000', kind: 'setup', target, options: o1 });
    const b = await p2.preflight({ requestId: 'HW-7000', kind: 'setup', target, options: o2 });
    expect(b.hash).toBe(a.hash);
  });
});
