/**
 * Harness for test/azure: the ARM simulator, the real SDK clients from `createAzureClients` (managed
 * identity through IDENTITY_ENDPOINT), the real AzureProvisioner, and the core's SetupService + JobRunner
 * on a SQLite store in a temp dir. Run with `node scripts/with-sandbox-ca.js npx jest test/azure`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAzureClients, type AzureClients } from '../../src/azure/clients';
import { AzureProvisioner, type AzureProvisionerOptions } from '../../src/azure/provisioner';
import { startArmSimulator, type ArmSimulator, type ArmSimulatorOptions } from '../../src/azure/simulator';
import { JobRunner } from '../../src/core/runner';
import { SetupService } from '../../src/core/service';
import { openSqliteStore } from '../../src/core/store/sqlite';
import type { Store } from '../../src/core/ports';
import type { Actor, SetupOptions, SetupRequest, Target } from '../../src/core/types';
import { MemoryLogger, RecordingNotifier } from './core-fakes';

export const requesterActor: Actor = { platform: 'teams', userId: 'aad-requester', displayName: 'Rita Requester' };
export const approverActor: Actor = { platform: 'teams', userId: 'aad-alice', displayName: 'Alice Approver' };

/** Deterministic suffixes: "aaaa0001", "aaaa0002", … */
export function counterRandom(start = 1): () => string {
  let n = start;
  return () => `aaaa${String(n++).padStart(4, '0')}`;
}

export const FAST_BACKOFF = { maxMs: 20_000, initialDelayMs: 5, maxDelayMs: 40 };

export interface AzureHarness {
  sim: ArmSimulator;
  clients: AzureClients;
  dir: string;
  store: Store;
  service: SetupService;
  notifier: RecordingNotifier;
  logger: MemoryLogger;
  provisioner(opts?: AzureProvisionerOptions): AzureProvisioner;
  runner(provisioner?: AzureProvisioner, owner?: string): JobRunner;
  /** A fresh resource group in the simulator. */
  newResourceGroup(prefix?: string, location?: string): Target;
  /** suggestOptions → preflight → submit → approve, as the dialog and an approver do. */
  submitApproved(target: Target, over?: Partial<SetupOptions>, p?: AzureProvisioner): Promise<SetupRequest>;
  close(): Promise<void>;
}

let rgCounter = 0;

export async function startAzureHarness(simOptions: ArmSimulatorOptions = {}): Promise<AzureHarness> {
  // 1024-bit generated key pairs: the size Azure picks is not under test, and RSA generation dominates a setup's CPU time.
  const sim = await startArmSimulator({ timeScale: 0.001, sshKeyBits: 1024, ...simOptions });
  // ManagedIdentityCredential reads these once per process (jest: per test file), so one simulator per file.
  process.env.IDENTITY_ENDPOINT = sim.identityEndpoint;
  process.env.IDENTITY_HEADER = sim.identityHeader;
  const clients = createAzureClients({ endpoint: sim.armEndpoint, retryOptions: { maxRetries: 8, retryDelayInMs: 5, maxRetryDelayInMs: 30 } });
  const dir = mkdtempSync(join(tmpdir(), 'hw-azure-'));
  const store = openSqliteStore(join(dir, 'bot.sqlite'));
  const notifier = new RecordingNotifier();
  const logger = new MemoryLogger();
  const clock = { now: () => new Date() };
  const service = new SetupService({ store, notifier, clock, logger, policy: { approvers: ['aad-alice'], requiredApprovals: 1, approvalTtlHours: 72 } });
  const runners: JobRunner[] = [];
  const provisioner = (opts: AzureProvisionerOptions = {}) =>
    new AzureProvisioner(clients, {
      random: counterRandom(),
      logger,
      lroPollIntervalMs: 5,
      providerPolling: FAST_BACKOFF,
      propagationRetry: FAST_BACKOFF,
      ...opts,
    });
  const h: AzureHarness = {
    sim,
    clients,
    dir,
    store,
    service,
    notifier,
    logger,
    provisioner,
    runner(p = provisioner(), owner = `runner-${runners.length}`) {
      const r = new JobRunner({ store, provisioner: p, notifier, clock, logger, owner, leaseTtlMs: 60_000, pollIntervalMs: 10 });
      runners.push(r);
      return r;
    },
    newResourceGroup(prefix = 'rg-test', location = 'westeurope') {
      const name = `${prefix}-${++rgCounter}`;
      sim.addResourceGroup(name, location);
      return { subscriptionId: sim.subscriptionId, resourceGroup: name, location, tenantId: sim.tenantId };
    },
    async submitApproved(target, over = {}, p = provisioner()) {
      const id = await store.nextId();
      const options = { ...(await p.suggestOptions(target, id)), ...over };
      const plan = await p.preflight({ requestId: id, kind: 'setup', target, options });
      const req = await service.submit({ id, kind: 'setup', requester: requesterActor, target, options, reason: 'Feature store for the fraud team', plan, conversations: { activityIds: {} } });
      return service.approve(req.id, approverActor, plan.hash);
    },
    async close() {
      for (const r of runners.splice(0)) await r.stop();
      await store.close();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Resources of one resource group, by type, from the simulator's inventory. */
export function inventory(sim: ArmSimulator, resourceGroup: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const needle = `/resourcegroups/${resourceGroup.toLowerCase()}/`;
  for (const [type, list] of Object.entries(sim.resources())) {
    const names = list.filter((r) => r.id.toLowerCase().includes(needle)).map((r) => r.name);
    if (names.length > 0) out[type] = names.sort();
  }
  return out;
}

export function assignmentsIn(sim: ArmSimulator, resourceGroup: string): ReturnType<ArmSimulator['roleAssignments']> {
  return sim.roleAssignments().filter((a) => a.scope.toLowerCase().endsWith(`/resourcegroups/${resourceGroup.toLowerCase()}`));
}
