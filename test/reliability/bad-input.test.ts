/**
 * Bad input campaign: every case of the corpus in ./corpus (Teams activities, Slack payloads, card
 * submissions, configuration) gets a clear answer: an HTTP status or a bot reply this test asserts.
 * The bot runs as a child process; at the end it is still up and no stored request has changed.
 */
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startArmSimulator, type ArmSimulator } from '../../src/azure/simulator';
import { loadConfig, ConfigError } from '../../src/bot/config';
import { encodeButtonValue } from '../../src/bot/slack/blockkit';
import type { SetupService } from '../../src/core/service';
import type { Store } from '../../src/core/ports';
import type { Actor, SetupRequest } from '../../src/core/types';
import { openService, seedPendingRequest } from '../helpers/reliability-seed';
import { liveBotEnv, removeBotBundle, spawnBot, waitFor, type BotProcess } from '../helpers/reliability-bot';
import { startFakeConnector, startFakeSlackApi, type FakeServer, type RecordedCall } from '../helpers/reliability-fakes';
import { slackBlockActionsBody, slackCommandBody, slackSignature, teamsActivity, teamsExecuteInvoke, type TeamsUser } from '../helpers/reliability-payloads';
import teamsCorpus from './corpus/teams.json';
import slackCorpus from './corpus/slack.json';
import configCorpus from './corpus/config.json';

type Json = Record<string, unknown>;
interface Expect {
  status?: number | number[];
  reply?: string;
  replyIfAny?: string;
  invoke?: string;
  invokeIfAny?: string;
  mustNotMatch?: string[];
  noMentionEntities?: boolean;
  replyMaxChars?: number;
  noBotReply?: boolean;
}
interface Case {
  id: string;
  why: string;
  request: Json;
  expect: Expect;
}

const SIGNING_SECRET = 'bad-input-signing-secret-0123456789';
const BOT_TOKEN = 'xoxb-111-222-badinputbadinputbadinput';

const TEAMS_USERS: Record<string, TeamsUser & { actor: Actor }> = {
  requester: { id: '29:rita', name: 'Rita Requester', aadObjectId: '00000000-0000-0000-0000-0000000000b2', actor: { platform: 'teams', userId: '00000000-0000-0000-0000-0000000000b2', displayName: 'Rita Requester' } },
  approver: { id: '29:ada', name: 'Ada Approver', aadObjectId: '00000000-0000-0000-0000-0000000000a1', actor: { platform: 'teams', userId: '00000000-0000-0000-0000-0000000000a1', displayName: 'Ada Approver' } },
  stranger: { id: '29:sam', name: 'Sam Stranger', aadObjectId: '00000000-0000-0000-0000-0000000000c3', actor: { platform: 'teams', userId: '00000000-0000-0000-0000-0000000000c3', displayName: 'Sam Stranger' } },
};
const SLACK_USERS: Record<string, { id: string; name: string }> = {
  requester: { id: 'U0REQUESTER', name: 'rita' },
  approver: { id: 'U0APPROVER', name: 'ada' },
  stranger: { id: 'U0STRANGER', name: 'sam' },
};

