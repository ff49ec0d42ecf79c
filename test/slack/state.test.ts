/**
 * What the Slack adapter remembers, in the real SQLite key-value store: delivery keys shared by bot
 * instances (a retry reaching another instance still runs once), one entry per key that expires and is
 * deleted, and forms that expire.
 */
import { SlackState } from '../../src/bot/slack/state';
import { openSqliteStore } from '../../src/core/store/sqlite';
import type { Store } from '../../src/core/ports';

const HOUR = 3600_000;
let store: Store;
let now: number;
const clock = () => now;

beforeEach(() => {
  now = Date.parse('2026-11-26T05:00:00.000Z');
  // The store's clock is the test's: entries expire when the test says.
  store = openSqliteStore(':memory:', { clock: { now: () => new Date(now) } });
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
  // Still recognised by a new instance until the delivery TTL (one hour) has passed.
  now += HOUR - 1;
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

test('delivery keys are forgotten after the delivery TTL (the store deletes such entries: test/store/sqlite.test.ts)', async () => {
  const a = new SlackState({ kv: store.kv, now: clock, deliveryTtlMs: HOUR });
  const stored = async (prefix: string) => {
    let n = 0;
    for (let i = 0; i < 300; i++) if (await store.kv.get(`slack:delivery:${prefix}${i}`)) n++;
    return n;
  };
  for (let i = 0; i < 300; i++) expect(await a.firstDelivery(`cmd:t${i}`)).toBe(true);
  expect(await stored('cmd:t')).toBe(300);
  now += 2 * HOUR;
  for (let i = 0; i < 300; i++) await a.firstDelivery(`cmd:u${i}`);
  expect(await stored('cmd:t')).toBe(0);
  // Long after, the same key is a new delivery (Slack retries within minutes; this is not a retry).
  expect(await new SlackState({ kv: store.kv, now: clock }).firstDelivery('cmd:t0')).toBe(true);
});

test('each delivery key is its own store entry: no record collects keys, so what a delivery reads and writes does not grow', async () => {
  const a = new SlackState({ kv: store.kv, now: clock });
  for (let i = 0; i < 5000; i++) await a.firstDelivery(`act:U1:${i}`);
  const b = new SlackState({ kv: store.kv, now: clock });
  expect(await b.firstDelivery('act:U1:4999')).toBe(false);
  expect(await store.kv.get('slack:delivery:act:U1:4999')).toEqual({ value: 1, etag: expect.any(String) });
  for (let w = 0; w < 3; w++) for (let s = 0; s < 16; s++) expect(await store.kv.get(`slack:deliveries:${Math.floor(now / HOUR) - w}:${s}`)).toBeUndefined();
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
