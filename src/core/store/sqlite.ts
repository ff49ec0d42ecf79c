import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import { BotError } from '../errors';
import { FIRST_REQUEST_NUMBER, formatRequestId } from '../ids';
import { isActive, lockKey, locksConflict } from '../state';
import type { Clock, KeyValueStore, KvEntryOptions, RequestQuery, Store } from '../ports';
import type { Actor, AuditEvent, RequestKind, RequestState, RequestSummary, SetupRequest } from '../types';
import { MIGRATIONS, type Migration } from './migrations';

/** Options for tests and tuning; production uses the defaults. */
export interface SqliteStoreOptions {
  /** Clock for lease expiry (default: system clock). */
  clock?: Clock;
  /** How long a writer waits for another process's write lock, ms (default 5000). */
  busyTimeoutMs?: number;
  /**
   * SQLite `synchronous` level. NORMAL (default) in WAL mode survives a process crash (SIGKILL) and is
   * 10-50x cheaper per commit (measured: update 10.4 → 1.1 ms); only an OS crash or power cut can lose the
   * last commits, which the job runner redoes because every step is idempotent. FULL fsyncs every commit.
   */
  synchronous?: 'FULL' | 'NORMAL';
}

interface RequestRow {
  id: string;
  parent_id: string | null;
  body: string;
  version: number;
}

interface SummaryRow {
  id: string;
  kind: RequestKind;
  parent_id: string | null;
  state: RequestState;
  subscription_id: string;
  resource_group: string;
  created_at: string;
  updated_at: string;
  requester_platform: Actor['platform'];
  requester_name: string;
  expires_at: string | null;
}

const systemClock: Clock = { now: () => new Date() };

