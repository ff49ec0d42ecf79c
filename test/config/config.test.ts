import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/bot/config';

const ROOT = join(__dirname, '..', '..');
const SUB = '3f2b8c1e-5a6d-4e7f-9a0b-1c2d3e4f5a6b';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  test('no configuration at all gives sandbox mode with the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3978,
      host: '127.0.0.1',
      localOnly: true,
      slack: undefined,
      azure: { mode: 'simulator', armEndpoint: 'https://management.azure.com' },
      approval: { approvers: [], requiredApprovals: 1, ttlHours: 72 },
      dbPath: './data/hopsworks-bot.sqlite',
      logLevel: 'info',
      sandbox: { simTimeScale: 0.05 },
    });
  });

  test('blank variables mean "use the default"', () => {
    expect(loadConfig({ PORT: '', LOG_LEVEL: '  ', AZURE_MODE: '' }).port).toBe(3978);
  });

  test('a subscription id switches to live mode; approvers are trimmed and de-duplicated', () => {
    const config = loadConfig({
      AZURE_SUBSCRIPTION_ID: SUB,
      HOPSWORKS_APPROVERS: ' alice@contoso.com , U012ABC,,alice@contoso.com ',
      HOPSWORKS_REQUIRED_APPROVALS: '2',
    });
    expect(config.azure).toEqual({ mode: 'live', subscriptionId: SUB, armEndpoint: 'https://management.azure.com' });
    expect(config.approval.approvers).toEqual(['alice@contoso.com', 'U012ABC']);
    expect(config.approval.requiredApprovals).toBe(2);
  });

  test('a bot registration binds all interfaces', () => {
    const config = loadConfig({ MicrosoftAppId: '11111111-2222-3333-4444-555555555555', MicrosoftAppPassword: 'pw' });
    expect(config.localOnly).toBe(false);
    expect(config.host).toBe('0.0.0.0');
    expect(config.bot.appType).toBe('MultiTenant');
  });

  test('Slack is on only when both credentials are set; one without the other is an error', () => {
    expect(loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 'abc', SLACK_API_URL: 'http://127.0.0.1:9/api' }).slack).toEqual({
      botToken: 'xoxb-1',
      signingSecret: 'abc',
      apiUrl: 'http://127.0.0.1:9/api/',
    });
    expect(problems({ SLACK_BOT_TOKEN: 'xoxb-1' })).toEqual([expect.stringMatching(/^SLACK_SIGNING_SECRET is required when SLACK_BOT_TOKEN is set/)]);
    expect(problems({ SLACK_SIGNING_SECRET: 'abc' })).toEqual([expect.stringMatching(/^SLACK_BOT_TOKEN is required when SLACK_SIGNING_SECRET is set/)]);
  });

  test('a bad whole number names the variable, the rule and the value', () => {
    expect(problems({ HOPSWORKS_REQUIRED_APPROVALS: 'x' })).toEqual(['HOPSWORKS_REQUIRED_APPROVALS must be a whole number ≥ 1 (got "x")']);
    expect(problems({ HOPSWORKS_REQUIRED_APPROVALS: '0' })).toEqual(['HOPSWORKS_REQUIRED_APPROVALS must be a whole number ≥ 1 (got "0")']);
    expect(problems({ PORT: '70000' })).toEqual(['PORT must be a whole number from 0 to 65535 (got "70000")']);
  });

  test('live mode without a subscription, a non-https ARM endpoint and a bad GUID are each explained', () => {
    expect(problems({ AZURE_MODE: 'live' })).toEqual([expect.stringMatching(/^AZURE_SUBSCRIPTION_ID is required when AZURE_MODE is live/)]);
    expect(problems({ AZURE_ARM_ENDPOINT: 'http://localhost:8443' })).toEqual([expect.stringMatching(/^AZURE_ARM_ENDPOINT must be an https:\/\/ URL/)]);
    expect(problems({ AZURE_SUBSCRIPTION_ID: 'my-sub' })).toEqual([expect.stringMatching(/^AZURE_SUBSCRIPTION_ID must be .* a GUID/)]);
    expect(problems({ AZURE_MODE: 'prod' })).toEqual(['AZURE_MODE must be one of live, simulator (got "prod")']);
  });

  test('bot registration rules follow botbuilder: a password needs an app id, MSI has no password', () => {
    expect(problems({ MicrosoftAppPassword: 'pw' })).toEqual([expect.stringMatching(/^MicrosoftAppPassword is set but MicrosoftAppId is empty/)]);
    const msi = problems({ MicrosoftAppId: '11111111-2222-3333-4444-555555555555', MicrosoftAppType: 'UserAssignedMSI', MicrosoftAppPassword: 'pw' });
    expect(msi).toEqual([
      expect.stringMatching(/^MicrosoftAppPassword must be empty when MicrosoftAppType is UserAssignedMSI/),
      expect.stringMatching(/^MicrosoftAppTenantId is required when MicrosoftAppType is UserAssignedMSI/),
    ]);
  });

  test('more approvals required than approvers listed is refused, since nothing could ever be approved', () => {
    expect(problems({ HOPSWORKS_APPROVERS: 'a,b', HOPSWORKS_REQUIRED_APPROVALS: '3' })).toEqual([
      expect.stringMatching(/^HOPSWORKS_REQUIRED_APPROVALS is 3 but HOPSWORKS_APPROVERS lists only 2/),
    ]);
  });

  test('secret values are never quoted back in messages', () => {
    const all = problems({ SLACK_BOT_TOKEN: 'xoxp-user-token-value', MicrosoftAppPassword: 's3cr3t-value' }).join('\n');
    expect(all).toMatch(/SLACK_BOT_TOKEN must be a bot token/);
    expect(all).not.toContain('xoxp-user-token-value');
    expect(all).not.toContain('s3cr3t-value');
  });
});

