/**
 * With a bot registration configured, the Bot Framework endpoint is no longer open: a request without
 * a Bot Framework token is refused by botbuilder's authentication before any bot code runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/bot/config';
import { createApp } from '../../src/index';
import { captureLog } from '../helpers/log-capture';
import { messageActivity, startFakeConnector } from '../helpers/server-connector';

test('with MicrosoftAppId set, an unauthenticated activity is answered 401 and never reaches the bot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hw-auth-'));
  const connector = await startFakeConnector();
  const { lines: logLines, destination: logDestination } = captureLog();
  const app = await createApp(
    loadConfig({
      PORT: '0',
      BOT_DB_PATH: join(dir, 'bot.sqlite'),
      LOG_LEVEL: 'warn',
      MicrosoftAppId: '0f5c7a4e-1b2d-4c3e-8f9a-0b1c2d3e4f50',
      MicrosoftAppPassword: 'not-a-real-secret',
    }),
    { logDestination },
  );
  try {
    expect(app.config.localOnly).toBe(false);
    const url = app.url.replace('localhost', '127.0.0.1');
    for (const authorization of [undefined, 'Bearer not-a-jwt']) {
      const res = await fetch(`${url}/api/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify(messageActivity(connector.url, 'help')),
      });
      expect(res.status).toBe(401);
      // The caller learns only that it was refused; why is in the log.
      expect(await res.json()).toEqual({ error: 'unauthorized' });
    }
    expect(app.server.stats().turns).toBe(0);
    const refusals = logLines.map((l) => JSON.parse(l) as { msg: string; reason?: string }).filter((e) => e.msg === 'Bot Framework request refused by authentication');
    expect(refusals).toHaveLength(2);
    for (const r of refusals) expect(r.reason).toEqual(expect.any(String));
    expect(logLines.join('\n')).not.toContain('not-a-jwt');
    expect(logLines.join('\n')).not.toContain('not-a-real-secret');
    expect(connector.sent).toHaveLength(0);
  } finally {
    await app.close();
    await connector.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
