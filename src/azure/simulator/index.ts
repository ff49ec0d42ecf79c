/**
 * ARM simulator: a local HTTPS stand-in for Azure Resource Manager plus an App Service-style managed
 * identity token endpoint, so the real `@azure/identity` credential and `@azure/arm-*` clients run
 * unchanged in sandbox mode and in tests.
 *
 * Simulated (response shapes from Azure/azure-rest-api-specs examples):
 * - token endpoint (plain http, API 2019-08-01, `X-IDENTITY-HEADER`, resource https://management.azure.com,
 *   `client_id` selects another configured principal); opaque tokens mapped server-side; 401 without one;
 * - subscriptions (list/get), resource groups (list/get/HEAD), providers (get/list/register with a
 *   Registering → Registered delay, MissingSubscriptionRegistration on writes to unregistered namespaces);
 * - Microsoft.Authorization permissions, roleDefinitions (tenant-unique names, RoleDefinitionHasAssignments),
 *   roleAssignments (PrincipalNotFound until a new identity has propagated unless principalType is set,
 *   RoleAssignmentExists, idempotent repeats), per-principal actions with AuthorizationFailed;
 * - storage accounts (LRO: 202 + Location + Retry-After; global names; checkNameAvailability), blob containers;
 * - container registries (LRO through Azure-AsyncOperation; PATCH with policies.retentionPolicy, Premium only);
 * - user-assigned identities (principalId/clientId, propagation delay), sshPublicKeys with generateKeyPair;
 * - a latency model (realistic durations × timeScale; work up to inlineLroMaxMs finishes inside the request,
 *   longer work goes through LRO polling; Retry-After in whole seconds, left out under a second so the client's
 *   updateIntervalInMs applies), injectable faults (429 + Retry-After,
 *   500/503, connection reset; 5xx/resets on writes may strike after the write took effect, so retried PUTs must
 *   be idempotent; deterministic with a seed, per request or per request key), ARM's subscription write throttling as a token bucket
 *   (SubscriptionRequestsThrottled), optional JSON persistence (tokens only as hashes);
 * - errors as ARM sends them: `{ error: { code, message } }`, MissingApiVersionParameter, ResourceNotFound,
 *   ResourceGroupNotFound, SubscriptionNotFound, InvalidResourceType.
 * Not simulated: the blob data plane (markContainerHasBlobs is a test-side flag only), Microsoft Graph
 * (service principals are seeded with addPrincipal), deny assignments, ABAC conditions, management groups.
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ArmError, ArmHandlers, DEFAULT_DURATIONS_MS, Durations, generateSshKeyPair } from './arm';
import { ensureSandboxCa, issueServerCertificate } from './ca';
import {
  DEFAULT_SUBSCRIPTION_ID,
  PrincipalSeed,
  ProviderState,
  SimPrincipal,
  SimResource,
  SimStateData,
  SubscriptionSeed,
  key,
  loadState,
  newState,
  saveState,
} from './state';

export { ensureSandboxCa } from './ca';
export { DEFAULT_DURATIONS_MS } from './arm';
export type { Durations } from './arm';
export {
  DEFAULT_BOT_ACTIONS,
  DEFAULT_SUBSCRIPTION_ID,
  DEFAULT_SUBSCRIPTIONS,
  DEFAULT_TENANT_ID,
  HOPSWORKS_PROVIDERS,
} from './state';
export type { PrincipalSeed, ProviderState, SimStateData, SubscriptionSeed } from './state';

/** The ARM scope every client must ask a token for (see the SDK notes on `credentialScopes`). */
export const ARM_SCOPE = 'https://management.azure.com/.default';

export interface FaultOptions {
  /** Share of ARM requests answered 500/503 (0..1). */
  rate5xx?: number;
  /** Share of ARM requests answered 429 with Retry-After. */
  rate429?: number;
  /** Share of ARM requests whose connection is reset without an answer. */
  rateReset?: number;
  /** Retry-After on 429/503 answers, seconds. Default 0. */
  retryAfterSeconds?: number;
  /** PRNG seed so a fault sequence can be replayed. */
  seed?: number;
  /** Share of 5xx/reset faults on writes that strike after the write took effect (default 0.5). */
  afterWorkShare?: number;
  /** Only requests whose method is listed get faults (default all). */
  methods?: string[];
  /**
   * Decide each request's fault from its own key instead of from one sequence shared by all requests:
   * the n-th request with a given key gets the same fault in every run with the same seed, whatever else
   * runs meanwhile. So two runs can face the same faults per setup, one of them alone and one among
   * others. `resourceId` is the path, or for a storage operation poll the account the operation creates.
   */
  keyOf?: (req: { method: string; path: string; resourceId: string }) => string;
}

