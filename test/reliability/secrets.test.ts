/**
 * Secrets campaign: a full run with a generated SSH key, the bot as a child process with Teams and
 * Slack on. Afterwards the private key, every managed-identity token the bot was issued, the Slack
 * bot token and the signing secret must appear in none of: the SQLite database (+ WAL and shared
 * memory files), the bot's logs (at debug level), or any outgoing message — except the private key
 * in exactly one direct message to the requester.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startArmSimulator, type ArmSimulator } from '../../src/azure/simulator';
import { createAzureClients } from '../../src/azure/clients';
import { AzureProvisioner } from '../../src/azure/provisioner';
import type { SetupService } from '../../src/core/service';
import type { Store } from '../../src/core/ports';
import type { Actor } from '../../src/core/types';
import { openService } from '../helpers/reliability-seed';
import { liveBotEnv, removeBotBundle, spawnBot, waitFor, type BotProcess } from '../helpers/reliability-bot';
import { startFakeConnector, startFakeSlackApi, startRecordingIdentityProxy, type FakeServer } from '../helpers/reliability-fakes';
import { slackCommandBody, slackSignature, teamsConversationRef, teamsExecuteInvoke } from '../helpers/reliability-payloads';

const SIGNING_SECRET = 'secrets-campaign-signing-secret-7f3a9c1e5b';
const BOT_TOKEN = 'xoxb-424242424242-535353535353-SecretsCampaignBotToken';
const APPROVER = { id: '29:ada', name: 'Ada Approver', aadObjectId: '00000000-0000-0000-0000-0000000000a1' };
const REQUESTER_USER = { id: '29:rita', name: 'Rita Requester', aadObjectId: '00000000-0000-0000-0000-0000000000b2' };
const REQUESTER: Actor = { platform: 'teams', userId: REQUESTER_USER.aadObjectId, displayName: REQUESTER_USER.name };
const PERSONAL = 'a:rita-personal-chat';

/**
 * Pieces of a PEM private key long enough to be unique: each base64 line as written, and windows of
 * the unwrapped body, so the key is found whether it was stored wrapped, unwrapped or JSON-escaped.
 */
function fragments(pem: string): string[] {
  const lines = pem
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length >= 40 && !l.startsWith('-----'));
  const flat = lines.join('');
  const windows: string[] = [];
  for (let i = 0; i + 48 <= flat.length; i += 97) windows.push(flat.slice(i, i + 48));
  return [...lines, ...windows];
}

function withoutTokenParam(body: string): string {
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    delete json.token;
    return JSON.stringify(json);
  } catch {
    const form = new URLSearchParams(body);
    form.delete('token');
    return form.toString() + decodeURIComponent(form.toString());
  }
}

function leaks(haystack: string, secrets: Record<string, string[]>): string[] {
  const found: string[] = [];
  for (const [name, frags] of Object.entries(secrets)) if (frags.some((f) => haystack.includes(f))) found.push(name);
  return found;
}

