/**
 * Shutdown order in-process: work registered with `track` (a Slack turn after its 3 s ack) keeps the
 * app open; the store is closed only after it finished, so the turn's last write still lands.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/bot/config';
import { createApp } from '../../src/index';
import { messageActivity, startFakeConnector } from '../helpers/server-connector';

test('close() waits for tracked work, then closes the store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hw-drain-'));
  const app = await createApp(loadConfig({ PORT: '0', BOT_DB_PATH: join(dir, 'bot.sqlite'), LOG_LEVEL: 'silent' }));
  try {
    let finish!: () => void;
    const turn = app.server.track(
      new Promise<void>((resolve) => (finish = resolve)).then(() => app.store.kv.put('late-write', { by: 'slack turn' })),
    );
    expect(app.server.stats().inFlight).toBe(1);

    let closed = false;
    const closing = app.close().then(() => (closed = true));
    // Let shutdown run as far as it can: it must stop at the tracked turn.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false);
    await expect(app.store.ping()).resolves.toBeUndefined();

    finish();
    await turn;
    await closing;
    expect(closed).toBe(true);
    await expect(app.store.ping()).rejects.toThrow();
  } finally {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a turn whose client hung up still finishes before the app closes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hw-drain-'));
  const connector = await startFakeConnector();
  const app = await createApp(loadConfig({ PORT: '0', BOT_DB_PATH: join(dir, 'bot.sqlite'), LOG_LEVEL: 'silent' }));
  try {
    const held = connector.hold();
    const client = new AbortController();
    const request = fetch(`${app.url}/api/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(messageActivity(connector.url, 'help')),
      signal: client.signal,
    }).catch(() => 'aborted');
    await held; // the bot is inside the turn, waiting on the connector
    client.abort();
    expect(await request).toBe('aborted');

    let closed = false;
    const closing = app.close().then(() => (closed = true));
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false);

    connector.release();
    await closing;
    expect(connector.sent).toHaveLength(1);
    expect(connector.sent[0].activity.type).toBe('message');
  } finally {
    await app.close();
    await connector.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
