/**
 * Composition root: the only place that builds SDK clients, adapters and stores.
 * config → logger → store → (sandbox) simulator → Azure clients → bot → CloudAdapter (TeamsCloudAdapter) → server.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { TokenCredential } from '@azure/identity';
import type { TurnContext } from 'botbuilder';
import type { ReusingBotFrameworkAuthentication } from './bot/connectorReuse';
import type { DestinationStream } from 'pino';
import type { ArmSimulator } from './azure/simulator';
import { loadConfig, ConfigError, type AppConfig } from './bot/config';
import type { Logger } from './bot/logger';
import type { HttpServer, ReadinessCheck } from './bot/server';
import type { SlackIntegration } from './bot/slack';
import { BotError } from './core/errors';
import type { Clock, Discovery, Store } from './core/ports';

/**
 * The SDKs and everything built on them are loaded only once the configuration is valid: a
 * misconfigured deployment then fails in about a second instead of after loading botbuilder, Bolt
 * and nine Azure packages.
 */
async function loadParts() {
  const [botbuilder, identity, clients, provisioner, simulator, bot, notifier, slack, storage, runner, service, logger, server, sqlite, connectorReuse, teamsAdapter] =
    await Promise.all([
      import('botbuilder'),
      import('@azure/identity'),
      import('./azure/clients'),
      import('./azure/provisioner'),
      import('./azure/simulator'),
      import('./bot/bot'),
      import('./bot/notifier'),
      import('./bot/slack'),
      import('./bot/storage'),
      import('./core/runner'),
      import('./core/service'),
      import('./bot/logger'),
      import('./bot/server'),
      import('./core/store/sqlite'),
      import('./bot/connectorReuse'),
      import('./bot/teamsAdapter'),
    ]);
  return {
    TeamsCloudAdapter: teamsAdapter.TeamsCloudAdapter,
    ConversationState: botbuilder.ConversationState,
    ConfigurationBotFrameworkAuthentication: botbuilder.ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory: botbuilder.ConfigurationServiceClientCredentialFactory,
    ReusingBotFrameworkAuthentication: connectorReuse.ReusingBotFrameworkAuthentication,
    DefaultAzureCredential: identity.DefaultAzureCredential,
    ManagedIdentityCredential: identity.ManagedIdentityCredential,
    createAzureClients: clients.createAzureClients,
    AzureProvisioner: provisioner.AzureProvisioner,
    startArmSimulator: simulator.startArmSimulator,
    HopsworksBot: bot.HopsworksBot,
    installOnTurnError: bot.installOnTurnError,
    ChatNotifier: notifier.ChatNotifier,
    createSlackAdapter: slack.createSlackAdapter,
    KeyValueBotStorage: storage.KeyValueBotStorage,
    JobRunner: runner.JobRunner,
    SetupService: service.SetupService,
    createLogger: logger.createLogger,
    HttpServer: server.HttpServer,
    openSqliteStore: sqlite.openSqliteStore,
  };
}
type Parts = Awaited<ReturnType<typeof loadParts>>;

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
  /** The built-in ARM simulator (sandbox mode only). */
  simulator?: ArmSimulator;
  /** Drains in-flight work, stops background work, closes the store. Idempotent. */
  close(): Promise<void>;
}

export const PLAYGROUND_COMMAND = (port: number) =>
  `npx agentsplayground start -e http://localhost:${port}/api/messages -c msteams --dt -p 56150`;

function botFrameworkAuthentication(p: Parts, config: AppConfig): ReusingBotFrameworkAuthentication {
  const { ConfigurationBotFrameworkAuthentication, ConfigurationServiceClientCredentialFactory, ReusingBotFrameworkAuthentication } = p;
  const registration = {
    MicrosoftAppId: config.bot.appId,
    MicrosoftAppPassword: config.bot.appPassword,
    MicrosoftAppType: config.bot.appType,
    MicrosoftAppTenantId: config.bot.appTenantId,
  };
  // Authentication is botbuilder's own; the wrapper only reuses connector clients between turns.
  return new ReusingBotFrameworkAuthentication(new ConfigurationBotFrameworkAuthentication(registration, new ConfigurationServiceClientCredentialFactory(registration)));
}

/**
 * Azure credential and endpoint. Sandbox mode starts the simulator and points the managed-identity
 * credential at its token endpoint before any credential exists (@azure/identity reads
 * IDENTITY_ENDPOINT/IDENTITY_HEADER when a credential is built).
 */
