/**
 * Composition root: the only place that builds SDK clients, adapters and stores.
 * config → logger → store → (sandbox) simulator → Azure clients → bot → CloudAdapter → server.
 */
import { existsSync } from 'node:fs';
import {
  ActivityHandler,
  CloudAdapter,
  ConfigurationBotFrameworkAuthentication,
  ConfigurationServiceClientCredentialFactory,
  type TurnContext,
} from 'botbuilder';
import type { DestinationStream } from 'pino';
import { createAzureClients } from './azure/clients';
import { loadConfig, ConfigError, type AppConfig } from './bot/config';
import { createLogger, type Logger } from './bot/logger';
import { HttpServer, type ReadinessCheck } from './bot/server';
import type { Store } from './core/ports';
import { openSqliteStore } from './core/store/sqlite';

export interface AppOverrides {
  /** Where JSON log lines go (default stdout). */
  logDestination?: DestinationStream;
}

export interface App {
  server: HttpServer;
  url: string;
  config: AppConfig;
  logger: Logger;
  store: Store;
  /** Drains in-flight work, stops background work, closes the store. Idempotent. */
  close(): Promise<void>;
}

export const PLAYGROUND_COMMAND = (port: number) =>
  `npx agentsplayground start -e http://localhost:${port}/api/messages -c msteams --dt -p 56150`;

function botFrameworkAuthentication(config: AppConfig): ConfigurationBotFrameworkAuthentication {
  const registration = {
    MicrosoftAppId: config.bot.appId,
    MicrosoftAppPassword: config.bot.appPassword,
    MicrosoftAppType: config.bot.appType,
    MicrosoftAppTenantId: config.bot.appTenantId,
  };
  return new ConfigurationBotFrameworkAuthentication(registration, new ConfigurationServiceClientCredentialFactory(registration));
}

/** Builds and starts the whole application; `config.port` 0 picks a free port (tests). */
export async function createApp(config: AppConfig, overrides: AppOverrides = {}): Promise<App> {
  const logger = createLogger({ level: config.logLevel, destination: overrides.logDestination });
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        logger.error({ err }, 'error during shutdown');
      }
    }
  };

  try {
    const store = openSqliteStore(config.dbPath);
    cleanups.push(() => store.close());

    const azure = createAzureClients({ endpoint: config.azure.armEndpoint });

    const adapter = new CloudAdapter(botFrameworkAuthentication(config));
    adapter.onTurnError = async (context, error) => {
      logger.error({ err: error, activityType: context.activity.type }, 'unhandled error in turn');
      await context.sendActivity('Sorry, something went wrong on my side. The error has been logged.');
    };
    const bot = new ActivityHandler();
    bot.onMessage(async (context, next) => {
      await context.sendActivity('The Hopsworks setup bot is starting; its dialogs are not available yet.');
      await next();
    });

    const readiness: ReadinessCheck[] = [
      { name: 'store', check: () => store.ping() },
      {
        name: 'azure',
        timeoutMs: 5000,
        check: async (abortSignal) => {
          // First page of the subscription list: the cheapest ARM read that proves endpoint and token work.
          const pages = azure.subscriptions.subscriptions.list({ abortSignal }).byPage();
          await pages.next();
        },
      },
    ];

    const server = new HttpServer({
      logger,
      readiness,
      bot: { adapter, logic: (context: TurnContext) => bot.run(context) },
    });
    const url = await server.listen(config.port, config.host);
    cleanups.push(() => server.close());
    logger.info({ url, azureMode: config.azure.mode, slack: config.slack !== undefined, localOnly: config.localOnly }, 'listening');

    let closing: Promise<void> | undefined;
    return {
      server,
      url,
      config,
      logger,
      store,
      close: () => (closing ??= cleanup()),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function banner(lines: string[]): string {
  const width = Math.max(...lines.map((l) => l.length));
  const rule = '='.repeat(width + 4);
  return [rule, ...lines.map((l) => `| ${l.padEnd(width)} |`), rule].join('\n');
}

async function main(): Promise<void> {
  // Only the real process reads .env; tests pass their configuration explicitly.
  if (existsSync('.env')) process.loadEnvFile('.env');
  let config: AppConfig;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee README.md (Configuration) for every variable and its default.\n`);
      process.exit(1);
    }
    throw err;
  }

  const app = await createApp(config);
  const port = Number(new URL(app.url).port);
  if (config.azure.mode === 'simulator') {
    process.stderr.write(
      `${banner([
        'SANDBOX MODE: nothing real is touched.',
        'Azure calls go to the built-in ARM simulator; no Azure resource is created, changed or billed.',
        `Bot Framework endpoint: ${app.url}/api/messages (${config.localOnly ? 'unauthenticated, localhost only' : 'authenticated'})`,
        'Talk to the bot with the Microsoft 365 Agents Playground:',
        `  ${PLAYGROUND_COMMAND(port)}`,
      ])}\n`,
    );
  } else {
    process.stderr.write(`Hopsworks setup bot listening on ${app.url} (Azure mode: live, subscription ${config.azure.subscriptionId})\n`);
  }

  let signalled = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (signalled) {
      app.logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    signalled = true;
    app.logger.info({ signal }, 'shutting down');
    app.close().then(
      () => {
        app.logger.info('shutdown complete');
        app.logger.flush();
        process.exit(0);
      },
      (err: unknown) => {
        app.logger.error({ err }, 'shutdown failed');
        app.logger.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`Startup failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