describe('secrets stay out of the store, the logs and the channels', () => {
  let sim: ArmSimulator;
  let identity: Awaited<ReturnType<typeof startRecordingIdentityProxy>>;
  let connector: FakeServer;
  let slackApi: FakeServer;
  let dir: string;
  let dbPath: string;
  let store: Store;
  let service: SetupService;
  let bot: BotProcess | undefined;

  beforeAll(async () => {
    sim = await startArmSimulator({ port: 0, timeScale: 0.01, propagationDelayMs: 5_000 });
    identity = await startRecordingIdentityProxy(sim.identityEndpoint);
    connector = await startFakeConnector({ record: true });
    slackApi = await startFakeSlackApi({ record: true });
    dir = mkdtempSync(path.join(os.tmpdir(), 'hw-secrets-'));
    dbPath = path.join(dir, 'bot.sqlite');
    ({ store, service } = openService(dbPath, [APPROVER.aadObjectId]));
    sim.addResourceGroup('rg-secrets', 'westeurope');
  });

  afterAll(async () => {
    await bot?.kill();
    await store?.close();
    await sim?.close();
    await identity?.close();
    await connector?.close();
    await slackApi?.close();
    rmSync(dir, { recursive: true, force: true });
    removeBotBundle();
  });

  test('after a full run with a generated SSH key', async () => {
    bot = await spawnBot(
      liveBotEnv(sim, {
        IDENTITY_ENDPOINT: identity.url,
        BOT_DB_PATH: dbPath,
        HOPSWORKS_APPROVERS: APPROVER.aadObjectId,
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: slackApi.url,
        LOG_LEVEL: 'debug',
      }),
    );

    // Plan as the dialog would (this process has its own identity; its tokens are not the bot's).
    process.env.IDENTITY_ENDPOINT = sim.identityEndpoint;
    process.env.IDENTITY_HEADER = sim.identityHeader;
    const provisioner = new AzureProvisioner(createAzureClients({ endpoint: sim.armEndpoint }), {});
    const id = await store.nextId();
    const target = { subscriptionId: sim.subscriptionId, resourceGroup: 'rg-secrets', location: 'westeurope', tenantId: sim.tenantId };
    const options = { ...(await provisioner.suggestOptions(target, id)), sshKeyMode: 'generate' as const };
    const plan = await provisioner.preflight({ requestId: id, kind: 'setup', target, options });
    await service.submit({
      id,
      kind: 'setup',
      requester: REQUESTER,
      target,
      options,
      reason: 'secrets campaign',
      plan,
      conversations: {
        requester: teamsConversationRef({ serviceUrl: connector.url, conversationId: 'a:rita-requests', user: REQUESTER_USER }),
        requesterPersonal: teamsConversationRef({ serviceUrl: connector.url, conversationId: PERSONAL, user: REQUESTER_USER }),
        activityIds: {},
      },
    });

    // The approver clicks Approve on the card in Teams: a real turn through the bot.
    const approve = await fetch(`${bot.url}/api/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(teamsExecuteInvoke({ serviceUrl: connector.url, verb: 'approve', data: { requestId: id, planHash: plan.hash }, from: APPROVER, conversationId: '19:admins@thread.tacv2' })),
    });
    expect(approve.status).toBe(200);
    await approve.text();

    // Slack traffic while it runs, so the Slack paths have had their chance to log a secret.
    for (const text of ['status', `status ${id}`, 'help']) {
      const body = slackCommandBody({ text, user: { id: 'U0SOMEONE', name: 'someone' }, channelId: 'C0SECRETS', responseUrl: `${slackApi.url}response/secrets` });
      const res = await fetch(`${bot.url}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...slackSignature(SIGNING_SECRET, body) }, body });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }

    const done = await waitFor(`${id} to finish`, async () => {
      const r = await store.get(id);
      return r && ['succeeded', 'failed'].includes(r.state) ? r : undefined;
    }, 120_000, 50);
    expect(done.state).toBe('succeeded');

    // The private key went to the requester's personal chat: find it there.
    const keyMessages = await waitFor('the private key message', () => {
      const m = connector.calls.filter((c) => c.body.includes('PRIVATE KEY'));
      return m.length > 0 ? m : undefined;
    }, 30_000);
    expect(keyMessages).toHaveLength(1);
    expect(decodeURIComponent(keyMessages[0].path)).toContain(PERSONAL);
    const strings: string[] = [];
    const walk = (v: unknown): void => {
      if (typeof v === 'string') strings.push(v);
      else if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(JSON.parse(keyMessages[0].body));
    const pem = strings.map((t) => /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/.exec(t)).find(Boolean);
    expect(pem).toBeTruthy();
    // Card text may carry markdown escapes (a line starting with + or -): base64 has no backslash.
    const privateKey = pem![0].replace(/\\/g, '');
    expect(fragments(privateKey).length).toBeGreaterThan(10);

    // Let the last progress and summary updates go out, then look everywhere while the WAL still holds recent pages.
    await waitFor('outgoing messages to settle', async () => {
      const n = connector.count() + slackApi.count();
      await new Promise((r) => setTimeout(r, 500));
      return connector.count() + slackApi.count() === n ? true : undefined;
    }, 30_000, 0);

    expect(identity.tokens.length).toBeGreaterThan(0);
    const secrets: Record<string, string[]> = {
      'SSH private key': fragments(privateKey),
      'Slack bot token': [BOT_TOKEN],
      'Slack signing secret': [SIGNING_SECRET],
      ...Object.fromEntries(identity.tokens.map((t, i) => [`managed-identity token #${i + 1}`, [t]])),
    };

    const dbFiles = () => [dbPath, `${dbPath}-wal`, `${dbPath}-shm`].filter(existsSync);
    const inDatabase = (): Record<string, string[]> =>
      Object.fromEntries(dbFiles().map((f) => [path.basename(f), leaks(readFileSync(f).toString('latin1'), secrets)]));
    const running = inDatabase();

    const outgoing = [
      ...connector.calls.filter((c) => c !== keyMessages[0]).map((c) => ({ to: `connector ${c.method} ${decodeURIComponent(c.path)}`, body: c.body })),
      // A Web API call may carry the bot token as its `token` parameter: that is authentication, not message content.
      ...slackApi.calls.map((c) => ({ to: `slack ${c.path}`, body: withoutTokenParam(c.body) })),
    ];
    const inMessages = outgoing.map((m) => ({ to: m.to, leaked: leaks(m.body, secrets) })).filter((m) => m.leaked.length > 0);
    // The one direct message carries the key (which also proves the search finds it in JSON-escaped text) and nothing else secret.
    expect(leaks(keyMessages[0].body, secrets)).toContain('SSH private key');
    const inDm = leaks(keyMessages[0].body, secrets).filter((s) => s !== 'SSH private key');

    await bot.stop();
    const logs = bot.logs();
    bot = undefined;
    const stopped = inDatabase();

    expect({ running, stopped }).toEqual({
      running: Object.fromEntries(Object.keys(running).map((k) => [k, []])),
      stopped: Object.fromEntries(Object.keys(stopped).map((k) => [k, []])),
    });
    expect(inMessages).toEqual([]);
    expect(inDm).toEqual([]);
    expect(logs.length).toBeGreaterThan(0);
    expect(leaks(logs, secrets)).toEqual([]);
  }, 300_000);
});
