/**
 * Concurrent setups: N requests on N resource groups approved at once and provisioned by the running
 * bot's job runner while the simulator throttles (429 with Retry-After), against the same N setups run one
 * at a time with the same 429s each (the slowest of them is what N at once would take if concurrency cost
 * nothing).
 * Requests are planned (real provisioner preflight), submitted and approved through the core API on
 * the bot's SQLite file, as a second bot instance would; the bot process picks them up.
 */
import { randomBytes } from 'node:crypto';
import type { SetupService } from '../src/core/service';
import type { Store } from '../src/core/ports';
import type { Actor, SetupRequest } from '../src/core/types';
import { createAzureClients } from '../src/azure/clients';
import { AzureProvisioner } from '../src/azure/provisioner';
import type { BenchSimulator } from './lib/simulator';
import { cpuMs } from './lib/procs';
import { percentile, round } from './lib/stats';
import { teamsConversationRef } from '../test/helpers/reliability-payloads';

export interface ConcurrentSetupsResult {
  count: number;
  /**
   * The reference: each of the N setups run alone with the faults it meets in the burst (the same
   * 429s per resource group slot, method and resource type); the slowest of them. What N at once would
   * take if concurrency cost nothing.
   */
  singleMakespanS: number;
  /** The median of `singleRunsS` (the reference of earlier runs of this bench, which drew other faults). */
  singleMedianS: number;
  /** Setup i alone, in slot order. */
  singleRunsS: number[];
  /** Setups whose 429s in the burst were those they met alone (by method and resource type; storage polls not counted). */
  same429s: number;
  /** Each setup's own span in the burst against its span alone: median and max over the N. */
  perSetupRatio: { median: number; max: number };
  /** The burst's makespan against the median setup alone: the figure earlier runs reported, luck of the draw included. */
  ratioToMedianSingle: number;
  /** One and then N setups without injected faults (other resource groups): what concurrency alone costs. */
  noFaults: { singleMakespanS: number; manyMakespanS: number; ratio: number; failed: number; perSetup: PerSetup[] };
  manyMakespanS: number;
  ratio: number;
  failed: number;
  /** Why setups failed (step id: error code), when any did. */
  failures: string[];
  succeeded: number;
  throttled: number;
  armRequests: number;
  /** Reads (GET, HEAD) and writes (PUT, POST, PATCH, DELETE) in the concurrent run, against ARM's subscription buckets. */
  armReads: number;
  armWrites: number;
  /** TLS connections the bot opened to ARM during the burst without faults (and how many resumed a session). */
  connectionsOpened: { opened: number; resumed: number };
  /** The injected 429s; `seed` picks which requests get them (the same seed, the same 429s per setup). */
  faults: { rate429: number; retryAfterSeconds: number; seed: number };
  /** Per setup of the concurrent run: seconds from the run's first step start to its own first step start and to its last step end. */
  perSetup: PerSetup[];
  /**
   * The bot process's CPU time per setup (s): one alone and in the burst, without and with injected faults.
   * From approval until the last setup ended, so it includes the job runner's polling and the progress cards.
   */
  botCpuSPerSetup?: { single: number; many: number; faultsSingle: number; faultsMany: number };
  /** Writes to the stored request per setup (its version when it finished; every write adds one), median: one alone (no faults) and in the burst with faults. */
  storeWritesPerSetup: { single: number; many: number };
  note: string;
}

/** One setup of a burst: seconds from the burst's first step start to its own first step start and last step end, and each step's [start, end]. */
export interface PerSetup {
  id: string;
  startS: number;
  endS: number;
  steps: Record<string, [number, number]>;
}

/**
 * The fault key of an ARM request in a concurrent-setups run: the method, the resource group's slot (setup i
 * alone and setup i of the burst share slot i) and the resource types on the path, without names (each
 * request names its own storage account, registry, container and role). Requests outside the slotted
 * resource groups are keyed by their path.
 */