/**
 * ARM's own throttling: a token bucket of writes per subscription (Azure: 200 tokens, refilled 10/s).
 * Over the limit a write gets 429 SubscriptionRequestsThrottled with Retry-After.
 */
export interface ThrottleOptions {
  writeBurst: number;
  writesPerSecond: number;
}

export interface ArmSimulatorOptions {
  /** HTTPS port for ARM (0 = random). */
  port?: number;
  /** HTTP port for the token endpoint (0 = random). */
  identityPort?: number;
  host?: string;
  /** Multiplies every duration; 1 = realistic, tests use 0.001-0.01. Default 0.05. */
  timeScale?: number;
  durations?: Partial<Durations>;
  /** Scaled operations up to this long complete inside the request instead of via LRO polling. Default 250 ms. */
  inlineLroMaxMs?: number;
  faults?: FaultOptions;
  /** Subscription write throttling (off by default). */
  throttle?: ThrottleOptions;
  tenantId?: string;
  subscriptions?: SubscriptionSeed[];
  /**
   * Namespaces left NotRegistered in the default subscription (default Microsoft.ContainerRegistry and
   * Microsoft.ManagedIdentity, so a sandbox plan shows registrations; tests often pass []).
   */
  unregisteredProviders?: string[];
  /** Unscaled directory replication delay for new identities (default 30 s). */
  propagationDelayMs?: number;
  /** Actions the bot identity holds (default DEFAULT_BOT_ACTIONS). */
  botActions?: string[];
  /** More principals that can get tokens with `client_id` (e.g. an under-privileged identity). */
  principals?: PrincipalSeed[];
  /** Persist state as JSON here; an existing file is loaded (seed options are then ignored). */
  statePath?: string;
  /** Directory of the sandbox CA (default SANDBOX_CA_DIR or ./.sandbox). */
  caDir?: string;
  identityHeader?: string;
  /** RSA modulus for generateKeyPair (default 2048; pass 3072 to match Azure exactly). */
  sshKeyBits?: number;
  /** Role assignments for a principal still replicating fail PrincipalNotFound even with principalType (default false). */
  strictReplication?: boolean;
  /** Oldest request log entries are dropped beyond this many (default 50 000). */
  requestLogLimit?: number;
}

export interface RequestLogEntry {
  time: string;
  method: string;
  path: string;
  status: number;
  principal?: string;
  fault?: '429' | '5xx' | 'reset';
  /** The fault hit after the request had taken effect (a lost answer to a write). */
  faultAfterWork?: boolean;
  /** The 429 came from the subscription write limit (setThrottle), not from injected faults. */
  throttled?: boolean;
}

export interface ArmSimulator {
  armEndpoint: string;
  identityEndpoint: string;
  identityHeader: string;
  tenantId: string;
  subscriptionId: string;
  botPrincipalId: string;
  botClientId: string;
  caCertPath: string;
  state: SimStateData;
  requestLog: RequestLogEntry[];
  setFaults(f: FaultOptions | undefined): void;
  /**
   * Generates `count` RSA key pairs now, for later generateKeyPair calls (each used once; when they run
   * out, keys are generated on demand again). Azure generates keys on its own servers: a benchmark
   * prepares them beforehand so that this work does not compete with the bot for the machine's CPU.
   */
  prepareSshKeys(count: number): Promise<void>;
  setThrottle(t: ThrottleOptions | undefined): void;
  /** TLS connections clients have opened to ARM so far, and how many of them resumed an earlier TLS session. */
  connections(): { opened: number; resumed: number };
  setLatency(opts: { timeScale?: number; durations?: Partial<Durations>; inlineLroMaxMs?: number }): void;
  setTimeScale(timeScale: number): void;
  /** Writes (PUT/PATCH/POST/DELETE) that reached ARM, optionally only those whose path matches. */
  countWrites(pathPattern?: RegExp): number;
  /** Inventory by resource type (storage accounts, containers, registries, identities, SSH keys, role definitions). */
  resources(): Record<string, Array<{ id: string; name: string; tags: Record<string, string> }>>;
  roleAssignments(): Array<{ id: string; scope: string; roleDefinitionId: string; principalId: string; principalType: string }>;
  addResourceGroup(name: string, location: string, opts?: { subscriptionId?: string; tags?: Record<string, string> }): void;
  /** Marks a global name as owned by a subscription outside the simulator. */
  takeGlobalName(kind: 'storage' | 'registry', name: string): void;
  setProviderState(namespace: string, state: ProviderState, subscriptionId?: string): void;
  setPrincipalPermissions(principalIdOrClientId: string, actions: string[]): void;
  addPrincipal(seed: PrincipalSeed): { principalId: string; clientId: string };
  /** Ends directory replication delay for a principal now. */
  propagatePrincipal(principalId: string): void;
  markContainerHasBlobs(storageAccount: string, container: string, hasBlobs?: boolean): void;
  containerHasBlobs(storageAccount: string, container: string): boolean;
  close(): Promise<void>;
}

