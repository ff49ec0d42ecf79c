/**
 * Crash campaign: the bot runs as a child process in live mode against a simulator this test runs.
 * Each run approves a setup (through the core API on the bot's SQLite file, as a second instance
 * would), kills the bot with SIGKILL at a random moment while it provisions (after a random number of
 * finished steps), starts it again and
 * checks that the request finishes with exactly one of each resource, one role assignment and a
 * complete, consistent audit trail.
 *
 * The killed process held the job lease; its expiry is fast-forwarded (the lease row's `until` set
 * to the past) instead of waiting the 60 s lease TTL, which is what lets another instance take over.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import sshpk from 'sshpk';
import { startArmSimulator, type ArmSimulator } from '../../src/azure/simulator';
import { createAzureClients } from '../../src/azure/clients';
import { AzureProvisioner } from '../../src/azure/provisioner';
import type { SetupService } from '../../src/core/service';
import type { Store } from '../../src/core/ports';
import type { Actor, AuditEvent, SetupRequest } from '../../src/core/types';
import { openService } from '../helpers/reliability-seed';
import { exactlyOneOfEach, inventoryOf } from '../helpers/reliability-inventory';
import { liveBotEnv, removeBotBundle, spawnBot, waitFor, type BotProcess } from '../helpers/reliability-bot';
import { startFakeConnector, type FakeServer } from '../helpers/reliability-fakes';
import { teamsConversationRef } from '../helpers/reliability-payloads';

const KILLS = 10;
const MAX_ATTEMPTS = 20;
const APPROVER: Actor = { platform: 'teams', userId: '00000000-0000-0000-0000-0000000000a1', displayName: 'Ada Approver' };
const REQUESTER: Actor = { platform: 'teams', userId: '00000000-0000-0000-0000-0000000000b2', displayName: 'Rita Requester' };

/** Deterministic PRNG so a failing campaign can be replayed with the printed seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The PEM private key in a message about `requestId`, if any (card text may carry markdown backslashes). */
function privateKeyIn(body: string, requestId: string): string | undefined {
  if (!body.includes(requestId)) return undefined;
  const strings: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') strings.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(JSON.parse(body));
  const m = strings.map((t) => /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/.exec(t)).find(Boolean);
  return m ? m[0].replace(/\\/g, '') : undefined;
}

function checkAudit(request: SetupRequest, events: AuditEvent[]): string[] {
  const problems: string[] = [];
  const types = events.map((e) => e.type);
  if (types[0] !== 'submitted') problems.push(`first event is ${types[0]}, not submitted`);
  if (types.filter((t) => t === 'approved').length !== 1) problems.push('not exactly one approved event');
  if (types.filter((t) => t === 'state.provisioning').length !== 1) problems.push('not exactly one state.provisioning event');
  if (types.filter((t) => t === 'state.succeeded').length !== 1) problems.push('not exactly one state.succeeded event');
  if (types[types.length - 1] !== 'state.succeeded') problems.push(`last event is ${types[types.length - 1]}, not state.succeeded`);
  const at = events.map((e) => Date.parse(e.at));
  for (let i = 1; i < at.length; i++) if (at[i] < at[i - 1]) problems.push(`event ${i} (${types[i]}) is older than event ${i - 1}`);
  if (types.indexOf('approved') > types.indexOf('state.provisioning')) problems.push('provisioning started before the approval');
  const doneAt = new Map<string, number>();
  events.forEach((e, i) => {
    if (e.type !== 'step.done') return;
    const stepId = String(e.detail?.stepId);
    if (doneAt.has(stepId)) problems.push(`step ${stepId} has two step.done events`);
    doneAt.set(stepId, i);
  });
  for (const step of request.plan!.steps) {
    const i = doneAt.get(step.id);
    if (i === undefined) {
      problems.push(`step ${step.id} has no step.done event`);
      continue;
    }
    for (const dep of step.dependsOn) {
      const j = doneAt.get(dep);
      if (j !== undefined && j > i) problems.push(`step ${step.id} done before its dependency ${dep}`);
    }
  }
  if (types.some((t) => t === 'step.failed' || t === 'state.failed')) problems.push('a step failed');
  return problems;
}

