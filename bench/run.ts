/**
 * `npm run bench`: provisioning makespan, interactive latency against bare botbuilder and Bolt
 * baselines, 20 concurrent setups under ARM throttling, startup time and memory. Prints one
 * markdown table and writes bench/results.json. `--write-doc` also refreshes docs/performance.md.
 *
 * Knobs (environment): BENCH_DURATION_S (10 per latency run), BENCH_SLICES (4: each run's time is cut into
 * this many slices per side, alternating with the baseline's; 1 = the bot's run, then the baseline's), BENCH_WARMUP_S (2),
 * BENCH_CONCURRENT_SETUPS (20), BENCH_TIME_SCALE (simulated ARM durations, 0.05),
 * BENCH_SKIP (comma list of sections to leave out: provisioning, latency, setups), BENCH_CONCURRENCIES (1,50),
 * BENCH_SCENARIOS (comma list: only the latency scenarios whose name contains one of them, e.g.
 * "teams message,slack button"), BENCH_DEBUG (1 or 2: request logs of the concurrent setups; see docs/performance.md).
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SCENARIOS, runLatency, rssMiB, type ScenarioResult } from './latency';
import { runProvisioningBench, type ProvisioningResult } from './provisioning';
import { runConcurrentSetups, type ConcurrentSetupsResult } from './setups';
import { buildBot, buildEntry } from '../scripts/build';
import { freePort, ROOT, startChild, type ChildServer } from './lib/procs';
import { fmtCpu, fmtMs, fmtRatio, fmtS, markdownTable, type Row } from './lib/report';
import { ratio, round } from './lib/stats';
import { startFakeConnector, startFakeSlackApi } from '../test/helpers/reliability-fakes';
import { openService, seedPendingRequest } from '../test/helpers/reliability-seed';
import { startBenchSimulator } from './lib/simulator';
import { encodeButtonValue } from '../src/bot/slack/blockkit';

const SIGNING_SECRET = 'bench-signing-secret-0123456789abcdef';
const BOT_TOKEN = 'xoxb-bench-000000000000-000000000000-benchbenchbenchbenchbenc';
/** The benchmark's approver: listed in HOPSWORKS_APPROVERS, used to approve the concurrent setups. */
export const BENCH_APPROVER = { platform: 'teams' as const, userId: '00000000-0000-0000-0000-00000000a001', displayName: 'Bench Approver' };
const REQUESTER = { platform: 'teams' as const, userId: '00000000-0000-0000-0000-00000000b001', displayName: 'Bench Requester' };

