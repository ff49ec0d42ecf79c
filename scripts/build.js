#!/usr/bin/env node
/*
 * Builds what `npm start` runs: src/index.ts bundled by esbuild into dist/bot.js (our code and the card
 * templates in one CommonJS file; npm packages stay external and load from node_modules). Plain Node runs
 * it: no TypeScript loader at run time and no source maps. A loader such as tsx turns Node's source-map
 * support on for every module, and Node then parses and keeps the source map of each npm package it
 * loads: about 20 MB of heap for this bot's dependencies (docs/performance.md, ninth stop).
 *
 *   node scripts/build.js               -> dist/bot.js (+ dist/bot.js.map, for reading stack traces)
 *   node scripts/build.js OUT.js        -> OUT.js (must be inside the project so node_modules resolve)
 *
 * Tests and the benchmark build the bot (and the benchmark's baselines) through buildEntry too, so they
 * run the code `npm start` runs, built the same way.
 */
'use strict';

const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const BOT_ENTRY = path.join(ROOT, 'src', 'index.ts');
const DEFAULT_OUTFILE = path.join(ROOT, 'dist', 'bot.js');

/**
 * Bundles one TypeScript entry point for Node 20. `sourcemap`: 'linked' (a .map file beside it, the
 * default), 'inline' or false.
 */
function buildEntry(entry, outfile, opts = {}) {
  const out = path.resolve(outfile);
  const rel = path.relative(ROOT, out);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new Error(`build output must be inside ${ROOT} (its npm packages load from node_modules there): ${out}`);
  }
  require('esbuild').buildSync({
    entryPoints: [path.resolve(entry)],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    sourcemap: opts.sourcemap === undefined ? 'linked' : opts.sourcemap,
    logLevel: 'error',
  });
  return out;
}

/** Builds the bot (src/index.ts) into `outfile` (default dist/bot.js) and returns its path. */
function buildBot(outfile = DEFAULT_OUTFILE, opts = {}) {
  return buildEntry(BOT_ENTRY, outfile, opts);
}

module.exports = { buildBot, buildEntry, ROOT, DEFAULT_OUTFILE };

if (require.main === module) {
  try {
    buildBot(process.argv[2] || DEFAULT_OUTFILE);
  } catch (err) {
    process.stderr.write(`build failed: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
