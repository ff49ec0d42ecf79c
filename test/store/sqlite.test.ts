import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BotError, isBotError } from '../../src/core/errors';
import { openSqliteStore } from '../../src/core/store/sqlite';
import { MIGRATIONS } from '../../src/core/store/migrations';
import type { Store } from '../../src/core/ports';
import { ManualClock, rawRequest, target } from '../helpers/core-fakes';

/** A database file as a release with the first `version` migrations left it (open, for the test to fill). */
function databaseAt(file: string, version: number): Database.Database {
  const db = new Database(file);
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)');
  for (const m of MIGRATIONS.slice(0, version)) {
    db.exec(m.sql);
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.description, new Date().toISOString());
  }
  return db;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BotError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('SQLite store', () => {
  let dir: string;
  const opened: Store[] = [];
  const open = (file = 'bot.sqlite', clock?: ManualClock): Store => {
    const s = openSqliteStore(join(dir, file), { clock });
    opened.push(s);
    return s;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-store-'));
  });
  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes an update and its audit events in one transaction: a refused update leaves no audit event', async () => {
    const s = open();
    const v1 = await s.create(rawRequest('HW-1001'));
    const event = (type: string) => ({ requestId: 'HW-1001', at: new Date().toISOString(), actor: { platform: 'system' as const, userId: 'system' as const, displayName: 'runner' }, type });
    const v2 = await s.update({ ...v1, reason: 'first' }, [event('step.done')]);
    expect((await s.listAudit('HW-1001')).map((e) => e.type)).toEqual(['step.done']);
    // A stale version is refused, and its audit event is not kept either.
    expect(await codeOf(s.update({ ...v1, reason: 'stale' }, [event('step.failed')]))).toBe('VERSION_CONFLICT');
    expect((await s.listAudit('HW-1001')).map((e) => e.type)).toEqual(['step.done']);
    expect((await s.get('HW-1001'))!.version).toBe(v2.version);
  });

  it('creates its folder, applies numbered migrations once, and uses WAL', async () => {
    const nested = join(dir, 'a', 'b', 'bot.sqlite');
    const s = openSqliteStore(nested);
    opened.push(s);
    await s.ping();
    const again = openSqliteStore(nested);
    opened.push(again);
    const raw = new Database(nested, { readonly: true });
    try {
      expect(raw.prepare('SELECT version FROM schema_migrations ORDER BY version').all()).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      raw.close();
    }
  });

  it('a database from the first release gets the newest-first index on open, keeps its requests, and status uses the index', async () => {
    const file = join(dir, 'v1.sqlite');
    databaseAt(file, 1).close();
    const before = openSqliteStore(file);
    opened.push(before);
    await before.create(rawRequest('HW-1001', { target: target('rg-old') }));
    const raw = new Database(file, { readonly: true });
    try {
      expect(raw.prepare('SELECT version FROM schema_migrations ORDER BY version').all()).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
      const plan = raw.prepare('EXPLAIN QUERY PLAN SELECT id FROM requests ORDER BY created_at DESC, rowid DESC LIMIT 10').all() as { detail: string }[];
      expect(plan.map((p) => p.detail).join(' ')).toContain('requests_created');
    } finally {
      raw.close();
    }
    expect((await before.list({ limit: 10 })).map((r) => r.id)).toEqual(['HW-1001']);
  });

  it('migration 3 copies requester and expiry into columns; rows an older release writes later are still listed right', async () => {
    const file = join(dir, 'v2.sqlite');
    const v2 = databaseAt(file, 2);
    // How the release before wrote a request (no summary columns).
    const insertOld = (db: Database.Database, r: ReturnType<typeof rawRequest>) =>
      db
        .prepare(
          `INSERT INTO requests (id, kind, parent_id, state, subscription_id, resource_group, lock_key, created_at, updated_at, version, body)
           VALUES (?, ?, NULL, ?, ?, ?, NULL, ?, ?, 1, ?)`,
        )
        .run(r.id, r.kind, r.state, r.target.subscriptionId, r.target.resourceGroup, r.createdAt, r.updatedAt, JSON.stringify({ ...r, version: 1 }));
    insertOld(v2, rawRequest('HW-1001', { state: 'failed', createdAt: '2026-01-01T00:00:00.000Z', expiresAt: '2026-01-04T00:00:00.000Z' }));
    v2.close();

    const s = openSqliteStore(file);
    opened.push(s);
    const raw = new Database(file);
    try {
      expect(raw.prepare("SELECT requester_platform, requester_name, expires_at FROM requests WHERE id = 'HW-1001'").get()).toEqual({
        requester_platform: 'teams',
        requester_name: expect.any(String),
        expires_at: '2026-01-04T00:00:00.000Z',
      });
      // An instance still on the release before writes a row after the migration: its columns stay empty.
      insertOld(raw, rawRequest('HW-1002', { state: 'failed', createdAt: '2026-01-02T00:00:00.000Z', target: target('rg-b'), expiresAt: '2026-01-06T00:00:00.000Z' }));
    } finally {
      raw.close();
    }
    await s.create(rawRequest('HW-1003', { createdAt: '2026-01-03T00:00:00.000Z', target: target('rg-c') }));
    const full = await s.list();
    const summaries = await s.listSummaries();
    expect(summaries.map((x) => x.id)).toEqual(['HW-1003', 'HW-1002', 'HW-1001']);
    summaries.forEach((sum, i) => {
      expect(sum.requester).toEqual({ platform: full[i].requester.platform, displayName: full[i].requester.displayName });
      expect(sum.expiresAt).toBe(full[i].expiresAt);
    });
    expect(summaries[1].expiresAt).toBe('2026-01-06T00:00:00.000Z');
  });

  it('hands out readable, increasing ids shared by every connection', async () => {
    const a = open();
    const b = open();
    expect([await a.nextId(), await b.nextId(), await a.nextId()]).toEqual(['HW-1001', 'HW-1002', 'HW-1003']);
  });

  it('create → get round-trips the JSON with version 1; duplicate ids are refused', async () => {
    const s = open();
    const stored = await s.create(rawRequest('HW-1001'));
    expect(stored.version).toBe(1);
    expect(await s.get('HW-1001')).toEqual(stored);
    expect(await codeOf(s.create(rawRequest('HW-1001', { target: target('rg-x') })))).toBe('VALIDATION');
    expect(await s.get('HW-9999')).toBeUndefined();
  });

  it('update is a compare-and-set on the version', async () => {
    const s = open();
    const v1 = await s.create(rawRequest('HW-1001'));
    const v2 = await s.update({ ...v1, reason: 'changed' });
    expect(v2.version).toBe(2);
    expect(await codeOf(s.update({ ...v1, reason: 'stale writer' }))).toBe('VERSION_CONFLICT');
    expect((await s.get('HW-1001'))!.reason).toBe('changed');
    expect(await codeOf(s.update(rawRequest('HW-4040', { version: 1 })))).toBe('NOT_FOUND');
  });

  it('two connections racing a compare-and-set on the same version: exactly one wins', async () => {
    const a = open();
    const b = open();
    const base = await a.create(rawRequest('HW-1001'));
    const seenByB = (await b.get('HW-1001'))!;
    const results = await Promise.allSettled([a.update({ ...base, reason: 'from a' }), b.update({ ...seenByB, reason: 'from b' })]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(isBotError(lost[0].reason, 'VERSION_CONFLICT')).toBe(true);
    const final = (await b.get('HW-1001'))!;
    expect(final.version).toBe(2);
    expect(final.reason).toBe((won[0] as PromiseFulfilledResult<{ reason: string }>).value.reason);
  });

  it('list filters by state, kind and target (case-insensitive), newest first, limited', async () => {
    const s = open();
    await s.create(rawRequest('HW-1001', { createdAt: '2026-01-01T00:00:00.000Z', state: 'succeeded' }));
    await s.create(rawRequest('HW-1002', { createdAt: '2026-01-02T00:00:00.000Z', target: target('rg-b') }));
    await s.create(rawRequest('HW-1003', { createdAt: '2026-01-03T00:00:00.000Z', target: target('rg-c'), kind: 'teardown' }));
    expect((await s.list()).map((r) => r.id)).toEqual(['HW-1003', 'HW-1002', 'HW-1001']);
    expect((await s.list({ limit: 2 })).map((r) => r.id)).toEqual(['HW-1003', 'HW-1002']);
    expect((await s.list({ states: ['succeeded'] })).map((r) => r.id)).toEqual(['HW-1001']);
    expect((await s.list({ kind: 'teardown' })).map((r) => r.id)).toEqual(['HW-1003']);
    expect((await s.list({ resourceGroup: 'RG-B' })).map((r) => r.id)).toEqual(['HW-1002']);
  });

  it('honours each list limit on the same connection; a limit that is not a positive whole number is clamped', async () => {
    const s = open();
    for (let i = 1; i <= 3; i++) await s.create(rawRequest(`HW-100${i}`, { createdAt: `2026-01-0${i}T00:00:00.000Z`, state: 'succeeded' }));
    const ids = async (limit: number) => (await s.listSummaries({ limit })).map((r) => r.id);
    expect(await ids(1)).toEqual(['HW-1003']);
    expect(await ids(3)).toEqual(['HW-1003', 'HW-1002', 'HW-1001']);
    expect(await ids(2)).toEqual(['HW-1003', 'HW-1002']);
    expect(await ids(1)).toEqual(['HW-1003']);
    expect(await ids(2.9)).toEqual(['HW-1003', 'HW-1002']);
    expect(await ids(0)).toEqual(['HW-1003']);
    expect(await ids(-5)).toEqual(['HW-1003']);
    expect(await ids(Number.NaN)).toHaveLength(3);
    expect(await ids(Number.POSITIVE_INFINITY)).toHaveLength(3);
    expect((await s.list({ limit: 1, states: ['succeeded'] })).map((r) => r.id)).toEqual(['HW-1003']);
  });

  it('summaries select exactly what list selects and carry the fields lists and sweeps use', async () => {
    const s = open();
    await s.create(rawRequest('HW-1001', { createdAt: '2026-01-01T00:00:00.000Z', state: 'succeeded' }));
    await s.create(rawRequest('HW-1002', { createdAt: '2026-01-02T00:00:00.000Z', target: target('rg-b'), expiresAt: '2026-01-05T00:00:00.000Z' }));
    await s.create(rawRequest('HW-1003', { createdAt: '2026-01-03T00:00:00.000Z', target: target('rg-c'), kind: 'teardown', parentId: 'HW-1001' }));
    for (const q of [{}, { limit: 2 }, { states: ['succeeded' as const] }, { kind: 'teardown' as const }, { resourceGroup: 'RG-B' }]) {
      expect((await s.listSummaries(q)).map((r) => r.id)).toEqual((await s.list(q)).map((r) => r.id));
    }
    const full = await s.list();
    const summaries = await s.listSummaries();
    summaries.forEach((sum, i) => {
      const r = full[i];
      expect(sum).toEqual({
        id: r.id,
        kind: r.kind,
        state: r.state,
        ...(r.parentId ? { parentId: r.parentId } : {}),
        target: { subscriptionId: r.target.subscriptionId, resourceGroup: r.target.resourceGroup },
        requester: { platform: r.requester.platform, displayName: r.requester.displayName },
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
        ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}),
      });
    });
    expect(summaries.find((x) => x.id === 'HW-1002')!.expiresAt).toBe('2026-01-05T00:00:00.000Z');
  });

  it('reads are never stale: summaries and requests follow writes by this connection, by another instance and by raw SQL, and callers cannot change them', async () => {
    const a = open();
    const b = open();
    // Each read goes through both the summaries and the request itself.
    const states = async (s: Store) => {
      const listed = (await s.listSummaries({ limit: 10 })).map((r) => `${r.id}:${r.state}`);
      const got = await Promise.all((await s.listSummaries({ limit: 10 })).map(async (r) => `${r.id}:${(await s.get(r.id))!.state}`));
      expect(got).toEqual(listed);
      return listed;
    };
    const v1 = await a.create(rawRequest('HW-1001', { createdAt: '2026-01-01T00:00:00.000Z' }));
    expect(await states(a)).toEqual(['HW-1001:pendingApproval']);
    expect(await states(b)).toEqual(['HW-1001:pendingApproval']);
    // This connection's own write.
    const v2 = await a.update({ ...v1, state: 'approved' });
    expect(await states(a)).toEqual(['HW-1001:approved']);
    // Another instance's write, on its own connection.
    await b.update({ ...v2, state: 'provisioning' });
    expect(await states(a)).toEqual(['HW-1001:provisioning']);
    await b.create(rawRequest('HW-1002', { createdAt: '2026-01-02T00:00:00.000Z', target: target('rg-b') }));
    expect(await states(a)).toEqual(['HW-1002:pendingApproval', 'HW-1001:provisioning']);
    // A write that is not through the store at all.
    const raw = new Database(join(dir, 'bot.sqlite'));
    try {
      raw.prepare("UPDATE requests SET state = 'failed', body = json_set(body, '$.state', 'failed') WHERE id = 'HW-1001'").run();
    } finally {
      raw.close();
    }
    expect(await states(a)).toEqual(['HW-1002:pendingApproval', 'HW-1001:failed']);
    // What one caller does with its list does not reach the next caller.
    const first = await a.listSummaries({ limit: 10 });
    first[0].state = 'succeeded';
    first[0].target.resourceGroup = 'changed';
    first.pop();
    const again = await a.listSummaries({ limit: 10 });
    expect(again.map((r) => `${r.id}:${r.state}:${r.target.resourceGroup}`)).toEqual(['HW-1002:pendingApproval:rg-b', 'HW-1001:failed:' + v1.target.resourceGroup]);
    const got = (await a.get('HW-1002'))!;
    got.state = 'succeeded';
    got.steps = {};
    expect((await a.get('HW-1002'))!.state).toBe('pendingApproval');
    // A compare-and-set after another instance's write still sees that write.
    const mine = (await a.get('HW-1002'))!;
    await b.update({ ...(await b.get('HW-1002'))!, state: 'approved' });
    expect(await codeOf(a.update({ ...mine, state: 'rejected' }))).toBe('VERSION_CONFLICT');
    expect((await a.get('HW-1002'))!.state).toBe('approved');
  });

  it('the resource-group lock is enforced in the store across connections', async () => {
    const a = open();
    const b = open();
    await a.create(rawRequest('HW-1001'));
    const err = await b.create(rawRequest('HW-1002')).catch((e: unknown) => e);
    expect(isBotError(err, 'ACTIVE_REQUEST_EXISTS')).toBe(true);
    expect((err as BotError).details).toEqual({ existingId: 'HW-1001' });
    // Inactive rows may share the group (history), and an update into an active state is checked too.
    const old = await b.create(rawRequest('HW-1003', { state: 'failed' }));
    expect(await codeOf(b.update({ ...old, state: 'provisioning' }))).toBe('ACTIVE_REQUEST_EXISTS');
  });

  it('the audit trail is append-only, in order, even for direct SQL', async () => {
    const s = open();
    const actor = { platform: 'system' as const, userId: 'system' as const, displayName: 'bot' };
    await s.appendAudit({ requestId: 'HW-1001', at: '2026-01-01T00:00:00.000Z', actor, type: 'submitted', detail: { a: 1 } });
    await s.appendAudit({ requestId: 'HW-1001', at: '2026-01-01T00:00:01.000Z', actor, type: 'approved' });
    await s.appendAudit({ requestId: 'HW-1002', at: '2026-01-01T00:00:02.000Z', actor, type: 'submitted' });
    const trail = await s.listAudit('HW-1001');
    expect(trail.map((e) => e.type)).toEqual(['submitted', 'approved']);
    expect(trail[0].detail).toEqual({ a: 1 });
    const raw = new Database(join(dir, 'bot.sqlite'));
    try {
      expect(() => raw.prepare("UPDATE audit SET type = 'forged'").run()).toThrow(/append-only/);
      expect(() => raw.prepare('DELETE FROM audit').run()).toThrow(/append-only/);
    } finally {
      raw.close();
    }
    expect(await s.listAudit('HW-1001')).toHaveLength(2);
  });

  it('leases: one owner at a time, renewable, released, and taken over after they lapse', async () => {
    const clock = new ManualClock();
    const a = open('bot.sqlite', clock);
    const b = open('bot.sqlite', clock);
    expect(await a.claim('HW-1001', 'instance-a', 60_000)).toBe(true);
    expect(await b.claim('HW-1001', 'instance-b', 60_000)).toBe(false);
    clock.advance(59_000);
    expect(await a.claim('HW-1001', 'instance-a', 60_000)).toBe(true); // renewal
    clock.advance(59_000);
    expect(await b.claim('HW-1001', 'instance-b', 60_000)).toBe(false);
    clock.advance(2_000); // a stopped renewing: its lease lapsed
    expect(await b.claim('HW-1001', 'instance-b', 60_000)).toBe(true);
    expect(await a.claim('HW-1001', 'instance-a', 60_000)).toBe(false);
    await a.release('HW-1001', 'instance-a'); // not a's lease any more: no effect
    expect(await a.claim('HW-1001', 'instance-a', 60_000)).toBe(false);
    await b.release('HW-1001', 'instance-b');
    expect(await a.claim('HW-1001', 'instance-a', 60_000)).toBe(true);
  });

  it('kv: etag compare-and-set, last-writer-wins with * or no etag, delete', async () => {
    const s = open();
    expect(await s.kv.get('adminChannel:teams')).toBeUndefined();
    const e1 = await s.kv.put('adminChannel:teams', { id: 1 });
    const e2 = await s.kv.put('adminChannel:teams', { id: 2 }, e1);
    expect(e2).not.toBe(e1);
    expect(await codeOf(s.kv.put('adminChannel:teams', { id: 3 }, e1))).toBe('VERSION_CONFLICT');
    expect(await s.kv.get('adminChannel:teams')).toEqual({ value: { id: 2 }, etag: e2 });
    await s.kv.put('adminChannel:teams', { id: 4 }, '*');
    await s.kv.delete('adminChannel:teams');
    expect(await s.kv.get('adminChannel:teams')).toBeUndefined();
    expect(await codeOf(s.kv.put('adminChannel:teams', { id: 5 }, e2))).toBe('VERSION_CONFLICT');
  });

  it('kv: create writes only where no live entry is, across connections; entries expire and are deleted in time', async () => {
    const clock = new ManualClock();
    const a = open('bot.sqlite', clock);
    const b = open('bot.sqlite', clock);
    const at = clock.now().getTime();
    expect(await a.kv.create('slack:delivery:evt:1', 1, { expiresAt: at + 60_000 })).toBe(true);
    expect(await a.kv.create('slack:delivery:evt:1', 2, { expiresAt: at + 60_000 })).toBe(false);
    expect(await b.kv.create('slack:delivery:evt:1', 3)).toBe(false);
    expect((await b.kv.get('slack:delivery:evt:1'))!.value).toBe(1);
    // Without an expiry an entry stays; put replaces the expiry with its own (here: none).
    expect(await a.kv.create('setting', { x: 1 })).toBe(true);
    const e = await a.kv.put('form', { card: 1 }, undefined, { expiresAt: at + 30_000 });
    expect(await b.kv.get('form')).toEqual({ value: { card: 1 }, etag: e });

    clock.advance(30_000);
    // Past its expiry an entry is absent: not read, its etag no longer matches, and create may take the key.
    expect(await b.kv.get('form')).toBeUndefined();
    expect(await codeOf(b.kv.put('form', { card: 2 }, e))).toBe('VERSION_CONFLICT');
    expect(await b.kv.create('form', { card: 3 })).toBe(true);
    expect((await a.kv.get('form'))!.value).toEqual({ card: 3 });
    clock.advance(30_000);
    expect(await b.kv.create('slack:delivery:evt:1', 4, { expiresAt: clock.now().getTime() + 60_000 })).toBe(true);
    expect((await a.kv.get('slack:delivery:evt:1'))!.value).toBe(4);

    // Many entries that expire: the store deletes them as later ones are created, so the table does not grow.
    const rows = () => {
      const raw = new Database(join(dir, 'bot.sqlite'), { readonly: true });
      try {
        return (raw.prepare("SELECT count(*) AS n FROM kv WHERE key LIKE 'slack:delivery:%'").get() as { n: number }).n;
      } finally {
        raw.close();
      }
    };
    for (let i = 0; i < 1000; i++) await a.kv.create(`slack:delivery:old:${i}`, 1, { expiresAt: clock.now().getTime() + 3_600_000 });
    expect(rows()).toBe(1001);
    clock.advanceHours(2);
    for (let i = 0; i < 300; i++) await a.kv.create(`slack:delivery:new:${i}`, 1, { expiresAt: clock.now().getTime() + 3_600_000 });
    expect(rows()).toBe(300);
    expect(await a.kv.get('setting')).toBeDefined();
  });

  it('migration 4: entries an older release wrote get an expiry (Slack delivery records in two hours, forms from their own)', async () => {
    const file = join(dir, 'v3.sqlite');
    const v3 = databaseAt(file, 3);
    const put = v3.prepare('INSERT INTO kv (key, value, etag) VALUES (?, ?, ?)');
    const formExpiry = Date.now() + 72 * 3_600_000;
    put.run('slack:deliveries:493000:3', JSON.stringify({ 'evt:Ev01': 1 }), 'e1');
    put.run('slack:form:abc', JSON.stringify({ value: { card: {} }, expiresAt: formExpiry }), 'e2');
    put.run('slack:message-forms:C1:1.2', JSON.stringify({ value: ['abc'], expiresAt: formExpiry }), 'e3');
    put.run('botstate:msteams/conversations/a/', JSON.stringify({ dialogState: {} }), 'e4');
    v3.close();

    const before = Date.now();
    opened.push(openSqliteStore(file));
    const raw = new Database(file, { readonly: true });
    try {
      const expiry = (key: string) => (raw.prepare('SELECT expires_at AS e FROM kv WHERE key = ?').get(key) as { e: number | null }).e;
      expect(expiry('slack:deliveries:493000:3')).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 7_200_000);
      expect(expiry('slack:deliveries:493000:3')).toBeLessThanOrEqual(Date.now() + 7_200_000);
      expect(expiry('slack:form:abc')).toBe(formExpiry);
      expect(expiry('slack:message-forms:C1:1.2')).toBe(formExpiry);
      expect(expiry('botstate:msteams/conversations/a/')).toBeNull();
      // The sweep finds expired rows through the partial index, not by scanning the table.
      const plan = raw.prepare('EXPLAIN QUERY PLAN SELECT rowid FROM kv WHERE expires_at <= ? LIMIT 1000').all(0) as { detail: string }[];
      expect(plan.map((p) => p.detail).join(' ')).toContain('kv_expires');
    } finally {
      raw.close();
    }
  });

  it(':memory: stores are private', async () => {
    const a = openSqliteStore(':memory:');
    const b = openSqliteStore(':memory:');
    await a.create(rawRequest('HW-1001'));
    expect(await b.get('HW-1001')).toBeUndefined();
    await a.close();
    await b.close();
  });
});