/**
 * Tokens issued by any simulator in this process. Entra tokens are not tied to one ARM front end, and
 * @azure/identity caches tokens process-wide, so a second simulator started in the same process accepts
 * a bot token the first one issued (as its own bot) instead of answering 401.
 */
const processTokens = new Map<string, { bot: boolean; clientId: string; expiresOn: number }>();

/** Starts the ARM simulator and its token endpoint. */
export async function startArmSimulator(options: ArmSimulatorOptions = {}): Promise<ArmSimulator> {
  const host = options.host ?? '127.0.0.1';
  let timeScale = options.timeScale ?? 0.05;
  let durations: Durations = { ...DEFAULT_DURATIONS_MS, ...options.durations };
  if (options.propagationDelayMs !== undefined) durations.principalPropagation = options.propagationDelayMs;
  let inlineMaxMs = options.inlineLroMaxMs ?? 250;
  let faults: FaultOptions | undefined = options.faults;
  let throttle: ThrottleOptions | undefined = options.throttle;
  const buckets = new Map<string, { tokens: number; at: number }>();
  /** Takes a write token for the subscription; returns the seconds to wait when the bucket is empty. */
  const takeWriteToken = (subscription: string): { waitSeconds?: number; remaining: number } => {
    if (!throttle) return { remaining: Infinity };
    const now = Date.now();
    const b = buckets.get(subscription) ?? { tokens: throttle.writeBurst, at: now };
    b.tokens = Math.min(throttle.writeBurst, b.tokens + ((now - b.at) / 1000) * throttle.writesPerSecond);
    b.at = now;
    buckets.set(subscription, b);
    if (b.tokens < 1) return { waitSeconds: Math.max(1, Math.ceil((1 - b.tokens) / throttle.writesPerSecond)), remaining: 0 };
    b.tokens -= 1;
    return { remaining: Math.floor(b.tokens) };
  };
  let rng = mulberry32(faults?.seed ?? 1);
  /** Keyed faults: how many requests of each key arrived since setFaults. */
  let keyCounts = new Map<string, number>();
  /** The random sequence one request's fault decisions come from. */
  const faultRng = (f: FaultOptions, method: string, path: string): (() => number) => {
    if (!f.keyOf) return rng;
    const op = /\/asyncoperations\/([^/]+)$/i.exec(path);
    const resourceId = (op && data.operations[op[1]]?.resourceId) || path;
    const key = f.keyOf({ method, path, resourceId });
    const n = (keyCounts.get(key) ?? 0) + 1;
    keyCounts.set(key, n);
    return mulberry32(crypto.createHash('sha256').update(`${f.seed ?? 1}|${key}|${n}`).digest().readUInt32LE(0));
  };

  const data =
    (options.statePath ? loadState(options.statePath) : undefined) ??
    newState({
      tenantId: options.tenantId,
      subscriptions: options.subscriptions,
      unregisteredProviders: options.unregisteredProviders,
      botActions: options.botActions,
      principals: options.principals,
      identityHeader: options.identityHeader,
    });
  if (options.identityHeader) data.identityHeader = options.identityHeader;

  let dirty = false;
  let saveScheduled = false;
  const flush = () => {
    saveScheduled = false;
    if (!dirty || !options.statePath) return;
    dirty = false;
    saveState(options.statePath, data);
  };
  const changed = () => {
    dirty = true;
    if (options.statePath && !saveScheduled) {
      saveScheduled = true;
      setImmediate(flush);
    }
  };
  const timers = new Set<NodeJS.Timeout>();
  const sleep = (ms: number) =>
    ms <= 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve();
          }, ms);
          timers.add(t);
        });

  const preparedKeys: { privateKey: string; publicKey: string }[] = [];
  const handlers = new ArmHandlers({
    data,
    now: () => Date.now(),
    duration: (kind) => Math.round(durations[kind] * timeScale),
    get inlineMaxMs() {
      return inlineMaxMs;
    },
    sleep,
    changed,
    sshKeyBits: options.sshKeyBits ?? 2048,
    takePreparedKey: (type) => (type === 'RSA' ? preparedKeys.shift() : undefined),
    strictReplication: options.strictReplication ?? false,
  });

  const requestLog: RequestLogEntry[] = [];
  const requestLogLimit = options.requestLogLimit ?? 50_000;
  const log = (entry: RequestLogEntry) => {
    requestLog.push(entry);
    if (requestLog.length > requestLogLimit) requestLog.splice(0, requestLog.length - requestLogLimit);
  };
  const ca = ensureSandboxCa(options.caDir);
  const tls = issueServerCertificate(ca, host === '127.0.0.1' || host === '::1' ? [] : [host]);

  const tokenHash = (token: string) => crypto.createHash('sha256').update(token).digest('hex');
  const principalForToken = (authorization: string | undefined): SimPrincipal | undefined => {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) return undefined;
    const hash = tokenHash(m[1]);
    const entry = data.tokens[hash];
    if (entry) return entry.expiresOn * 1000 < Date.now() ? undefined : data.principals[entry.principalId];
    const foreign = processTokens.get(hash);
    if (!foreign || foreign.expiresOn * 1000 < Date.now()) return undefined;
    if (foreign.bot) return data.principals[data.botPrincipalId];
    return Object.values(data.principals).find((p) => key(p.clientId) === key(foreign.clientId));
  };

  // ------------------------------------------------------------------ token endpoint (App Service MSI)
  const identityServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return send(405, { error: 'invalid_request', error_description: 'Only GET is supported.' });
    if (req.headers['x-identity-header'] !== data.identityHeader) {
      return send(401, { statusCode: 401, message: 'The X-IDENTITY-HEADER header is missing or invalid.' });
    }
    const resource = (url.searchParams.get('resource') ?? '').replace(/\/\.default$/, '').replace(/\/+$/, '');
    if (resource !== 'https://management.azure.com' && resource !== 'https://management.core.windows.net') {
      return send(400, {
        error: 'invalid_resource',
        error_description: `AADSTS500011: The resource principal named ${url.searchParams.get('resource') ?? '(none)'} was not found in the tenant ${data.tenantId}. The sandbox only issues tokens for https://management.azure.com.`,
      });
    }
    const clientId = url.searchParams.get('client_id');
    const objectId = url.searchParams.get('principal_id') ?? url.searchParams.get('object_id');
    const resourceId = url.searchParams.get('mi_res_id') ?? url.searchParams.get('msi_res_id');
    let principal: SimPrincipal | undefined;
    if (clientId) principal = Object.values(data.principals).find((p) => key(p.clientId) === key(clientId));
    else if (objectId) principal = data.principals[key(objectId)];
    else if (resourceId) principal = Object.values(data.principals).find((p) => p.identityResourceId !== undefined && key(p.identityResourceId) === key(resourceId));
    else principal = data.principals[data.botPrincipalId];
    if (!principal) {
      return send(400, { error: 'invalid_request', error_description: 'Identity not found: no managed identity with that id is assigned to this app.' });
    }
    const token = crypto.randomBytes(32).toString('base64url');
    const expiresOn = Math.floor(Date.now() / 1000) + 24 * 3600;
    for (const [h, t] of Object.entries(data.tokens)) if (t.expiresOn * 1000 < Date.now()) delete data.tokens[h];
    data.tokens[tokenHash(token)] = { principalId: principal.principalId, expiresOn };
    for (const [h, t] of processTokens) if (t.expiresOn * 1000 < Date.now()) processTokens.delete(h);
    processTokens.set(tokenHash(token), { bot: principal.principalId === data.botPrincipalId, clientId: principal.clientId, expiresOn });
    changed();
    send(200, {
      access_token: token,
      expires_on: expiresOn,
      resource: 'https://management.azure.com',
      token_type: 'Bearer',
      client_id: principal.clientId,
    });
  });

  // ------------------------------------------------------------------ ARM
  const armServer = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    void handleArm(req, res);
  });
  const sockets = new Set<import('node:net').Socket>();
  const connectionStats = { opened: 0, resumed: 0 };
  armServer.on('secureConnection', (s) => {
    connectionStats.opened++;
    if (s.isSessionReused()) connectionStats.resumed++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  let armBase = '';
  const handleArm = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = new Date();
    // Not new URL(req.url, base): the SDK sends `//subscriptions/…` for `/{scope}` paths, which URL reads as a host.
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const url = { pathname: q >= 0 ? rawUrl.slice(0, q) : rawUrl, searchParams: new URLSearchParams(q >= 0 ? rawUrl.slice(q + 1) : '') };
    const method = (req.method ?? 'GET').toUpperCase();
    const entry: RequestLogEntry = { time: started.toISOString(), method, path: url.pathname.replace(/\/{2,}/g, '/'), status: 0 };
    const requestId = crypto.randomUUID();
    let throttleHeaders: Record<string, string> = {};
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      log(entry);
      const h: Record<string, string> = {
        'x-ms-request-id': requestId,
        'x-ms-correlation-request-id': (req.headers['x-ms-correlation-request-id'] as string) ?? requestId,
        ...headers,
      };
      if (body === undefined || method === 'HEAD') {
        res.writeHead(status, h);
        res.end();
        return;
      }
      h['content-type'] = 'application/json; charset=utf-8';
      res.writeHead(status, h);
      res.end(JSON.stringify(body));
    };
    const sendError = (e: ArmError) => send(e.status, { error: { code: e.code, message: e.message } }, e.headers);
    const reset = () => {
      entry.status = 0;
      entry.fault = 'reset';
      log(entry);
      req.socket.destroy();
    };
    try {
      const raw = await readBody(req);
      await sleep(Math.round(durations.request * timeScale));
      const principal = principalForToken(req.headers.authorization);
      if (!principal) {
        const missing = !req.headers.authorization;
        return sendError(
          new ArmError(
            401,
            missing ? 'AuthenticationFailed' : 'InvalidAuthenticationToken',
            missing ? "Authentication failed. The 'Authorization' header is missing." : 'The access token is invalid.',
          ),
        );
      }
      entry.principal = principal.principalId;
      if (!url.searchParams.get('api-version')) {
        return sendError(new ArmError(400, 'MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests."));
      }

      const isWriteMethod = method !== 'GET' && method !== 'HEAD';
      const subMatch = /^\/+subscriptions\/([^/]+)/i.exec(url.pathname);
      if (throttle && isWriteMethod && subMatch) {
        const sub = subMatch[1].toLowerCase();
        const t = takeWriteToken(sub);
        if (t.waitSeconds !== undefined) {
          entry.fault = '429';
          entry.throttled = true;
          return send(
            429,
            { error: { code: 'SubscriptionRequestsThrottled', message: `Number of 'write' requests for subscription '${sub}' actor '${principal.principalId}' exceeded. Please try again after '${t.waitSeconds}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling` } },
            { 'retry-after': String(t.waitSeconds), 'x-ms-ratelimit-remaining-subscription-writes': '0' },
          );
        }
        throttleHeaders = { 'x-ms-ratelimit-remaining-subscription-writes': String(t.remaining) };
      }

      // Faults: 429 always before the work; 5xx and resets sometimes after it, as a lost answer to a PUT would be.
      let after: '5xx' | 'reset' | undefined;
      let requestRng = rng;
      if (faults && (!faults.methods || faults.methods.map((m) => m.toUpperCase()).includes(method))) {
        requestRng = faultRng(faults, method, entry.path);
        const roll = requestRng();
        const r1 = faults.rateReset ?? 0;
        const r2 = r1 + (faults.rate5xx ?? 0);
        const r3 = r2 + (faults.rate429 ?? 0);
        const retryAfter = String(faults.retryAfterSeconds ?? 0);
        const whenAfter = isWriteMethod && requestRng() < (faults.afterWorkShare ?? 0.5);
        if (roll < r1) {
          if (!whenAfter) return reset();
          after = 'reset';
        } else if (roll < r2) {
          if (!whenAfter) {
            entry.fault = '5xx';
            return sendServerError(send, roll, retryAfter);
          }
          after = '5xx';
        } else if (roll < r3) {
          entry.fault = '429';
          return send(
            429,
            { error: { code: 'TooManyRequests', message: 'The request is being throttled as the limit has been reached for operation type - Write_ObservationWindow_00:01:00. For more information, see - https://aka.ms/srpthrottlinglimits' } },
            { 'retry-after': retryAfter },
          );
        }
      }

      let body: unknown = undefined;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          return sendError(new ArmError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.'));
        }
      }
      let segments: string[];
      try {
        segments = url.pathname.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
      } catch {
        return sendError(new ArmError(400, 'InvalidRequestUri', 'The request URI is not a valid percent-encoded path.'));
      }
      let result;
      try {
        result = await handlers.handle({ method, segments, query: url.searchParams, body, principal, baseUrl: armBase });
      } catch (err) {
        if (!(err instanceof ArmError)) throw err;
        if (after) entry.faultAfterWork = true;
        if (after === 'reset') return reset();
        return sendError(err);
      }
      if (after) entry.faultAfterWork = true;
      if (after === 'reset') return reset();
      if (after === '5xx') {
        entry.fault = '5xx';
        return sendServerError(send, requestRng(), String(faults?.retryAfterSeconds ?? 0));
      }
      send(result.status, result.body, { ...throttleHeaders, ...result.headers });
    } catch (err) {
      send(500, { error: { code: 'InternalServerError', message: `Simulator error: ${(err as Error).message}` } });
    }
  };

  await listen(armServer, options.port ?? 0, host);
  await listen(identityServer, options.identityPort ?? 0, host);
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  const armPort = (armServer.address() as AddressInfo).port;
  const idPort = (identityServer.address() as AddressInfo).port;
  armBase = `https://${hostForUrl}:${armPort}`;
  changed();

  const findContainer = (account: string, container: string): SimResource | undefined =>
    Object.values(data.resources).find(
      (r) =>
        r.type === 'Microsoft.Storage/storageAccounts/blobServices/containers' &&
        key(r.name) === key(container) &&
        key(r.id).includes(`/storageaccounts/${key(account)}/`),
    );
  const subOf = (id?: string) => {
    const s = data.subscriptions[key(id ?? Object.keys(data.subscriptions)[0] ?? DEFAULT_SUBSCRIPTION_ID)];
    if (!s) throw new Error(`unknown subscription ${String(id)}`);
    return s;
  };
  const principalByAny = (idOrClient: string) =>
    data.principals[key(idOrClient)] ?? Object.values(data.principals).find((p) => key(p.clientId) === key(idOrClient));

  const bot = data.principals[data.botPrincipalId];
  const sim: ArmSimulator = {
    armEndpoint: armBase,
    identityEndpoint: `http://${hostForUrl}:${idPort}/msi/token`,
    identityHeader: data.identityHeader,
    tenantId: data.tenantId,
    subscriptionId: Object.values(data.subscriptions)[0]?.subscriptionId ?? DEFAULT_SUBSCRIPTION_ID,
    botPrincipalId: data.botPrincipalId,
    botClientId: bot.clientId,
    caCertPath: ca.certPath,
    state: data,
    requestLog,
    connections() {
      return { ...connectionStats };
    },
    setThrottle(t) {
      throttle = t;
      buckets.clear();
    },
    async prepareSshKeys(count) {
      for (let i = 0; i < count; i++) preparedKeys.push(await generateSshKeyPair('RSA', options.sshKeyBits ?? 2048));
    },
    setFaults(f) {
      faults = f;
      rng = mulberry32(f?.seed ?? 1);
      keyCounts = new Map();
    },
    setLatency(opts) {
      if (opts.timeScale !== undefined) timeScale = opts.timeScale;
      if (opts.durations) durations = { ...durations, ...opts.durations };
      if (opts.inlineLroMaxMs !== undefined) inlineMaxMs = opts.inlineLroMaxMs;
    },
    setTimeScale(t) {
      timeScale = t;
    },
    countWrites(pathPattern) {
      return requestLog.filter((e) => !['GET', 'HEAD'].includes(e.method) && (!pathPattern || pathPattern.test(e.path))).length;
    },
    resources() {
      const out: Record<string, Array<{ id: string; name: string; tags: Record<string, string> }>> = {};
      for (const r of Object.values(data.resources)) (out[r.type] ??= []).push({ id: r.id, name: r.name, tags: r.tags });
      for (const d of Object.values(data.roleDefinitions)) {
        if (d.roleType !== 'CustomRole') continue;
        (out['Microsoft.Authorization/roleDefinitions'] ??= []).push({ id: handlers.roleDefinitionBody(d, d.createdAtScope).id as string, name: d.roleName, tags: {} });
      }
      return out;
    },
    roleAssignments() {
      return Object.values(data.roleAssignments).map((a) => ({
        id: `${a.scope}/providers/Microsoft.Authorization/roleAssignments/${a.guid}`,
        scope: a.scope,
        roleDefinitionId: a.roleDefinitionId,
        principalId: a.principalId,
        principalType: a.principalType,
      }));
    },
    addResourceGroup(name, location, opts) {
      const s = subOf(opts?.subscriptionId);
      s.resourceGroups[key(name)] = { name, location, tags: opts?.tags ?? {} };
      changed();
    },
    takeGlobalName(kind, name) {
      if (!data.foreignNames[kind].includes(key(name))) data.foreignNames[kind].push(key(name));
      changed();
    },
    setProviderState(namespace, state, subscriptionId) {
      const s = subOf(subscriptionId);
      const existing = s.providers[key(namespace)];
      s.providers[key(namespace)] = { namespace: existing?.namespace ?? namespace, state };
      if (state === 'Registering') s.providers[key(namespace)].readyAt = Date.now() + Math.round(durations.providerRegistration * timeScale);
      changed();
    },
    setPrincipalPermissions(idOrClient, actions) {
      const p = principalByAny(idOrClient);
      if (!p) throw new Error(`unknown principal ${idOrClient}`);
      p.actions = [...actions];
      changed();
    },
    addPrincipal(seed) {
      const principalId = (seed.principalId ?? crypto.randomUUID()).toLowerCase();
      const clientId = seed.clientId ?? crypto.randomUUID();
      data.principals[principalId] = { principalId, clientId, displayName: seed.displayName, type: seed.type ?? 'ServicePrincipal', propagatedAt: 0, actions: seed.actions };
      changed();
      return { principalId, clientId };
    },
    propagatePrincipal(principalId) {
      const p = data.principals[key(principalId)];
      if (p) p.propagatedAt = 0;
      changed();
    },
    markContainerHasBlobs(account, container, hasBlobs = true) {
      const c = findContainer(account, container);
      if (!c) throw new Error(`container ${account}/${container} does not exist`);
      c.hasBlobs = hasBlobs;
      changed();
    },
    containerHasBlobs(account, container) {
      return findContainer(account, container)?.hasBlobs === true;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      flush();
      for (const s of sockets) s.destroy();
      await Promise.all([closeServer(armServer), closeServer(identityServer)]);
      dirty = true;
      flush();
    },
  };
  return sim;
}

function sendServerError(send: (status: number, body: unknown, headers?: Record<string, string>) => void, roll: number, retryAfter: string): void {
  // Alternate 500 (exponential backoff in the SDK) and 503 with Retry-After (throttling path).
  if (Math.floor(roll * 1e6) % 2 === 0) {
    send(500, { error: { code: 'InternalServerError', message: 'Encountered internal server error. Diagnostic information: timestamp, subscription id, correlation id.' } });
  } else {
    send(503, { error: { code: 'ServiceUnavailable', message: 'The service is temporarily unavailable. Please retry.' } }, { 'retry-after': retryAfter });
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 4 * 1024 * 1024) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function listen(server: http.Server | https.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: http.Server | https.Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections?.();
    server.close(() => resolve());
  });
}

/** Small deterministic PRNG so a seeded fault schedule replays exactly. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
