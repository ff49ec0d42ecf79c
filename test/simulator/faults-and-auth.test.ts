import * as crypto from 'node:crypto';
import * as https from 'node:https';
import type { ArmSimulator } from '../../src/azure/simulator';
import { ARM_SCOPE } from '../../src/azure/simulator';
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

function rawArm(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${sim.armEndpoint}${path}`, { method: 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function rawPut(path: string, bearer: string, body: unknown): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${sim.armEndpoint}${path}`, { method: 'PUT', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function token(params: Record<string, string>, header = sim.identityHeader): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = new URL(sim.identityEndpoint);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const res = await fetch(url, { headers: { 'X-IDENTITY-HEADER': header } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('authentication', () => {
  it('rejects ARM calls without a token or with an unknown one, with ARM error bodies', async () => {
    const missing = await rawArm(`/subscriptions?api-version=2022-12-01`);
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.body)).toEqual({ error: { code: 'AuthenticationFailed', message: expect.stringContaining("'Authorization' header is missing") } });
    const bogus = await rawArm(`/subscriptions?api-version=2022-12-01`, { authorization: 'Bearer not-a-real-token' });
    expect(bogus.status).toBe(401);
    expect(JSON.parse(bogus.body).error.code).toBe('InvalidAuthenticationToken');
  });

  it('issues App Service tokens only with the identity header and only for ARM, and never logs them', async () => {
    expect((await token({ 'api-version': '2019-08-01', resource: 'https://management.azure.com' }, 'wrong')).status).toBe(401);
    const vault = await token({ 'api-version': '2019-08-01', resource: 'https://vault.azure.net' });
    expect(vault.status).toBe(400);
    expect(vault.body.error).toBe('invalid_resource');
    const ok = await token({ 'api-version': '2019-08-01', resource: 'https://management.azure.com' });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ token_type: 'Bearer', resource: 'https://management.azure.com', client_id: sim.botClientId });
    expect(Number(ok.body.expires_on)).toBeGreaterThan(Date.now() / 1000);
    expect((await token({ 'api-version': '2019-08-01', resource: 'https://management.azure.com', client_id: crypto.randomUUID() })).status).toBe(400);
    expect((await token({ 'api-version': '2019-08-01', resource: 'https://management.azure.com', mi_res_id: '/subscriptions/x/resourcegroups/y/providers/Microsoft.ManagedIdentity/userAssignedIdentities/z' })).status).toBe(400);

    const viaSdk = await c.credential.getToken(ARM_SCOPE);
    const listed = await rawArm(`/subscriptions?api-version=2022-12-01`, { authorization: `Bearer ${viaSdk!.token}` });
    expect(listed.status).toBe(200);
    const noVersion = await rawArm(`/subscriptions`, { authorization: `Bearer ${viaSdk!.token}` });
    expect([noVersion.status, JSON.parse(noVersion.body).error.code]).toEqual([400, 'MissingApiVersionParameter']);
    const unknown = await rawArm(`/subscriptions/${sim.subscriptionId}/resourceGroups/${RG}/providers/Microsoft.Web/sites/x?api-version=2024-01-01`, { authorization: `Bearer ${viaSdk!.token}` });
    expect([unknown.status, JSON.parse(unknown.body).error.code]).toEqual([404, 'InvalidResourceType']);
    const logged = JSON.stringify(sim.requestLog) + JSON.stringify(sim.state);
    expect(logged).not.toContain(viaSdk!.token);
    expect(logged).not.toContain(String(ok.body.access_token));
  });
});