function num(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

/** A comma-separated knob as trimmed, non-empty items (`fallback` when unset). */
function list(name: string, fallback = ''): string[] {
  return (process.env[name] ?? fallback).split(',').map((x) => x.trim()).filter(Boolean);
}

const log = (s: string): void => {
  process.stderr.write(`[bench] ${s}\n`);
};

async function main(): Promise<void> {
  const began = Date.now();
  const writeDoc = process.argv.includes('--write-doc');
  const durationS = num('BENCH_DURATION_S', 10);
  const warmupS = num('BENCH_WARMUP_S', 2);
  const slices = Math.max(1, Math.round(num('BENCH_SLICES', 4)));
  const concurrentSetups = num('BENCH_CONCURRENT_SETUPS', 20);
  const timeScale = num('BENCH_TIME_SCALE', 0.05);
  const concurrencies = list('BENCH_CONCURRENCIES', '1,50').map(Number).filter((n) => n > 0);
  const skip = new Set(list('BENCH_SKIP'));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hopsworks-bench-'));
  const cpus = os.cpus();

  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    command: 'npm run bench',
    machine: { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', node: process.version, platform: `${os.platform()} ${os.release()}`, totalMemMiB: Math.round(os.totalmem() / 2 ** 20), loadAvg1m: os.loadavg()[0] },
    settings: { durationS, slices, warmupS, concurrencies, concurrentSetups, timeScale },
  };
  const rows: Row[] = [];
  const children: ChildServer[] = [];

  // 1. Provisioning makespan (B2's bench/provision.ts logic).
  log('provisioning makespan on the simulator…');
  let provisioning: ProvisioningResult | { error: string };
  try {
    if (skip.has('provisioning')) throw new Error('skipped (BENCH_SKIP)');
    provisioning = await runProvisioningBench({ timeScale });
  } catch (err) {
    provisioning = { error: String((err as Error).message ?? err) };
  }
  results.provisioning = provisioning;
  if ('error' in provisioning) {
    rows.push({ metric: 'Provisioning makespan', value: `not measured: ${provisioning.error.split('\n')[0]}` });
  } else {
    const p = provisioning;
    rows.push({ metric: 'Provisioning makespan (one setup, simulated durations)', value: fmtS(p.makespanS), baseline: `critical path ${fmtS(p.criticalPathS)}`, ratio: fmtRatio(p.ratioToCriticalPath), target: '≤ 1.05×', met: p.ratioToCriticalPath <= 1.05 });
    rows.push({ metric: 'Provisioning vs the guide\'s one-after-another order', value: fmtS(p.makespanS), baseline: `sequential ${fmtS(p.sequentialS)}`, ratio: fmtRatio(p.ratioToSequential) });
    rows.push({ metric: 'ARM requests per setup', value: String(p.armRequestsPerSetup) });
  }

  // 2. Children: the bot (live mode against a simulator in this process), the two baselines.
  const sim = await startBenchSimulator({ timeScale });
  if (!skip.has('setups')) {
    // Azure generates SSH key pairs on its own servers; here that would be ~170 ms of CPU per setup on the
    // bot's two cores, in the middle of the concurrent run. The simulator prepares them now instead.
    log('simulator: preparing SSH key pairs for the concurrent setups…');
    await sim.prepareSshKeys(3 * concurrentSetups + 2);
  }
  const connector = await startFakeConnector();
  const slackApi = await startFakeSlackApi();
  const dbPath = path.join(tmp, 'bot.sqlite');
  const { store, service } = openService(dbPath, [BENCH_APPROVER.userId]);
  const pending = await seedPendingRequest(service, store, { requester: REQUESTER, resourceGroup: sim.spareResourceGroup });
  const ports = { bot: await freePort(), echo: await freePort(), bolt: await freePort() };
  const common = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS, TMPDIR: process.env.TMPDIR };
  // Profiling hook: BENCH_BOT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (the profile is written when the bot stops).
  const botNodeArgs = (process.env.BENCH_BOT_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // The same for the two baselines (BENCH_BASELINE_NODE_ARGS), to compare profiles.
  const baselineNodeArgs = (process.env.BENCH_BASELINE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const botEnv: NodeJS.ProcessEnv = {
    ...common,
    PORT: String(ports.bot),
    BOT_DB_PATH: dbPath,
    LOG_LEVEL: 'warn',
    AZURE_MODE: 'live',
    AZURE_SUBSCRIPTION_ID: sim.subscriptionId,
    AZURE_ARM_ENDPOINT: sim.armEndpoint,
    // The simulator runs Azure's durations at timeScale; the bot polls at the same scale (2 s in Azure).
    AZURE_POLL_INTERVAL_MS: String(Math.max(10, Math.round(2000 * timeScale))),
    IDENTITY_ENDPOINT: sim.identityEndpoint,
    IDENTITY_HEADER: sim.identityHeader,
    HOPSWORKS_APPROVERS: BENCH_APPROVER.userId,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slackApi.url,
  };
  // The bot is built as `npm start` builds it, and the baselines the same way: all three run on plain Node.
  const buildDir = path.join(ROOT, 'dist', 'bench');
  const scripts = {
    bot: buildBot(path.join(buildDir, 'bot.js')),
    echo: buildEntry(path.join(ROOT, 'bench', 'baselines', 'echo-bot.ts'), path.join(buildDir, 'echo-bot.js')),
    bolt: buildEntry(path.join(ROOT, 'bench', 'baselines', 'bolt-ack.ts'), path.join(buildDir, 'bolt-ack.js')),
  };
  try {
    log('starting the bot…');
    const bot = Object.assign(await startChild({ name: 'bot', script: scripts.bot, env: botEnv, nodeArgs: botNodeArgs, readyUrl: `http://127.0.0.1:${ports.bot}/readyz` }), { url: `http://127.0.0.1:${ports.bot}` });
    children.push(bot);
    log(`bot ready in ${Math.round(bot.readyMs)} ms; starting the botbuilder echo baseline…`);
    const echo = Object.assign(await startChild({ name: 'botbuilder echo bot', script: scripts.echo, env: { ...common, PORT: String(ports.echo) }, nodeArgs: baselineNodeArgs, readyUrl: `http://127.0.0.1:${ports.echo}/readyz` }), { url: `http://127.0.0.1:${ports.echo}` });
    children.push(echo);
    log(`echo bot ready in ${Math.round(echo.readyMs)} ms; starting the Bolt baseline…`);
    const bolt = Object.assign(
      await startChild({ name: 'Bolt ack app', script: scripts.bolt, env: { ...common, PORT: String(ports.bolt), SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: slackApi.url }, nodeArgs: baselineNodeArgs, readyUrl: `http://127.0.0.1:${ports.bolt}/readyz` }),
      { url: `http://127.0.0.1:${ports.bolt}` },
    );
    children.push(bolt);
    await new Promise((r) => setTimeout(r, 1000));
    const idle = { bot: rssMiB(bot), echo: rssMiB(echo), bolt: rssMiB(bolt) };

    // 3. Latency.
    const latency: ScenarioResult[] = skip.has('latency') ? [] : await runLatency(
      { bot, echo, bolt },
      {
        connectorUrl: connector.url,
        signingSecret: SIGNING_SECRET,
        pending: { id: pending.id, planHash: pending.plan!.hash },
        slackStats: () => slackApi.stats(),
        slackApprove: (requestId, planHash) => ({ actionId: 'hw:0', value: encodeButtonValue({ k: 'execute', v: 'approve', d: { requestId, planHash } }) }),
      },
      { durationS, warmupS, concurrencies, slices, log, only: list('BENCH_SCENARIOS') },
    );
    const after = { bot: rssMiB(bot), echo: rssMiB(echo), bolt: rssMiB(bolt) };
    for (const c of [bot, echo, bolt]) {
      if (c.proc.exitCode !== null || c.proc.signalCode !== null) {
        const tail = c.output().slice(-3000);
        log(`${c.name} DIED during the latency runs (exit ${c.proc.exitCode ?? c.proc.signalCode}):\n${tail}`);
        results[`${c.name === 'bot' ? 'bot' : c.name}Died`] = { exit: c.proc.exitCode ?? c.proc.signalCode, outputTail: tail };
      }
    }
    const unchanged = await store.get(pending.id);
    results.latency = {
      scenarios: SCENARIOS.map((s) => ({ name: s.name, measures: s.description, baseline: s.baseline === 'echo' ? 'bare botbuilder CloudAdapter echo bot' : 'bare Bolt app that only acks' })),
      pendingRequestUnchanged: unchanged?.version === pending.version && unchanged?.state === 'pendingApproval',
      runs: latency.map((r) => ({
        scenario: r.scenario,
        connections: r.connections,
        bot: r.bot,
        baseline: { name: r.baselineName, ...r.baseline },
        p99Ratio: ratio(r.bot.p99, r.baseline.p99),
        cpuMsPerRequest: { bot: round(r.cpuMsPerRequest.bot, 3), baseline: round(r.cpuMsPerRequest.baseline, 3) },
        ...(r.slackTurns ? { slackTurns: r.slackTurns } : {}),
      })),
    };
    for (const r of latency) {
      const rr = ratio(r.bot.p99, r.baseline.p99);
      const errs = r.bot.non2xx + r.bot.errors;
      rows.push({
        metric: `${r.scenario}, c=${r.connections}: p50 / p99 / max${errs ? ` (${errs} non-2xx/errors)` : ''}`,
        value: `${fmtMs(r.bot.p50)} / ${fmtMs(r.bot.p99)} / ${fmtMs(r.bot.max)}`,
        baseline: `${fmtMs(r.baseline.p50)} / ${fmtMs(r.baseline.p99)} / ${fmtMs(r.baseline.max)}`,
        ratio: `p99 ${fmtRatio(rr)}`,
        target: r.connections === 50 ? 'p99 ≤ 1.5× and < 100 ms' : 'p99 ≤ 1.5×',
        met: rr <= 1.5 && (r.connections !== 50 || r.bot.p99 < 100) && errs === 0,
      });
      rows.push({
        metric: '↳ CPU time per request (server process, during the run)',
        value: fmtCpu(r.cpuMsPerRequest.bot),
        baseline: fmtCpu(r.cpuMsPerRequest.baseline),
        ratio: fmtRatio(ratio(r.cpuMsPerRequest.bot, r.cpuMsPerRequest.baseline)),
      });
      if (r.slackTurns) {
        const t = r.slackTurns;
        rows.push({
          metric: `↳ what the ${t.acked} acked deliveries led to`,
          value: `${t.answered} answered by a turn; ${Math.max(0, t.acked - t.answered)} turned away as busy${r.scenario.includes('slash') ? ' (told so in the ack)' : ` (${t.busyNotices} busy notices: at most one per person per 30 s)`}`,
        });
      }
    }

    // 4. Startup and memory.
    results.startup = {
      bot: { readyMs: round(bot.readyMs, 0), rssIdleMiB: idle.bot, rssAfterLatencyMiB: after.bot },
      botbuilderEcho: { readyMs: round(echo.readyMs, 0), rssIdleMiB: idle.echo, rssAfterLatencyMiB: after.echo },
      boltAck: { readyMs: round(bolt.readyMs, 0), rssIdleMiB: idle.bolt, rssAfterLatencyMiB: after.bolt },
      note: 'time from spawn (node on the script scripts/build.js built, as npm start runs the bot) to the first 200 on /readyz; RSS from /proc/<pid>/status VmRSS',
    };
    rows.push({ metric: 'Start to /readyz (bot: store + ARM reachable)', value: fmtMs(bot.readyMs), baseline: `echo ${fmtMs(echo.readyMs)}, Bolt ${fmtMs(bolt.readyMs)}`, ratio: fmtRatio(ratio(bot.readyMs, echo.readyMs)) });
    rows.push({ metric: 'Resident memory, idle', value: `${idle.bot} MiB`, baseline: `echo ${idle.echo} MiB, Bolt ${idle.bolt} MiB`, ratio: fmtRatio(ratio(idle.bot, idle.echo)) });
    rows.push({ metric: 'Resident memory, after the latency runs', value: `${after.bot} MiB`, baseline: `echo ${after.echo} MiB, Bolt ${after.bolt} MiB`, ratio: fmtRatio(ratio(after.bot, after.echo)) });
    await echo.stop();
    await bolt.stop();

    // 5. Concurrent setups through the running bot's job runner, the simulator throttling.
    log(`${concurrentSetups} concurrent setups under throttling…`);
    let setups: ConcurrentSetupsResult | { error: string };
    try {
      if (skip.has('setups')) throw new Error('skipped (BENCH_SKIP)');
      setups = await runConcurrentSetups({ sim, service, store, approver: BENCH_APPROVER, requester: REQUESTER, count: concurrentSetups, connectorUrl: connector.url, botPid: bot.pid, log });
    } catch (err) {
      setups = { error: String((err as Error).message ?? err) };
    }
    results.concurrentSetups = setups;
    if ('error' in setups) {
      rows.push({ metric: `${concurrentSetups} concurrent setups`, value: `not measured: ${setups.error.split('\n')[0]}` });
    } else {
      const spans = [...setups.singleRunsS].sort((a, b) => a - b);
      rows.push({
        metric: `${setups.count} concurrent setups on ${setups.count} resource groups, ${Math.round(setups.faults.rate429 * 100)}% of ARM requests 429 (Retry-After ${setups.faults.retryAfterSeconds} s): makespan`,
        value: fmtS(setups.manyMakespanS),
        baseline: `the slowest of the same ${setups.count} setups one at a time, same 429s each: ${fmtS(setups.singleMakespanS)} (alone: ${spans[0].toFixed(2)}–${spans[spans.length - 1].toFixed(2)} s, median ${setups.singleMedianS.toFixed(2)} s)`,
        ratio: fmtRatio(setups.ratio),
        target: '≤ 1.3×',
        met: setups.ratio <= 1.3,
      });
      rows.push({ metric: '↳ each setup in the burst against itself alone: median / max', value: `${fmtRatio(setups.perSetupRatio.median)} / ${fmtRatio(setups.perSetupRatio.max)}`, baseline: `${setups.same429s} of ${setups.count} met exactly the 429s they met alone` });
      rows.push({ metric: '↳ the burst against the median setup alone (the reference before 26 Nov 19:30: luck of the draw included)', value: fmtS(setups.manyMakespanS), baseline: `one setup ${fmtS(setups.singleMedianS)}`, ratio: fmtRatio(setups.ratioToMedianSingle) });
      const nf = setups.noFaults;
      rows.push({ metric: `↳ the same without injected faults (reference: what concurrency alone costs)`, value: fmtS(nf.manyMakespanS), baseline: `one setup ${fmtS(nf.singleMakespanS)}`, ratio: fmtRatio(nf.ratio) });
      rows.push({ metric: 'Failed setups', value: `${setups.failed + nf.failed} of ${2 * setups.count + 1 + setups.singleRunsS.length}${setups.failures.length ? ` (${setups.failures[0]})` : ''}`, target: '0', met: setups.failed + nf.failed === 0 });
      rows.push({ metric: 'Throttled ARM requests (429) during the concurrent run', value: String(setups.throttled) });
      rows.push({ metric: 'Store writes per setup (the stored request\'s version at the end), median', value: `${setups.storeWritesPerSetup.many} in the burst`, baseline: `one alone: ${setups.storeWritesPerSetup.single}` });
      const cpu = setups.botCpuSPerSetup;
      if (cpu) {
        rows.push({
          metric: `Bot CPU time per setup, ${setups.count} at once: without faults (with faults)`,
          value: `${fmtS(cpu.many)} (${fmtS(cpu.faultsMany)})`,
          baseline: `one alone: ${fmtS(cpu.single)} (${fmtS(cpu.faultsSingle)})`,
          ratio: fmtRatio(ratio(cpu.many, cpu.single)),
        });
      }
      // ARM's own limits (token buckets per subscription: reads 250 + 25/s, writes 200 + 10/s): would the burst be throttled for real?
      rows.push({ metric: `TLS connections the bot opened to ARM, ${setups.count} at once without faults`, value: `${setups.connectionsOpened.opened} (${setups.connectionsOpened.resumed} resumed a TLS session)` });
      rows.push({ metric: 'ARM requests during the concurrent run: reads / writes', value: `${setups.armReads} / ${setups.armWrites}`, baseline: "ARM's subscription token buckets: 250 reads + 25/s, 200 writes + 10/s (real time)" });
    }
    await bot.stop();
  } finally {
    for (const c of children) await c.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
    await sim.close();
    await connector.close();
    await slackApi.close();
    if (process.env.BENCH_KEEP_TMP) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }

  results.totalSeconds = round((Date.now() - began) / 1000, 1);
  // Other work on the machine skews every latency figure: recorded so a reader can tell.
  (results.machine as Record<string, unknown>).loadAvg1mEnd = round(os.loadavg()[0], 2);
  const machine = results.machine as { cpus: number; cpuModel: string; node: string };
  const table = markdownTable(rows);
  const load = results.machine as { loadAvg1m: number; loadAvg1mEnd: number };
  const header =
    `Machine: ${machine.cpus} CPUs (${machine.cpuModel}), Node ${machine.node}, load average ${round(load.loadAvg1m, 1)} at start and ${load.loadAvg1mEnd} at the end; ` +
    `${durationS} s per latency run for the bot and for its baseline, ${slices > 1 ? `in ${slices} slices each, alternating,` : 'back to back,'} after a ${warmupS} s warm-up of each at the same concurrency, connection setup excluded; the bot and the baselines built by scripts/build.js and run by plain Node (as \`npm start\` runs the bot); total ${results.totalSeconds} s (${results.date}).`;
  writeFileSync(path.join(ROOT, 'bench', 'results.json'), `${JSON.stringify({ ...results, table }, null, 2)}\n`);
  process.stdout.write(`\n${header}\n\n${table}\n`);
  if (writeDoc) updateDoc(header, table);
}

/** Replaces the table between the markers in docs/performance.md. */
function updateDoc(header: string, table: string): void {
  const file = path.join(ROOT, 'docs', 'performance.md');
  if (!existsSync(file)) return;
  const doc = readFileSync(file, 'utf8');
  const start = '<!-- bench:table:start -->';
  const end = '<!-- bench:table:end -->';
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) return;
  writeFileSync(file, `${doc.slice(0, i + start.length)}\n${header}\n\n${table}\n${doc.slice(j)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
