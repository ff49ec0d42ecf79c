/**
 * Configuration: the environment is read once, here, and validated with zod. Every problem is
 * collected and reported together, each line naming the variable and how to fix it, so a
 * misconfigured deployment fails at startup instead of on the first chat message.
 * Secret values are never echoed in messages.
 */
import { z } from 'zod';
import { BotError } from '../core/errors';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const APP_TYPES = ['MultiTenant', 'SingleTenant', 'UserAssignedMSI'] as const;
export type MicrosoftAppType = (typeof APP_TYPES)[number];

export type AzureMode = 'live' | 'simulator';

export interface BotRegistration {
  /** Empty: local mode — unauthenticated Bot Framework traffic accepted, server bound to 127.0.0.1. */
  appId: string;
  appPassword: string;
  appType: MicrosoftAppType;
  appTenantId: string;
}

export interface SlackConfig {
  botToken: string;
  signingSecret: string;
  /** Slack Web API base URL ending in `/`; undefined means Slack's own. */
  apiUrl?: string;
}

export interface AppConfig {
  port: number;
  /** Interface to bind: loopback when the Bot Framework endpoint is unauthenticated, all interfaces otherwise. */
  host: string;
  /** True when no bot registration is configured (local traffic only). */
  localOnly: boolean;
  bot: BotRegistration;
  slack?: SlackConfig;
  azure: {
    mode: AzureMode;
    subscriptionId?: string;
    /** ARM base URL. In simulator mode the composition root replaces it with the simulator's URL. */
    armEndpoint: string;
    /**
     * How often the bot polls Azure while it waits (long-running operations without Retry-After,
     * provider registration, identity propagation); its other waits scale with it. Set only when
     * AZURE_POLL_INTERVAL_MS is; the composition root defaults it (2000, or 2000 × SIM_TIME_SCALE in
     * simulator mode).
     */
    pollIntervalMs?: number;
  };
  approval: {
    approvers: string[];
    requiredApprovals: number;
    ttlHours: number;
  };
  dbPath: string;
  logLevel: LogLevel;
  /** Sandbox-only knobs; ignored in live mode. */
  sandbox: {
    /** Multiplies the simulator's simulated ARM operation durations (0.1 = ten times faster). */
    simTimeScale: number;
  };
}

export const DEFAULT_ARM_ENDPOINT = 'https://management.azure.com';
export const DEFAULT_DB_PATH = './data/hopsworks-bot.sqlite';

/** Startup refused: `problems` has one line per bad variable. */
export class ConfigError extends BotError {
  readonly problems: string[];

