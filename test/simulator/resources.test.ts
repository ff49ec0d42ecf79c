import * as crypto from 'node:crypto';
import sshpk from 'sshpk';
import type { ArmSimulator } from '../../src/azure/simulator';
import { collect, startSimulatorWithClients, type SimClients } from '../helpers/arm-simulator';

const RG = 'rg-hopsworks-dev';
let sim: ArmSimulator;
let c: SimClients;

beforeAll(async () => {
  ({ sim, clients: c } = await startSimulatorWithClients({ timeScale: 0.001 }));
});
afterAll(async () => {
  await sim.close();
});

describe('subscriptions and resource groups', () => {
  it('lists the sandbox subscription with its tenant and checks resource group existence', async () => {
    const subs = await collect(c.subscriptions.subscriptions.list());
    expect(subs).toEqual([expect.objectContaining({ subscriptionId: sim.subscriptionId, tenantId: sim.tenantId, displayName: 'Sandbox subscription', state: 'Enabled' })]);
    expect((await c.subscriptions.subscriptions.get(sim.subscriptionId)).tenantId).toBe(sim.tenantId);
    expect((await c.resources.resourceGroups.checkExistence(RG)).body).toBe(true);
    expect((await c.resources.resourceGroups.checkExistence('rg-missing')).body).toBe(false);
    const groups = await collect(c.resources.resourceGroups.list());
    expect(groups.map((g) => [g.name, g.location])).toEqual(
      expect.arrayContaining([[RG, 'westeurope'], ['rg-hopsworks-prod', 'northeurope'], ['rg-analytics', 'eastus']]),
    );
    await expect(c.resources.resourceGroups.get('rg-missing')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceGroupNotFound' });
  });
});

describe('storage accounts', () => {
  it('reports name availability: free, invalid and taken elsewhere', async () => {
    sim.takeGlobalName('storage', 'takenbyothers');
    const check = (name: string) => c.storage.storageAccounts.checkNameAvailability({ name, type: 'Microsoft.Storage/storageAccounts' });
    expect(await check('hopsfree001')).toMatchObject({ nameAvailable: true });
    expect(await check('Not_Valid')).toMatchObject({ nameAvailable: false, reason: 'AccountNameInvalid' });
    expect(await check('takenbyothers')).toMatchObject({ nameAvailable: false, reason: 'AlreadyExists', message: 'The storage account named takenbyothers is already taken.' });
  });

  it('creates an account idempotently, keeps tags, and refuses a name owned by someone else', async () => {
    const params = { location: 'westeurope', sku: { name: 'Standard_RAGRS' as const }, kind: 'StorageV2' as const, minimumTlsVersion: 'TLS1_2' as const, tags: { 'managed-by': 'hopsworks-setup-bot' } };
    const created = await c.storage.storageAccounts.beginCreateAndWait(RG, 'hopsstore001', params);
    expect(created).toMatchObject({ name: 'hopsstore001', provisioningState: 'Succeeded', minimumTlsVersion: 'TLS1_2', tags: params.tags, primaryEndpoints: expect.objectContaining({ blob: 'https://hopsstore001.blob.core.windows.net/' }) });
    const again = await c.storage.storageAccounts.beginCreateAndWait(RG, 'hopsstore001', params);
    expect(again.id).toBe(created.id);
    expect(sim.resources()['Microsoft.Storage/storageAccounts'].filter((r) => r.name === 'hopsstore001')).toHaveLength(1);
    expect((await c.storage.storageAccounts.getProperties(RG, 'hopsstore001')).tags).toEqual(params.tags);

    await expect(c.storage.storageAccounts.beginCreateAndWait('rg-analytics', 'hopsstore001', params)).rejects.toMatchObject({ statusCode: 409, code: 'StorageAccountInAnotherResourceGroup' });
    sim.takeGlobalName('storage', 'someoneelses');
    await expect(c.storage.storageAccounts.beginCreateAndWait(RG, 'someoneelses', params)).rejects.toMatchObject({ statusCode: 409, code: 'StorageAccountAlreadyTaken' });
    await expect(c.storage.storageAccounts.getProperties(RG, 'nosuchaccount')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceNotFound' });
  });

  it('runs a long create through 202 + Location polling while GET shows it Creating', async () => {
    // 1.5 s of simulated work: long enough that the GET below lands before it ends, even on a busy machine.
    sim.setLatency({ timeScale: 0.02, inlineLroMaxMs: 0, durations: { storageAccount: 75_000 } });
    try {
      const poller = c.storage.storageAccounts.create(RG, 'hopslro001', { location: 'westeurope', sku: { name: 'Standard_LRS' }, kind: 'StorageV2', minimumTlsVersion: 'TLS1_2' }, { updateIntervalInMs: 20 });
      await poller.submitted();
      expect((await c.storage.storageAccounts.getProperties(RG, 'hopslro001')).provisioningState).toBe('Creating');
      const account = await poller.pollUntilDone();
      expect(account.provisioningState).toBe('Succeeded');
      const log = sim.requestLog.filter((e) => /hopslro001|asyncoperations/i.test(e.path));
      expect(log.find((e) => e.method === 'PUT')?.status).toBe(202);
      expect(log.some((e) => e.method === 'GET' && /\/asyncoperations\//.test(e.path) && e.status === 200)).toBe(true);
    } finally {
      sim.setLatency({ timeScale: 0.001, inlineLroMaxMs: 250, durations: { storageAccount: 25_000 } });
    }
  });

  it('creates empty blob containers, lists, deletes them, and lets a test mark one as holding blobs', async () => {
    await c.storage.storageAccounts.beginCreateAndWait(RG, 'hopsblobs001', { location: 'westeurope', sku: { name: 'Standard_LRS' }, kind: 'StorageV2', minimumTlsVersion: 'TLS1_2' });
    const created = await c.storage.blobContainers.create(RG, 'hopsblobs001', 'hopsworksai-1', {});
    expect(created).toMatchObject({ name: 'hopsworksai-1', publicAccess: 'None' });
    expect(sim.containerHasBlobs('hopsblobs001', 'hopsworksai-1')).toBe(false);
    sim.markContainerHasBlobs('hopsblobs001', 'hopsworksai-1');
    expect(sim.containerHasBlobs('hopsblobs001', 'hopsworksai-1')).toBe(true);
    expect((await collect(c.storage.blobContainers.list(RG, 'hopsblobs001'))).map((x) => x.name)).toEqual(['hopsworksai-1']);
    await expect(c.storage.blobContainers.create(RG, 'hopsblobs001', 'Bad--Name', {})).rejects.toMatchObject({ statusCode: 400 });
    await c.storage.blobContainers.delete(RG, 'hopsblobs001', 'hopsworksai-1');
    await expect(c.storage.blobContainers.get(RG, 'hopsblobs001', 'hopsworksai-1')).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe('container registries', () => {
  it('creates a Premium registry through Azure-AsyncOperation polling and enables retention', async () => {
    sim.setLatency({ timeScale: 0.02, inlineLroMaxMs: 0 });
    try {
      expect(await c.registry.registries.checkNameAvailability({ name: 'hopsacr001', type: 'Microsoft.ContainerRegistry/registries' })).toMatchObject({ nameAvailable: true });
      const reg = await c.registry.registries.create(RG, 'hopsacr001', { location: 'westeurope', sku: { name: 'Premium' }, adminUserEnabled: false, tags: { owner: 'bot' } }, { updateIntervalInMs: 20 });
      expect(reg).toMatchObject({ name: 'hopsacr001', provisioningState: 'Succeeded', loginServer: 'hopsacr001.azurecr.io', adminUserEnabled: false, tags: { owner: 'bot' } });
      expect(sim.requestLog.some((e) => /\/operationStatuses\//i.test(e.path) && e.status === 200)).toBe(true);
      const polls = sim.requestLog.filter((e) => /\/operationStatuses\//i.test(e.path)).length;
      const updated = await c.registry.registries.update(RG, 'hopsacr001', { policies: { retentionPolicy: { days: 7, status: 'enabled' } } }, { updateIntervalInMs: 20 });
      expect(updated.policies?.retentionPolicy).toMatchObject({ days: 7, status: 'enabled' });
      expect(updated.provisioningState).toBe('Succeeded');
      expect(sim.requestLog.filter((e) => /\/operationStatuses\//i.test(e.path)).length).toBeGreaterThan(polls);
    } finally {
      sim.setLatency({ timeScale: 0.001, inlineLroMaxMs: 250 });
    }
    expect((await c.registry.registries.get(RG, 'hopsacr001')).policies?.retentionPolicy?.status).toBe('enabled');
    expect(await c.registry.registries.checkNameAvailability({ name: 'hopsacr001', type: 'Microsoft.ContainerRegistry/registries' })).toMatchObject({ nameAvailable: false, reason: 'AlreadyExists' });
  });

  it('refuses retention on a Basic registry and a name that is taken globally', async () => {
    await c.registry.registries.create(RG, 'hopsbasic001', { location: 'westeurope', sku: { name: 'Basic' } });
    await expect(c.registry.registries.update(RG, 'hopsbasic001', { policies: { retentionPolicy: { days: 7, status: 'enabled' } } })).rejects.toMatchObject({ statusCode: 400 });
    expect((await c.registry.registries.get(RG, 'hopsbasic001')).policies?.retentionPolicy?.status).toBe('disabled');
    sim.takeGlobalName('registry', 'hopsworksecr');
    await expect(c.registry.registries.create(RG, 'hopsworksecr', { location: 'westeurope', sku: { name: 'Premium' } })).rejects.toMatchObject({ statusCode: 409 });
    expect(sim.resources()['Microsoft.ContainerRegistry/registries'].map((r) => r.name)).not.toContain('hopsworksecr');
  });
});

describe('ssh public keys', () => {
  it('generates a real RSA key pair once and refuses a second generation', async () => {
    const created = await c.compute.sshPublicKeys.create(RG, 'hopsworks-key', { location: 'westeurope', tags: { purpose: 'hopsworks' } });
    expect(created.id).toBe(`/subscriptions/${sim.subscriptionId}/resourceGroups/${RG.toUpperCase()}/providers/Microsoft.Compute/sshPublicKeys/hopsworks-key`);
    const pair = await c.compute.sshPublicKeys.generateKeyPair(RG, 'hopsworks-key');
    expect(pair.id).toBe(created.id);
    const lines = pair.publicKey.split('\r\n').filter(Boolean);
    expect(lines.every((l) => l.length <= 64)).toBe(true);
    const pub = sshpk.parseKey(pair.publicKey.replace(/\r?\n/g, ''), 'ssh');
    expect(pub.type).toBe('rsa');
    // The private key really belongs to the public key: sign with one, verify with the other.
    const priv = crypto.createPrivateKey(pair.privateKey);
    const sig = crypto.sign('sha256', Buffer.from('hopsworks'), priv);
    expect(crypto.verify('sha256', Buffer.from('hopsworks'), crypto.createPublicKey(pub.toString('pkcs8')), sig)).toBe(true);
    expect((await c.compute.sshPublicKeys.get(RG, 'hopsworks-key')).publicKey).toBe(pair.publicKey);
    await expect(c.compute.sshPublicKeys.generateKeyPair(RG, 'hopsworks-key')).rejects.toMatchObject({ statusCode: 409 });
    expect(JSON.stringify(sim.state)).not.toContain(pair.privateKey.split('\r\n')[1]);
  });

  it('uses key pairs prepared ahead of time, each once, and generates again when they run out', async () => {
    await sim.prepareSshKeys(2);
    const rg = 'rg-prepared-keys';
    sim.addResourceGroup(rg, 'westeurope');
    const keys: { publicKey: string; privateKey: string }[] = [];
    for (const name of ['prepared-a', 'prepared-b', 'prepared-c']) {
      await c.compute.sshPublicKeys.create(rg, name, { location: 'westeurope' });
      const started = Date.now();
      keys.push(await c.compute.sshPublicKeys.generateKeyPair(rg, name));
      if (name !== 'prepared-c') expect(Date.now() - started).toBeLessThan(5_000);
    }
    expect(new Set(keys.map((k) => k.publicKey)).size).toBe(3);
    for (const k of keys) {
      const pub = sshpk.parseKey(k.publicKey.replace(/\r?\n/g, ''), 'ssh');
      const sig = crypto.sign('sha256', Buffer.from('x'), crypto.createPrivateKey(k.privateKey));
      expect(crypto.verify('sha256', Buffer.from('x'), crypto.createPublicKey(pub.toString('pkcs8')), sig)).toBe(true);
    }
  });

  it('stores a supplied public key and rejects garbage', async () => {
    const pem = crypto.generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const openssh = sshpk.parseKey(pem, 'pem').toString('ssh');
    const k = await c.compute.sshPublicKeys.create(RG, 'supplied-key', { location: 'westeurope', publicKey: openssh });
    expect(k.publicKey).toBe(openssh);
    await expect(c.compute.sshPublicKeys.create(RG, 'bad-key', { location: 'westeurope', publicKey: 'not a key' })).rejects.toMatchObject({ statusCode: 400 });
    expect((await collect(c.compute.sshPublicKeys.listByResourceGroup(RG))).map((x) => x.name).sort()).toEqual(['hopsworks-key', 'supplied-key']);
  });
});

describe('resource providers', () => {
  it('registers a provider: Registering, then Registered after the scaled delay; writes before that are refused', async () => {
    sim.setProviderState('Microsoft.ContainerRegistry', 'NotRegistered');
    expect((await c.resources.providers.get('Microsoft.ContainerRegistry')).registrationState).toBe('NotRegistered');
    await expect(c.registry.registries.create(RG, 'hopsearly001', { location: 'westeurope', sku: { name: 'Premium' } })).rejects.toMatchObject({ statusCode: 409 });
    expect((await c.resources.providers.register('Microsoft.ContainerRegistry')).registrationState).toBe('Registering');
    let state = 'Registering';
    for (let i = 0; i < 200 && state !== 'Registered'; i++) {
      await new Promise((r) => setTimeout(r, 10));
      state = (await c.resources.providers.get('Microsoft.ContainerRegistry')).registrationState ?? '';
    }
    expect(state).toBe('Registered');
    await c.registry.registries.create(RG, 'hopsearly001', { location: 'westeurope', sku: { name: 'Premium' } });
  });
});

describe('updates and deletes (teardown)', () => {
  it('updates storage tags, then deletes every kind of resource; deleting again is harmless', async () => {
    const params = { location: 'westeurope', sku: { name: 'Standard_LRS' as const }, kind: 'StorageV2' as const, minimumTlsVersion: 'TLS1_2' as const };
    await c.storage.storageAccounts.beginCreateAndWait(RG, 'hopsgone001', params);
    const updated = await c.storage.storageAccounts.update(RG, 'hopsgone001', { tags: { stage: 'teardown' } });
    expect(updated.tags).toEqual({ stage: 'teardown' });
    await c.storage.blobContainers.create(RG, 'hopsgone001', 'data', {});
    await c.registry.registries.create(RG, 'hopsgoneacr1', { location: 'westeurope', sku: { name: 'Premium' } });
    await c.msi.userAssignedIdentities.createOrUpdate(RG, 'gone-identity', { location: 'westeurope' });
    await c.compute.sshPublicKeys.create(RG, 'gone-key', { location: 'westeurope' });

    for (let round = 0; round < 2; round++) {
      await c.storage.blobContainers.delete(RG, 'hopsgone001', 'data').catch((e: { statusCode?: number }) => {
        // Second round: the account itself is gone.
        if (round === 0 || e.statusCode !== 404) throw e;
      });
      await c.storage.storageAccounts.delete(RG, 'hopsgone001');
      await c.registry.registries.beginDeleteAndWait(RG, 'hopsgoneacr1');
      await c.msi.userAssignedIdentities.delete(RG, 'gone-identity');
      await c.compute.sshPublicKeys.delete(RG, 'gone-key');
    }
    await expect(c.storage.storageAccounts.getProperties(RG, 'hopsgone001')).rejects.toMatchObject({ statusCode: 404 });
    await expect(c.registry.registries.get(RG, 'hopsgoneacr1')).rejects.toMatchObject({ statusCode: 404 });
    await expect(c.msi.userAssignedIdentities.get(RG, 'gone-identity')).rejects.toMatchObject({ statusCode: 404 });
    await expect(c.compute.sshPublicKeys.get(RG, 'gone-key')).rejects.toMatchObject({ statusCode: 404 });
    const names = Object.values(sim.resources()).flat().map((r) => r.name);
    expect(names).not.toEqual(expect.arrayContaining(['hopsgone001']));
    expect(names.filter((n) => ['data', 'hopsgoneacr1', 'gone-identity', 'gone-key'].includes(n))).toEqual([]);
    // The global name is free again.
    expect(await c.storage.storageAccounts.checkNameAvailability({ name: 'hopsgone001', type: 'Microsoft.Storage/storageAccounts' })).toMatchObject({ nameAvailable: true });
  });
});
