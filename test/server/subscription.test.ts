/**
 * AZURE_SUBSCRIPTION_ID is the subscription the bot provisions in: the setup dialog offers only that one,
 * even when the bot's identity can see others. Driven through the real app over HTTP, in sandbox mode.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SUBSCRIPTION_ID } from '../../src/azure/simulator';
import { loadConfig } from '../../src/bot/config';
import { createApp } from '../../src/index';
import { messageActivity, startFakeConnector } from '../helpers/server-connector';

async function firstSetupCard(env: Record<string, string>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'hw-sub-'));
  const connector = await startFakeConnector();
  const app = await createApp(loadConfig({ PORT: '0', BOT_DB_PATH: join(dir, 'bot.sqlite'), LOG_LEVEL: 'silent', AZURE_MODE: 'simulator', ...env }));
  try {
    const res = await fetch(`${app.url}/api/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(messageActivity(connector.url, 'setup')),
    });
    expect(res.status).toBe(200);
    const [reply] = await connector.waitForActivities(1);
    return JSON.stringify(reply.activity.attachments);
  } finally {
    await app.close();
    await connector.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the configured subscription is offered (and chosen without asking)', async () => {
  const card = await firstSetupCard({ AZURE_SUBSCRIPTION_ID: DEFAULT_SUBSCRIPTION_ID });
  expect(card).toContain('rg-hopsworks-dev');
});

test('a subscription the identity can see but that is not the configured one is never offered', async () => {
  const card = await firstSetupCard({ AZURE_SUBSCRIPTION_ID: '0b0b0b0b-1111-4222-8333-444444444444' });
  expect(card).not.toContain('rg-hopsworks-dev');
  expect(card).toContain('cannot see any Azure subscription');
});