  constructor(problems: string[]) {
    super('CONFIG', `Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, { details: { problems } });
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$/i;

const shown = (v: string) => JSON.stringify(v);

/** Blank and unset are the same thing: a variable set to "" in a compose file means "use the default". */
const text = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

function wholeNumber(name: string, min: number, max: number, fallback: number) {
  return text.transform((v, ctx) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
      ctx.addIssue({ code: 'custom', message: `${name} must be a whole number ${range} (got ${shown(v)})` });
      return z.NEVER;
    }
    return n;
  });
}

function positiveNumber(name: string, fallback: number) {
  return text.transform((v, ctx) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) {
      ctx.addIssue({ code: 'custom', message: `${name} must be a number greater than 0, e.g. 0.1 (got ${shown(v)})` });
      return z.NEVER;
    }
    return n;
  });
}

function guid(name: string, what: string) {
  return text.transform((v, ctx) => {
    if (v === undefined || GUID.test(v)) return v?.toLowerCase();
    ctx.addIssue({ code: 'custom', message: `${name} must be ${what}, a GUID like 00000000-0000-0000-0000-000000000000 (got ${shown(v)})` });
    return z.NEVER;
  });
}

function oneOf<T extends string>(name: string, values: readonly T[], caseInsensitive = false) {
  return text.transform((v, ctx) => {
    if (v === undefined) return undefined;
    const hit = values.find((x) => (caseInsensitive ? x.toLowerCase() === v.toLowerCase() : x === v));
    if (hit) return hit;
    ctx.addIssue({ code: 'custom', message: `${name} must be one of ${values.join(', ')} (got ${shown(v)})` });
    return z.NEVER;
  });
}

function url(name: string, opts: { httpsOnly: boolean }) {
  return text.transform((v, ctx) => {
    if (v === undefined) return undefined;
    let parsed: URL | undefined;
    try {
      parsed = new URL(v);
    } catch {
      parsed = undefined;
    }
    const schemes = opts.httpsOnly ? ['https:'] : ['https:', 'http:'];
    if (!parsed || !schemes.includes(parsed.protocol)) {
      const fix = opts.httpsOnly
        ? 'an https:// URL (the Azure SDK refuses bearer tokens over plain http)'
        : 'an http:// or https:// URL';
      ctx.addIssue({ code: 'custom', message: `${name} must be ${fix} (got ${shown(v)})` });
      return z.NEVER;
    }
    return v;
  });
}

/** Secret values are validated for presence only and never quoted back. */
const secret = text;

const EnvSchema = z
  .object({
    PORT: wholeNumber('PORT', 0, 65535, 3978),
    MicrosoftAppId: guid('MicrosoftAppId', "the bot's Microsoft Entra application (client) id"),
    MicrosoftAppPassword: secret,
    MicrosoftAppType: oneOf('MicrosoftAppType', APP_TYPES, true),
    MicrosoftAppTenantId: text.transform((v, ctx) => {
      if (v === undefined || GUID.test(v) || DOMAIN.test(v)) return v;
      ctx.addIssue({
        code: 'custom',
        message: `MicrosoftAppTenantId must be a tenant id (GUID) or a domain like contoso.onmicrosoft.com (got ${shown(v)})`,
      });
      return z.NEVER;
    }),
    SLACK_BOT_TOKEN: secret,
    SLACK_SIGNING_SECRET: secret,
    SLACK_API_URL: url('SLACK_API_URL', { httpsOnly: false }),
    AZURE_MODE: oneOf('AZURE_MODE', ['live', 'simulator'] as const),
    AZURE_SUBSCRIPTION_ID: guid('AZURE_SUBSCRIPTION_ID', 'the id of the subscription to provision in'),
    AZURE_ARM_ENDPOINT: url('AZURE_ARM_ENDPOINT', { httpsOnly: true }),
    AZURE_POLL_INTERVAL_MS: text.transform((v, ctx) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < 10 || n > 60_000) {
        ctx.addIssue({ code: 'custom', message: `AZURE_POLL_INTERVAL_MS must be a whole number of milliseconds from 10 to 60000, e.g. 2000 (got ${shown(v)})` });
        return z.NEVER;
      }
      return n;
    }),
    HOPSWORKS_APPROVERS: text.transform((v) =>
      v === undefined ? [] : [...new Set(v.split(',').map((s) => s.trim()).filter((s) => s !== ''))],
    ),
    HOPSWORKS_REQUIRED_APPROVALS: wholeNumber('HOPSWORKS_REQUIRED_APPROVALS', 1, Number.MAX_SAFE_INTEGER, 1),
    HOPSWORKS_APPROVAL_TTL_HOURS: wholeNumber('HOPSWORKS_APPROVAL_TTL_HOURS', 1, 8760, 72),
    BOT_DB_PATH: text.transform((v) => v ?? DEFAULT_DB_PATH),
    LOG_LEVEL: oneOf('LOG_LEVEL', LOG_LEVELS, true),
    SIM_TIME_SCALE: positiveNumber('SIM_TIME_SCALE', 0.05),
  });

type Raw = Record<string, string | undefined>;

/**
 * Rules that involve several variables. They run on the raw (trimmed) values even when a single
 * variable is already invalid, so one startup reports every problem at once.
 */
function crossProblems(raw: NodeJS.ProcessEnv): string[] {
  const e: Raw = {};
  for (const [k, v] of Object.entries(raw)) e[k] = v === undefined || v.trim() === '' ? undefined : v.trim();
  const out: string[] = [];
  const problem = (message: string) => out.push(message);
  const appType = APP_TYPES.find((t) => t.toLowerCase() === (e.MicrosoftAppType ?? 'MultiTenant').toLowerCase());

  if (e.MicrosoftAppId === undefined) {
    if (e.MicrosoftAppPassword !== undefined) {
      problem("MicrosoftAppPassword is set but MicrosoftAppId is empty: set MicrosoftAppId to the bot registration's app id, or unset MicrosoftAppPassword to run locally");
    }
    if (appType !== undefined && appType !== 'MultiTenant') {
      problem(`MicrosoftAppType is ${appType} but MicrosoftAppId is empty: set MicrosoftAppId, or unset MicrosoftAppType to run locally`);
    }
  } else if (appType === 'UserAssignedMSI') {
    if (e.MicrosoftAppPassword !== undefined) {
      problem('MicrosoftAppPassword must be empty when MicrosoftAppType is UserAssignedMSI (the managed identity has no password): unset it');
    }
    if (e.MicrosoftAppTenantId === undefined) {
      problem('MicrosoftAppTenantId is required when MicrosoftAppType is UserAssignedMSI: set it to the tenant id of the managed identity');
    }
  } else if (appType !== undefined) {
    if (e.MicrosoftAppPassword === undefined) {
      problem(`MicrosoftAppPassword is required when MicrosoftAppId is set and MicrosoftAppType is ${appType}: set it to a client secret of the bot's app registration`);
    }
    if (appType === 'SingleTenant' && e.MicrosoftAppTenantId === undefined) {
      problem("MicrosoftAppTenantId is required when MicrosoftAppType is SingleTenant: set it to the tenant id of the bot's app registration");
    }
  }

