/**
 * The layering rule in eslint.config.mjs is what keeps src/core platform- and cloud-neutral.
 * These tests run the project's real ESLint configuration on probe sources placed (virtually) in
 * src/core, src/azure and src/bot, so a config change that silently disables the rule fails the build.
 * ESLint loads its flat config with a dynamic import, which jest's VM cannot do: it runs in a child process.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

interface Probe {
  name: string;
  filePath: string;
  code: string;
}

const CORE_FORBIDDEN: [string, string][] = [
  ["import { CloudAdapter } from 'botbuilder';", 'botbuilder'],
  ["import { DialogSet } from 'botbuilder-dialogs';", 'botbuilder-dialogs'],
  ["import { App } from '@slack/bolt';", '@slack/bolt'],
  ["import { DefaultAzureCredential } from '@azure/identity';", '@azure/identity'],
  ["import * as AC from 'adaptivecards';", 'adaptivecards'],
  ["import { Template } from 'adaptivecards-templating';", 'adaptivecards-templating'],
  ["import { createAzureClients } from '../azure/clients';", '../azure/clients'],
];

const chatImport = "import { ActivityHandler } from 'botbuilder';\nexport const probe = ActivityHandler;\n";

const PROBES: Probe[] = [
  ...CORE_FORBIDDEN.map(([code, what]) => ({ name: `core:${what}`, filePath: 'src/core/layering-probe.ts', code: `${code}\nexport const probe = 1;\n` })),
  {
    name: 'core:allowed',
    filePath: 'src/core/layering-probe.ts',
    code: "import { createHash } from 'node:crypto';\nimport { BotError } from './errors';\nexport const probe = [createHash, BotError];\n",
  },
  { name: 'azure:botbuilder', filePath: 'src/azure/layering-probe.ts', code: chatImport },
  { name: 'bot:botbuilder', filePath: 'src/bot/layering-probe.ts', code: chatImport },
];

const SCRIPT = `
const { ESLint } = require('eslint');
const path = require('node:path');
(async () => {
  const probes = JSON.parse(process.argv[1]);
  const eslint = new ESLint({ cwd: process.cwd() });
  const out = {};
  for (const p of probes) {
    const [result] = await eslint.lintText(p.code, { filePath: path.join(process.cwd(), p.filePath) });
    out[p.name] = result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
  }
  process.stdout.write(JSON.stringify(out));
})().catch((err) => { console.error(err); process.exit(1); });
`;

let findings: Record<string, string[]>;

beforeAll(() => {
  findings = JSON.parse(execFileSync(process.execPath, ['-e', SCRIPT, JSON.stringify(PROBES)], { cwd: ROOT, encoding: 'utf8' }));
});

describe('layering lint rule', () => {
  test.each(CORE_FORBIDDEN.map(([, what]) => what))('src/core may not import %s', (what) => {
    expect(findings[`core:${what}`]).toHaveLength(1);
    expect(findings[`core:${what}`][0]).toContain(what);
  });

  test('src/core may import node built-ins and its own modules', () => {
    expect(findings['core:allowed']).toEqual([]);
  });

  test('src/azure may not import chat SDKs, but src/bot may', () => {
    expect(findings['azure:botbuilder']).toHaveLength(1);
    expect(findings['bot:botbuilder']).toEqual([]);
  });
});