/** Applies pending migrations; safe when several processes open the same file at once. */
function migrate(db: Database.Database, migrations: readonly Migration[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)');
  const applied = db.prepare<[], { v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
  const record = db.prepare('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)');
  for (const m of migrations) {
    // Immediate: the version check and the DDL happen under the write lock, so two processes never both apply it.
    db.transaction(() => {
      if ((applied.get()?.v ?? 0) >= m.version) return;
      db.exec(m.sql);
      record.run(m.version, m.description, new Date().toISOString());
    }).immediate();
  }
}

/**
 * The `Store` port on SQLite: requests as JSON with indexed columns, compare-and-set on a version,
 * an append-only audit table, expiring job leases and a small kv table with etags.
 * Every write runs in an IMMEDIATE transaction, so checks and writes are atomic across processes.
 */
/**
 * Prepared statements kept by SQL text: better-sqlite3 compiles the SQL on every prepare(), which showed in
 * turn profiles. Bounded: list queries differ by filters and limit.
 */
class StatementCache {
  private readonly cache = new LRUCache<string, Database.Statement>({ max: 256 });

  constructor(private readonly db: Database.Database) {}

  prepare<P extends unknown[] | object = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let statement = this.cache.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.cache.set(sql, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  }
}

export class SqliteStore implements Store {
  readonly kv: KeyValueStore;
  private readonly db: Database.Database;
  private readonly statements: StatementCache;
  private readonly clock: Clock;
  /**
   * Summary rows as last read, by query, with the database state they were read in. `status`, the job
   * runner's poll and the expiry sweep list the same requests again and again while nothing changes; the
   * query was 110-140 µs of a ~1.2 ms `status` turn in a busy bot (the B-tree pages out of the CPU caches).
   */
  private readonly summaries = new LRUCache<string, { stamp: string; rows: SummaryRow[] }>({ max: 64 });
  /**
   * Request rows as last read, by id, with the database state they were read in: a 10-15 kB body spans
   * several SQLite overflow pages, and reading them was 8% of the CPU of a refused Approve click under load.
   * A hit still parses the body, so every caller gets its own objects.
   */
  private readonly rows = new LRUCache<string, { stamp: string; row: RequestRow }>({ max: 256 });
  /** Bumped by this connection's own request writes, which do not change PRAGMA data_version for it. */
  private requestWrites = 0;
  /** Changes when another connection has committed to the database since this one last asked. */
  private readonly dataVersion: Database.Statement;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    if (path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(resolve(path)), { recursive: true });
    this.db = new Database(path);
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
    this.db.pragma('foreign_keys = ON');
    migrate(this.db, MIGRATIONS);
    this.statements = new StatementCache(this.db);
    this.dataVersion = this.db.prepare('PRAGMA data_version').pluck();
    this.kv = new SqliteKv(this.db, this.statements, this.clock);
  }

  async nextId(): Promise<string> {
    const n = this.db.transaction(() => {
      const row = this.statements
        .prepare<[number], { value: number }>(
          `INSERT INTO counters (name, value) VALUES ('request', ?)
           ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value`,
        )
        .get(FIRST_REQUEST_NUMBER);
      return row!.value;
    }).immediate();
    return formatRequestId(n);
  }

  async create(request: SetupRequest): Promise<SetupRequest> {
    const stored: SetupRequest = { ...request, version: 1 };
    this.db.transaction(() => {
      const existing = this.statements.prepare('SELECT 1 FROM requests WHERE id = ?').get(request.id);
      if (existing) throw new BotError('VALIDATION', `Request ${request.id} already exists.`, { details: { id: request.id } });
      this.assertLockFree(stored);
      this.statements
        .prepare(
          `INSERT INTO requests (id, kind, parent_id, state, subscription_id, resource_group, lock_key, created_at, updated_at, version, body,
             requester_platform, requester_name, expires_at)
           VALUES (@id, @kind, @parent_id, @state, @subscription_id, @resource_group, @lock_key, @created_at, @updated_at, @version, @body,
             @requester_platform, @requester_name, @expires_at)`,
        )
        .run(this.row(stored));
    }).immediate();
    this.requestWrites++;
    return stored;
  }

  async get(id: string): Promise<SetupRequest | undefined> {
    const stamp = this.stamp();
    const cached = this.rows.get(id);
    if (cached?.stamp === stamp) return parse(cached.row);
    const row = this.statements.prepare<[string], RequestRow>('SELECT id, parent_id, body, version FROM requests WHERE id = ?').get(id);
    if (!row) return undefined;
    this.rows.set(id, { stamp, row });
    return parse(row);
  }

  /**
   * Names the database state: it changes with every request write by this connection and every commit by any
   * other. Taken before a read, so a row cached under it can only be as new as the state or newer.
   */
  private stamp(): string {
    return `${this.requestWrites}:${this.dataVersion.get() as number}`;
  }

  async list(query: RequestQuery = {}): Promise<SetupRequest[]> {
    const { clause, params } = this.selection(query);
    const sql = `SELECT id, parent_id, body, version FROM requests ${clause}`;
    return this.statements.prepare<[Record<string, unknown>], RequestRow>(sql).all(params).map(parse);
  }

  async listSummaries(query: RequestQuery = {}): Promise<RequestSummary[]> {
    const { clause, params } = this.selection(query);
    const sql = `${SUMMARY_SELECT} ${clause}`;
    // The rows are read again when anything was committed since: by another connection (another bot
    // instance; SQLite's data_version then differs) or by this one (its own write counter).
    const stamp = this.stamp();
    const key = `${clause}\n${JSON.stringify(params)}`;
    const cached = this.summaries.get(key);
    let rows = cached?.stamp === stamp ? cached.rows : undefined;
    if (!rows) {
      rows = this.statements.prepare<[Record<string, unknown>], SummaryRow>(sql).all(params);
      this.summaries.set(key, { stamp, rows });
    }
    // New objects on every call: callers never share (or change) the cached rows.
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      state: r.state,
      ...(r.parent_id !== null ? { parentId: r.parent_id } : {}),
      target: { subscriptionId: r.subscription_id, resourceGroup: r.resource_group },
      requester: { platform: r.requester_platform, displayName: r.requester_name },
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      ...(r.expires_at !== null ? { expiresAt: r.expires_at } : {}),
    }));
  }

  /** WHERE, ORDER BY and LIMIT of a request query (newest first), and its parameters. */
  private selection(query: RequestQuery): { clause: string; params: Record<string, unknown> } {
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    if (query.states && query.states.length > 0) {
      where.push(`state IN (${query.states.map((_, i) => `@s${i}`).join(', ')})`);
      query.states.forEach((s, i) => (params[`s${i}`] = s));
    }
    if (query.kind) {
      where.push('kind = @kind');
      params.kind = query.kind;
    }
    if (query.subscriptionId) {
      where.push('subscription_id = @sub COLLATE NOCASE');
      params.sub = query.subscriptionId;
    }
    if (query.resourceGroup) {
      where.push('resource_group = @rg COLLATE NOCASE');
      params.rg = query.resourceGroup;
    }
    // The limit is written into the SQL, not bound: SQLite's planner reads a bound LIMIT, so rebinding
    // it expired the statement and every status list was parsed and planned again (perf: sqlite3Reprepare).
    const limit = Number.isFinite(query.limit) ? Math.min(MAX_LIST_LIMIT, Math.max(1, Math.floor(query.limit!))) : 20;
    return { clause: `${where.length ? `WHERE ${where.join(' AND ')} ` : ''}ORDER BY created_at DESC, rowid DESC LIMIT ${limit}`, params };
  }

  async update(request: SetupRequest, audit: AuditEvent[] = []): Promise<SetupRequest> {
    const stored: SetupRequest = { ...request, version: request.version + 1 };
    this.db.transaction(() => {
      const current = this.statements.prepare<[string], { version: number }>('SELECT version FROM requests WHERE id = ?').get(request.id);
      if (!current) throw new BotError('NOT_FOUND', `Request ${request.id} does not exist.`, { details: { id: request.id } });
      if (current.version !== request.version) {
        throw new BotError('VERSION_CONFLICT', `Request ${request.id} changed meanwhile (version ${current.version}, expected ${request.version}).`, {
          details: { id: request.id, expected: request.version, actual: current.version },
        });
      }
      this.assertLockFree(stored);
      const row = this.row(stored);
      const res = this.statements
        .prepare(
          `UPDATE requests SET kind = @kind, parent_id = @parent_id, state = @state, subscription_id = @subscription_id,
             resource_group = @resource_group, lock_key = @lock_key, updated_at = @updated_at, version = @version, body = @body,
             requester_platform = @requester_platform, requester_name = @requester_name, expires_at = @expires_at
           WHERE id = @id AND version = @expected`,
        )
        .run({ ...row, expected: request.version });
      if (res.changes !== 1) throw new BotError('VERSION_CONFLICT', `Request ${request.id} changed meanwhile.`, { details: { id: request.id } });
      for (const event of audit) this.insertAudit(event);
    }).immediate();
    this.requestWrites++;
    return stored;
  }

  async appendAudit(event: AuditEvent): Promise<void> {
    this.insertAudit(event);
  }

  private insertAudit(event: AuditEvent): void {
    this.statements
      .prepare('INSERT INTO audit (request_id, at, type, actor, detail) VALUES (?, ?, ?, ?, ?)')
      .run(event.requestId, event.at, event.type, JSON.stringify(event.actor), event.detail === undefined ? null : JSON.stringify(event.detail));
  }

  async listAudit(requestId: string): Promise<AuditEvent[]> {
    const rows = this.statements
      .prepare<[string], { request_id: string; at: string; type: string; actor: string; detail: string | null }>(
        'SELECT request_id, at, type, actor, detail FROM audit WHERE request_id = ? ORDER BY seq',
      )
      .all(requestId);
    return rows.map((r) => ({
      requestId: r.request_id,
      at: r.at,
      type: r.type,
      actor: JSON.parse(r.actor) as AuditEvent['actor'],
      ...(r.detail !== null ? { detail: JSON.parse(r.detail) as Record<string, unknown> } : {}),
    }));
  }

  async claim(requestId: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.clock.now().getTime();
    return this.db.transaction(() => {
      const lease = this.statements.prepare<[string], { owner: string; until: number }>('SELECT owner, until FROM leases WHERE request_id = ?').get(requestId);
      if (lease && lease.owner !== owner && lease.until > now) return false;
      this.statements
        .prepare('INSERT INTO leases (request_id, owner, until) VALUES (?, ?, ?) ON CONFLICT (request_id) DO UPDATE SET owner = excluded.owner, until = excluded.until')
        .run(requestId, owner, now + ttlMs);
      return true;
    }).immediate();
  }

  async release(requestId: string, owner: string): Promise<void> {
    this.statements.prepare('DELETE FROM leases WHERE request_id = ? AND owner = ?').run(requestId, owner);
  }

  async ping(): Promise<void> {
    this.statements.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /** Refuses a write that would give an active request a resource group another active request holds. */
  private assertLockFree(request: SetupRequest): void {
    if (!isActive(request.state)) return;
    const holders = this.statements
      .prepare<[string, string], { id: string; parent_id: string | null }>('SELECT id, parent_id FROM requests WHERE lock_key = ? AND id <> ?')
      .all(lockKey(request.target), request.id);
    const other = holders.find((h) => locksConflict({ id: request.id, parentId: request.parentId }, { id: h.id, parentId: h.parent_id ?? undefined }));
    if (other) {
      throw new BotError(
        'ACTIVE_REQUEST_EXISTS',
        `Resource group ${request.target.resourceGroup} already has an active request, ${other.id}. Wait for it to finish or cancel it.`,
        { details: { existingId: other.id } },
      );
    }
  }

  private row(r: SetupRequest): Record<string, unknown> {
    return {
      id: r.id,
      kind: r.kind,
      parent_id: r.parentId ?? null,
      state: r.state,
      subscription_id: r.target.subscriptionId,
      resource_group: r.target.resourceGroup,
      lock_key: isActive(r.state) ? lockKey(r.target) : null,
      created_at: r.createdAt,
      updated_at: r.updatedAt,
      version: r.version,
      body: JSON.stringify(r),
      requester_platform: r.requester.platform,
      requester_name: r.requester.displayName,
      expires_at: r.expiresAt ?? null,
    };
  }
}