  if (e.SLACK_BOT_TOKEN !== undefined && e.SLACK_SIGNING_SECRET === undefined) {
    problem("SLACK_SIGNING_SECRET is required when SLACK_BOT_TOKEN is set: copy it from the Slack app's Basic Information page, or unset SLACK_BOT_TOKEN to turn Slack off");
  }
  if (e.SLACK_SIGNING_SECRET !== undefined && e.SLACK_BOT_TOKEN === undefined) {
    problem("SLACK_BOT_TOKEN is required when SLACK_SIGNING_SECRET is set: copy the Bot User OAuth Token (xoxb-…) from the Slack app's OAuth & Permissions page, or unset SLACK_SIGNING_SECRET to turn Slack off");
  }
  if (e.SLACK_BOT_TOKEN !== undefined && !e.SLACK_BOT_TOKEN.startsWith('xoxb-')) {
    problem("SLACK_BOT_TOKEN must be a bot token starting with xoxb- (a user or app-level token was given): copy the Bot User OAuth Token from the Slack app's OAuth & Permissions page");
  }

  if (e.AZURE_MODE === 'live' && e.AZURE_SUBSCRIPTION_ID === undefined) {
    problem('AZURE_SUBSCRIPTION_ID is required when AZURE_MODE is live: set it to the subscription to provision in, or set AZURE_MODE=simulator');
  }

  const approvers = new Set((e.HOPSWORKS_APPROVERS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''));
  const required = Number(e.HOPSWORKS_REQUIRED_APPROVALS ?? '1');
  if (approvers.size > 0 && Number.isInteger(required) && required > approvers.size) {
    problem(
      `HOPSWORKS_REQUIRED_APPROVALS is ${required} but HOPSWORKS_APPROVERS lists only ${approvers.size}: no request could ever be approved; lower HOPSWORKS_REQUIRED_APPROVALS or add approvers`,
    );
  }
  return out;
}

/** Reads and validates the environment. Throws `ConfigError` listing every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const result = EnvSchema.safeParse(env);
  const problems = [...(result.success ? [] : result.error.issues.map((i) => i.message)), ...crossProblems(env)];
  if (!result.success || problems.length > 0) throw new ConfigError(problems);
  const e = result.data;
  const localOnly = e.MicrosoftAppId === undefined;
  const slack =
    e.SLACK_BOT_TOKEN !== undefined && e.SLACK_SIGNING_SECRET !== undefined
      ? {
          botToken: e.SLACK_BOT_TOKEN,
          signingSecret: e.SLACK_SIGNING_SECRET,
          apiUrl: e.SLACK_API_URL === undefined ? undefined : e.SLACK_API_URL.replace(/\/*$/, '/'),
        }
      : undefined;
  return {
    port: e.PORT,
    host: localOnly ? '127.0.0.1' : '0.0.0.0',
    localOnly,
    bot: {
      appId: e.MicrosoftAppId ?? '',
      appPassword: e.MicrosoftAppPassword ?? '',
      appType: e.MicrosoftAppType ?? 'MultiTenant',
      appTenantId: e.MicrosoftAppTenantId ?? '',
    },
    slack,
    azure: {
      mode: e.AZURE_MODE ?? (e.AZURE_SUBSCRIPTION_ID === undefined ? 'simulator' : 'live'),
      subscriptionId: e.AZURE_SUBSCRIPTION_ID,
      armEndpoint: (e.AZURE_ARM_ENDPOINT ?? DEFAULT_ARM_ENDPOINT).replace(/\/+$/, ''),
      ...(e.AZURE_POLL_INTERVAL_MS === undefined ? {} : { pollIntervalMs: e.AZURE_POLL_INTERVAL_MS }),
    },
    approval: {
      approvers: e.HOPSWORKS_APPROVERS,
      requiredApprovals: e.HOPSWORKS_REQUIRED_APPROVALS,
      ttlHours: e.HOPSWORKS_APPROVAL_TTL_HOURS,
    },
    dbPath: e.BOT_DB_PATH,
    logLevel: (e.LOG_LEVEL?.toLowerCase() as LogLevel | undefined) ?? 'info',
    sandbox: { simTimeScale: e.SIM_TIME_SCALE },
  };
}