/** Replaces $OWN_PENDING, $OWN_HASH, $PENDING, $HASH and $REPEAT:s:n everywhere in a JSON value. */
function expand<T>(value: T, pending: SetupRequest, own: SetupRequest): T {
  const str = (s: string): unknown => {
    const rep = /^\$REPEAT:(.*):(\d+)$/s.exec(s);
    if (rep) return rep[1].repeat(Math.ceil(Number(rep[2]) / Math.max(1, rep[1].length))).slice(0, Number(rep[2]));
    return s
      .replace(/\$OWN_PENDING/g, own.id)
      .replace(/\$OWN_HASH/g, own.plan!.hash)
      .replace(/\$PENDING/g, pending.id)
      .replace(/\$HASH/g, pending.plan!.hash);
  };
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return str(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/** Every string a client would show from an outgoing activity or Slack call (texts, card texts, facts, blocks). */
function shownTexts(body: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    const form = Object.fromEntries(new URLSearchParams(body));
    parsed = Object.fromEntries(
      Object.entries(form).map(([k, v]) => {
        try {
          return [k, JSON.parse(v)];
        } catch {
          return [k, v];
        }
      }),
    );
  }
  const out: string[] = [];
  const walk = (v: unknown, key?: string): void => {
    if (typeof v === 'string') {
      if (!['type', 'id', 'serviceUrl', 'channelId', 'contentType', 'version', '$schema', 'style', 'color', 'size', 'weight', 'spacing', 'channel', 'ts', 'token', 'action_id', 'block_id'].includes(key ?? '')) out.push(v);
      return;
    }
    if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(parsed);
  return out;
}

/** RELIABILITY_DUMP=file appends what each case got back, for reviewing the corpus' expectations. */
function dump(id: string, seen: object): void {
  if (process.env.RELIABILITY_DUMP) appendFileSync(process.env.RELIABILITY_DUMP, `${JSON.stringify({ id, ...seen })}\n`);
}

function statusOk(expected: number | number[] | undefined, actual: number): boolean {
  if (expected === undefined) return actual < 500;
  return (Array.isArray(expected) ? expected : [expected]).includes(actual);
}

/** Calls recorded after index `from`, settled: waits until nothing new arrives for a moment (bounded). */
async function settledCalls(fake: FakeServer, from: number, wanted: (c: RecordedCall) => boolean, needOne: boolean): Promise<RecordedCall[]> {
  const deadline = Date.now() + (needOne ? 15_000 : 1_000);
  let last = -1;
  let stableSince = Date.now();
  for (;;) {
    const mine = fake.calls.slice(from).filter(wanted);
    if (mine.length !== last) {
      last = mine.length;
      stableSince = Date.now();
    }
    const quiet = Date.now() - stableSince > 300;
    if ((quiet && (!needOne || mine.length > 0)) || Date.now() > deadline) return mine;
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('bad input: clear answers, nothing changes, the bot stays up', () => {
  let sim: ArmSimulator;
  let connector: FakeServer;
  let slackApi: FakeServer;
  let dir: string;
  let store: Store;
  let service: SetupService;
  let bot: BotProcess;
  let pendingTeams: SetupRequest;
  let pendingSlack: SetupRequest;
  let ownTeams: SetupRequest;
  let ownSlack: SetupRequest;
  let before: SetupRequest[];

  beforeAll(async () => {
    sim = await startArmSimulator({ port: 0, timeScale: 0.01 });
    connector = await startFakeConnector({ record: true });
    slackApi = await startFakeSlackApi({ record: true });
    dir = mkdtempSync(path.join(os.tmpdir(), 'hw-bad-input-'));
    const dbPath = path.join(dir, 'bot.sqlite');
    const approvers = [TEAMS_USERS.approver.aadObjectId!, SLACK_USERS.approver.id];
    ({ store, service } = openService(dbPath, approvers));
    sim.addResourceGroup('rg-bad-input-teams', 'westeurope');
    sim.addResourceGroup('rg-bad-input-slack', 'westeurope');
    pendingTeams = await seedPendingRequest(service, store, { requester: TEAMS_USERS.requester.actor, resourceGroup: 'rg-bad-input-teams' });
    pendingSlack = await seedPendingRequest(service, store, {
      requester: { platform: 'slack', userId: SLACK_USERS.requester.id, displayName: 'rita' },
      resourceGroup: 'rg-bad-input-slack',
    });
    // Requested by the approvers themselves: their own Approve click must be refused.
    sim.addResourceGroup('rg-bad-input-own-teams', 'westeurope');
    sim.addResourceGroup('rg-bad-input-own-slack', 'westeurope');
    ownTeams = await seedPendingRequest(service, store, { requester: TEAMS_USERS.approver.actor, resourceGroup: 'rg-bad-input-own-teams' });
    ownSlack = await seedPendingRequest(service, store, {
      requester: { platform: 'slack', userId: SLACK_USERS.approver.id, displayName: 'ada' },
      resourceGroup: 'rg-bad-input-own-slack',
    });
    before = await store.list({ limit: 1000 });
    bot = await spawnBot(
      liveBotEnv(sim, {
        BOT_DB_PATH: dbPath,
        HOPSWORKS_APPROVERS: approvers.join(','),
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: slackApi.url,
        LOG_LEVEL: 'warn',
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await bot?.stop();
    await store?.close();
    await sim?.close();
    await connector?.close();
    await slackApi?.close();
    rmSync(dir, { recursive: true, force: true });
    removeBotBundle();
  });

  const teamsCases = (teamsCorpus as { cases: Case[] }).cases;
  const slackCases = (slackCorpus as { cases: Case[] }).cases;

  test.each(teamsCases.map((c) => [c.id, c] as const))('Teams: %s', async (_id, raw) => {
    const c = expand(raw, pendingTeams, ownTeams);
    const req = c.request as { raw?: string; oversizeBytes?: number; as?: string; conversationType?: 'personal' | 'channel'; activity?: Json; invoke?: { verb: string; data: Json } };
    const user = TEAMS_USERS[req.as ?? 'stranger'];
    const conversationId = req.conversationType === 'channel' ? `19:case-${c.id}@thread.tacv2` : `a:case-${c.id}`;
    let body: string;
    if (req.raw !== undefined) body = req.raw;
    else if (req.oversizeBytes) body = JSON.stringify(teamsActivity({ serviceUrl: connector.url, text: 'x'.repeat(req.oversizeBytes), from: user, conversationId }));
    else if (req.invoke) body = JSON.stringify(teamsExecuteInvoke({ serviceUrl: connector.url, verb: req.invoke.verb, data: req.invoke.data, from: user, conversationId }));
    else {
      const activity: Json = { ...teamsActivity({ serviceUrl: connector.url, from: user, conversationId, conversationType: req.conversationType }), ...req.activity };
      for (const [k, v] of Object.entries(activity)) if (v === null) delete activity[k];
      body = JSON.stringify(activity);
    }
    const from = connector.calls.length;
    const res = await fetch(`${bot.url}/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const resText = await res.text();
    const e = c.expect;
    const needReply = e.reply !== undefined;
    const calls = await settledCalls(connector, from, (call) => call.path.includes(encodeURIComponent(conversationId)) || call.path.includes(conversationId), needReply);
    const replies = calls.flatMap((call) => shownTexts(call.body));
    const invokeTexts = resText ? shownTexts(resText) : [];
    const all = [...replies, ...invokeTexts];
    const seen = { status: res.status, replies: replies.join(' | ').slice(0, 500), invoke: invokeTexts.join(' | ').slice(0, 500) };
    dump(c.id, seen);

    expect({ case: c.id, statusOk: statusOk(e.status, res.status), seen }).toEqual({ case: c.id, statusOk: true, seen });
    if (e.reply) expect({ case: c.id, reply: replies.some((t) => new RegExp(e.reply!, 'i').test(t)), seen }).toEqual({ case: c.id, reply: true, seen });
    if (e.replyIfAny && replies.length) expect({ case: c.id, reply: replies.some((t) => new RegExp(e.replyIfAny!, 'i').test(t)), seen }).toEqual({ case: c.id, reply: true, seen });
    if (e.invoke) expect({ case: c.id, invoke: all.some((t) => new RegExp(e.invoke!, 'i').test(t)), seen }).toEqual({ case: c.id, invoke: true, seen });
    if (e.invokeIfAny && all.length) expect({ case: c.id, invoke: all.some((t) => new RegExp(e.invokeIfAny!, 'i').test(t)), seen }).toEqual({ case: c.id, invoke: true, seen });
    for (const pattern of e.mustNotMatch ?? []) {
      expect({ case: c.id, pattern, leaked: all.filter((t) => new RegExp(pattern).test(t)) }).toEqual({ case: c.id, pattern, leaked: [] });
    }
    if (e.noMentionEntities) {
      const mentions = calls.filter((call) => /"type"\s*:\s*"mention"/.test(call.body));
      expect({ case: c.id, mentions: mentions.length }).toEqual({ case: c.id, mentions: 0 });
    }
    if (e.replyMaxChars) for (const call of calls) expect(call.body.length).toBeLessThanOrEqual(e.replyMaxChars * 2);
  });

  test.each(slackCases.map((c) => [c.id, c] as const))('Slack: %s', async (_id, raw) => {
    const c = expand(raw, pendingSlack, ownSlack);
    const index = slackCases.findIndex((x) => x.id === c.id);
    const channel = `C0CASE${String(index).padStart(3, '0')}`;
    const responsePath = `response/${channel}`;
    const req = c.request as {
      as?: string;
      sign?: 'none' | 'wrong-secret' | 'stale' | 'other-body';
      raw?: string;
      contentType?: string;
      command?: { text: string; command?: string };
      action?: { actionId?: string; value?: string; execute?: { verb: string; data: Json } };
      viewSubmission?: { callbackId: string; privateMetadata: string; values: Json };
      rawPayload?: Json;
      event?: Json;
    };
    const user = SLACK_USERS[req.as ?? 'stranger'];
    let body: string;
    let contentType = 'application/x-www-form-urlencoded';
    if (req.raw !== undefined) {
      body = req.raw;
      contentType = req.contentType ?? contentType;
    } else if (req.command) {
      body = slackCommandBody({ text: req.command.text, command: req.command.command, user, channelId: channel, responseUrl: `${slackApi.url}${responsePath}` });
    } else if (req.action) {
      const a = req.action.execute
        ? { actionId: 'hw:0', value: encodeButtonValue({ k: 'execute', v: req.action.execute.verb, d: req.action.execute.data }) }
        : { actionId: req.action.actionId ?? 'hw:0', value: req.action.value };
      body = slackBlockActionsBody({ ...a, user, channelId: channel });
    } else if (req.viewSubmission) {
      const v = req.viewSubmission;
      body = new URLSearchParams({
        payload: JSON.stringify({
          type: 'view_submission',
          team: { id: 'T0BENCH', domain: 'bench' },
          user: { id: user.id, username: user.name, name: user.name, team_id: 'T0BENCH' },
          api_app_id: 'A0BENCH',
          trigger_id: `${Date.now()}.1.view`,
          view: { id: `V${index}`, type: 'modal', callback_id: v.callbackId, private_metadata: v.privateMetadata, hash: `h${index}`, state: { values: v.values } },
        }),
      }).toString();
    } else if (req.rawPayload) {
      body = new URLSearchParams({ payload: JSON.stringify(req.rawPayload) }).toString();
    } else {
      contentType = 'application/json';
      const event = { ...(req.event as Json), channel };
      body = JSON.stringify({ token: 'x', team_id: 'T0BENCH', api_app_id: 'A0BENCH', event, type: 'event_callback', event_id: `Ev${Date.now()}${index}`, event_time: Math.floor(Date.now() / 1000) });
    }
    let headers: Record<string, string> = { 'content-type': contentType };
    if (req.sign === 'wrong-secret') headers = { ...headers, ...slackSignature('not-the-signing-secret', body) };
    else if (req.sign === 'stale') headers = { ...headers, ...slackSignature(SIGNING_SECRET, body, Math.floor(Date.now() / 1000) - 600) };
    else if (req.sign === 'other-body') headers = { ...headers, ...slackSignature(SIGNING_SECRET, `${body}&text=help`) };
    else if (req.sign !== 'none') headers = { ...headers, ...slackSignature(SIGNING_SECRET, body) };

    const from = slackApi.calls.length;
    const res = await fetch(`${bot.url}/slack/events`, { method: 'POST', headers, body });
    await res.arrayBuffer();
    const e = c.expect;
    const needReply = e.reply !== undefined;
    const calls = await settledCalls(slackApi, from, (call) => call.body.includes(channel) || call.path.includes(responsePath), needReply);
    const replies = calls.flatMap((call) => shownTexts(call.body));
    const seen = { status: res.status, replies: replies.join(' | ').slice(0, 500) };
    dump(c.id, seen);

    expect({ case: c.id, statusOk: statusOk(e.status, res.status), seen }).toEqual({ case: c.id, statusOk: true, seen });
    if (e.reply) expect({ case: c.id, reply: replies.some((t) => new RegExp(e.reply!, 'i').test(t)), seen }).toEqual({ case: c.id, reply: true, seen });
    if (e.replyIfAny && replies.length) expect({ case: c.id, reply: replies.some((t) => new RegExp(e.replyIfAny!, 'i').test(t)), seen }).toEqual({ case: c.id, reply: true, seen });
    for (const pattern of e.mustNotMatch ?? []) {
      expect({ case: c.id, pattern, leaked: replies.filter((t) => new RegExp(pattern).test(t)) }).toEqual({ case: c.id, pattern, leaked: [] });
    }
    if (e.noBotReply) expect({ case: c.id, calls: calls.length }).toEqual({ case: c.id, calls: 0 });
  });

  test.each((configCorpus as unknown as { cases: Array<{ id: string; env: Record<string, string>; unset?: string[]; names: string[] }> }).cases.map((c) => [c.id, c] as const))(
    'configuration: %s',
    (_id, c) => {
      const env: NodeJS.ProcessEnv = { ...c.env };
      for (const k of c.unset ?? []) delete env[k];
      let error: unknown;
      try {
        loadConfig(env);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      for (const name of c.names) expect({ case: c.id, names: message.includes(name), message }).toEqual({ case: c.id, names: true, message });
    },
  );

  test('afterwards the bot is still up and no stored request changed', async () => {
    expect(bot.alive()).toBe(true);
    const health = await fetch(`${bot.url}/healthz`);
    expect(health.status).toBe(200);
    // A normal turn still works.
    const from = connector.calls.length;
    const ok = await fetch(`${bot.url}/api/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(teamsActivity({ serviceUrl: connector.url, text: 'help', from: TEAMS_USERS.stranger, conversationId: 'a:after' })),
    });
    expect(ok.status).toBe(200);
    await waitFor('a reply to help', () => (connector.calls.slice(from).some((c) => c.path.includes('a%3Aafter') || c.path.includes('a:after')) ? true : undefined), 15_000);
    const after = await store.list({ limit: 1000 });
    expect(after).toEqual(before);
  });
});
