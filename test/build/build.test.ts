/**
 * scripts/build.js: what `npm start` runs is a plain-Node bundle of src/index.ts. It must start without
 * any TypeScript tooling and without Node's source-map support switched on (the bench's memory figures
 * depend on it), and the builder refuses an output where the bundle's npm packages could not load.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildBot, buildEntry, ROOT } from '../../scripts/build';
import { freePort } from '../helpers/reliability-bot';

const dir = path.join(ROOT, 'test-artifacts', 'build');
const outfile = path.join(dir, `bot-${process.pid}.js`);

let built: string;
beforeAll(() => {
  built = buildBot(outfile);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('the bundle holds our code and the card templates, loads npm packages from node_modules, and links its source map', () => {
  expect(built).toBe(outfile);
  const code = readFileSync(built, 'utf8');
  expect(code).toMatch(/require\("botbuilder"\)/); // external, not inlined
  expect(code).toContain('"AdaptiveCard"'); // card templates are inlined
  expect(code.trimEnd().endsWith(`//# sourceMappingURL=${path.basename(built)}.map`)).toBe(true);
  expect(existsSync(`${built}.map`)).toBe(true);
});

function writeProbe(): string {
  // Preloaded into the bundle's process: says whether anything turned source maps on, when it exits.
  const probe = path.join(dir, `probe-${process.pid}.js`);
  writeFileSync(probe, "process.on('exit', () => process.stderr.write(`sourceMaps=${process.sourceMapsEnabled}\\n`));\n");
  return probe;
}

test('plain Node runs it: the bot gets ready in sandbox mode with Node\'s source maps off, and stops on SIGTERM', async () => {
  const port = await freePort();
  const bot = spawn(process.execPath, ['--require', writeProbe(), built], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      // The sandbox CA this test run trusts (scripts/with-sandbox-ca.js set both).
      NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
      SANDBOX_CA_DIR: process.env.SANDBOX_CA_DIR,
      PORT: String(port),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  bot.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => bot.once('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 30_000;
    let ready: unknown;
    while (!ready) {
      if (Date.now() > deadline || bot.exitCode !== null) throw new Error(`not ready: ${stderr}`);
      ready = await fetch(`http://127.0.0.1:${port}/readyz`)
        .then((r) => (r.ok ? r.json() : undefined))
        .catch(() => undefined);
      if (!ready) await new Promise((r) => setTimeout(r, 50));
    }
    expect(ready).toEqual({ status: 'ready', checks: { store: 'ok', azure: 'ok' } });
  } finally {
    bot.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  expect(stderr).toContain('sourceMaps=false');
}, 60_000);

test('a bad setting stops the bundle at once with the configuration message', () => {
  const run = spawnSync(process.execPath, [built], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: 'not-a-port' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(run.status).toBe(1);
  expect(run.stderr).toMatch(/PORT/);
  expect(run.stderr).toContain('See README.md (Configuration)');
});

test('an output outside the project is refused (its packages would not resolve) and nothing is written', () => {
  const outside = path.join(path.dirname(ROOT), `outside-${process.pid}.js`);
  expect(() => buildEntry(path.join(ROOT, 'src', 'index.ts'), outside)).toThrow(/must be inside/);
  expect(existsSync(outside)).toBe(false);
});
