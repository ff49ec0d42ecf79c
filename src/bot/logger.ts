/**
 * JSON logs with pino. Secrets are removed by pino's `redact` configuration, once, for every log
 * line: call sites never have to remember to scrub a token, and a new call site cannot forget to.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config';

export type { Logger } from 'pino';

/** Keys whose value is a credential wherever they appear. */
const SECRET_KEYS = [
  'authorization',
  'Authorization',
  'cookie',
  'token',
  'access_token',
  'accessToken',
  'refresh_token',
  'id_token',
  'client_secret',
  'clientSecret',
  'password',
  'privateKey',
  'private_key',
  'sshPrivateKey',
  'secret',
  'signingSecret',
  'botToken',
  'appPassword',
  'MicrosoftAppPassword',
  'SLACK_BOT_TOKEN',
  'SLACK_SIGNING_SECRET',
  'IDENTITY_HEADER',
  'x-identity-header',
  'x-slack-signature',
];

/**
 * Paths redacted in every log line, from the top level (`log.info({ token })`) down to three levels
 * (`{ err: { request: { headers: { authorization } } } }`, the shape of an Azure RestError).
 */
export const REDACT_PATHS: string[] = SECRET_KEYS.flatMap((k) => {
  const key = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
  const join = (prefix: string) => (key.startsWith('[') ? `${prefix}${key}` : `${prefix}.${key}`);
  return [key.startsWith('[') ? key : k, join('*'), join('*.*'), join('*.*.*')];
});

export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; stdout when omitted. Tests pass a stream to read what was written. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'hopsworks-setup-bot' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
