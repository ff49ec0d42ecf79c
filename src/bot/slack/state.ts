/**
 * What the Slack adapter must remember between requests: the card behind a form button (a Slack
 * button value holds at most 2000 characters, a card with its inputs does not fit) and which
 * deliveries it has already handled. Kept in the core's KeyValueStore when one is given, so several
 * bot instances share it; in memory otherwise.
 */
import { randomBytes } from 'node:crypto';
import type { KeyValueStore } from '../../core/ports';

interface Entry {
  value: unknown;
  expiresAt: number;
}

/** A KeyValueStore-shaped map with expiry, for single-instance use and tests. */
class MemoryTtlMap {
  private readonly entries = new Map<string, Entry>();

  delete(key: string): void {
    this.entries.delete(key);
  }

  get(key: string, now: number): unknown {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: unknown, expiresAt: number, now: number): void {
    this.entries.set(key, { value, expiresAt });
    if (this.entries.size % 256 === 0) this.sweep(now);
  }

  private sweep(now: number): void {
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
  }
}

export interface SlackStateOptions {
  kv?: KeyValueStore;
  now?: () => number;
  /** How long a card's form stays openable. Approval cards wait up to the approval TTL (72 h by default). */
  formTtlMs?: number;
  /** How long a delivery key is remembered. Slack retries within minutes; commands are never replayed later. */
  deliveryTtlMs?: number;
}

/** Stored form (or oversized action) behind a button. */
export interface StoredForm {
  card: Record<string, unknown>;
}

export class SlackState {
  private readonly memory = new MemoryTtlMap();
  private readonly kv?: KeyValueStore;
  private readonly now: () => number;
  private readonly formTtlMs: number;
  private readonly deliveryTtlMs: number;

  constructor(opts: SlackStateOptions = {}) {
    this.kv = opts.kv;
    this.now = opts.now ?? Date.now;
    this.formTtlMs = opts.formTtlMs ?? 8 * 24 * 3600_000;
    this.deliveryTtlMs = opts.deliveryTtlMs ?? 3600_000;
  }

  async saveForm(form: StoredForm): Promise<string> {
    const id = randomBytes(9).toString('base64url');
    await this.write(`slack:form:${id}`, form, this.formTtlMs);
    return id;
  }

  /**
   * Records which forms a message's buttons use now and deletes the ones it no longer shows, so a
   * card updated many times (wizard steps, approval decisions) keeps one form in the store.
   */
  async replaceMessageForms(channel: string, ts: string, formIds: string[]): Promise<void> {
    const key = `slack:message-forms:${channel}:${ts}`;
    const previous = await this.read(key);
    for (const id of Array.isArray(previous) ? previous : []) {
      if (typeof id === 'string' && !formIds.includes(id)) await this.remove(`slack:form:${id}`);
    }
    if (formIds.length > 0) await this.write(key, formIds, this.formTtlMs);
    else if (previous !== undefined) await this.remove(key);
  }

  async loadForm(id: string): Promise<StoredForm | undefined> {
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) return undefined;
    return (await this.read(`slack:form:${id}`)) as StoredForm | undefined;
  }

  /**
   * True the first time a delivery key is seen. A Slack retry (X-Slack-Retry-Num) or a replayed
   * interaction carries the same key, so it never runs a command or an approval twice. In the store,
   * each key is one entry written create-only (atomic across instances) that expires after
   * `deliveryTtlMs`; the store deletes expired entries, so the table does not grow with traffic and
   * recording a delivery costs the same however many were recorded before.
   */
  async firstDelivery(key: string): Promise<boolean> {
    const k = `slack:delivery:${key}`;
    const now = this.now();
    if (this.memory.get(k, now) !== undefined) return false;
    // Mark in memory first: two copies arriving together on this instance cannot both pass.
    this.memory.set(k, true, now + this.deliveryTtlMs, now);
    if (!this.kv) return true;
    return this.kv.create(k, 1, { expiresAt: now + this.deliveryTtlMs });
  }

  private async write(key: string, value: unknown, ttlMs: number): Promise<void> {
    const expiresAt = this.now() + ttlMs;
    this.memory.set(key, value, expiresAt, this.now());
    // The expiry is kept in the entry too, for instances of an older release reading the same store.
    if (this.kv) await this.kv.put(key, { value, expiresAt }, '*', { expiresAt });
  }

  private async remove(key: string): Promise<void> {
    this.memory.delete(key);
    if (this.kv) await this.kv.delete(key);
  }

  private async read(key: string): Promise<unknown> {
    const local = this.memory.get(key, this.now());
    if (local !== undefined) return local;
    if (!this.kv) return undefined;
    const stored = await this.kv.get(key);
    const entry = stored?.value as Entry | undefined;
    if (!entry || typeof entry.expiresAt !== 'number' || entry.expiresAt <= this.now()) return undefined;
    return entry.value;
  }
}
