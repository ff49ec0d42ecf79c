/** Numbered schema migrations; each runs once, in order, inside a transaction. Never edit a released one: add the next. */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'requests, audit, leases, kv, counters',
    sql: `
      CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        parent_id TEXT,
        state TEXT NOT NULL,
        subscription_id TEXT NOT NULL,
        resource_group TEXT NOT NULL,
        -- lower(subscription)/lower(resource group) while the request is active, else NULL
        lock_key TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        version INTEGER NOT NULL,
        body TEXT NOT NULL
      );
      CREATE INDEX requests_lock ON requests (lock_key) WHERE lock_key IS NOT NULL;
      CREATE INDEX requests_state ON requests (state, created_at);
      CREATE INDEX requests_target ON requests (subscription_id COLLATE NOCASE, resource_group COLLATE NOCASE);

      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT NOT NULL,
        at TEXT NOT NULL,
        type TEXT NOT NULL,
        actor TEXT NOT NULL,
        detail TEXT
      );
      CREATE INDEX audit_request ON audit (request_id, seq);
      CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
      CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;

      CREATE TABLE leases (
        request_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        until INTEGER NOT NULL
      );

      CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        etag TEXT NOT NULL
      );

      CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: 'index for the newest-first request list (status without filters)',
    // `status` lists the newest requests: without this index every row is read and sorted.
    sql: `CREATE INDEX requests_created ON requests (created_at DESC);`,
  },
  {
    version: 3,
    description: 'requester and expiry as columns, so lists do not parse request bodies',
    // json_extract parsed each 10-15 kB body three times per listed row: 11% of the CPU of a busy bot answering `status`.
    sql: `
      ALTER TABLE requests ADD COLUMN requester_platform TEXT;
      ALTER TABLE requests ADD COLUMN requester_name TEXT;
      ALTER TABLE requests ADD COLUMN expires_at TEXT;
      UPDATE requests SET
        requester_platform = json_extract(body, '$.requester.platform'),
        requester_name = json_extract(body, '$.requester.displayName'),
        expires_at = json_extract(body, '$.expiresAt');
    `,
  },
  {
    version: 4,
    description: 'kv entries can expire; one row per Slack delivery instead of hourly records rewritten whole',
    // The Slack adapter kept delivery keys in 16 records per hour, each read and written whole for every delivery:
    // the cost of recording one grew with the hour's traffic. Entries now carry an expiry (epoch ms) and the
    // store deletes them after it. Rows an older release wrote get theirs: its delivery records end in two hours
    // (a delivery key matters for one), its forms when their stored expiry says.
    sql: `
      ALTER TABLE kv ADD COLUMN expires_at INTEGER;
      CREATE INDEX kv_expires ON kv (expires_at) WHERE expires_at IS NOT NULL;
      UPDATE kv SET expires_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 7200000 WHERE key LIKE 'slack:deliveries:%';
      UPDATE kv SET expires_at = CAST(json_extract(value, '$.expiresAt') AS INTEGER)
        WHERE (key LIKE 'slack:form:%' OR key LIKE 'slack:message-forms:%') AND json_type(value, '$.expiresAt') IN ('integer', 'real');
    `,
  },
];