async function azureAccess(p: Parts, config: AppConfig): Promise<{ credential: TokenCredential; armEndpoint: string; simulator?: ArmSimulator }> {
  const { DefaultAzureCredential, ManagedIdentityCredential, startArmSimulator } = p;
  if (config.azure.mode === 'live') {
    return { credential: new DefaultAzureCredential(), armEndpoint: config.azure.armEndpoint };
  }
  const statePath = config.dbPath === ':memory:' ? undefined : join(dirname(resolve(config.dbPath)), 'arm-simulator.json');
  const simulator = await startArmSimulator({ timeScale: config.sandbox.simTimeScale, statePath });
  const trusted = process.env.NODE_EXTRA_CA_CERTS;
  if (trusted === undefined || resolve(trusted) !== resolve(simulator.caCertPath)) {
    await simulator.close();
    throw new BotError(
      'CONFIG',
      `Sandbox mode needs Node to trust the ARM simulator's local CA, and Node reads NODE_EXTRA_CA_CERTS only at startup. ` +
        `Start with \`npm start\` (it builds dist/bot.js and runs it through scripts/with-sandbox-ca.js), or set NODE_EXTRA_CA_CERTS=${simulator.caCertPath} before starting Node.`,
    );
  }
  process.env.IDENTITY_ENDPOINT = simulator.identityEndpoint;
  process.env.IDENTITY_HEADER = simulator.identityHeader;
  // Not DefaultAzureCredential: a developer's AZURE_CLIENT_ID/secret in the shell must not leak into the sandbox.
  return { credential: new ManagedIdentityCredential(), armEndpoint: simulator.armEndpoint, simulator };
}

/**
 * AZURE_SUBSCRIPTION_ID names the subscription the bot provisions in: the dialog offers only that one
 * (and picks it without asking), even when the bot's identity can see others.
 */
function limitToSubscription(discovery: Discovery, subscriptionId: string | undefined): Discovery {
  if (subscriptionId === undefined) return discovery;
  return {
    listSubscriptions: async () => (await discovery.listSubscriptions()).filter((s) => s.subscriptionId.toLowerCase() === subscriptionId),
    listResourceGroups: (id) => discovery.listResourceGroups(id),
    suggestOptions: (target, requestId) => discovery.suggestOptions(target, requestId),
  };
}

