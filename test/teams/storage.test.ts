/** botbuilder Storage over the core KeyValueStore (SQLite): botbuilder's eTag semantics hold. */
import { ConversationState, TurnContext, TestAdapter } from 'botbuilder';
import { KeyValueBotStorage } from '../../src/bot/storage';
import { isBotError } from '../../src/core/errors';
import { openSqliteStore } from '../../src/core/store/sqlite';
import type { Store } from '../../src/core/ports';

let store: Store;
beforeEach(() => {
  store = openSqliteStore(':memory:');
});
afterEach(async () => {
  await store.close();
});

test('read returns what was written with an eTag; unknown keys are absent', async () => {
  const s = new KeyValueBotStorage(store.kv);
  await s.write({ a: { n: 1 }, b: { n: 2, eTag: '*' } });
  const items = await s.read(['a', 'b', 'missing']);
  expect(Object.keys(items).sort()).toEqual(['a', 'b']);
  expect(items.a).toMatchObject({ n: 1 });
  expect(typeof items.a.eTag).toBe('string');
  expect((await store.kv.get('botstate:a'))!.value).toEqual({ n: 1 });
});

test('a write with a stale eTag is refused with VERSION_CONFLICT and changes nothing', async () => {
  const s = new KeyValueBotStorage(store.kv);
  await s.write({ k: { v: 'first' } });
  const { k } = await s.read(['k']);
  await s.write({ k: { ...k, v: 'second' } });
  let caught: unknown;
  try {
    await s.write({ k: { ...k, v: 'stale' } });
  } catch (err) {
    caught = err;
  }
  expect(isBotError(caught, 'VERSION_CONFLICT')).toBe(true);
  expect((await s.read(['k'])).k.v).toBe('second');
  await s.write({ k: { v: 'forced', eTag: '*' } });
  expect((await s.read(['k'])).k.v).toBe('forced');
});

test('delete removes the item', async () => {
  const s = new KeyValueBotStorage(store.kv);
  await s.write({ k: { v: 1 } });
  await s.delete(['k']);
  expect(await s.read(['k'])).toEqual({});
});

test('ConversationState round-trips through the store (a second instance sees the state)', async () => {
  const adapter = new TestAdapter();
  const activity = { type: 'message', channelId: 'msteams', conversation: { id: 'c1' }, from: { id: 'u' }, recipient: { id: 'b' } };
  const one = new ConversationState(new KeyValueBotStorage(store.kv));
  const ctx1 = new TurnContext(adapter, activity as never);
  await one.createProperty<number>('count').set(ctx1, 41);
  await one.saveChanges(ctx1);
  const two = new ConversationState(new KeyValueBotStorage(store.kv));
  const ctx2 = new TurnContext(adapter, activity as never);
  expect(await two.createProperty<number>('count').get(ctx2)).toBe(41);
  expect(await store.kv.get('botstate:msteams/conversations/c1/')).toBeDefined();
});
