import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/core/store/sqlite';

const CHILD = join(__dirname, 'fixtures', 'store-child.ts');
const ROOT = join(__dirname, '..', '..');

function child(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
}

function lines(p: ChildProcess, onLine: (line: string) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: p.stdout! }).on('line', onLine);
  return new Promise((resolve) => p.on('close', (code, signal) => resolve({ code, signal, stderr })));
}

describe('SQLite store across processes', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-crash-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a writer killed with SIGKILL mid-write leaves a database that opens and holds every committed request', async () => {
    const db = join(dir, 'bot.sqlite');
    const committed = new Map<string, number>();
    const p = child(['writer', db]);
    const done = lines(p, (line) => {
      const m = /^committed (\S+) (\d+)$/.exec(line);
      if (!m) return;
      committed.set(m[1], Number(m[2]));
      // Kill while it is busy writing the next ones.
      if (committed.size === 40) p.kill('SIGKILL');
    });
    const exit = await done;
    expect(exit.signal).toBe('SIGKILL');
    expect(committed.size).toBeGreaterThanOrEqual(40);

    const raw = new Database(db);
    try {
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      raw.close();
    }
    const store = openSqliteStore(db);
    try {
      for (const [id, version] of committed) {
        const r = await store.get(id);
        expect(r).toBeDefined();
        expect(r!.state).toBe('approved');
        expect(r!.version).toBeGreaterThanOrEqual(version);
        expect((await store.listAudit(id)).map((a) => a.type)).toEqual(['approved']);
      }
      // The id counter survived too: no id is handed out twice.
      const next = await store.nextId();
      expect(committed.has(next)).toBe(false);
      expect(Number(next.slice(3))).toBeGreaterThan(Math.max(...[...committed.keys()].map((id) => Number(id.slice(3)))));
    } finally {
      await store.close();
    }
  });

  it('two processes racing for the same resource groups: exactly one active request per group', async () => {
    const db = join(dir, 'bot.sqlite');
    // Create the schema first so both children start racing on data, not on migrations.
    await openSqliteStore(db).close();
    const n = 15;
    const results: string[] = [];
    const procs = ['a', 'b'].map((tag) => child(['lock', db, tag, String(n)]));
    let ready = 0;
    const runs = procs.map((p, k) =>
      lines(p, (line) => {
        if (line === 'ready') {
          if (++ready === procs.length) procs.forEach((q) => q.stdin!.end('go\n'));
          return;
        }
        results.push(`${line} ${k}`);
      }),
    );
    const exits = await Promise.all(runs);
    for (const e of exits) expect({ code: e.code, stderr: e.stderr }).toEqual({ code: 0, stderr: '' });

    const store = openSqliteStore(db);
    try {
      for (let i = 0; i < n; i++) {
        const rg = `rg-${i}`;
        const won = results.filter((l) => l.startsWith(`won ${rg} `));
        const lost = results.filter((l) => l.startsWith(`lost ${rg} `));
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        // The loser was told the winner's id.
        expect(lost[0].split(' ')[2]).toBe(won[0].split(' ')[2]);
        expect(lost[0].split(' ')[3]).not.toBe(won[0].split(' ')[3]);
        const active = await store.list({ resourceGroup: rg, states: ['pendingApproval'] });
        expect(active.map((r) => r.id)).toEqual([won[0].split(' ')[2]]);
      }
    } finally {
      await store.close();
    }
  });
});