/** Upper bound of a list query's limit (the pending sweep asks for 10,000). */
const MAX_LIST_LIMIT = 100_000;

/**
 * The columns of a request summary (migration 3). A row whose requester_platform is NULL was written by a
 * release before it (another instance during a rolling upgrade): its fields come from the body.
 */
const summaryColumn = (column: string, path: string) => `CASE WHEN requester_platform IS NULL THEN json_extract(body, '${path}') ELSE ${column} END AS ${column}`;
const SUMMARY_SELECT =
  'SELECT id, kind, parent_id, state, subscription_id, resource_group, created_at, updated_at, ' +
  `${summaryColumn('requester_platform', '$.requester.platform')}, ${summaryColumn('requester_name', '$.requester.displayName')}, ` +
  `${summaryColumn('expires_at', '$.expiresAt')} FROM requests`;

function parse(row: RequestRow): SetupRequest {
  // The version column is authoritative: the body is written with it in the same statement.
  return { ...(JSON.parse(row.body) as SetupRequest), version: row.version };
}

/** A kv row that has not expired (at the epoch ms bound as the next `?`): what `get` sees and `put`'s etag is checked against. */
const LIVE_KV = 'key = ? AND (expires_at IS NULL OR expires_at > ?)';

/** Expired kv rows are deleted every this many `create` calls, at most SWEEP_BATCH at a time. */
const SWEEP_EVERY = 128;
const SWEEP_BATCH = 1000;

