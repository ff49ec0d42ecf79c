/**
 * `npm run bench:provision`: one setup on the ARM simulator with realistic durations (storage account 25 s,
 * registry 20 s, identity 2 s, role definition 1 s, role assignment 2 s, SSH key 1 s + key pair 1 s, provider
 * registration 40 s; multiplied by the time scale), in a subscription where all five providers still need
 * registering.
 *
 * 1. Parallel: the plan run by the core's JobRunner (maximal parallelism) on a real SQLite store in a temp dir.
 * 2. Sequential: the same steps, in the getting-started guide's order, one after another (another subscription,
 *    same starting state), as a person following the guide would.
 * 3. Critical path: `criticalPath` of the plan's DAG weighted by the step durations measured in run 1, the lower
 *    bound for any schedule of those steps. Target: makespan / critical path <= 1.05.
 * Also: ARM requests per setup (preflight and apply). Seconds are reported unscaled (measured / time scale).
 *
 * Knobs: BENCH_TIME_SCALE or --time-scale=<x> (default 0.05), --json (print only the JSON result).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAzureClients } from '../src/azure/clients';
import { AzureProvisioner } from '../src/azure/provisioner';
import { REQUIRED_PROVIDERS, STEP_SECONDS } from '../src/azure/setup-plan';
import { startArmSimulator } from '../src/azure/simulator';
import { criticalPath } from '../src/core/plan';
import type { Logger, Notifier } from '../src/core/ports';
import { JobRunner } from '../src/core/runner';
import { SetupService } from '../src/core/service';
import { openSqliteStore } from '../src/core/store/sqlite';
import type { Actor, PlanStep, SetupRequest, Target } from '../src/core/types';

const argScale = process.argv.find((a) => a.startsWith('--time-scale='))?.split('=')[1];
const timeScale = Number(argScale ?? process.env.BENCH_TIME_SCALE ?? 0.05);
const jsonOnly = process.argv.includes('--json');
const say = (s: string): void => {
  if (!jsonOnly) process.stdout.write(`${s}\n`);
};

/** The guide's order: providers, Step 2 storage, Step 3 registry + retention, Step 4 identity + role + assignment, Step 5 SSH key. */
const GUIDE_ORDER = [
  ...REQUIRED_PROVIDERS.map((ns) => `provider:${ns}`),
  'storageAccount',
  'blobContainer',
  'containerRegistry',
  'registryRetention',
  'managedIdentity',
  'roleDefinition',
  'roleAssignment',
  'sshPublicKey',
];

const SUB_PARALLEL = '00000000-0000-0000-0000-00000000b001';
const SUB_SEQUENTIAL = '00000000-0000-0000-0000-00000000b002';

const silent: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const notifier: Notifier = { requestChanged: async () => undefined, deliverSecret: async () => undefined };
const requester: Actor = { platform: 'teams', userId: 'bench-requester', displayName: 'Bench Requester' };
const approver: Actor = { platform: 'teams', userId: 'bench-approver', displayName: 'Bench Approver' };

const r3 = (n: number): number => Math.round(n * 1000) / 1000;

