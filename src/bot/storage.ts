/**
 * botbuilder `Storage` over the core's `KeyValueStore`, so conversation and dialog state live in the
 * same store as requests: a restart in the middle of the setup wizard loses nothing, and a second bot
 * instance sees the same state. Optimistic concurrency maps botbuilder's eTag onto the store's etag.
 */
import type { Storage, StoreItems } from 'botbuilder';
import { BotError, isBotError } from '../core/errors';
import type { KeyValueStore } from '../core/ports';

export const BOT_STATE_PREFIX = 'botstate:';

export class KeyValueBotStorage implements Storage {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly prefix = BOT_STATE_PREFIX,
  ) {}

  async read(keys: string[]): Promise<StoreItems> {
    const items: StoreItems = {};
    for (const key of keys) {
      const entry = await this.kv.get(this.prefix + key);
      if (entry === undefined) continue;
      const value = entry.value && typeof entry.value === 'object' ? { ...(entry.value as object) } : { value: entry.value };
      items[key] = { ...value, eTag: entry.etag };
    }
    return items;
  }

  async write(changes: StoreItems): Promise<void> {
    for (const [key, item] of Object.entries(changes)) {
      const { eTag, ...value } = (item ?? {}) as Record<string, unknown> & { eTag?: string };
      // botbuilder semantics: no eTag or '*' overwrites; any other eTag must match the stored one.
      const etag = eTag === undefined || eTag === '' ? '*' : eTag;
      try {
        await this.kv.put(this.prefix + key, value, etag);
      } catch (err) {
        if (isBotError(err, 'VERSION_CONFLICT')) {
          throw new BotError('VERSION_CONFLICT', `Bot state ${key} was changed by another turn; the turn is retried by the user.`, { cause: err });
        }
        throw err;
      }
    }
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) await this.kv.delete(this.prefix + key);
  }
}
