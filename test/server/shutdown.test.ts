/**
 * Graceful shutdown of the real process: a turn in flight when SIGTERM arrives still completes
 * (its reply reaches the connector and the HTTP request is answered), then the process exits 0.
 * The turn is held in flight by a fake Bot Framework connector that does not answer the bot's reply
 * until the test releases it, so nothing here depends on timing.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { messageActivity, startFakeConnector, type FakeConnector } from '../helpers/server-connector';

const ROOT = join(__dirname, '..', '..');

interface Running {
  child: ChildProcessWithoutNullStreams;
  url: string;
  logs: Record<string, unknown>[];
  waitForLog(msg: string): Promise<Record<string, unknown>>;
  exit: Promise<number | null>;
}

function startBot(env: Record<string, string>): Promise<Running> {
  const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'src', 'index.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
  });
  const logs: Record<string, unknown>[] = [];
  let waiters: { msg: string; resolve: (e: Record<string, unknown>) => void }[] = [];
  let stderr = '';
  let buffered = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (c: Buffer) => {
    buffered += c.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      waiters = waiters.filter((w) => (entry.msg === w.msg ? (w.resolve(entry), false) : true));
    }
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitForLog = (msg: string) => {
    const seen = logs.find((e) => e.msg === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise<Record<string, unknown>>((resolve) => waiters.push({ msg, resolve }));
  };
  return Promise.race([
    waitForLog('listening').then((e) => ({ child, url: String(e.url), logs, waitForLog, exit })),
    exit.then((code) => Promise.reject(new Error(`bot exited with ${code} before listening:\n${stderr}`))),
  ]);
}

describe('graceful shutdown', () => {
  let dir: string;
  let connector: FakeConnector;
  let bot: Running | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-shutdown-'));
    connector = await startFakeConnector();
  });

  afterAll(async () => {
    if (bot && bot.child.exitCode === null) bot.child.kill('SIGKILL');
    await connector.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('SIGTERM during a turn: the turn finishes, its reply is delivered, new connections are refused, exit code 0', async () => {
    bot = await startBot({ PORT: '0', BOT_DB_PATH: join(dir, 'bot.sqlite'), LOG_LEVEL: 'info' });
    const running = bot;

    const replyHeld = connector.hold();
    const turn = fetch(`${running.url}/api/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(messageActivity(connector.url, 'help')),
    });
    await replyHeld; // the bot is now inside the turn, waiting on the connector

    running.child.kill('SIGTERM');
    await running.waitForLog('waiting for in-flight work before shutdown');

    // Draining: the listening socket is closed, so a new client cannot get in.
    await expect(fetch(`${running.url}/healthz`)).rejects.toThrow();

    connector.release();
    const res = await turn;
    expect(res.status).toBe(200);
    expect(connector.sent.length).toBeGreaterThanOrEqual(1);
    expect(connector.sent[0].activity.type).toBe('message');

    expect(await running.exit).toBe(0);
    expect(running.logs.map((e) => e.msg)).toContain('shutdown complete');
    // Starting a TypeScript process on a loaded 2-core CI machine can take a while; nothing here is timed.
  }, 180_000);
});
