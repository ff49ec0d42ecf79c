/**
 * Interactive latency: the bot and its baselines as child processes, autocannon in this process.
 * Every row alternates between the bot and its baseline in short slices (see `sliceOrder`), so that
 * background load on a shared machine hits both alike.
 */
import { combineRuns, runLoad, runLoadSamples, type LoadResult, type LoadRun, type RequestFactory } from './lib/load';
import { cpuMs, mib, rssBytes, type ChildServer } from './lib/procs';
import {
  slackBlockActionsBody,
  slackCommandBody,
  slackSignature,
  teamsActivity,
  teamsExecuteInvoke,
} from '../test/helpers/reliability-payloads';

export interface ScenarioResult {
  scenario: string;
  connections: number;
  bot: LoadResult;
  baseline: LoadResult;
  baselineName: string;
  /**
   * Slack scenarios: what the bot did with the acked deliveries (counted at the fake Web API, including
   * turns that finished after the load stopped): answered by a turn, or turned away as busy.
   */
  slackTurns?: { acked: number; answered: number; busyNotices: number; busyAcks: number };
  /**
   * CPU time of the server process while the load ran, per 2xx response (ms): the work behind a response,
   * apart from queueing. On a shared machine it still varies by up to ±30% between runs (the baselines too).
   * For Slack, the bot's figure includes the turns that ran during the load.
   */
  cpuMsPerRequest: { bot: number; baseline: number };
}

export interface LatencyTargets {
  bot: ChildServer & { url: string };
  echo: ChildServer & { url: string };
  bolt: ChildServer & { url: string };
}

export interface ScenarioContext {
  connectorUrl: string;
  signingSecret: string;
  /** The pending request the Approve click is aimed at. */
  pending: { id: string; planHash: string };
  /** Slack block_actions fields of an Approve button as the Slack adapter renders it. */
  slackApprove: (requestId: string, planHash: string) => { actionId: string; value: string; blockId?: string };
  /** Calls the fake Slack Web API has received so far. */
  slackStats?: () => { byMethod: Record<string, number>; busy: number };
}

const json = { 'content-type': 'application/json' };
const form = { 'content-type': 'application/x-www-form-urlencoded' };

export interface Scenario {
  name: string;
  /** What the row measures, for the report. */
  description: string;
  baseline: 'echo' | 'bolt';
  request(ctx: ScenarioContext): RequestFactory;
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'Teams message turn',
    description: '`status` as a Teams message; the reply is POSTed to a local fake connector before the 200',
    baseline: 'echo',
    request: (ctx) => (conn) => ({
      method: 'POST',
      path: '/api/messages',
      headers: json,
      body: JSON.stringify(
        teamsActivity({
          serviceUrl: ctx.connectorUrl,
          text: 'status',
          from: { id: `29:bench-${conn}`, name: `Bench ${conn}`, aadObjectId: `00000000-0000-0000-0001-${String(conn).padStart(12, '0')}` },
        }),
      ),
    }),
  },
  {
    name: 'Teams Approve (Action.Execute)',
    description: '`adaptiveCard/action` invoke, verb approve, on a real pending request by a non-approver: refused by policy, answered with the card',
    baseline: 'echo',
    request: (ctx) => (conn) => ({
      method: 'POST',
      path: '/api/messages',
      headers: json,
      body: JSON.stringify(
        teamsExecuteInvoke({
          serviceUrl: ctx.connectorUrl,
          verb: 'approve',
          data: { requestId: ctx.pending.id, planHash: ctx.pending.planHash },
          from: { id: `29:bench-${conn}`, name: `Bench ${conn}`, aadObjectId: `00000000-0000-0000-0001-${String(conn).padStart(12, '0')}` },
          conversationId: '19:bench-admin@thread.tacv2',
        }),
      ),
    }),
  },
  {
    name: 'Slack slash command ack',
    description: '`/hopsworks status`, signed form POST to /slack/events',
    baseline: 'bolt',
    request: (ctx) => (conn) => {
      const body = slackCommandBody({ text: 'status', user: { id: `U0BENCH${conn}`, name: `bench${conn}` }, channelId: `C0BENCH${conn}` });
      return { method: 'POST', path: '/slack/events', headers: { ...form, ...slackSignature(ctx.signingSecret, body) }, body };
    },
  },
  {
    name: 'Slack button ack',
    description: 'signed `block_actions` click on the approval message\'s Approve button by a non-approver',
    baseline: 'bolt',
    request: (ctx) => (conn) => {
      const button = ctx.slackApprove(ctx.pending.id, ctx.pending.planHash);
      const body = slackBlockActionsBody({ ...button, user: { id: `U0BENCH${conn}`, name: `bench${conn}` }, channelId: 'C0ADMIN' });
      return { method: 'POST', path: '/slack/events', headers: { ...form, ...slackSignature(ctx.signingSecret, body) }, body };
    },
  },
];

/**
 * Turns still waiting when a Slack load stops finish within this: the bot's line holds 50 turns and starts
 * 5 a second (10 s), plus the 8 running.
 */
const SLACK_DRAIN_MS = 15_000;
/** The bot's turns are done once the fake Web API has had no call for this long (three times their 200 ms spacing). */
const SLACK_QUIET_MS = 600;

/** A B B A A B B A …: `n` slices per side, each side as often first as second in every pair of slices. */
export function sliceOrder(n: number): Array<'bot' | 'baseline'> {
  const out: Array<'bot' | 'baseline'> = [];
  for (let i = 0; i < n; i++) out.push(...(i % 2 === 0 ? (['bot', 'baseline'] as const) : (['baseline', 'bot'] as const)));
  return out;
}