export function faultKey(method: string, resourceId: string, slotOf: Map<string, number>): string {
  const seg = resourceId.split('/').filter(Boolean);
  const rgAt = seg.findIndex((x) => x.toLowerCase() === 'resourcegroups');
  const slot = rgAt >= 0 ? slotOf.get((seg[rgAt + 1] ?? '').toLowerCase()) : undefined;
  if (slot === undefined) return `${method} ${resourceId.toLowerCase()}`;
  const providersAt = seg.findIndex((x) => x.toLowerCase() === 'providers');
  // After `providers`: the namespace, then type, name, type, name…; an action (generateKeyPair) has no name.
  const types = providersAt < 0 ? [] : [seg[providersAt + 1], ...seg.slice(providersAt + 2).filter((_, i) => i % 2 === 0)];
  return `${method} slot${slot} ${types.join('/').toLowerCase()}`;
}

/** Each request's step timeline, in seconds after the burst's first step start. */
function timelines(requests: SetupRequest[]): PerSetup[] {
  const t0 = firstStart(requests);
  const rel = (iso?: string) => (iso ? round((Date.parse(iso) - t0) / 1000, 2) : NaN);
  return requests.map((r) => {
    const steps = Object.fromEntries(Object.entries(r.steps).map(([sid, st]) => [sid, [rel(st.startedAt), rel(st.finishedAt)] as [number, number]]));
    const starts = Object.values(steps).map(([a]) => a).filter(Number.isFinite);
    const ends = Object.values(steps).map(([, b]) => b).filter(Number.isFinite);
    return { id: r.id, startS: Math.min(...starts), endS: Math.max(...ends), steps };
  });
}

const TERMINAL = new Set(['succeeded', 'failed', 'rejected', 'expired', 'cancelled']);

/** Epoch ms of the first step start over all the requests (Infinity when none started). */
function firstStart(requests: SetupRequest[]): number {
  return Math.min(...requests.flatMap((r) => Object.values(r.steps).map((st) => (st.startedAt ? Date.parse(st.startedAt) : Infinity))));
}

/** Seconds from the first step's start to the last step's end, over all the requests. */
function makespanS(requests: SetupRequest[]): number {
  const start = firstStart(requests);
  const end = Math.max(...requests.flatMap((r) => Object.values(r.steps).map((st) => (st.finishedAt ? Date.parse(st.finishedAt) : -Infinity))));
  return Number.isFinite(start) && Number.isFinite(end) ? (end - start) / 1000 : NaN;
}

