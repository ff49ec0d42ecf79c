import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { ensureSandboxCa, startArmSimulator } from '../../src/azure/simulator';
import { clientsFor, collect } from '../helpers/arm-simulator';
import { DefaultAzureCredential } from '@azure/identity';

const ROOT = path.resolve(__dirname, '../..');
let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'armsim-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('sandbox CA', () => {
  /** A child that says when it is ready, and on SIGTERM says so and exits 5. */
  const SIGTERM_CHILD = "process.on('SIGTERM', () => { process.stdout.write('got-sigterm'); process.exit(5); }); process.stdout.write('ready\\n'); setInterval(() => {}, 1000);";

  it('creates a CA with a private key only the owner can read, keeps it, and replaces a corrupt one', () => {
    const dir = path.join(tmp, 'ca');
    const first = ensureSandboxCa(dir);
    expect(fs.statSync(first.keyPath).mode & 0o777).toBe(0o600);
    expect(first.certPem).toContain('BEGIN CERTIFICATE');
    expect(ensureSandboxCa(dir).certPem).toBe(first.certPem);
    fs.writeFileSync(first.certPath, 'garbage');
    const replaced = ensureSandboxCa(dir);
    expect(replaced.certPem).toContain('BEGIN CERTIFICATE');
    expect(replaced.certPem).not.toBe(first.certPem);
  });

  it('runs a command with NODE_EXTRA_CA_CERTS set and passes its exit code through', () => {
    const dir = path.join(tmp, 'ca');
    const res = spawnSync(
      process.execPath,
      [path.join(ROOT, 'scripts/with-sandbox-ca.js'), 'node', '-e', 'process.stdout.write(process.env.NODE_EXTRA_CA_CERTS); process.exit(7)'],
      { env: { ...process.env, SANDBOX_CA_DIR: dir }, encoding: 'utf8' },
    );
    expect(res.status).toBe(7);
    expect(res.stdout).toBe(path.join(dir, 'ca.pem'));
    expect(fs.existsSync(path.join(dir, 'ca-key.pem'))).toBe(true);
  });

  it('resolves local bins and forwards SIGTERM to the child, exiting with the child’s code', async () => {
    const dir = path.join(tmp, 'ca');
    const version = spawnSync(process.execPath, [path.join(ROOT, 'scripts/with-sandbox-ca.js'), 'tsc', '--version'], {
      cwd: ROOT,
      env: { ...process.env, SANDBOX_CA_DIR: dir },
      encoding: 'utf8',
    });
    expect(version.status).toBe(0);
    expect(version.stdout).toMatch(/^Version 5\.9\./);

    const launcher = spawn(process.execPath, [path.join(ROOT, 'scripts/with-sandbox-ca.js'), 'node', '-e', SIGTERM_CHILD], {
      env: { ...process.env, SANDBOX_CA_DIR: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    launcher.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => launcher.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => launcher.stdout!.on('data', () => out.includes('ready') && resolve()));
    launcher.kill('SIGTERM');
    expect(await exited).toBe(5);
    expect(out).toContain('got-sigterm');
  });

  it('stops the child when the shell npm started it under is killed (npm passes SIGTERM to that shell only)', async () => {
    const dir = path.join(tmp, 'ca');
    // What `npm start` runs: sh -c "… && node scripts/with-sandbox-ca.js …" (sh stays the launcher's parent).
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const command = `true && ${[process.execPath, path.join(ROOT, 'scripts/with-sandbox-ca.js'), 'node', '-e', SIGTERM_CHILD].map(quote).join(' ')}`;
    const shell = spawn('sh', ['-c', command], { env: { ...process.env, SANDBOX_CA_DIR: dir }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    shell.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve) => shell.stdout!.on('data', () => out.includes('ready') && resolve()));
    shell.kill('SIGTERM');
    // The shell is gone at once; the child hears of it through the launcher within a moment.
    const deadline = Date.now() + 5000;
    while (!out.includes('got-sigterm') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(out).toContain('got-sigterm');
  });
});

describe('persistence', () => {
  it('keeps resources, principals and issued tokens across a restart with the same state file', async () => {
    const statePath = path.join(tmp, 'state.json');
    const first = await startArmSimulator({ timeScale: 0.001, statePath, unregisteredProviders: [] });
    process.env.IDENTITY_ENDPOINT = first.identityEndpoint;
    process.env.IDENTITY_HEADER = first.identityHeader;
    const credential = new DefaultAzureCredential();
    const c1 = clientsFor(first, credential);
    const identity = await c1.msi.userAssignedIdentities.createOrUpdate('rg-hopsworks-dev', 'kept-identity', { location: 'westeurope' });
    first.addResourceGroup('rg-added-later', 'westeurope');
    await first.close();
    expect(fs.statSync(statePath).mode & 0o777).toBe(0o600);

    const second = await startArmSimulator({ timeScale: 0.001, statePath });
    try {
      expect(second.botPrincipalId).toBe(first.botPrincipalId);
      expect(second.identityHeader).toBe(first.identityHeader);
      // Same credential: its cached token still works against the restarted simulator.
      const c2 = clientsFor(second, credential);
      expect((await c2.msi.userAssignedIdentities.get('rg-hopsworks-dev', 'kept-identity')).principalId).toBe(identity.principalId);
      expect((await collect(c2.resources.resourceGroups.list())).map((g) => g.name)).toContain('rg-added-later');
    } finally {
      await second.close();
    }
  });

  it('accepts the bot token a previous simulator in this process issued, as a restarted ARM front end would', async () => {
    const first = await startArmSimulator({ timeScale: 0.001 });
    const tokenRes = await fetch(`${first.identityEndpoint}?api-version=2019-08-01&resource=https://management.azure.com`, { headers: { 'X-IDENTITY-HEADER': first.identityHeader } });
    const { access_token: token } = (await tokenRes.json()) as { access_token: string };
    await first.close();
    const fresh = await startArmSimulator({ timeScale: 0.001 });
    try {
      const perms = (await armGet(fresh.armEndpoint, `/subscriptions/${fresh.subscriptionId}/resourcegroups/rg-hopsworks-dev/providers/Microsoft.Authorization/permissions?api-version=2022-04-01`, token)) as { value: Array<{ actions: string[] }> };
      expect(perms.value.flatMap((p) => p.actions)).toContain('Microsoft.Storage/storageAccounts/write');
      expect(fresh.requestLog.at(-1)).toMatchObject({ status: 200, principal: fresh.botPrincipalId });
      await expect(armGet(fresh.armEndpoint, `/subscriptions?api-version=2022-12-01`, 'made-up')).rejects.toThrow(/^401/);
    } finally {
      await fresh.close();
    }
  });

  it('refuses a state file that is not simulator state instead of overwriting it', async () => {
    const statePath = path.join(tmp, 'state.json');
    fs.writeFileSync(statePath, JSON.stringify({ hello: 'world' }));
    await expect(startArmSimulator({ statePath })).rejects.toThrow(/not an ARM simulator state file/);
    expect(JSON.parse(fs.readFileSync(statePath, 'utf8'))).toEqual({ hello: 'world' });
  });
});

describe('strict replication', () => {
  it('refuses a replicating principal even with principalType, but trusts a principal created outside ARM', async () => {
    const sim = await startArmSimulator({ timeScale: 0.001, strictReplication: true, propagationDelayMs: 10 * 60 * 60 * 1000, unregisteredProviders: [] });
    try {
      const tokenRes = await fetch(`${sim.identityEndpoint}?api-version=2019-08-01&resource=https://management.azure.com`, { headers: { 'X-IDENTITY-HEADER': sim.identityHeader } });
      const { access_token: token } = (await tokenRes.json()) as { access_token: string };
      const rg = `/subscriptions/${sim.subscriptionId}/resourceGroups/rg-hopsworks-dev`;
      const identity = (await armCall(sim.armEndpoint, 'PUT', `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/replicating?api-version=2024-11-30`, token, { location: 'westeurope' })).body as { properties: { principalId: string } };
      const role = `/subscriptions/${sim.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7`;
      const assign = (principalId: string, guid: string) =>
        armCall(sim.armEndpoint, 'PUT', `${rg}/providers/Microsoft.Authorization/roleAssignments/${guid}?api-version=2022-04-01`, token, { properties: { roleDefinitionId: role, principalId, principalType: 'ServicePrincipal' } });
      const refused = await assign(identity.properties.principalId, '6f1f6c1e-0000-4000-8000-000000000001');
      expect([refused.status, (refused.body as { error: { code: string } }).error.code]).toEqual([400, 'PrincipalNotFound']);
      expect((await assign('0b5b3a6e-0000-4000-8000-0000000000aa', '6f1f6c1e-0000-4000-8000-000000000002')).status).toBe(201);
      sim.propagatePrincipal(identity.properties.principalId);
      expect((await assign(identity.properties.principalId, '6f1f6c1e-0000-4000-8000-000000000001')).status).toBe(201);
    } finally {
      await sim.close();
    }
  });
});

describe('sandbox defaults', () => {
  it('starts with one subscription, three resource groups, and ACR + managed identity not yet registered', async () => {
    const sim = await startArmSimulator({ timeScale: 0.001 });
    try {
      // Raw calls: @azure/identity caches tokens process-wide, and this file already used another simulator.
      const tokenRes = await fetch(`${sim.identityEndpoint}?api-version=2019-08-01&resource=https://management.azure.com`, { headers: { 'X-IDENTITY-HEADER': sim.identityHeader } });
      const { access_token: token } = (await tokenRes.json()) as { access_token: string };
      const get = (p: string) => armGet(sim.armEndpoint, p, token);
      const providers = (await get(`/subscriptions/${sim.subscriptionId}/providers?api-version=2025-04-01`)) as { value: Array<{ namespace: string; registrationState: string }> };
      expect(Object.fromEntries(providers.value.map((p) => [p.namespace, p.registrationState]))).toMatchObject({
        'Microsoft.Network': 'Registered',
        'Microsoft.Compute': 'Registered',
        'Microsoft.Storage': 'Registered',
        'Microsoft.ManagedIdentity': 'NotRegistered',
        'Microsoft.ContainerRegistry': 'NotRegistered',
      });
      const subs = (await get('/subscriptions?api-version=2022-12-01')) as { value: Array<{ subscriptionId: string; displayName: string }> };
      expect(subs.value.map((x) => [x.subscriptionId, x.displayName])).toEqual([['00000000-0000-0000-0000-000000000001', 'Sandbox subscription']]);
      const groups = (await get(`/subscriptions/${sim.subscriptionId}/resourcegroups?api-version=2025-04-01`)) as { value: Array<{ name: string; location: string }> };
      expect(groups.value.map((g) => `${g.name}@${g.location}`).sort()).toEqual(['rg-analytics@eastus', 'rg-hopsworks-dev@westeurope', 'rg-hopsworks-prod@northeurope']);
    } finally {
      await sim.close();
    }
  });
});

function armCall(base: string, method: string, p: string, token: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${base}${p}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

function armGet(base: string, p: string, token: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    https
      .get(`${base}${p}`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`${res.statusCode}: ${body}`))));
      })
      .on('error', reject);
  });
}

describe('CLI', () => {
  it('prints one JSON line with the endpoints and exits cleanly on SIGTERM', async () => {
    const statePath = path.join(tmp, 'cli-state.json');
    // `node --import tsx`, not the tsx CLI: the tsx CLI relays SIGTERM to its child and, when the child has not
    // acknowledged within 30 ms (a busy CI machine), SIGKILLs it and exits 143 — which says nothing about the simulator.
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/azure/simulator/cli.ts'), '--time-scale', '0.01', '--state', statePath], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const line = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', () => reject(new Error('CLI exited before printing its endpoints')));
    });
    const info = JSON.parse(line) as Record<string, string>;
    expect(info.armEndpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(info.identityEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    expect(info).toEqual(expect.objectContaining({ subscriptionId: '00000000-0000-0000-0000-000000000001', identityHeader: expect.any(String), botPrincipalId: expect.any(String) }));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(JSON.parse(fs.readFileSync(statePath, 'utf8')).botPrincipalId).toBe(info.botPrincipalId);
  });
});