class SqliteKv implements KeyValueStore {
  private creates = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly statements: StatementCache,
    private readonly clock: Clock,
  ) {}

  async get(key: string): Promise<{ value: unknown; etag: string } | undefined> {
    const row = this.statements
      .prepare<[string, number], { value: string; etag: string }>(`SELECT value, etag FROM kv WHERE ${LIVE_KV}`)
      .get(key, this.clock.now().getTime());
    return row ? { value: JSON.parse(row.value) as unknown, etag: row.etag } : undefined;
  }

  async put(key: string, value: unknown, etag?: string, options: KvEntryOptions = {}): Promise<string> {
    const json = JSON.stringify(value ?? null);
    return this.db.transaction(() => {
      const row = this.statements
        .prepare<[string, number], { etag: string }>(`SELECT etag FROM kv WHERE ${LIVE_KV}`)
        .get(key, this.clock.now().getTime());
      if (etag !== undefined && etag !== '*' && row?.etag !== etag) {
        throw new BotError('VERSION_CONFLICT', `Setting ${key} changed meanwhile.`, { details: { key, expected: etag, actual: row?.etag } });
      }
      // Random etags: a key deleted and written again never matches an etag someone kept from before.
      const next = randomUUID();
      this.statements
        .prepare(
          `INSERT INTO kv (key, value, etag, expires_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag, expires_at = excluded.expires_at`,
        )
        .run(key, json, next, options.expiresAt ?? null);
      return next;
    }).immediate();
  }

  async create(key: string, value: unknown, options: KvEntryOptions = {}): Promise<boolean> {
    const now = this.clock.now().getTime();
    // One statement, atomic on its own: a live row under the key stays as it is (no change counted); an
    // expired one is replaced.
    const { changes } = this.statements
      .prepare(
        `INSERT INTO kv (key, value, etag, expires_at) VALUES (@key, @value, @etag, @expiresAt)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, etag = excluded.etag, expires_at = excluded.expires_at
         WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= @now`,
      )
      .run({ key, value: JSON.stringify(value ?? null), etag: randomUUID(), expiresAt: options.expiresAt ?? null, now });
    if (++this.creates % SWEEP_EVERY === 0) this.sweep(now);
    return changes > 0;
  }

  async delete(key: string): Promise<void> {
    this.statements.prepare('DELETE FROM kv WHERE key = ?').run(key);
  }

  /** Deletes expired entries (through the partial index on expires_at, a bounded batch at a time). */
  private sweep(now: number): void {
    this.statements
      .prepare(`DELETE FROM kv WHERE rowid IN (SELECT rowid FROM kv WHERE expires_at <= ? LIMIT ${SWEEP_BATCH})`)
      .run(now);
  }
}

/** Opens (creating folder, file and schema as needed) the SQLite store; `:memory:` gives a private in-memory one. */
export function openSqliteStore(path: string, options?: SqliteStoreOptions): Store {
  return new SqliteStore(path, options);
}