async function waitTerminal(store: Store, ids: string[], timeoutMs: number): Promise<SetupRequest[]> {
  const deadline = Date.now() + timeoutMs;
  const wanted = new Set(ids);
  for (;;) {
    // Summaries: polling whole requests every 100 ms cost this process (which also runs the simulator) CPU.
    const states = new Map((await store.listSummaries({ limit: 10_000 })).filter((r) => wanted.has(r.id)).map((r) => [r.id, r.state]));
    if (ids.every((id) => TERMINAL.has(states.get(id) ?? ''))) return (await Promise.all(ids.map((id) => store.get(id)))) as SetupRequest[];
    if (Date.now() > deadline) {
      const left = ids.filter((id) => !TERMINAL.has(states.get(id) ?? '')).map((id) => `${id}:${states.get(id)}`);
      throw new Error(`setups did not finish within ${timeoutMs / 1000} s: ${left.join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function runConcurrentSetups(opts: {
  sim: BenchSimulator;
  service: SetupService;
  store: Store;
  approver: Actor;
  requester: Actor;
  count: number;
  /** Fake Bot Framework connector: progress cards and the SSH private key DM go there. */
  connectorUrl: string;
  /** The bot process, whose CPU time per setup is reported. */
  botPid?: number;
  log: (s: string) => void;
}): Promise<ConcurrentSetupsResult> {
  const { sim, service, store } = opts;
  // The bench process plans like the bot does: same simulator, same managed-identity endpoint.
  process.env.IDENTITY_ENDPOINT = sim.identityEndpoint;
  process.env.IDENTITY_HEADER = sim.identityHeader;
  const clients = createAzureClients({ endpoint: sim.armEndpoint, retryOptions: { maxRetries: 10 } });
  const provisioner = new AzureProvisioner(clients, {});
  // Warm-up, the fault-free one and N, then under faults each of the N alone and the N at once: each its own
  // resource group. Setup i alone and setup i of the burst face the same faults (keyed by slot, below).
  const rgs = sim.resourceGroups(3 * opts.count + 2, `rg-conc-${randomBytes(2).toString('hex')}`);
  const warmRg = rgs[0];
  const plainSingleRg = rgs[1];
  const plainRgs = rgs.slice(2, opts.count + 2);
  const singleRgs = rgs.slice(opts.count + 2, 2 * opts.count + 2);
  const manyRgs = rgs.slice(2 * opts.count + 2);

  const submitOne = async (resourceGroup: string): Promise<SetupRequest> => {
    const id = await store.nextId();
    const target = { subscriptionId: sim.subscriptionId, resourceGroup, location: 'westeurope', tenantId: sim.tenantId };
    // Requests planned at the same time would all be offered the guide's registry name and the shared
    // custom role: give each its own, as requesters editing the defaults would (see the note in the result).
    const suffix = id.replace(/[^0-9]/g, '');
    const options = { ...(await provisioner.suggestOptions(target, id)), registryName: `hopsworksecr${suffix}`, roleName: `hopsworks-instance-${suffix}` };
    const plan = await provisioner.preflight({ requestId: id, kind: 'setup', target, options });
    const user = { id: `29:${opts.requester.userId}`, name: opts.requester.displayName, aadObjectId: opts.requester.userId };
    const conversations = {
      requester: teamsConversationRef({ serviceUrl: opts.connectorUrl, conversationId: `a:bench-requests-${id}`, user }),
      requesterPersonal: teamsConversationRef({ serviceUrl: opts.connectorUrl, conversationId: `a:bench-personal-${id}`, user }),
      activityIds: {},
    };
    return service.submit({ id, kind: 'setup', requester: opts.requester, target, options, reason: 'Concurrent setups benchmark', plan, conversations });
  };
  /**
   * Approves `reqs` at once and waits until each has ended; returns them and the bot's CPU seconds spent
   * meanwhile (NaN without a pid). One setup gets 3 minutes, a burst 5.
   */
  const provision = async (reqs: SetupRequest[]): Promise<[SetupRequest[], number]> => {
    const before = opts.botPid !== undefined ? cpuMs(opts.botPid) : NaN;
    await Promise.all(reqs.map((r) => service.approve(r.id, opts.approver, r.plan!.hash)));
    const done = await waitTerminal(store, reqs.map((r) => r.id), reqs.length > 1 ? 300_000 : 180_000);
    return [done, opts.botPid !== undefined ? (cpuMs(opts.botPid) - before) / 1000 : NaN];
  };

  /** BENCH_DEBUG: the ARM requests of a burst's slowest setup, in seconds after the burst's first step start. */
  const debugWorst = (label: string, done: SetupRequest[], window: BenchSimulator['requestLog']): void => {
    if (!process.env.BENCH_DEBUG) return;
    const t0 = firstStart(done);
    const worst = timelines(done).reduce((a, b) => (b.endS > a.endS ? b : a));
    const rg = done.find((r) => r.id === worst.id)!.target.resourceGroup;
    const lines = window
      .filter((e) => e.path.includes(`/${rg}/`))
      .map((e) => `${((Date.parse(e.time) - t0) / 1000).toFixed(2)} ${e.method} ${e.status}${e.fault ? ' ' + e.fault : ''} ${e.path.split('/').slice(-2).join('/')}`);
    if (process.env.BENCH_DEBUG === '2') {
      // Every request of the burst by method and resource type, as times from the burst's start: when did
      // the 20 storage account PUTs go out, and when did the containers follow?
      const byKind = new Map<string, number[]>();
      for (const e of window) {
        const kind = `${e.method} ${e.path.split('/').slice(-2)[0]}`;
        byKind.set(kind, [...(byKind.get(kind) ?? []), (Date.parse(e.time) - t0) / 1000]);
      }
      for (const [kind, times] of byKind) opts.log(`${kind}: ${times.length} at ${times.sort((a, b) => a - b).map((t) => t.toFixed(2)).join(' ')}`);
    }
    opts.log(`slowest setup ${label}: ${worst.id} (${rg}) ended at ${worst.endS} s; steps ${JSON.stringify(worst.steps)}\n${lines.join('\n')}`);
  };

  // Warm-up setup: registers the resource providers once (per subscription), so that neither
  // measured run pays for it, and warms the bot's code paths.
  opts.log('warm-up setup (registers providers)…');
  const warm = await submitOne(warmRg);
  const [[warmDone]] = await provision([warm]);
  if (warmDone.state !== 'succeeded') {
    const why = Object.entries(warmDone.steps).filter(([, st]) => st.status === 'failed').map(([sid, st]) => `${sid}: ${st.error?.code} ${st.error?.message}`);
    throw new Error(`the warm-up setup ${warmDone.state}: ${why.join('; ')}`);
  }

  // Reference: one setup and then N at once without any injected fault, so the report can tell what
  // concurrency alone costs from what the throttling adds.
  opts.log(`one setup, then ${opts.count} at once, without faults (reference)…`);
  const plainSingle = await submitOne(plainSingleRg);
  const [[plainSingleDone], plainSingleCpuS] = await provision([plainSingle]);
  const plain = await Promise.all(plainRgs.map(submitOne));
  const plainLogStart = sim.requestLog.length;
  const connectionsBefore = sim.connections();
  const [plainDone, plainCpuS] = await provision(plain);
  const connectionsAfter = sim.connections();
  debugWorst('without faults', plainDone, sim.requestLog.slice(plainLogStart));
  const plainMakespanS = makespanS(plainDone);

  const faults = { rate429: Number(process.env.BENCH_SETUPS_429_RATE ?? 0.1), retryAfterSeconds: 0.5, seed: Number(process.env.BENCH_SETUPS_SEED ?? 42) };
  const slotOf = new Map<string, number>([...singleRgs.map((rg, i) => [rg.toLowerCase(), i] as const), ...manyRgs.map((rg, i) => [rg.toLowerCase(), i] as const)]);
  /** Keyed faults: the n-th request of the same method and resource type in the same slot gets the same fault. */
  const keyed = { ...faults, keyOf: ({ method, resourceId }: { method: string; resourceId: string }) => faultKey(method, resourceId, slotOf) };
  // Planned before the faults start, so that the faults fall on provisioning only.
  const singles = [];
  for (const rg of singleRgs) singles.push(await submitOne(rg));
  const many = [];
  for (const rg of manyRgs) many.push(await submitOne(rg));
  sim.setFaults(keyed);
  try {
    opts.log(`each of the ${opts.count} setups alone…`);
    const singlesLogStart = sim.requestLog.length;
    const singlesDone: SetupRequest[] = [];
    let singlesCpuS = 0;
    for (const single of singles) {
      const [[done], cpuS] = await provision([single]);
      singlesDone.push(done);
      singlesCpuS += cpuS;
    }
    const singleSpans = singlesDone.map((r) => makespanS([r]));
    const sortedSpans = [...singleSpans].sort((a, b) => a - b);
    // The reference: the same setups one at a time, with the same faults each; the slowest of them is the
    // makespan an ideal concurrent run would have.
    const slowestSingleS = sortedSpans[sortedSpans.length - 1];
    const medianSingleS = percentile(sortedSpans, 50);
    const slowestSingle = singlesDone[singleSpans.indexOf(slowestSingleS)];
    if (process.env.BENCH_DEBUG) opts.log(sim.requestLog.filter((e) => e.path.includes(slowestSingle.target.resourceGroup)).slice(-60).map((e) => `${e.time.slice(17)} ${e.method} ${e.status}${e.fault ? ' ' + e.fault : ''} ${e.path.split('/').slice(-2).join('/')}`).join('\n'));

    opts.log(`${opts.count} setups at once…`);
    sim.setFaults(keyed); // every key's count starts again: setup i meets the faults setup i met alone
    const logStart = sim.requestLog.length;
    const [manyDone, manyCpuS] = await provision(many);
    const window = sim.requestLog.slice(logStart);
    const manyMakespanS = makespanS(manyDone);
    // Did each setup meet the same 429s in the burst as alone? (Timing can change how often an operation is
    // polled, and with it the number of keyed requests.)
    const throttledKeys = (log: BenchSimulator['requestLog'], rgs: string[]) =>
      rgs.map((rg) => log.filter((e) => e.fault === '429' && e.path.toLowerCase().includes(`/resourcegroups/${rg.toLowerCase()}/`)).map((e) => faultKey(e.method, e.path, slotOf)).sort().join(','));
    const aloneKeys = throttledKeys(sim.requestLog.slice(singlesLogStart, logStart), singleRgs);
    const burstKeys = throttledKeys(window, manyRgs);
    opts.log(`slowest setup alone: ${JSON.stringify(timelines([slowestSingle])[0].steps)}`);
    const perSetup = timelines(manyDone);
    debugWorst('with faults', manyDone, window);
    // Each setup in the burst against itself alone: from its own first step start to its last step end.
    const perSetupRatios = manyDone.map((r, i) => makespanS([r]) / singleSpans[i]).sort((a, b) => a - b);
    const failed = [...singlesDone, ...manyDone].filter((r) => r.state !== 'succeeded').length;
    return {
      count: opts.count,
      singleMakespanS: round(slowestSingleS, 2),
      singleMedianS: round(medianSingleS, 2),
      singleRunsS: singleSpans.map((v) => round(v, 2)),
      same429s: aloneKeys.filter((k, i) => k === burstKeys[i]).length,
      perSetupRatio: { median: round(percentile(perSetupRatios, 50), 2), max: round(perSetupRatios[perSetupRatios.length - 1], 2) },
      noFaults: {
        singleMakespanS: round(makespanS([plainSingleDone]), 2),
        manyMakespanS: round(plainMakespanS, 2),
        ratio: round(plainMakespanS / makespanS([plainSingleDone]), 2),
        failed: [plainSingleDone, ...plainDone].filter((r) => r.state !== 'succeeded').length,
        perSetup: timelines(plainDone),
      },
      manyMakespanS: round(manyMakespanS, 2),
      ratio: round(manyMakespanS / slowestSingleS, 2),
      ratioToMedianSingle: round(manyMakespanS / medianSingleS, 2),
      failed,
      failures: [...singlesDone, ...manyDone]
        .filter((r) => r.state !== 'succeeded')
        .flatMap((r) => Object.entries(r.steps).filter(([, st]) => st.status === 'failed').map(([sid, st]) => `${r.id} ${sid}: ${st.error?.code} ${st.error?.message}`)),
      succeeded: manyDone.length + singlesDone.length - failed,
      throttled: window.filter((e) => e.fault === '429').length,
      armRequests: window.length,
      armReads: window.filter((e) => e.method === 'GET' || e.method === 'HEAD').length,
      armWrites: window.filter((e) => e.method !== 'GET' && e.method !== 'HEAD').length,
      connectionsOpened: { opened: connectionsAfter.opened - connectionsBefore.opened, resumed: connectionsAfter.resumed - connectionsBefore.resumed },
      faults,
      perSetup,
      storeWritesPerSetup: { single: plainSingleDone.version, many: percentile(manyDone.map((r) => r.version).sort((a, b) => a - b), 50) },
      ...(opts.botPid !== undefined
        ? {
            botCpuSPerSetup: {
              single: round(plainSingleCpuS, 2),
              many: round(plainCpuS / opts.count, 2),
              faultsSingle: round(singlesCpuS / singlesDone.length, 2),
              faultsMany: round(manyCpuS / opts.count, 2),
            },
          }
        : {}),
      note:
        'makespan = first step start to last step end, from the stored step timestamps; one unmeasured warm-up setup registers the providers first; ' +
        'faults are keyed (simulator keyOf): setup i alone and setup i in the burst get the same 429s on the n-th request of each method and resource type; ' +
        'each request has its own registry and custom role name (defaults planned concurrently collide on the guide registry name and the shared role)',
    };
  } finally {
    sim.setFaults(undefined);
  }
}
