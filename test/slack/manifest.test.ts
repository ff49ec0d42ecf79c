/**
 * The Slack app manifest asks for exactly the scopes the adapter uses, points every URL at the one
 * route the server mounts, and each scope is justified in docs/slack.md.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';

interface Manifest {
  features: { slash_commands: Array<{ command: string; url: string; should_escape: boolean }>; app_home: { messages_tab_enabled: boolean } };
  oauth_config: { scopes: { bot: string[]; user?: string[] } };
  settings: { event_subscriptions: { request_url: string; bot_events: string[] }; interactivity: { is_enabled: boolean; request_url: string }; socket_mode_enabled: boolean };
}

const root = join(__dirname, '../..');
const manifest = load(readFileSync(join(root, 'manifest/slack-app-manifest.yaml'), 'utf8')) as Manifest;
const adapterSource = readFileSync(join(root, 'src/bot/slack/adapter.ts'), 'utf8');
const docs = readFileSync(join(root, 'docs/slack.md'), 'utf8');

// Required scope of each Web API method (docs.slack.dev/reference/methods). null: no scope needed.
const METHOD_SCOPE: Record<string, string | null> = {
  'chat.postMessage': 'chat:write',
  'chat.update': 'chat:write',
  'chat.delete': 'chat:write',
  'chat.postEphemeral': 'chat:write',
  'conversations.open': 'im:write',
  'views.open': null,
  'views.update': null,
  'auth.test': null,
};
// Scope each subscribed bot event needs.
const EVENT_SCOPE: Record<string, string> = { app_mention: 'app_mentions:read', 'message.im': 'im:history' };

test('one slash command, /hopsworks, on the events URL, with text passed unescaped', () => {
  expect(manifest.features.slash_commands).toHaveLength(1);
  expect(manifest.features.slash_commands[0]).toMatchObject({ command: '/hopsworks', url: 'https://YOUR_HOST/slack/events', should_escape: false });
});

test('interactivity and events go to POST /slack/events over HTTP (no socket mode)', () => {
  expect(manifest.settings.interactivity).toEqual({ is_enabled: true, request_url: 'https://YOUR_HOST/slack/events' });
  expect(manifest.settings.event_subscriptions.request_url).toBe('https://YOUR_HOST/slack/events');
  expect(manifest.settings.socket_mode_enabled).toBe(false);
  expect(manifest.features.app_home.messages_tab_enabled).toBe(true);
});

test('the bot scopes are exactly what the adapter\'s calls, events and command need', () => {
  const called = [...adapterSource.matchAll(/this\.client\.(\w+)\.(\w+)\(/g)].map((m) => `${m[1]}.${m[2]}`);
  expect(called.length).toBeGreaterThan(0);
  for (const method of called) expect(Object.keys(METHOD_SCOPE)).toContain(method);
  const needed = new Set<string>(['commands']);
  for (const method of called) if (METHOD_SCOPE[method]) needed.add(METHOD_SCOPE[method]!);
  for (const event of manifest.settings.event_subscriptions.bot_events) {
    expect(Object.keys(EVENT_SCOPE)).toContain(event);
    needed.add(EVENT_SCOPE[event]);
  }
  expect([...manifest.oauth_config.scopes.bot].sort()).toEqual([...needed].sort());
  expect(manifest.oauth_config.scopes.user ?? []).toEqual([]);
});

test('docs/slack.md justifies every scope', () => {
  for (const scope of manifest.oauth_config.scopes.bot) expect(docs).toContain(`| \`${scope}\` |`);
});
