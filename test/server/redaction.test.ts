import { loadConfig } from '../../src/bot/config';
import { createLogger } from '../../src/bot/logger';
import { captureLog as capture } from '../helpers/log-capture';

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('log redaction', () => {
  test('tokens, passwords and authorization headers are written as [REDACTED], wherever they sit', async () => {
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'info', destination });
    logger.info(
      {
        token: 'xoxb-top-level-token',
        req: { headers: { authorization: 'Bearer eyJ.secret.jwt', cookie: 'session=abc', 'x-slack-signature': 'v0=deadbeef' } },
        credential: { client_secret: 'cs-value', password: 'pw-value', access_token: 'at-value' },
        config: { MicrosoftAppPassword: 'app-pw', SLACK_SIGNING_SECRET: 'sign-secret', SLACK_BOT_TOKEN: 'xoxb-env-token' },
        key: { privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----' },
        requestId: 'HW-1001',
      },
      'calling out',
    );
    await flush();

    expect(lines).toHaveLength(1);
    const line = lines[0];
    for (const secret of ['xoxb-top-level-token', 'eyJ.secret.jwt', 'session=abc', 'v0=deadbeef', 'cs-value', 'pw-value', 'at-value', 'app-pw', 'sign-secret', 'xoxb-env-token', 'BEGIN OPENSSH']) {
      expect(line).not.toContain(secret);
    }
    const entry = JSON.parse(line);
    expect(entry.token).toBe('[REDACTED]');
    expect(entry.req.headers.authorization).toBe('[REDACTED]');
    expect(entry.credential.password).toBe('[REDACTED]');
    expect(entry.config.MicrosoftAppPassword).toBe('[REDACTED]');
    // Everything else is kept: redaction must not eat the context an operator needs.
    expect(entry.requestId).toBe('HW-1001');
    expect(entry.msg).toBe('calling out');
    expect(entry.level).toBe('info');
  });

  test('child loggers redact too', async () => {
    const { lines, destination } = capture();
    const child = createLogger({ level: 'info', destination }).child({ component: 'slack' });
    child.warn({ body: { token: 'verification-token' } }, 'slack payload');
    await flush();
    expect(lines[0]).not.toContain('verification-token');
    expect(JSON.parse(lines[0]).component).toBe('slack');
  });
});

test('an Azure SDK error with its request headers is logged without the bearer token', async () => {
  const { lines, destination } = capture();
  const logger = createLogger({ level: 'info', destination });
  const err = Object.assign(new Error('The client does not have authorization'), {
    statusCode: 403,
    request: { url: 'https://management.azure.com/subscriptions', headers: { authorization: 'Bearer eyJ.arm.token' } },
  });
  logger.error({ err }, 'ARM call failed');
  await flush();
  expect(lines[0]).not.toContain('eyJ.arm.token');
  expect(JSON.parse(lines[0]).err.request.headers.authorization).toBe('[REDACTED]');
  expect(JSON.parse(lines[0]).err.statusCode).toBe(403);
});

test('the effective configuration, logged at startup, carries no secret', async () => {
  const { lines, destination } = capture();
  const config = loadConfig({
    MicrosoftAppId: '0f5c7a4e-1b2d-4c3e-8f9a-0b1c2d3e4f50',
    MicrosoftAppPassword: 'app-password-value',
    SLACK_BOT_TOKEN: 'xoxb-slack-token-value',
    SLACK_SIGNING_SECRET: 'signing-secret-value',
  });
  createLogger({ level: 'info', destination }).info({ config }, 'configuration');
  await flush();
  for (const secret of ['app-password-value', 'xoxb-slack-token-value', 'signing-secret-value']) expect(lines[0]).not.toContain(secret);
  const logged = JSON.parse(lines[0]).config;
  expect(logged.bot).toEqual({ appId: '0f5c7a4e-1b2d-4c3e-8f9a-0b1c2d3e4f50', appPassword: '[REDACTED]', appType: 'MultiTenant', appTenantId: '' });
  expect(logged.slack.botToken).toBe('[REDACTED]');
  expect(logged.slack.signingSecret).toBe('[REDACTED]');
});
