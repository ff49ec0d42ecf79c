/**
 * The bot as `npm start` runs it: src/index.ts built by scripts/build.js, once per test process, into
 * test-artifacts/ (inside the project, so its npm packages resolve from node_modules). The source map is
 * inline, so a child run with --enable-source-maps reports src/ lines. Removed when the process exits,
 * or earlier with removeBotBundle.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { buildBot, ROOT } from '../../scripts/build';

let bundled: string | undefined;

export function botBundle(): string {
  if (bundled) return bundled;
  const dir = path.join(ROOT, 'test-artifacts', 'bot-bundle');
  mkdirSync(dir, { recursive: true });
  const file = buildBot(path.join(dir, `bot-${process.pid}.js`), { sourcemap: 'inline' });
  process.on('exit', () => rmSync(file, { force: true }));
  bundled = file;
  return file;
}

/** Deletes this process's bundle (call from afterAll); the next botBundle() builds it again. */
export function removeBotBundle(): void {
  if (bundled) rmSync(bundled, { force: true });
  bundled = undefined;
}
