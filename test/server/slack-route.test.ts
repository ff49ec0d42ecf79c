/**
 * The composition root mounts Slack on the same server when SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET
 * are set: a signed slash command reaches the bot and its answer reaches the (fake) Slack Web API;
 * a forged one is refused before the bot; without Slack configured the route does not exist.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/bot/config';
import { createApp, type App } from '../../src/index';
import { FAKE_BOT_TOKEN, newTriggerId, postToSlackEndpoint, slashCommandBody, startSlackFake, type SlackFake } from '../helpers/slack-fake';

const SECRET = 'slack-signing-secret-for-tests';

async function eventually<T>(probe: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const v = probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}

describe('Slack on the HTTP server', () => {
  let dir: string;
  let slack: SlackFake;
  let app: App;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hw-slack-route-'));
    slack = await startSlackFake();
    app = await createApp(
      loadConfig({
        PORT: '0',
        BOT_DB_PATH: join(dir, 'bot.sqlite'),
        LOG_LEVEL: 'silent',
        SLACK_BOT_TOKEN: FAKE_BOT_TOKEN,
        SLACK_SIGNING_SECRET: SECRET,
        SLACK_API_URL: slack.apiUrl,
      }),
    );
  });

  afterAll(async () => {
    await app?.close();
    await slack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const command = (text: string) =>
    slashCommandBody({ text, user: { id: 'U0RITA', name: 'rita' }, channelId: 'D0RITA', responseUrl: `${slack.responseBase}cmd-${text}`, triggerId: newTriggerId() });

  test('a forged request is refused and nothing reaches the bot', async () => {
    const before = app.server.stats().turns;
    const calls = slack.calls.length;
    const res = await postToSlackEndpoint(`${app.url}/slack/events`, command('help'), { secret: 'not-the-secret' });
    expect(res.status).toBe(401);
    expect(app.server.stats().turns).toBe(before);
    expect(slack.calls.length).toBe(calls);
  });

  test('a body over 256 KiB is answered 413 before Slack verification', async () => {
    const res = await postToSlackEndpoint(`${app.url}/slack/events`, command('x'.repeat(300 * 1024)), { secret: SECRET });
    expect(res.status).toBe(413);
  });

  test('a signed /hopsworks help is acked and answered through the Slack Web API', async () => {
    const res = await postToSlackEndpoint(`${app.url}/slack/events`, command('help'), { secret: SECRET });
    expect(res.status).toBe(200);
    const answer = await eventually(() => slack.callsTo('chat.postMessage').find((c) => c.args.channel === 'D0RITA'), 'the bot answered in Slack');
    expect(answer.token).toBe(FAKE_BOT_TOKEN);
    expect(String(answer.args.text)).toContain('Hopsworks setup bot');
  });
});

describe('without Slack credentials', () => {
  test('POST /slack/events does not exist', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-no-slack-'));
    const app = await createApp(loadConfig({ PORT: '0', BOT_DB_PATH: join(dir, 'bot.sqlite'), LOG_LEVEL: 'silent' }));
    try {
      const res = await fetch(`${app.url}/slack/events`, { method: 'POST', body: 'command=%2Fhopsworks' });
      expect(res.status).toBe(404);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