describe('long-running operation headers', () => {
  it('sends Retry-After in whole seconds rounded down, and none when under a second is left', async () => {
    const bearer = (await c.credential.getToken(ARM_SCOPE))!.token;
    const rg = `/subscriptions/${sim.subscriptionId}/resourceGroups/${RG}`;
    sim.setLatency({ timeScale: 1, inlineLroMaxMs: 0, durations: { storageAccount: 2_600, registry: 600, request: 0 } });
    try {
      const storage = await rawPut(`${rg}/providers/Microsoft.Storage/storageAccounts/hdrstore001?api-version=2025-08-01`, bearer, { location: 'westeurope', sku: { name: 'Standard_LRS' }, kind: 'StorageV2' });
      expect(storage.status).toBe(202);
      expect(storage.headers.location).toMatch(/\/providers\/Microsoft\.Storage\/locations\/westeurope\/asyncoperations\/.+monitor=true/);
      expect(Number(storage.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(storage.headers['retry-after'])).toBeLessThanOrEqual(2);
      const registry = await rawPut(`${rg}/providers/Microsoft.ContainerRegistry/registries/hdracr001?api-version=2025-11-01`, bearer, { location: 'westeurope', sku: { name: 'Premium' } });
      expect(registry.status).toBe(201);
      expect(registry.headers['azure-asyncoperation']).toMatch(/\/registries\/hdracr001\/operationStatuses\/registries-/);
      expect(registry.headers['retry-after']).toBeUndefined();
    } finally {
      sim.setLatency({ timeScale: 0.001, inlineLroMaxMs: 250, durations: { storageAccount: 25_000, registry: 20_000, request: 120 } });
    }
  });
});

describe('injected faults', () => {
  afterEach(() => sim.setFaults(undefined));

  it('throttles with 429 + Retry-After and the SDK retries until it gets through', async () => {
    sim.setFaults({ rate429: 0.6, retryAfterSeconds: 0, seed: 7 });
    const before = sim.requestLog.length;
    for (let i = 0; i < 5; i++) {
      expect((await c.resources.resourceGroups.get(RG)).name).toBe(RG);
    }
    const entries = sim.requestLog.slice(before);
    expect(entries.filter((e) => e.fault === '429' && e.status === 429).length).toBeGreaterThan(0);
    expect(entries.filter((e) => e.status === 200)).toHaveLength(5);
  });

  it('survives 5xx answers and reset connections on creates without duplicating anything', async () => {
    sim.setFaults({ rate5xx: 0.3, rateReset: 0.2, seed: 42 });
    const before = sim.requestLog.length;
    const account = await c.storage.storageAccounts.beginCreateAndWait(RG, 'faultystore001', { location: 'westeurope', sku: { name: 'Standard_LRS' }, kind: 'StorageV2', minimumTlsVersion: 'TLS1_2' });
    const identity = await c.msi.userAssignedIdentities.createOrUpdate(RG, 'faulty-identity', { location: 'westeurope' });
    const reg = await c.registry.registries.create(RG, 'faultyacr001', { location: 'westeurope', sku: { name: 'Premium' } });
    const key = await c.compute.sshPublicKeys.create(RG, 'faulty-key', { location: 'westeurope' });
    for (let i = 0; i < 5; i++) await collect(c.storage.storageAccounts.listByResourceGroup(RG));
    expect([account.provisioningState, reg.provisioningState]).toEqual(['Succeeded', 'Succeeded']);
    expect(identity.principalId).toBeDefined();
    expect(key.name).toBe('faulty-key');

    const entries = sim.requestLog.slice(before);
    expect(entries.some((e) => e.fault === '5xx' && (e.status === 500 || e.status === 503))).toBe(true);
    expect(entries.some((e) => e.fault === 'reset')).toBe(true);
    sim.setFaults(undefined);
    const inventory = sim.resources();
    expect(inventory['Microsoft.Storage/storageAccounts'].filter((r) => r.name === 'faultystore001')).toHaveLength(1);
    expect(inventory['Microsoft.ManagedIdentity/userAssignedIdentities'].filter((r) => r.name === 'faulty-identity')).toHaveLength(1);
    // A repeated PUT of the identity (if a fault hid the first answer) kept one principal.
    expect((await c.msi.userAssignedIdentities.get(RG, 'faulty-identity')).principalId).toBe(identity.principalId);
  });

  it('keeps creates idempotent when a PUT took effect but its answer was lost', async () => {
    sim.setFaults({ rate5xx: 0.25, rateReset: 0.25, afterWorkShare: 1, seed: 3, methods: ['PUT'] });
    const before = sim.requestLog.length;
    const scope = `/subscriptions/${sim.subscriptionId}/resourceGroups/${RG}`;
    const def = await c.authorization.roleDefinitions.createOrUpdate(scope, crypto.randomUUID(), {
      roleName: 'lost-answer-role',
      roleType: 'CustomRole',
      permissions: [{ actions: ['Microsoft.Storage/storageAccounts/read'] }],
      assignableScopes: [scope],
    });
    const ids: string[] = [];
    for (const name of ['lost-1', 'lost-2', 'lost-3', 'lost-4']) {
      ids.push((await c.msi.userAssignedIdentities.createOrUpdate(RG, name, { location: 'westeurope' })).principalId!);
    }
    for (const [i, principalId] of ids.entries()) {
      await c.authorization.roleAssignments.create(scope, crypto.randomUUID(), { roleDefinitionId: def.id!, principalId, principalType: 'ServicePrincipal', description: `assignment ${i}` });
    }
    sim.setFaults(undefined);
    const lost = sim.requestLog.slice(before).filter((e) => e.method === 'PUT' && e.faultAfterWork);
    expect(lost.length).toBeGreaterThan(0);
    expect(sim.roleAssignments().filter((a) => ids.includes(a.principalId))).toHaveLength(4);
    for (const [i, name] of ['lost-1', 'lost-2', 'lost-3', 'lost-4'].entries()) {
      expect((await c.msi.userAssignedIdentities.get(RG, name)).principalId).toBe(ids[i]);
    }
  });

  it('throttles subscription writes beyond the token bucket with SubscriptionRequestsThrottled, and the SDK waits and retries', async () => {
    sim.setThrottle({ writeBurst: 2, writesPerSecond: 1 });
    try {
      const before = sim.requestLog.length;
      const created = await Promise.all(
        ['thr-1', 'thr-2', 'thr-3', 'thr-4', 'thr-5'].map((name) => c.msi.userAssignedIdentities.createOrUpdate(RG, name, { location: 'westeurope' })),
      );
      expect(created.map((i) => i.name)).toEqual(['thr-1', 'thr-2', 'thr-3', 'thr-4', 'thr-5']);
      const throttled = sim.requestLog.slice(before).filter((e) => e.throttled);
      expect(throttled.length).toBeGreaterThan(0);
      expect(throttled.every((e) => e.status === 429 && e.method === 'PUT')).toBe(true);
      // Reads are not limited by the write bucket.
      await Promise.all(Array.from({ length: 10 }, () => c.resources.resourceGroups.get(RG)));
      expect(sim.requestLog.slice(-10).every((e) => e.status === 200)).toBe(true);
    } finally {
      sim.setThrottle(undefined);
    }
  });

  it('replays the same fault sequence for the same seed', async () => {
    const run = async () => {
      sim.setFaults({ rate429: 0.3, rate5xx: 0.2, seed: 99, methods: ['GET'] });
      const before = sim.requestLog.length;
      for (let i = 0; i < 6; i++) await c.resources.resourceGroups.get(RG);
      sim.setFaults(undefined);
      return sim.requestLog.slice(before).map((e) => e.fault ?? '-');
    };
    const first = await run();
    expect(first.some((f) => f !== '-')).toBe(true);
    expect(await run()).toEqual(first);
  });

  it('with keyOf, the n-th request of a key gets the same fault alone or among other traffic; storage polls are keyed by their account', async () => {
    sim.addResourceGroup('rg-keyed-a', 'westeurope');
    sim.addResourceGroup('rg-keyed-b', 'westeurope');
    sim.addResourceGroup('rg-keyed-other', 'westeurope');
    // Both resource groups play the same part: their requests share keys, the other group's do not.
    const keyOf = ({ method, resourceId }: { method: string; resourceId: string }) => `${method} ${resourceId.toLowerCase().replace(/rg-keyed-[ab]\b/, 'slot').replace(/keyed[ab]store/, 'store')}`;
    const resourceIds: string[] = [];
    const faultsOf = (rg: string, from: number) =>
      sim.requestLog.slice(from).filter((e) => e.path.toLowerCase().includes(`/resourcegroups/${rg}`)).map((e) => `${e.method} ${e.fault ?? '-'}`);
    const run = async (rg: 'rg-keyed-a' | 'rg-keyed-b', withOthers: boolean) => {
      sim.setFaults({ rate429: 0.3, seed: 5, keyOf: (r) => (resourceIds.push(r.resourceId), keyOf(r)) });
      const before = sim.requestLog.length;
      const others = withOthers ? Promise.all(Array.from({ length: 12 }, () => c.resources.resourceGroups.get('rg-keyed-other'))) : undefined;
      for (let i = 0; i < 8; i++) await c.resources.resourceGroups.get(rg);
      await others;
      sim.setFaults(undefined);
      return faultsOf(rg, before);
    };
    const alone = await run('rg-keyed-a', false);
    expect(alone.some((f) => f.endsWith('429'))).toBe(true);
    expect(await run('rg-keyed-b', true)).toEqual(alone);

    // A storage operation's polls carry no resource group in their path: they are keyed by the account.
    sim.setLatency({ inlineLroMaxMs: 0 });
    try {
      sim.setFaults({ rate429: 0, seed: 5, keyOf: (r) => (resourceIds.push(r.resourceId), keyOf(r)) });
      resourceIds.length = 0;
      const before = sim.requestLog.length;
      await c.storage.storageAccounts.beginCreateAndWait('rg-keyed-a', 'keyedastore', { location: 'westeurope', sku: { name: 'Standard_LRS' }, kind: 'StorageV2', minimumTlsVersion: 'TLS1_2' });
      const polls = sim.requestLog.slice(before).filter((e) => /asyncoperations/i.test(e.path));
      expect(polls.length).toBeGreaterThan(0);
      expect(resourceIds.filter((id) => /asyncoperations/i.test(id))).toEqual([]);
      expect(resourceIds.filter((id) => /\/storageAccounts\/keyedastore$/i.test(id)).length).toBeGreaterThanOrEqual(polls.length + 1);
    } finally {
      sim.setFaults(undefined);
      sim.setLatency({ inlineLroMaxMs: 250 });
    }
  });
});