describe('SIGKILL during provisioning', () => {
  let sim: ArmSimulator;
  let connector: FakeServer;
  let dir: string;
  let dbPath: string;
  let store: Store;
  let service: SetupService;
  let provisioner: AzureProvisioner;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    // Operations complete inside the ARM request (no LRO polling at the live bot's 2 s interval), so a run takes seconds.
    sim = await startArmSimulator({ port: 0, timeScale: 0.02, inlineLroMaxMs: 2_000, propagationDelayMs: 10_000 });
    connector = await startFakeConnector({ record: true });
    process.env.IDENTITY_ENDPOINT = sim.identityEndpoint;
    process.env.IDENTITY_HEADER = sim.identityHeader;
    dir = mkdtempSync(path.join(os.tmpdir(), 'hw-crash-'));
    dbPath = path.join(dir, 'bot.sqlite');
    ({ store, service } = openService(dbPath, [APPROVER.userId]));
    provisioner = new AzureProvisioner(createAzureClients({ endpoint: sim.armEndpoint }), {});
    for (let i = 0; i < MAX_ATTEMPTS; i++) sim.addResourceGroup(`rg-crash-${i}`, 'westeurope');
  });

  afterAll(async () => {
    await bot?.kill();
    removeBotBundle();
    await store?.close();
    await sim?.close();
    await connector?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test(`${KILLS} kills mid-provisioning; every request finishes exactly once`, async () => {
    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100000);
    const random = mulberry32(seed);
    const env = liveBotEnv(sim, { BOT_DB_PATH: dbPath, HOPSWORKS_APPROVERS: APPROVER.userId, LOG_LEVEL: 'warn' });
    const requesterUser = { id: '29:rita', name: REQUESTER.displayName, aadObjectId: REQUESTER.userId };
    bot = await spawnBot(env);

    const finished: SetupRequest[] = [];
    const log: string[] = [];
    let kills = 0;
    for (let attempt = 0; kills < KILLS && attempt < MAX_ATTEMPTS; attempt++) {
      const t0 = Date.now();
      const id = await store.nextId();
      const target = { subscriptionId: sim.subscriptionId, resourceGroup: `rg-crash-${attempt}`, location: 'westeurope', tenantId: sim.tenantId };
      // Distinct role names: every run plans on its own, as concurrent requesters would.
      const options = { ...(await provisioner.suggestOptions(target, id)), roleName: `hopsworks-instance-crash-${attempt}` };
      const plan = await provisioner.preflight({ requestId: id, kind: 'setup', target, options });
      const conversations = {
        requester: teamsConversationRef({ serviceUrl: connector.url, conversationId: 'a:rita-requests', user: requesterUser }),
        requesterPersonal: teamsConversationRef({ serviceUrl: connector.url, conversationId: 'a:rita-personal', user: requesterUser }),
      };
      await service.submit({ id, kind: 'setup', requester: REQUESTER, target, options, reason: 'crash campaign', plan, conversations: { ...conversations, activityIds: {} } });
      await service.approve(id, APPROVER, plan.hash);

      // A random moment while the bot provisions it: once a random number of steps (0 to all but two) is
      // done, plus up to 200 ms. Progress-based rather than time-based, so it lands mid-run on fast and slow machines.
      const killAfter = Math.floor(random() * (plan.steps.length - 1));
      await waitFor(`${id} to reach ${killAfter} done steps`, async () => {
        const r = await store.get(id);
        const started = r && Object.values(r.steps).some((st) => st.status !== 'pending');
        const doneCount = r ? Object.values(r.steps).filter((st) => st.status === 'done').length : 0;
        return started && doneCount >= killAfter ? r : undefined;
      }, 60_000, 5);
      await new Promise((r) => setTimeout(r, Math.floor(random() * 200)));
      await bot.kill();
      const atKill = (await store.get(id))!;
      const doneSteps = Object.values(atKill.steps).filter((s) => s.status === 'done').length;
      log.push(`${id}: killed in state ${atKill.state} with ${doneSteps}/${plan.steps.length} steps done (${Date.now() - t0} ms into the run)`);
      if (atKill.state === 'provisioning') kills += 1;

      // The dead process's lease lapses (fast-forwarded), then a new process takes over.
      const db = new Database(dbPath);
      db.prepare('UPDATE leases SET until = 0').run();
      db.close();
      bot = await spawnBot(env);
      const done = await waitFor(`${id} to finish after the restart`, async () => {
        const r = await store.get(id);
        return r && ['succeeded', 'failed'].includes(r.state) ? r : undefined;
      }, 120_000, 50);
      finished.push(done);
      if (process.env.CRASH_VERBOSE) process.stderr.write(`${log[log.length - 1]}; finished ${done.state} ${Date.now() - t0} ms into the run\n`);
    }
    await bot.stop();
    bot = undefined;

    expect({ seed, kills }).toEqual({ seed, kills: KILLS });
    for (const r of finished) {
      const failedSteps = Object.entries(r.steps).filter(([, s]) => s.status !== 'done').map(([k, s]) => `${k}: ${s.error?.code} ${s.error?.message}`);
      expect({ id: r.id, seed, state: r.state, failedSteps }).toEqual({ id: r.id, seed, state: 'succeeded', failedSteps: [] });
      expect({ id: r.id, inventory: inventoryOf(sim, r) }).toEqual({ id: r.id, inventory: exactlyOneOfEach() });
      expect({ id: r.id, seed, problems: checkAudit(r, await store.listAudit(r.id)) }).toEqual({ id: r.id, seed, problems: [] });
    }
    // The requester holds the private key of the public key Azure has: a key generated by a killed run is
    // replaced (and sent again), never silently lost.
    for (const r of finished) {
      const dms = connector.calls
        .filter((c) => decodeURIComponent(c.path).includes('a:rita-personal'))
        .map((c) => privateKeyIn(c.body, r.id))
        .filter((k): k is string => k !== undefined);
      expect({ id: r.id, keyDelivered: dms.length > 0 }).toEqual({ id: r.id, keyDelivered: true });
      const held = sshpk.parsePrivateKey(dms[dms.length - 1], 'auto').toPublic().fingerprint('sha256').toString();
      expect({ id: r.id, fingerprint: held }).toEqual({ id: r.id, fingerprint: r.steps.sshPublicKey?.output?.publicKeyFingerprint });
    }
    process.stdout.write(`crash campaign (seed ${seed}):\n${log.join('\n')}\n`);
  }, 900_000);
});