async function main(): Promise<void> {
  const unregistered = Object.fromEntries(REQUIRED_PROVIDERS.map((ns) => [ns, 'NotRegistered' as const]));
  const sim = await startArmSimulator({
    port: 0,
    timeScale,
    // Every operation completes inside its request after its scaled duration: core-lro would otherwise poll at
    // whole-second Retry-After values, which a time-scaled run cannot honour.
    inlineLroMaxMs: 3_600_000,
    subscriptions: [
      { subscriptionId: SUB_PARALLEL, displayName: 'Bench parallel', resourceGroups: [{ name: 'rg-bench', location: 'westeurope' }], providers: unregistered },
      { subscriptionId: SUB_SEQUENTIAL, displayName: 'Bench sequential', resourceGroups: [{ name: 'rg-bench', location: 'westeurope' }], providers: unregistered },
    ],
  });
  process.env.IDENTITY_ENDPOINT = sim.identityEndpoint;
  process.env.IDENTITY_HEADER = sim.identityHeader;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hw-bench-provision-'));
  const store = openSqliteStore(path.join(dir, 'bot.sqlite'));
  try {
    const clients = createAzureClients({ endpoint: sim.armEndpoint });
    // Polling intervals scale with the simulated durations, as they would relate to real ones.
    const poll = { maxMs: 900_000, initialDelayMs: Math.max(1, 1000 * timeScale), maxDelayMs: Math.max(1, 2000 * timeScale) };
    let n = 0;
    const provisioner = new AzureProvisioner(clients, { random: () => `bench${n++}xyz`, providerPolling: poll, propagationRetry: poll, lroPollIntervalMs: Math.max(1, 1000 * timeScale) });
    const clock = { now: () => new Date() };
    const service = new SetupService({ store, notifier, clock, logger: silent, policy: { approvers: [approver.userId], requiredApprovals: 1, approvalTtlHours: 72 } });

    // Warm the token cache and connections so the first step does not pay for them.
    await provisioner.listSubscriptions();

    // ---- 1. parallel, through the JobRunner
    const target: Target = { subscriptionId: SUB_PARALLEL, resourceGroup: 'rg-bench', location: 'westeurope', tenantId: sim.tenantId };
    const id = await store.nextId();
    let mark = sim.requestLog.length;
    const options = await provisioner.suggestOptions(target, id);
    const plan = await provisioner.preflight({ requestId: id, kind: 'setup', target, options });
    const preflightRequests = sim.requestLog.length - mark;
    await service.submit({ id, kind: 'setup', requester, target, options, reason: 'bench', plan, conversations: { activityIds: {} } });
    await service.approve(id, approver, plan.hash);
    const runner = new JobRunner({ store, provisioner, notifier, clock, logger: silent, owner: 'bench', pollIntervalMs: 10 });
    mark = sim.requestLog.length;
    await runner.drain();
    const applyRequests = sim.requestLog.length - mark;
    const done = (await store.get(id)) as SetupRequest;
    if (done.state !== 'succeeded') throw new Error(`bench setup ended ${done.state}: ${JSON.stringify(Object.values(done.steps).map((s) => s.error).filter(Boolean))}`);
    const measured = new Map<string, number>();
    let first = Infinity;
    let last = -Infinity;
    for (const [sid, s] of Object.entries(done.steps)) {
      const a = Date.parse(s.startedAt ?? '');
      const b = Date.parse(s.finishedAt ?? '');
      measured.set(sid, (b - a) / 1000 / timeScale);
      first = Math.min(first, a);
      last = Math.max(last, b);
    }
    const makespanS = (last - first) / 1000 / timeScale;
    const cp = criticalPath(plan.steps, (s: PlanStep) => measured.get(s.id) ?? 0);
    const modelled = criticalPath(plan.steps, (s: PlanStep) => s.estimatedSeconds ?? STEP_SECONDS[s.kind]);

    // ---- 2. sequential, in the guide's order, on a subscription in the same starting state
    const seqTarget: Target = { ...target, subscriptionId: SUB_SEQUENTIAL };
    const seqId = await store.nextId();
    const seqOptions = await provisioner.suggestOptions(seqTarget, seqId);
    const seqPlan = await provisioner.preflight({ requestId: seqId, kind: 'setup', target: seqTarget, options: seqOptions });
    const seqReq: SetupRequest = { ...done, id: seqId, target: seqTarget, options: seqOptions, plan: seqPlan, steps: {} };
    const ordered = GUIDE_ORDER.map((sid) => seqPlan.steps.find((s) => s.id === sid)).filter((s): s is PlanStep => s !== undefined);
    const seqStart = Date.now();
    for (const step of ordered) {
      const t0 = Date.now();
      const res = await provisioner.executeStep(seqReq, step);
      seqReq.steps[step.id] = { status: 'done', attempts: 1, output: res.output, startedAt: new Date(t0).toISOString(), finishedAt: new Date().toISOString() };
    }
    const sequentialS = (Date.now() - seqStart) / 1000 / timeScale;

    const result = {
      timeScale,
      steps: plan.steps.length,
      makespanS: r3(makespanS),
      criticalPathS: r3(cp.length),
      criticalPath: cp.path,
      modelledCriticalPathS: r3(modelled.length),
      sequentialS: r3(sequentialS),
      ratioToCriticalPath: r3(makespanS / cp.length),
      ratioToSequential: r3(makespanS / sequentialS),
      speedupOverSequential: r3(sequentialS / makespanS),
      armRequestsPerSetup: preflightRequests + applyRequests,
      armRequests: { preflight: preflightRequests, apply: applyRequests },
      stepSeconds: Object.fromEntries([...measured].map(([k, v]) => [k, r3(v)])),
      target: 'makespan / critical path <= 1.05',
      meetsTarget: makespanS / cp.length <= 1.05,
      machine: { cpus: os.cpus().length, loadAvg1m: r3(os.loadavg()[0]), node: process.version },
    };
    say(`Provisioning benchmark (ARM simulator, time scale ${timeScale}; seconds are unscaled)`);
    say(`  steps in plan              ${plan.steps.length} (5 provider registrations needed)`);
    say(`  makespan (JobRunner)       ${result.makespanS.toFixed(1)} s`);
    say(`  critical path (measured)   ${result.criticalPathS.toFixed(1)} s  via ${cp.path.join(' → ')}`);
    say(`  critical path (modelled)   ${result.modelledCriticalPathS.toFixed(1)} s`);
    say(`  guide order, one by one    ${result.sequentialS.toFixed(1)} s`);
    say(`  makespan / critical path   ${result.ratioToCriticalPath.toFixed(3)}  (target <= 1.05: ${result.meetsTarget ? 'met' : 'NOT met'})`);
    say(`  makespan / sequential      ${result.ratioToSequential.toFixed(3)}  (${result.speedupOverSequential.toFixed(2)}x faster)`);
    say(`  ARM requests per setup     ${result.armRequestsPerSetup} (preflight ${preflightRequests}, apply ${applyRequests})`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await store.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:provision failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