/** Builds and starts the whole application; `config.port` 0 picks a free port (tests). */
export async function createApp(config: AppConfig, overrides: AppOverrides = {}): Promise<App> {
  const p = await loadParts();
  const {
    AzureProvisioner,
    ChatNotifier,
    TeamsCloudAdapter,
    ConversationState,
    HopsworksBot,
    HttpServer,
    JobRunner,
    KeyValueBotStorage,
    SetupService,
    createAzureClients,
    createLogger,
    createSlackAdapter,
    installOnTurnError,
    openSqliteStore,
  } = p;
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
    // Secrets in the config (app password, Slack token and secret) are removed by the logger's redact paths.
    logger.info({ config }, 'configuration');
    const store = openSqliteStore(config.dbPath);
    cleanups.push(() => store.close());

    const { credential, armEndpoint, simulator } = await azureAccess(p, config);
    if (simulator) cleanups.push(() => simulator.close());
    const azure = createAzureClients({ endpoint: armEndpoint, credential });
    // A probe reports the present state: no SDK retries, the check's timeout bounds it.
    const probe = createAzureClients({ endpoint: armEndpoint, credential, retryOptions: { maxRetries: 0 } });
    // The simulator runs Azure's durations faster; the provisioner's own waits follow suit. An explicit
    // AZURE_POLL_INTERVAL_MS (e.g. against an external, time-scaled simulator) sets the same scale.
    const pollIntervalMs = config.azure.pollIntervalMs ?? 2000 * (config.azure.mode === 'simulator' ? config.sandbox.simTimeScale : 1);
    const scale = pollIntervalMs / 2000;
    const provisioner = new AzureProvisioner(azure, {
      logger: logger.child({ component: 'azure' }),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms * scale)),
      lroPollIntervalMs: pollIntervalMs,
    });

    const clock: Clock = { now: () => new Date() };

    // The HTTP server exists before the adapters so Slack can register turns that outlive their request.
    // Called only once the server listens, by which time `bot` (declared below) exists.
    const logic = (context: TurnContext): Promise<void> => bot.run(context);
    const teams = new TeamsCloudAdapter(botFrameworkAuthentication(p, config));
    const readiness: ReadinessCheck[] = [];
    const server = new HttpServer({ logger, readiness, bot: { adapter: teams, logic } });

    let slack: SlackIntegration | undefined;
    if (config.slack) {
      slack = await createSlackAdapter({
        botToken: config.slack.botToken,
        signingSecret: config.slack.signingSecret,
        apiUrl: config.slack.apiUrl,
        logger: logger.child({ component: 'slack' }),
        kv: store.kv,
        track: (work) => server.track(work),
      });
      const integration = slack;
      integration.adapter.setLogic(logic);
      server.mount('POST', '/slack/events', (req, res) => integration.handleRequest(req, res, logic));
    }

    const notifier = new ChatNotifier({
      adapters: { teams, slack: slack?.adapter },
      appId: config.bot.appId,
      logger: logger.child({ component: 'notifier' }),
      requiredApprovals: config.approval.requiredApprovals,
      clock,
    });
    cleanups.push(() => notifier.idle());
    const service = new SetupService({
      store,
      notifier,
      clock,
      logger: logger.child({ component: 'workflow' }),
      // The runner is built below; an approval made through this instance starts provisioning at once.
      onRunnable: () => runner.wake(),
      policy: {
        approvers: config.approval.approvers,
        requiredApprovals: config.approval.requiredApprovals,
        approvalTtlHours: config.approval.ttlHours,
      },
    });
    notifier.attach(service);
    if (config.approval.approvers.length === 0) {
      logger.warn('HOPSWORKS_APPROVERS is empty: nobody can approve a request, and the bot tells requesters so');
    }

    const conversationState = new ConversationState(new KeyValueBotStorage(store.kv));
    const bot = new HopsworksBot({
      workflow: service,
      discovery: limitToSubscription(provisioner, config.azure.subscriptionId),
      planner: provisioner,
      ids: store,
      conversationState,
      logger: logger.child({ component: 'bot' }),
      clock,
      notifier,
      config: { appId: config.bot.appId, requiredApprovals: config.approval.requiredApprovals },
    });
    installOnTurnError(teams, logger.child({ component: 'teams' }), conversationState);
    if (slack) installOnTurnError(slack.adapter, logger.child({ component: 'slack' }), conversationState);

    const runner = new JobRunner({
      store,
      provisioner,
      notifier,
      clock,
      logger: logger.child({ component: 'runner' }),
      owner: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
      workflow: service,
    });

    readiness.push(
      { name: 'store', check: () => store.ping() },
      {
        name: 'azure',
        timeoutMs: 5000,
        cacheOkMs: 10_000,
        check: async (abortSignal) => {
          // First page of the subscription list: the cheapest ARM read that proves endpoint and token work.
          const pages = probe.subscriptions.subscriptions.list({ abortSignal }).byPage();
          await pages.next();
        },
      },
    );

    // Shutdown runs these in reverse: HTTP drains first, then Slack turns, then the runner releases its leases.
    runner.start();
    cleanups.push(() => runner.stop());
    if (slack) {
      const adapter = slack.adapter;
      cleanups.push(() => adapter.idle());
    }
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
      simulator,
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

  let app: App;
  try {
    app = await createApp(config);
  } catch (err) {
    if (err instanceof BotError && err.code === 'CONFIG') {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      process.stderr.write(`PORT ${config.port} is already in use on ${config.host}: stop the process holding it, or set PORT to a free port.\n`);
      process.exit(1);
    }
    throw err;
  }
  const port = Number(new URL(app.url).port);
  if (config.azure.mode === 'simulator') {
    process.stderr.write(
      `${banner([
        'SANDBOX MODE: nothing real is touched.',
        `Azure calls go to the built-in ARM simulator at ${app.simulator?.armEndpoint ?? '(not started)'};`,
        'no Azure resource is created, changed or billed.',
        `Bot Framework endpoint: ${app.url}/api/messages (${config.localOnly ? 'unauthenticated, localhost only' : 'authenticated'})`,
        'Talk to the bot with the Microsoft 365 Agents Playground:',
        `  ${PLAYGROUND_COMMAND(port)}`,
        ...(config.approval.approvers.length === 0
          ? ['Nobody can approve yet: set HOPSWORKS_APPROVERS (the Playground approver is 22222222-2222-4222-8222-2222222222a2).']
          : [`Approvers: ${config.approval.approvers.join(', ')}`]),
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
