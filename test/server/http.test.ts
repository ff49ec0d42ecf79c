import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/bot/config';
import { createApp, type App } from '../../src/index';
import { messageActivity, startFakeConnector, type FakeConnector } from '../helpers/server-connector';

describe('HTTP server', () => {
  let dir: string;
  let app: App;
  let connector: FakeConnector;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-server-'));
    connector = await startFakeConnector();
    app = await createApp(loadConfig({ PORT: '0', BOT_DB_PATH: join(dir, 'bot.sqlite'), LOG_LEVEL: 'silent' }));
  });

  afterAll(async () => {
    await app?.close();
    await connector?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(`${app.url}/api/messages`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

  async function nothingReachedTheBot(before: number) {
    expect(app.server.stats().turns).toBe(before);
    expect(connector.sent).toHaveLength(0);
    expect(await app.store.list()).toEqual([]);
  }

  test('GET /healthz answers 200 while the process is alive', async () => {
    const res = await fetch(`${app.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'alive' });
  });

  test('malformed JSON is answered 400 and never reaches the bot', async () => {
    const before = app.server.stats().turns;
    const res = await post('{"type": "message", "text": ');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/JSON/);
    await nothingReachedTheBot(before);
  });

  test('a JSON body that is not an object is answered 400', async () => {
    const before = app.server.stats().turns;
    for (const body of ['[]', 'null', '"message"', '']) {
      const res = await post(body);
      expect(res.status).toBe(400);
    }
    await nothingReachedTheBot(before);
  });

  test('a body over 256 KiB is answered 413 and never reaches the bot', async () => {
    const before = app.server.stats().turns;
    const activity = messageActivity(connector.url, 'x'.repeat(300 * 1024));
    const res = await post(JSON.stringify(activity));
    expect(res.status).toBe(413);
    await nothingReachedTheBot(before);
  });

  test('a chunked body over 256 KiB (no content-length) is answered 413 too', async () => {
    const before = app.server.stats().turns;
    const activity = JSON.stringify(messageActivity(connector.url, 'y'.repeat(300 * 1024)));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const bytes = new TextEncoder().encode(activity);
        for (let i = 0; i < bytes.length; i += 16 * 1024) controller.enqueue(bytes.subarray(i, i + 16 * 1024));
        controller.close();
      },
    });
    const res = await fetch(`${app.url}/api/messages`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    await nothingReachedTheBot(before);
  });

  test('unknown routes answer 404 and a wrong method 405, without reaching the bot', async () => {
    const before = app.server.stats().turns;
    const unknown = await fetch(`${app.url}/api/message`, { method: 'POST', body: JSON.stringify(messageActivity(connector.url, 'hi')) });
    expect(unknown.status).toBe(404);
    const wrongMethod = await fetch(`${app.url}/api/messages`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    await nothingReachedTheBot(before);
  });

  test('a well-formed activity does reach the bot, whose reply goes to the serviceUrl', async () => {
    const before = app.server.stats().turns;
    const res = await post(JSON.stringify(messageActivity(connector.url, 'help')));
    expect(res.status).toBe(200);
    expect(app.server.stats().turns).toBe(before + 1);
    const [reply] = await connector.waitForActivities(1);
    expect(reply.conversationId).toBe('conv-1');
    expect(reply.activity.type).toBe('message');
    connector.sent.length = 0;
  });

  test('GET /readyz answers 200 when the store answers and ARM (the sandbox simulator) is reachable', async () => {
    const res = await fetch(`${app.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { store: 'ok', azure: 'ok' } });
    // The check went through the real SDK client and the managed-identity token endpoint.
    expect(app.simulator?.requestLog.some((e) => e.method === 'GET' && e.path.startsWith('/subscriptions') && e.status === 200)).toBe(true);
  });

  test('GET /readyz answers 503 naming the store when the store is closed', async () => {
    await app.store.close();
    const res = await fetch(`${app.url}/readyz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { failing: string[]; checks: Record<string, string> };
    expect(body.failing).toContain('store');
    expect(body.checks.store).toBe('failed');
  });
});

describe('readiness when Azure is unreachable', () => {
  test('GET /readyz answers 503 naming azure while the store is fine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-ready-'));
    const app = await createApp(loadConfig({ PORT: '0', BOT_DB_PATH: join(dir, 'bot.sqlite'), LOG_LEVEL: 'silent' }));
    try {
      await app.simulator?.close();
      const res = await fetch(`${app.url}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'unavailable', failing: ['azure'], checks: { store: 'ok', azure: 'failed' } });
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