describe('AZURE_POLL_INTERVAL_MS', () => {
  it('is unset by default (the composition root derives it from the mode) and read as milliseconds when set', () => {
    expect(loadConfig({}).azure.pollIntervalMs).toBeUndefined();
    expect(loadConfig({ AZURE_POLL_INTERVAL_MS: '100' }).azure.pollIntervalMs).toBe(100);
  });

  it('refuses what is not a whole number of milliseconds from 10 to 60000, naming the variable', () => {
    for (const bad of ['fast', '0.5', '5', '600000']) {
      expect(problems({ AZURE_POLL_INTERVAL_MS: bad })).toEqual([expect.stringContaining(`AZURE_POLL_INTERVAL_MS must be a whole number of milliseconds from 10 to 60000, e.g. 2000 (got "${bad}")`)]);
    }
  });
});

describe('startup with a bad environment', () => {
  function start(env: Record<string, string>, cwd = ROOT): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'src', 'index.ts')], {
        cwd,
        // A clean environment: only what the test sets, plus PATH for node itself.
        env: { PATH: process.env.PATH ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('exit', (code) => resolve({ code, stderr }));
    });
  }

  test('one bad variable: exit non-zero, message names it', async () => {
    const { code, stderr } = await start({ HOPSWORKS_REQUIRED_APPROVALS: 'x' });
    expect(code).not.toBe(0);
    expect(stderr).toContain('HOPSWORKS_REQUIRED_APPROVALS must be a whole number ≥ 1 (got "x")');
  }, 120_000);

  test('several bad variables: every one is named in the same message', async () => {
    const { code, stderr } = await start({ PORT: 'http', LOG_LEVEL: 'loud', AZURE_MODE: 'live', SLACK_BOT_TOKEN: 'xoxb-1' });
    expect(code).not.toBe(0);
    for (const name of ['PORT', 'LOG_LEVEL', 'AZURE_SUBSCRIPTION_ID', 'SLACK_SIGNING_SECRET']) {
      expect(stderr).toContain(name);
    }
    expect(stderr).not.toContain('listening');
  }, 120_000);

  test('a .env file in the working directory is read, and the real environment wins over it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-dotenv-'));
    try {
      writeFileSync(join(dir, '.env'), 'HOPSWORKS_REQUIRED_APPROVALS=x\nLOG_LEVEL=loud\n');
      const { code, stderr } = await start({ LOG_LEVEL: 'info' }, dir);
      expect(code).not.toBe(0);
      expect(stderr).toContain('HOPSWORKS_REQUIRED_APPROVALS must be a whole number ≥ 1 (got "x")');
      expect(stderr).not.toContain('LOG_LEVEL');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