/**
 * Waits until the fake Slack Web API has been quiet for SLACK_QUIET_MS (the bot's queued turns are done), at
 * most SLACK_DRAIN_MS. False when it gave up: turns may then run into the baseline's slice.
 */
async function drainSlackTurns(ctx: ScenarioContext): Promise<boolean> {
  if (!ctx.slackStats) {
    await new Promise((r) => setTimeout(r, SLACK_DRAIN_MS));
    return true;
  }
  const total = () => Object.values(ctx.slackStats!().byMethod).reduce((a, b) => a + b, 0);
  const deadline = Date.now() + SLACK_DRAIN_MS;
  let last = total();
  let quietSince = Date.now();
  while (Date.now() - quietSince < SLACK_QUIET_MS) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
    const now = total();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    }
  }
  return true;
}

export async function runLatency(
  targets: LatencyTargets,
  ctx: ScenarioContext,
  opts: { durationS: number; warmupS: number; concurrencies: number[]; slices: number; log: (s: string) => void; only?: string[] },
): Promise<ScenarioResult[]> {
  const out: ScenarioResult[] = [];
  const only = (opts.only ?? []).map((x) => x.toLowerCase());
  for (const sc of SCENARIOS) {
    if (only.length > 0 && !only.some((x) => sc.name.toLowerCase().includes(x))) continue;
    const base = sc.baseline === 'echo' ? targets.echo : targets.bolt;
    const factory = sc.request(ctx);
    // Each measured run follows its own warm-up at the same concurrency, with the same users: pools, JIT and
    // the users' conversation state are then in the state the run measures. (A warm-up at 10 connections left
    // the first 2-3 s of a 50-connection run to 40 new users and connections: p50 100 ms there, 60 after.)
    const warmUp = async (url: string, c: number) => {
      if (opts.warmupS > 0) await runLoad({ url, connections: c, durationS: opts.warmupS, request: factory });
    };
    for (const c of opts.concurrencies) {
      await warmUp(targets.bot.url, c);
      await warmUp(base.url, c);
      // Slack: the turns the warm-up left waiting finish first, so that the counts below are the run's own.
      if (sc.baseline === 'bolt' && !(await drainSlackTurns(ctx))) opts.log(`${sc.name} c=${c}: the warm-up's Slack turns were still running after ${SLACK_DRAIN_MS / 1000} s`);
      const before = sc.baseline === 'bolt' ? ctx.slackStats?.() : undefined;
      // The measured time is cut into slices, the bot's and the baseline's alternating in the order
      // A B B A A B B A: a machine that is busier for a few seconds, or slowly drifting, weighs on both
      // alike (back-to-back runs of 10 s each put a whole run on one side of such a change).
      const botRuns: LoadRun[] = [];
      const baseRuns: LoadRun[] = [];
      const cpu = { bot: 0, baseline: 0 };
      const sliceS = opts.durationS / opts.slices;
      for (const side of sliceOrder(opts.slices)) {
        const target = side === 'bot' ? targets.bot : base;
        const cpuBefore = cpuMs(target.pid);
        const run = await runLoadSamples({ url: target.url, connections: c, durationS: sliceS, request: factory });
        cpu[side] += cpuMs(target.pid) - cpuBefore;
        (side === 'bot' ? botRuns : baseRuns).push(run);
        // The bot's Slack turns still waiting finish before the baseline's slice, not during it.
        if (side === 'bot' && sc.baseline === 'bolt' && !(await drainSlackTurns(ctx))) {
          opts.log(`${sc.name} c=${c}: the bot's Slack turns were still running ${SLACK_DRAIN_MS / 1000} s after its slice; they overlap the baseline's`);
        }
      }
      const bot = combineRuns(botRuns);
      const baseline = combineRuns(baseRuns);
      let slackTurns: ScenarioResult['slackTurns'];
      if (before && ctx.slackStats) {
        const after = ctx.slackStats();
        const delta = (m: string) => (after.byMethod[m] ?? 0) - (before.byMethod[m] ?? 0);
        const busyNotices = after.busy - before.busy;
        const answered = delta('chat.postMessage') + delta('chat.postEphemeral') - busyNotices;
        const acked = bot.requests;
        slackTurns = { acked, answered, busyNotices, busyAcks: sc.name.includes('slash') ? Math.max(0, acked - answered) : 0 };
      }
      const cpuMsPerRequest = { bot: cpu.bot / Math.max(1, bot.requests), baseline: cpu.baseline / Math.max(1, baseline.requests) };
      opts.log(
        `${sc.name} c=${c}: bot p50 ${bot.p50.toFixed(1)} p99 ${bot.p99.toFixed(1)} max ${bot.max.toFixed(1)} ms (${bot.rps}/s, non-2xx ${bot.non2xx}, errors ${bot.errors}); ` +
          `${base.name} p50 ${baseline.p50.toFixed(1)} p99 ${baseline.p99.toFixed(1)} max ${baseline.max.toFixed(1)} ms (${baseline.rps}/s); ` +
          `CPU per request: bot ${cpuMsPerRequest.bot.toFixed(3)} ms, ${base.name} ${cpuMsPerRequest.baseline.toFixed(3)} ms`,
      );
      if (slackTurns) opts.log(`  ${sc.name} c=${c}: ${slackTurns.acked} acked, ${slackTurns.answered} answered by a turn, ${slackTurns.busyNotices} busy notices`);
      out.push({ scenario: sc.name, connections: c, bot, baseline, baselineName: base.name, cpuMsPerRequest, ...(slackTurns ? { slackTurns } : {}) });
    }
  }
  return out;
}

export function rssMiB(child: ChildServer): number {
  try {
    return mib(rssBytes(child.pid));
  } catch {
    return NaN;
  }
}
