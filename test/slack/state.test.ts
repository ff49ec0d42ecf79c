/**
 * What the Slack adapter remembers, in the real SQLite key-value store: delivery keys shared by bot
 * instances (a retry reaching another instance still runs once), bounded in size, and forms that
 * expire.
 */
import { SlackState } from '../../src/bot/slack/state';
import { openSqliteStore } from '../../src/core/store/sqlite';
import type { Store } from '../../src/core/ports';

const HOUR = 3600_000;
let store: Store;
let now: number;
const clock = () => now;

beforeEach(() => {
  store = openSqliteStore(':memory:');
  now = Date.parse('2026-11-26T05:00:00.000Z');
});

afterEach(async () => {
  await store.close();
});

test('a delivery runs once, also when the retry reaches another bot instance', async () => {
  const a = new SlackState({ kv: store.kv, now: clock });
  const b = new SlackState({ kv: store.kv, now: clock });
  expect(await a.firstDelivery('evt:Ev01')).toBe(true);
  expect(await a.firstDelivery('evt:Ev01')).toBe(false);
  expect(await b.firstDelivery('evt:Ev01')).toBe(false);
  expect(await b.firstDelivery('evt:Ev02')).toBe(true);
  // Still recognised in the next window.
  now += HOUR;
  expect(await new SlackState({ kv: store.kv, now: clock }).firstDelivery('evt:Ev02')).toBe(false);
});

test('two instances recording different deliveries at once both keep theirs', async () => {
  const a = new SlackState({ kv: store.kv, now: clock });
  const b = new SlackState({ kv: store.kv, now: clock });
  const results = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).firstDelivery(`act:U1:${i}`)));
  expect(results.every(Boolean)).toBe(true);
  const c = new SlackState({ kv: store.kv, now: clock });
  for (let i = 0; i < 60; i++) expect(await c.firstDelivery(`act:U1:${i}`)).toBe(false);
});

test('old delivery windows are deleted, so the store does not grow with traffic', async () => {
  const a = new SlackState({ kv: store.kv, now: clock });
  const firstWindow = Math.floor(now / HOUR);
  for (let i = 0; i < 200; i++) await a.firstDelivery(`cmd:t${i}`);
  const records = async (window: number) => (await Promise.all(Array.from({ length: 16 }, (_, s) => store.kv.get(`slack:deliveries:${window}:${s}`)))).filter(Boolean).length;
  // 200 deliveries live in at most 16 records.
  expect(await records(firstWindow)).toBeGreaterThan(0);
  expect(await records(firstWindow)).toBeLessThanOrEqual(16);
  now += 2 * HOUR;
  for (let i = 0; i < 200; i++) await a.firstDelivery(`cmd:u${i}`);
  expect(await records(firstWindow)).toBe(0);
});

test('a form is readable by every instance until it expires', async () => {
  const a = new SlackState({ kv: store.kv, now: clock, formTtlMs: 72 * HOUR });
  const id = await a.saveForm({ card: { type: 'AdaptiveCard', body: [] } });
  expect(await new SlackState({ kv: store.kv, now: clock }).loadForm(id)).toEqual({ card: { type: 'AdaptiveCard', body: [] } });
  now += 73 * HOUR;
  expect(await new SlackState({ kv: store.kv, now: clock }).loadForm(id)).toBeUndefined();
  expect(await a.loadForm('../../etc')).toBeUndefined();
});

test('a message keeps only the forms its current card uses', async () => {
  const a = new SlackState({ kv: store.kv, now: clock });
  const step1 = await a.saveForm({ card: { type: 'AdaptiveCard', body: [{ type: 'TextBlock', text: '1' }] } });
  await a.replaceMessageForms('C1', '1700000000.000100', [step1]);
  const step2 = await a.saveForm({ card: { type: 'AdaptiveCard', body: [{ type: 'TextBlock', text: '2' }] } });
  await a.replaceMessageForms('C1', '1700000000.000100', [step2]);
  const other = new SlackState({ kv: store.kv, now: clock });
  expect(await other.loadForm(step1)).toBeUndefined();
  expect(await other.loadForm(step2)).toBeDefined();
  // The card without inputs (or a deleted message) leaves nothing behind.
  await a.replaceMessageForms('C1', '1700000000.000100', []);
  expect(await other.loadForm(step2)).toBeUndefined();
  expect(await store.kv.get('slack:message-forms:C1:1700000000.000100')).toBeUndefined();
});
