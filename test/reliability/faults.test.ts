/**
 * Fault campaign: the simulator answers 10% of ARM requests with 5xx, some with 429 + Retry-After and
 * resets some connections (before or after the write happened). Several setups run through the real
 * JobRunner, AzureProvisioner, SDK clients and SQLite store; every one must succeed with exactly one
 * of each resource, because the SDK retries and every step is idempotent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startArmSimulator, type ArmSimulator } from '../../src/azure/simulator';
import { createAzureClients } from '../../src/azure/clients';
import { AzureProvisioner } from '../../src/azure/provisioner';
import { JobRunner } from '../../src/core/runner';
import type { SetupService } from '../../src/core/service';
import type { Store } from '../../src/core/ports';
import type { Actor, SetupRequest } from '../../src/core/types';
import { openService, quietNotifier, silentLogger } from '../helpers/reliability-seed';
import { exactlyOneOfEach, inventoryOf } from '../helpers/reliability-inventory';

const APPROVER: Actor = { platform: 'teams', userId: 'approver-aad-id', displayName: 'Ada Approver' };
const REQUESTER: Actor = { platform: 'slack', userId: 'U0REQUESTER', displayName: 'Rita Requester' };
const SETUPS = 5;

describe('ARM faults: 5xx, 429 and connection resets', () => {
  let sim: ArmSimulator;
  let dir: string;
  let store: Store;
  let service: SetupService;
  let provisioner: AzureProvisioner;

  beforeAll(async () => {
    sim = await startArmSimulator({ port: 0, timeScale: 0.002, propagationDelayMs: 5_000 });
    process.env.IDENTITY_ENDPOINT = sim.identityEndpoint;
    process.env.IDENTITY_HEADER = sim.identityHeader;
    dir = mkdtempSync(path.join(os.tmpdir(), 'hw-faults-'));
    ({ store, service } = openService(path.join(dir, 'bot.sqlite'), [APPROVER.userId]));
    // Short SDK back-off so the campaign stays fast; the retry policy itself is the SDK's.
    const clients = createAzureClients({ endpoint: sim.armEndpoint, retryOptions: { maxRetries: 12, retryDelayInMs: 10, maxRetryDelayInMs: 100 } });
    provisioner = new AzureProvisioner(clients, {
      lroPollIntervalMs: 10,
      providerPolling: { maxMs: 60_000, initialDelayMs: 10, maxDelayMs: 50 },
      propagationRetry: { maxMs: 60_000, initialDelayMs: 10, maxDelayMs: 50 },
    });
    for (let i = 0; i < SETUPS; i++) sim.addResourceGroup(`rg-faults-${i}`, 'westeurope');
  });

  afterAll(async () => {
    await store?.close();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test(`${SETUPS} setups all succeed, each resource exactly once`, async () => {
    // Faults from the first request on: preflight reads are retried by the SDK like the step writes.
    sim.setFaults({ rate5xx: 0.1, rate429: 0.05, rateReset: 0.05, retryAfterSeconds: 0, seed: 20260126 });

    // One request after another, as requests in a subscription usually come: each plan sees what the
    // previous one created (the shared custom role is extended, not re-created).
    const runner = new JobRunner({ store, provisioner, notifier: quietNotifier, clock: { now: () => new Date() }, logger: silentLogger, owner: 'faults-test' });
    const submitted: SetupRequest[] = [];
    for (let i = 0; i < SETUPS; i++) {
      const id = await store.nextId();
      const target = { subscriptionId: sim.subscriptionId, resourceGroup: `rg-faults-${i}`, location: 'westeurope', tenantId: sim.tenantId };
      const options = await provisioner.suggestOptions(target, id);
      const plan = await provisioner.preflight({ requestId: id, kind: 'setup', target, options });
      const req = await service.submit({ id, kind: 'setup', requester: REQUESTER, target, options, reason: 'fault campaign', plan, conversations: { activityIds: {} } });
      await service.approve(req.id, APPROVER, plan.hash);
      submitted.push(req);
      await runner.drain();
    }

    const done = await Promise.all(submitted.map((r) => store.get(r.id)));
    const summary = done.map((r) => ({
      id: r!.id,
      state: r!.state,
      failed: Object.entries(r!.steps).filter(([, s]) => s.status !== 'done').map(([k, s]) => `${k}: ${s.error?.code} ${s.error?.message}`),
    }));
    expect(summary.filter((s) => s.state !== 'succeeded')).toEqual([]);

    // The campaign really hit every kind of fault.
    const kinds = new Set(sim.requestLog.map((e) => e.fault).filter(Boolean));
    expect([...kinds].sort()).toEqual(['429', '5xx', 'reset']);

    // Exactly one of each resource per resource group, one role assignment per instance identity.
    for (const r of done) expect({ id: r!.id, inventory: inventoryOf(sim, r!) }).toEqual({ id: r!.id, inventory: exactlyOneOfEach() });
  });
});
