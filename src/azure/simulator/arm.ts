import * as crypto from 'node:crypto';
import sshpk from 'sshpk';
import {
  SimOperation,
  SimPrincipal,
  SimResource,
  SimRoleAssignment,
  SimRoleDefinition,
  SimStateData,
  SimSubscription,
  PrincipalType,
  actionAllowed,
  key,
} from './state';

/** Realistic durations (ms) before time scaling; see the ARM simulator doc comment in index.ts. */
export const DEFAULT_DURATIONS_MS = {
  request: 120,
  storageAccount: 25_000,
  registry: 20_000,
  registryUpdate: 4_000,
  identity: 2_000,
  roleDefinition: 1_000,
  roleAssignment: 2_000,
  sshPublicKey: 1_000,
  generateKeyPair: 1_000,
  providerRegistration: 40_000,
  principalPropagation: 30_000,
  blobContainer: 500,
};
export type Durations = typeof DEFAULT_DURATIONS_MS;

/** What the HTTP layer gives a handler. */
export interface ArmRequest {
  method: string;
  /** Path segments as sent (decoded), without empty ones. */
  segments: string[];
  query: URLSearchParams;
  body: unknown;
  principal: SimPrincipal;
  /** https://host:port of this server, for Location / Azure-AsyncOperation headers. */
  baseUrl: string;
}

export interface ArmResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ArmContext {
  data: SimStateData;
  now(): number;
  /** Scaled duration of an operation kind (ms). */
  duration(kind: keyof Durations): number;
  /** Operations up to this many ms finish inside the request instead of going through LRO polling. */
  inlineMaxMs: number;
  sleep(ms: number): Promise<void>;
  changed(): void;
  /** RSA size for generateKeyPair (2048 keeps a busy benchmark machine fast; Azure itself uses 3072). */
  sshKeyBits: number;
  /** A key pair generated ahead of time (see `ArmSimulator.prepareSshKeys`), used once; undefined when none is left. */
  takePreparedKey?: (type: 'RSA' | 'Ed25519') => { privateKey: string; publicKey: string } | undefined;
  /** A principal still replicating is PrincipalNotFound even when principalType is given (Azure does this at times). */
  strictReplication?: boolean;
}

export class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

const ok = (body: unknown, status = 200, headers?: Record<string, string>): ArmResponse => ({ status, body, headers });

function notFoundResource(type: string, name: string, rg: string): ArmError {
  return new ArmError(
    404,
    'ResourceNotFound',
    `The Resource '${type}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );
}

function badRequest(code: string, message: string): ArmError {
  return new ArmError(400, code, message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asTags(v: unknown): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw badRequest('InvalidRequestContent', 'The tags property must be an object of string values.');
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) out[k] = String(val);
  return out;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Retry-After in whole seconds (core-lro's unit, and it overrides the caller's polling interval), rounded down
 * and capped like the services do (Storage answers 17). Under a second it is left out, so the client polls at
 * its own updateIntervalInMs and scaled-down runs finish close to the simulated duration.
 */
function retryAfter(remainingMs: number, capSeconds = 17): Record<string, string> {
  if (remainingMs < 1000) return {};
  return { 'retry-after': String(Math.min(capSeconds, Math.floor(remainingMs / 1000))) };
}

/** The ARM operations the simulator implements. Every method is synchronous on state, so a request sees a consistent snapshot. */
export class ArmHandlers {
  constructor(private readonly ctx: ArmContext) {}

  /** Records a polling operation and forgets those finished more than an hour ago. */
  private addOperation(op: SimOperation): void {
    const cutoff = this.ctx.now() - 60 * 60 * 1000;
    for (const [id, o] of Object.entries(this.data.operations)) if (o.readyAt < cutoff) delete this.data.operations[id];
    this.data.operations[op.id] = op;
  }

  private get data(): SimStateData {
    return this.ctx.data;
  }

  async handle(req: ArmRequest): Promise<ArmResponse> {
    const seg = req.segments;
    const l = seg.map((s) => s.toLowerCase());
    const m = req.method;

    // Authorization operations exist at any scope: {scope}/providers/Microsoft.Authorization/{type}[/{name}]
    const authIdx = findAuthorizationProvider(l);
    if (authIdx >= 0) {
      const scope = '/' + seg.slice(0, authIdx).join('/');
      return this.authorization(req, scope, l.slice(authIdx + 2), seg.slice(authIdx + 2));
    }

    if (l[0] !== 'subscriptions') throw new ArmError(404, 'NotFound', `No HTTP resource was found that matches the request URI '/${seg.join('/')}'.`);
    if (seg.length === 1 && m === 'GET') return ok({ value: Object.values(this.data.subscriptions).map((s) => this.subscriptionBody(s)), count: { type: 'Total', value: Object.keys(this.data.subscriptions).length } });
    const sub = this.subscription(seg[1]);
    if (seg.length === 2 && m === 'GET') return ok(this.subscriptionBody(sub));

    if (l[2] === 'resourcegroups') {
      if (seg.length === 3 && m === 'GET') return ok({ value: Object.values(sub.resourceGroups).map((g) => this.resourceGroupBody(sub, g.name)) });
      if (seg.length === 4) {
        const exists = Boolean(sub.resourceGroups[key(seg[3])]);
        if (m === 'HEAD') return { status: exists ? 204 : 404 };
        if (m === 'GET') return ok(this.resourceGroupBody(sub, this.resourceGroup(sub, seg[3]).name));
      }
      if (seg.length >= 7 && l[4] === 'providers') {
        const rg = this.resourceGroup(sub, seg[3]);
        return this.rgResource(req, sub, rg.name, l.slice(5), seg.slice(5));
      }
    }

    if (l[2] === 'providers') {
      if (seg.length === 3 && m === 'GET') return ok({ value: Object.values(sub.providers).map((p) => this.providerBody(sub, p.namespace)) });
      if (seg.length === 4 && m === 'GET') return ok(this.providerBody(sub, seg[3]));
      if (seg.length === 5 && l[4] === 'register' && m === 'POST') return this.registerProvider(req, sub, seg[3]);
      if (seg.length === 5 && l[4] === 'checknameavailability' && m === 'POST') {
        if (l[3] === 'microsoft.storage') return this.storageNameAvailability(req);
        if (l[3] === 'microsoft.containerregistry') return this.registryNameAvailability(req);
      }
      if (seg.length === 8 && l[3] === 'microsoft.storage' && l[4] === 'locations' && l[6] === 'asyncoperations' && m === 'GET') {
        return this.storageOperation(req, seg[7]);
      }
      if (seg.length === 5 && m === 'GET') {
        const type = SUB_LISTABLE[`${l[3]}/${l[4]}`];
        if (type) return ok({ value: this.resourcesOf(type, sub.subscriptionId).map((r) => this.resourceBody(r)) });
      }
    }
    throw new ArmError(404, 'NotFound', `No HTTP resource was found that matches the request URI '/${seg.join('/')}'.`);
  }

  // ---------------------------------------------------------------- subscriptions, groups, providers

  private subscription(id: string): SimSubscription {
    const sub = this.data.subscriptions[key(id)];
    if (!sub) throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${id}' could not be found.`);
    return sub;
  }

  private resourceGroup(sub: SimSubscription, name: string) {
    const rg = sub.resourceGroups[key(name)];
    if (!rg) throw new ArmError(404, 'ResourceGroupNotFound', `Resource group '${name}' could not be found.`);
    return rg;
  }

  private subscriptionBody(sub: SimSubscription) {
    return {
      id: `/subscriptions/${sub.subscriptionId}`,
      authorizationSource: 'RoleBased',
      managedByTenants: [],
      subscriptionId: sub.subscriptionId,
      tenantId: this.data.tenantId,
      displayName: sub.displayName,
      state: 'Enabled',
      subscriptionPolicies: { locationPlacementId: 'Public_2014-09-01', quotaId: 'PayAsYouGo_2014-09-01', spendingLimit: 'Off' },
      tags: {},
    };
  }

  private resourceGroupBody(sub: SimSubscription, name: string) {
    const rg = sub.resourceGroups[key(name)];
    return {
      id: `/subscriptions/${sub.subscriptionId}/resourceGroups/${rg.name}`,
      name: rg.name,
      type: 'Microsoft.Resources/resourceGroups',
      location: rg.location,
      tags: rg.tags,
      properties: { provisioningState: 'Succeeded' },
    };
  }

  /** Effective provider state; a finished registration flips to Registered when observed. */
  providerState(sub: SimSubscription, namespace: string) {
    const p = sub.providers[key(namespace)];
    if (!p) return undefined;
    if (p.state === 'Registering' && p.readyAt !== undefined && this.ctx.now() >= p.readyAt) {
      p.state = 'Registered';
      delete p.readyAt;
      this.ctx.changed();
    }
    return p;
  }

  private providerBody(sub: SimSubscription, namespace: string) {
    const p = this.providerState(sub, namespace);
    if (!p) {
      throw new ArmError(404, 'InvalidResourceNamespace', `The resource namespace '${namespace}' is invalid.`);
    }
    return {
      id: `/subscriptions/${sub.subscriptionId}/providers/${p.namespace}`,
      namespace: p.namespace,
      registrationState: p.state,
      registrationPolicy: 'RegistrationRequired',
      resourceTypes: (PROVIDER_TYPES[key(p.namespace)] ?? []).map((resourceType) => ({
        resourceType,
        locations: ['West Europe', 'North Europe', 'East US'],
        apiVersions: [],
        capabilities: 'None',
      })),
    };
  }

  private registerProvider(req: ArmRequest, sub: SimSubscription, namespace: string): ArmResponse {
    const p = this.providerState(sub, namespace);
    if (!p) throw new ArmError(404, 'InvalidResourceNamespace', `The resource namespace '${namespace}' is invalid.`);
    this.authorize(req, `${p.namespace}/register/action`, `/subscriptions/${sub.subscriptionId}`);
    if (p.state === 'NotRegistered' || p.state === 'Unregistering') {
      p.state = 'Registering';
      p.readyAt = this.ctx.now() + this.ctx.duration('providerRegistration');
      this.ctx.changed();
    }
    return ok(this.providerBody(sub, p.namespace));
  }

  private requireRegistered(sub: SimSubscription, namespace: string): void {
    const p = this.providerState(sub, namespace);
    if (!p || p.state !== 'Registered') {
      throw new ArmError(
        409,
        'MissingSubscriptionRegistration',
        `The subscription is not registered to use namespace '${namespace}'. See https://aka.ms/rps-not-found for how to register subscriptions.`,
      );
    }
  }

  // ---------------------------------------------------------------- permissions

  /** Permission entries the principal holds at `scope`: its own grant plus roles assigned at or above the scope. */
  permissionsAt(principal: SimPrincipal, scope: string): SimRoleDefinition['permissions'] {
    const entries: SimRoleDefinition['permissions'] = [];
    if (principal.actions && principal.actions.length > 0) {
      entries.push({ actions: [...principal.actions], notActions: [], dataActions: [], notDataActions: [] });
    }
    for (const ra of Object.values(this.data.roleAssignments)) {
      if (ra.principalId !== principal.principalId || !isAtOrAbove(ra.scope, scope)) continue;
      const def = this.data.roleDefinitions[key(lastSegment(ra.roleDefinitionId))];
      if (def) entries.push(...def.permissions.map((p) => ({ ...p })));
    }
    return entries;
  }

  private can(principal: SimPrincipal, action: string, scope: string): boolean {
    return this.permissionsAt(principal, scope).some(
      (p) => actionAllowed(p.actions, action) && !actionAllowed(p.notActions, action),
    );
  }

  private authorize(req: ArmRequest, action: string, scope: string): void {
    if (this.can(req.principal, action, scope)) return;
    const id = req.principal.principalId;
    throw new ArmError(
      403,
      'AuthorizationFailed',
      `The client '${id}' with object id '${id}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
  }

  // ---------------------------------------------------------------- resources in a resource group

  private rgResource(req: ArmRequest, sub: SimSubscription, rg: string, l: string[], seg: string[]): Promise<ArmResponse> | ArmResponse {
    const typeKey = `${l[0]}/${l[1]}`;
    const m = req.method;
    const spec = RG_TYPES[typeKey];
    if (!spec) {
      throw new ArmError(404, 'InvalidResourceType', `The resource type '${seg[1]}' could not be found in the namespace '${seg[0]}' for api version '${req.query.get('api-version') ?? ''}'.`);
    }
    if (l.length === 2 && m === 'GET') {
      return ok({ value: this.resourcesOf(spec.type, sub.subscriptionId, rg).map((r) => this.resourceBody(r)) });
    }
    const name = seg[2];
    const id = resourceId(sub.subscriptionId, rg, spec.type, name, spec.idStyle);
    if (l.length === 3) {
      switch (`${spec.type}:${m}`) {
        case 'Microsoft.Storage/storageAccounts:PUT':
          return this.putStorageAccount(req, sub, rg, name, id);
        case 'Microsoft.Storage/storageAccounts:PATCH':
          return this.patchStorageAccount(req, rg, name, id);
        case 'Microsoft.ContainerRegistry/registries:PUT':
          return this.putRegistry(req, sub, rg, name, id);
        case 'Microsoft.ContainerRegistry/registries:PATCH':
          return this.patchRegistry(req, rg, name, id);
        case 'Microsoft.ManagedIdentity/userAssignedIdentities:PUT':
          return this.putIdentity(req, sub, rg, name, id);
        case 'Microsoft.Compute/sshPublicKeys:PUT':
          return this.putSshKey(req, sub, rg, name, id);
        case 'Microsoft.Compute/sshPublicKeys:PATCH':
          return this.patchSshKey(req, rg, name, id);
      }
      if (m === 'GET') return ok(this.resourceBody(this.mustGet(id, spec.type, name, rg)));
      if (m === 'DELETE') return this.deleteResource(req, spec.type, id);
    }
    if (spec.type === 'Microsoft.Storage/storageAccounts' && l.length >= 6 && l[3] === 'blobservices' && l[4] === 'default' && l[5] === 'containers') {
      const account = this.mustGet(id, spec.type, name, rg);
      if (l.length === 6 && m === 'GET') {
        return ok({ value: this.resourcesOf(CONTAINER_TYPE, sub.subscriptionId, rg).filter((c) => c.id.toLowerCase().startsWith(account.id.toLowerCase() + '/')).map((c) => this.resourceBody(c)) });
      }
      if (l.length === 7) return this.container(req, sub, rg, account, seg[6]);
    }
    if (spec.type === 'Microsoft.ContainerRegistry/registries' && l.length === 5 && l[3] === 'operationstatuses' && m === 'GET') {
      return this.registryOperation(seg[4]);
    }
    if (spec.type === 'Microsoft.Compute/sshPublicKeys' && l.length === 4 && l[3] === 'generatekeypair' && m === 'POST') {
      return this.generateKeyPair(req, rg, name, id);
    }
    throw new ArmError(405, 'MethodNotAllowed', `The requested resource does not support http method '${m}'.`);
  }

  private resourcesOf(type: string, subscriptionId: string, rg?: string): SimResource[] {
    return Object.values(this.data.resources).filter(
      (r) => r.type === type && r.subscriptionId === subscriptionId && (rg === undefined || key(r.resourceGroup) === key(rg)),
    );
  }

  private mustGet(id: string, type: string, name: string, rg: string): SimResource {
    const r = this.data.resources[key(id)];
    if (!r) throw notFoundResource(type, name, rg);
    return r;
  }

  private deleteResource(req: ArmRequest, type: string, id: string): ArmResponse {
    this.authorize(req, `${type}/delete`, id);
    const r = this.data.resources[key(id)];
    if (!r) return { status: 204 };
    for (const k of Object.keys(this.data.resources)) {
      if (k === key(id) || k.startsWith(key(id) + '/')) delete this.data.resources[k];
    }
    if (type === 'Microsoft.ManagedIdentity/userAssignedIdentities') {
      const pid = r.properties.principalId as string;
      delete this.data.principals[pid];
    }
    this.ctx.changed();
    return { status: 200 };
  }

  private provisioning(r: SimResource): { state: string; remainingMs: number } {
    const remainingMs = r.readyAt - this.ctx.now();
    if (remainingMs <= 0) return { state: 'Succeeded', remainingMs: 0 };
    return { state: (r.properties._pendingState as string) ?? 'Creating', remainingMs };
  }

  resourceBody(r: SimResource): Record<string, unknown> {
    const { state } = this.provisioning(r);
    const properties: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r.properties)) if (!k.startsWith('_')) properties[k] = v;
    const body: Record<string, unknown> = { id: r.id, name: r.name, type: r.type };
    if (r.type === CONTAINER_TYPE) {
      return { ...body, etag: `"0x${(r.createdAt * 1000).toString(16).toUpperCase()}"`, properties };
    }
    if (r.sku) body.sku = r.sku;
    if (r.kind) body.kind = r.kind;
    body.location = r.location;
    body.tags = r.tags;
    if (r.type === 'Microsoft.Storage/storageAccounts' || r.type === 'Microsoft.ContainerRegistry/registries') {
      properties.provisioningState = state;
    }
    if (r.type === 'Microsoft.ContainerRegistry/registries') {
      body.systemData = { createdBy: r.createdBy, createdByType: 'Application', createdAt: iso(r.createdAt), lastModifiedAt: iso(r.createdAt) };
    }
    body.properties = properties;
    return body;
  }

  // ---------------------------------------------------------------- storage

  private storageNameAvailability(req: ArmRequest): ArmResponse {
    const name = isObject(req.body) ? String(req.body.name ?? '') : '';
    if (!/^[a-z0-9]{3,24}$/.test(name)) {
      return ok({ nameAvailable: false, reason: 'AccountNameInvalid', message: `${name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.` });
    }
    if (this.globalNameTaken('storage', name)) {
      return ok({ nameAvailable: false, reason: 'AlreadyExists', message: `The storage account named ${name} is already taken.` });
    }
    return ok({ nameAvailable: true });
  }

  private globalNameTaken(kind: 'storage' | 'registry', name: string): SimResource | true | undefined {
    if (this.data.foreignNames[kind].includes(key(name))) return true;
    const type = kind === 'storage' ? 'Microsoft.Storage/storageAccounts' : 'Microsoft.ContainerRegistry/registries';
    return Object.values(this.data.resources).find((r) => r.type === type && key(r.name) === key(name));
  }

  private async putStorageAccount(req: ArmRequest, sub: SimSubscription, rg: string, name: string, id: string): Promise<ArmResponse> {
    this.authorize(req, 'Microsoft.Storage/storageAccounts/write', id);
    this.requireRegistered(sub, 'Microsoft.Storage');
    if (!/^[a-z0-9]{3,24}$/.test(name)) {
      throw badRequest('AccountNameInvalid', `${name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.`);
    }
    const body = isObject(req.body) ? req.body : {};
    const existing = this.data.resources[key(id)];
    const holder = this.globalNameTaken('storage', name);
    if (holder && holder !== existing) {
      if (holder !== true && holder.subscriptionId === sub.subscriptionId) {
        throw new ArmError(409, 'StorageAccountInAnotherResourceGroup', `The account ${name} is already in another resource group in this subscription.`);
      }
      throw new ArmError(409, 'StorageAccountAlreadyTaken', `The storage account named ${name} is already taken.`);
    }
    const location = typeof body.location === 'string' ? normalizeLocation(body.location) : undefined;
    if (!location) throw badRequest('LocationRequired', 'The location property is required for this definition.');
    const sku = isObject(body.sku) ? body.sku : undefined;
    if (!sku || typeof sku.name !== 'string') throw badRequest('MissingRequiredProperty', "The 'sku' property is required.");
    const props = isObject(body.properties) ? body.properties : {};
    const tags = asTags(body.tags);
    if (existing) {
      if (existing.location && key(existing.location) !== key(location)) {
        throw new ArmError(409, 'InvalidResourceLocation', `The resource '${name}' already exists in location '${existing.location}' in resource group '${rg}'. A resource with the same name cannot be created in location '${location}'. Please select a new resource name.`);
      }
      existing.sku = { name: sku.name, tier: String(sku.name).split('_')[0] };
      existing.kind = typeof body.kind === 'string' ? body.kind : existing.kind;
      if (tags) existing.tags = tags;
      Object.assign(existing.properties, props);
      this.ctx.changed();
    } else {
      const now = this.ctx.now();
      const r: SimResource = {
        id,
        type: 'Microsoft.Storage/storageAccounts',
        name,
        subscriptionId: sub.subscriptionId,
        resourceGroup: rg,
        location,
        tags: tags ?? {},
        sku: { name: sku.name, tier: String(sku.name).split('_')[0] },
        kind: typeof body.kind === 'string' ? body.kind : 'StorageV2',
        properties: {
          keyCreationTime: { key1: iso(now), key2: iso(now) },
          privateEndpointConnections: [],
          minimumTlsVersion: 'TLS1_0',
          allowBlobPublicAccess: false,
          allowSharedKeyAccess: true,
          networkAcls: { bypass: 'AzureServices', virtualNetworkRules: [], ipRules: [], defaultAction: 'Allow' },
          supportsHttpsTrafficOnly: true,
          encryption: {
            services: { file: { keyType: 'Account', enabled: true, lastEnabledTime: iso(now) }, blob: { keyType: 'Account', enabled: true, lastEnabledTime: iso(now) } },
            keySource: 'Microsoft.Storage',
          },
          accessTier: 'Hot',
          isHnsEnabled: false,
          ...props,
          primaryEndpoints: {
            dfs: `https://${name}.dfs.core.windows.net/`,
            web: `https://${name}.z6.web.core.windows.net/`,
            blob: `https://${name}.blob.core.windows.net/`,
            queue: `https://${name}.queue.core.windows.net/`,
            table: `https://${name}.table.core.windows.net/`,
            file: `https://${name}.file.core.windows.net/`,
          },
          primaryLocation: location,
          statusOfPrimary: 'available',
          creationTime: iso(now),
        },
        createdAt: now,
        readyAt: now + this.ctx.duration('storageAccount'),
        createdBy: req.principal.principalId,
      };
      this.data.resources[key(id)] = r;
      const opId = crypto.randomUUID();
      this.addOperation({ id: opId, resourceId: id, kind: 'create', startedAt: now, readyAt: r.readyAt });
      r.properties._operationId = opId;
      this.ctx.changed();
    }
    const r = this.data.resources[key(id)];
    let { remainingMs } = this.provisioning(r);
    if (remainingMs > 0 && remainingMs <= this.ctx.inlineMaxMs) {
      await this.ctx.sleep(remainingMs);
      remainingMs = 0;
    }
    if (remainingMs <= 0) return ok(this.resourceBody(r));
    // Real Storage answers 202 with Location and Retry-After, then the poll answers 200 with the account.
    const opId = r.properties._operationId as string;
    return {
      status: 202,
      headers: {
        location: `${req.baseUrl}/subscriptions/${sub.subscriptionId}/providers/Microsoft.Storage/locations/${r.location}/asyncoperations/${opId}?monitor=true&api-version=${req.query.get('api-version') ?? '2025-08-01'}`,
        ...retryAfter(remainingMs),
      },
    };
  }

  private storageOperation(req: ArmRequest, opId: string): ArmResponse {
    const op = this.data.operations[opId];
    if (!op) throw new ArmError(404, 'ResourceNotFound', `The operation '${opId}' was not found.`);
    const r = this.data.resources[key(op.resourceId)];
    if (!r) throw notFoundResource('Microsoft.Storage/storageAccounts', lastSegment(op.resourceId), '');
    const remainingMs = r.readyAt - this.ctx.now();
    if (remainingMs > 0) {
      return {
        status: 202,
        headers: {
          location: `${req.baseUrl}/${req.segments.join('/')}?monitor=true&api-version=${req.query.get('api-version') ?? '2025-08-01'}`,
          ...retryAfter(remainingMs),
        },
      };
    }
    return ok(this.resourceBody(r));
  }

  private patchStorageAccount(req: ArmRequest, rg: string, name: string, id: string): ArmResponse {
    this.authorize(req, 'Microsoft.Storage/storageAccounts/write', id);
    const r = this.mustGet(id, 'Microsoft.Storage/storageAccounts', name, rg);
    const body = isObject(req.body) ? req.body : {};
    const tags = asTags(body.tags);
    if (tags) r.tags = tags;
    if (isObject(body.sku) && typeof body.sku.name === 'string') r.sku = { name: body.sku.name, tier: body.sku.name.split('_')[0] };
    if (typeof body.kind === 'string') r.kind = body.kind;
    if (isObject(body.properties)) Object.assign(r.properties, body.properties);
    this.ctx.changed();
    return ok(this.resourceBody(r));
  }

  private container(req: ArmRequest, sub: SimSubscription, rg: string, account: SimResource, name: string): ArmResponse {
    const id = `${account.id}/blobServices/default/containers/${name}`;
    const m = req.method;
    if (m === 'GET') {
      const c = this.data.resources[key(id)];
      if (!c) throw new ArmError(404, 'ContainerNotFound', 'The specified container does not exist.');
      return ok(this.resourceBody(c));
    }
    if (m === 'DELETE') {
      this.authorize(req, 'Microsoft.Storage/storageAccounts/blobServices/containers/delete', id);
      if (!this.data.resources[key(id)]) return { status: 204 };
      delete this.data.resources[key(id)];
      this.ctx.changed();
      return { status: 200 };
    }
    if (m === 'PUT' || m === 'PATCH') {
      this.authorize(req, 'Microsoft.Storage/storageAccounts/blobServices/containers/write', id);
      if (!/^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(name)) {
        throw badRequest('ContainerOperationFailure', 'The specifed resource name contains invalid characters.');
      }
      if (this.provisioning(account).remainingMs > 0) {
        throw new ArmError(409, 'StorageAccountIsNotProvisioned', `The storage account provisioning state must be 'Succeeded' before executing the operation.`);
      }
      const body = isObject(req.body) ? req.body : {};
      const props = isObject(body.properties) ? body.properties : {};
      const existing = this.data.resources[key(id)];
      if (existing) {
        if (m === 'PATCH' || Object.keys(props).length > 0) Object.assign(existing.properties, props);
        this.ctx.changed();
        return ok(this.resourceBody(existing), 200);
      }
      if (m === 'PATCH') throw new ArmError(404, 'ContainerNotFound', 'The specified container does not exist.');
      const now = this.ctx.now();
      const c: SimResource = {
        id,
        type: CONTAINER_TYPE,
        name,
        subscriptionId: sub.subscriptionId,
        resourceGroup: rg,
        tags: {},
        properties: {
          publicAccess: 'None',
          leaseStatus: 'Unlocked',
          leaseState: 'Available',
          lastModifiedTime: iso(now),
          hasImmutabilityPolicy: false,
          hasLegalHold: false,
          deleted: false,
          remainingRetentionDays: 0,
          defaultEncryptionScope: '$account-encryption-key',
          denyEncryptionScopeOverride: false,
          ...props,
        },
        createdAt: now,
        readyAt: now,
        createdBy: req.principal.principalId,
      };
      this.data.resources[key(id)] = c;
      this.ctx.changed();
      return ok(this.resourceBody(c), 201);
    }
    throw new ArmError(405, 'MethodNotAllowed', `The requested resource does not support http method '${m}'.`);
  }

  // ---------------------------------------------------------------- container registry

  private registryNameAvailability(req: ArmRequest): ArmResponse {
    const name = isObject(req.body) ? String(req.body.name ?? '') : '';
    if (!/^[a-zA-Z0-9]{5,50}$/.test(name)) {
      return ok({ nameAvailable: false, reason: 'Invalid', message: 'The specified resource name is disallowed' });
    }
    if (this.globalNameTaken('registry', name)) {
      return ok({ nameAvailable: false, reason: 'AlreadyExists', message: `The registry ${name} is already in use.` });
    }
    return ok({ nameAvailable: true });
  }

  private validateRetention(sku: string, policies: unknown): void {
    const retention = isObject(policies) && isObject(policies.retentionPolicy) ? policies.retentionPolicy : undefined;
    if (!retention) return;
    const status = String(retention.status ?? 'disabled').toLowerCase();
    if (status === 'enabled' && sku !== 'Premium') {
      throw badRequest('RegistrySkuNotSupported', `Retention policy is only supported for Premium registries. The registry SKU is '${sku}'.`);
    }
    if (retention.days !== undefined && (typeof retention.days !== 'number' || retention.days < 0 || retention.days > 365)) {
      throw badRequest('InvalidParameterValue', 'Retention policy days must be between 0 and 365.');
    }
  }

  private applyPolicies(r: SimResource, policies: unknown): void {
    if (!isObject(policies)) return;
    const current = (r.properties.policies ?? {}) as Record<string, Record<string, unknown>>;
    for (const [k, v] of Object.entries(policies)) {
      if (!isObject(v)) continue;
      current[k] = { ...(current[k] ?? {}), ...v };
      if (k === 'retentionPolicy') {
        current[k].lastUpdatedTime = iso(this.ctx.now());
        current[k].status = String(current[k].status ?? 'disabled').toLowerCase();
      }
    }
    r.properties.policies = current;
  }

  private async putRegistry(req: ArmRequest, sub: SimSubscription, rg: string, name: string, id: string): Promise<ArmResponse> {
    this.authorize(req, 'Microsoft.ContainerRegistry/registries/write', id);
    this.requireRegistered(sub, 'Microsoft.ContainerRegistry');
    if (!/^[a-zA-Z0-9]{5,50}$/.test(name)) {
      throw badRequest('RegistryNameInvalid', `Registry name '${name}' is invalid: it must be 5-50 alphanumeric characters.`);
    }
    const body = isObject(req.body) ? req.body : {};
    const existing = this.data.resources[key(id)];
    const holder = this.globalNameTaken('registry', name);
    if (holder && holder !== existing) {
      throw new ArmError(409, 'AlreadyInUse', `The registry DNS name ${name.toLowerCase()}.azurecr.io is already in use. You can check if the name is already claimed using following API: https://docs.microsoft.com/en-us/rest/api/containerregistry/registries/checknameavailability`);
    }
    const location = typeof body.location === 'string' ? normalizeLocation(body.location) : undefined;
    if (!location) throw badRequest('LocationRequired', 'The location property is required for this definition.');
    const sku = isObject(body.sku) && typeof body.sku.name === 'string' ? body.sku.name : undefined;
    if (!sku || !['Basic', 'Standard', 'Premium'].includes(sku)) throw badRequest('InvalidSku', `The SKU '${String(sku)}' is invalid. Valid SKUs are Basic, Standard and Premium.`);
    const props = isObject(body.properties) ? body.properties : {};
    this.validateRetention(sku, props.policies);
    const tags = asTags(body.tags);
    const now = this.ctx.now();
    let status = 200;
    if (existing) {
      existing.sku = { name: sku, tier: sku };
      if (tags) existing.tags = tags;
      if (typeof props.adminUserEnabled === 'boolean') existing.properties.adminUserEnabled = props.adminUserEnabled;
      this.applyPolicies(existing, props.policies);
    } else {
      status = 201;
      const r: SimResource = {
        id,
        type: 'Microsoft.ContainerRegistry/registries',
        name,
        subscriptionId: sub.subscriptionId,
        resourceGroup: rg,
        location,
        tags: tags ?? {},
        sku: { name: sku, tier: sku },
        properties: {
          loginServer: `${name.toLowerCase()}.azurecr.io`,
          creationDate: iso(now),
          adminUserEnabled: props.adminUserEnabled === true,
          policies: {
            quarantinePolicy: { status: 'disabled' },
            trustPolicy: { type: 'Notary', status: 'disabled' },
            retentionPolicy: { days: 7, lastUpdatedTime: iso(now), status: 'disabled' },
            exportPolicy: { status: 'enabled' },
            azureADAuthenticationAsArmPolicy: { status: 'enabled' },
          },
          encryption: { status: 'disabled' },
          dataEndpointEnabled: false,
          dataEndpointHostNames: [],
          privateEndpointConnections: [],
          publicNetworkAccess: 'Enabled',
          networkRuleBypassOptions: 'AzureServices',
          zoneRedundancy: 'Disabled',
          anonymousPullEnabled: false,
          roleAssignmentMode: 'LegacyRegistryPermissions',
        },
        createdAt: now,
        readyAt: now + this.ctx.duration('registry'),
        createdBy: req.principal.principalId,
      };
      this.applyPolicies(r, props.policies);
      this.data.resources[key(id)] = r;
    }
    this.ctx.changed();
    return this.registryLro(req, this.data.resources[key(id)], status, 'create');
  }

  private async patchRegistry(req: ArmRequest, rg: string, name: string, id: string): Promise<ArmResponse> {
    this.authorize(req, 'Microsoft.ContainerRegistry/registries/write', id);
    const r = this.mustGet(id, 'Microsoft.ContainerRegistry/registries', name, rg);
    const body = isObject(req.body) ? req.body : {};
    const props = isObject(body.properties) ? body.properties : {};
    // The SDK nests policies under properties on the wire; accept a top-level one too.
    const policies = props.policies ?? body.policies;
    const sku = isObject(body.sku) && typeof body.sku.name === 'string' ? body.sku.name : (r.sku?.name as string);
    if (!['Basic', 'Standard', 'Premium'].includes(sku)) throw badRequest('InvalidSku', `The SKU '${sku}' is invalid. Valid SKUs are Basic, Standard and Premium.`);
    this.validateRetention(sku, policies);
    const tags = asTags(body.tags);
    r.sku = { name: sku, tier: sku };
    if (tags) r.tags = tags;
    if (typeof props.adminUserEnabled === 'boolean') r.properties.adminUserEnabled = props.adminUserEnabled;
    this.applyPolicies(r, policies);
    const now = this.ctx.now();
    if (this.provisioning(r).remainingMs <= 0) {
      r.readyAt = now + this.ctx.duration('registryUpdate');
      r.properties._pendingState = 'Updating';
    }
    this.ctx.changed();
    return this.registryLro(req, r, 200, 'update');
  }

  private async registryLro(req: ArmRequest, r: SimResource, status: number, kind: 'create' | 'update'): Promise<ArmResponse> {
    let { remainingMs } = this.provisioning(r);
    if (remainingMs > 0 && remainingMs <= this.ctx.inlineMaxMs) {
      await this.ctx.sleep(remainingMs);
      remainingMs = 0;
    }
    if (remainingMs <= 0) {
      delete r.properties._pendingState;
      return ok(this.resourceBody(r), status);
    }
    const opId = `registries-${crypto.randomUUID()}`;
    this.addOperation({ id: opId, resourceId: r.id, kind, startedAt: this.ctx.now(), readyAt: r.readyAt });
    this.ctx.changed();
    return ok(this.resourceBody(r), status, {
      'azure-asyncoperation': `${req.baseUrl}${r.id}/operationStatuses/${opId}?api-version=${req.query.get('api-version') ?? '2025-11-01'}`,
      ...retryAfter(remainingMs),
    });
  }

  private registryOperation(opId: string): ArmResponse {
    const op = this.data.operations[opId];
    if (!op) throw new ArmError(404, 'ResourceNotFound', `The operation '${opId}' was not found.`);
    const r = this.data.resources[key(op.resourceId)];
    const remainingMs = op.readyAt - this.ctx.now();
    const body: Record<string, unknown> = { id: `${op.resourceId}/operationStatuses/${opId}`, name: opId, startTime: iso(op.startedAt) };
    if (!r) return ok({ ...body, status: 'Failed', error: { code: 'ResourceNotFound', message: 'The registry was deleted while the operation was running.' } });
    if (remainingMs > 0) return ok({ ...body, status: op.kind === 'create' ? 'Creating' : 'Updating' }, 200, retryAfter(remainingMs));
    delete r.properties._pendingState;
    return ok({ ...body, status: 'Succeeded', endTime: iso(op.readyAt) });
  }

  // ---------------------------------------------------------------- managed identity

  private async putIdentity(req: ArmRequest, sub: SimSubscription, rg: string, name: string, id: string): Promise<ArmResponse> {
    this.authorize(req, 'Microsoft.ManagedIdentity/userAssignedIdentities/write', id);
    this.requireRegistered(sub, 'Microsoft.ManagedIdentity');
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$/.test(name)) {
      throw badRequest('InvalidResourceName', `Resource name ${name} is invalid. The name can be between 3 and 128 characters long and can contain only letters, numbers, hyphens and underscores.`);
    }
    const body = isObject(req.body) ? req.body : {};
    const location = typeof body.location === 'string' ? normalizeLocation(body.location) : undefined;
    if (!location) throw badRequest('LocationRequired', 'The location property is required for this definition.');
    const tags = asTags(body.tags);
    await this.ctx.sleep(this.ctx.duration('identity'));
    // Checked after the wait: a retried PUT may have arrived while this one was in flight.
    const existing = this.data.resources[key(id)];
    if (existing) {
      if (tags) existing.tags = tags;
      this.ctx.changed();
      return ok(this.resourceBody(existing), 200);
    }
    const now = this.ctx.now();
    const principalId = crypto.randomUUID();
    const clientId = crypto.randomUUID();
    this.data.principals[principalId] = {
      principalId,
      clientId,
      displayName: name,
      type: 'ServicePrincipal',
      propagatedAt: now + this.ctx.duration('principalPropagation'),
      identityResourceId: id,
    };
    const r: SimResource = {
      id,
      type: 'Microsoft.ManagedIdentity/userAssignedIdentities',
      name,
      subscriptionId: sub.subscriptionId,
      resourceGroup: rg,
      location,
      tags: tags ?? {},
      properties: { isolationScope: 'None', tenantId: this.data.tenantId, principalId, clientId },
      createdAt: now,
      readyAt: now,
      createdBy: req.principal.principalId,
    };
    this.data.resources[key(id)] = r;
    this.ctx.changed();
    return ok(this.resourceBody(r), 201);
  }

  // ---------------------------------------------------------------- compute ssh keys

  private async putSshKey(req: ArmRequest, sub: SimSubscription, rg: string, name: string, id: string): Promise<ArmResponse> {
    this.authorize(req, 'Microsoft.Compute/sshPublicKeys/write', id);
    this.requireRegistered(sub, 'Microsoft.Compute');
    const body = isObject(req.body) ? req.body : {};
    const location = typeof body.location === 'string' ? normalizeLocation(body.location) : undefined;
    if (!location) throw badRequest('LocationRequired', 'The location property is required for this definition.');
    const props = isObject(body.properties) ? body.properties : {};
    const publicKey = props.publicKey;
    if (publicKey !== undefined && publicKey !== null) {
      if (typeof publicKey !== 'string' || !isOpenSshPublicKey(publicKey)) {
        throw badRequest('InvalidParameter', "The value of parameter publicKey is invalid. The public key must be in ssh-rsa format ('ssh-rsa ...') or ssh-ed25519 format.");
      }
    }
    const tags = asTags(body.tags);
    await this.ctx.sleep(this.ctx.duration('sshPublicKey'));
    const existing = this.data.resources[key(id)];
    if (existing) {
      if (tags) existing.tags = tags;
      if (typeof publicKey === 'string') existing.properties.publicKey = publicKey;
      this.ctx.changed();
      return ok(this.resourceBody(existing), 200);
    }
    const now = this.ctx.now();
    const r: SimResource = {
      id,
      type: 'Microsoft.Compute/sshPublicKeys',
      name,
      subscriptionId: sub.subscriptionId,
      resourceGroup: rg,
      location,
      tags: tags ?? {},
      properties: typeof publicKey === 'string' ? { publicKey } : {},
      createdAt: now,
      readyAt: now,
      createdBy: req.principal.principalId,
    };
    this.data.resources[key(id)] = r;
    this.ctx.changed();
    return ok(this.resourceBody(r), 201);
  }

  private patchSshKey(req: ArmRequest, rg: string, name: string, id: string): ArmResponse {
    this.authorize(req, 'Microsoft.Compute/sshPublicKeys/write', id);
    const r = this.mustGet(id, 'Microsoft.Compute/sshPublicKeys', name, rg);
    const body = isObject(req.body) ? req.body : {};
    const tags = asTags(body.tags);
    if (tags) r.tags = tags;
    const props = isObject(body.properties) ? body.properties : {};
    if (typeof props.publicKey === 'string') r.properties.publicKey = props.publicKey;
    this.ctx.changed();
    return ok(this.resourceBody(r));
  }

  private async generateKeyPair(req: ArmRequest, rg: string, name: string, id: string): Promise<ArmResponse> {
    this.authorize(req, 'Microsoft.Compute/sshPublicKeys/generateKeyPair/action', id);
    const r = this.mustGet(id, 'Microsoft.Compute/sshPublicKeys', name, rg);
    if (typeof r.properties.publicKey === 'string' && r.properties.publicKey.length > 0) {
      throw new ArmError(409, 'OperationNotAllowed', `Public key already exists for the SSH public key resource '${name}'. Generating a new key pair is not allowed.`);
    }
    const body = isObject(req.body) ? req.body : {};
    const encryption = typeof body.encryptionType === 'string' ? body.encryptionType : 'RSA';
    if (encryption !== 'RSA' && encryption !== 'Ed25519') {
      throw badRequest('InvalidParameter', `The value '${encryption}' of parameter encryptionType is invalid. Allowed values are RSA and Ed25519.`);
    }
    const prepared = this.ctx.takePreparedKey?.(encryption);
    const [pair] = await Promise.all([prepared ?? generateSshKeyPair(encryption, this.ctx.sshKeyBits), this.ctx.sleep(this.ctx.duration('generateKeyPair'))]);
    // Another generateKeyPair may have won while the key was being generated.
    if (typeof r.properties.publicKey === 'string' && r.properties.publicKey.length > 0) {
      throw new ArmError(409, 'OperationNotAllowed', `Public key already exists for the SSH public key resource '${name}'. Generating a new key pair is not allowed.`);
    }
    r.properties.publicKey = pair.publicKey;
    this.ctx.changed();
    return ok({ privateKey: pair.privateKey, publicKey: pair.publicKey, id: r.id });
  }

  // ---------------------------------------------------------------- authorization

  private authorization(req: ArmRequest, scope: string, l: string[], seg: string[]): Promise<ArmResponse> | ArmResponse {
    this.validateScope(scope);
    const m = req.method;
    if (l[0] === 'permissions' && l.length === 1 && m === 'GET') {
      return ok({ value: this.permissionsAt(req.principal, scope) });
    }
    if (l[0] === 'roledefinitions') {
      if (l.length === 1 && m === 'GET') return ok({ value: this.listRoleDefinitions(scope, req.query.get('$filter')) });
      if (l.length === 2) {
        if (m === 'GET') return ok(this.roleDefinitionBody(this.mustRoleDefinition(seg[1]), scope));
        if (m === 'PUT') return this.putRoleDefinition(req, scope, seg[1]);
        if (m === 'DELETE') return this.deleteRoleDefinition(req, scope, seg[1]);
      }
    }
    if (l[0] === 'roleassignments') {
      if (l.length === 1 && m === 'GET') return ok({ value: this.listRoleAssignments(scope, req.query.get('$filter')) });
      if (l.length === 2) {
        if (m === 'GET') return ok(this.roleAssignmentBody(this.mustRoleAssignment(seg[1], scope)));
        if (m === 'PUT') return this.putRoleAssignment(req, scope, seg[1]);
        if (m === 'DELETE') return this.deleteRoleAssignment(req, scope, seg[1]);
      }
    }
    throw new ArmError(404, 'NotFound', `No HTTP resource was found that matches the request URI '${scope}/providers/Microsoft.Authorization/${seg.join('/')}'.`);
  }

  /** Scopes must name an existing subscription and resource group (resources below are not checked). */
  private validateScope(scope: string): void {
    const parts = scope.split('/').filter(Boolean);
    if (parts.length === 0) return;
    if (key(parts[0]) !== 'subscriptions' || parts.length < 2) {
      throw badRequest('InvalidScope', `The scope '${scope}' is not valid.`);
    }
    const sub = this.subscription(parts[1]);
    if (parts.length >= 4 && key(parts[2]) === 'resourcegroups') this.resourceGroup(sub, parts[3]);
  }

  private mustRoleDefinition(guid: string): SimRoleDefinition {
    const def = this.data.roleDefinitions[key(guid)];
    if (!def) throw new ArmError(404, 'RoleDefinitionDoesNotExist', `The specified role definition with ID '${guid}' does not exist.`);
    return def;
  }

  roleDefinitionBody(def: SimRoleDefinition, requestScope: string): Record<string, unknown> {
    const sub = subscriptionOf(def.roleType === 'CustomRole' ? def.createdAtScope : requestScope);
    const prefix = sub ? `/subscriptions/${sub}` : '';
    return {
      id: `${prefix}/providers/Microsoft.Authorization/roleDefinitions/${def.guid}`,
      type: 'Microsoft.Authorization/roleDefinitions',
      name: def.guid,
      properties: {
        roleName: def.roleName,
        type: def.roleType,
        description: def.description,
        assignableScopes: def.assignableScopes,
        permissions: def.permissions,
        createdOn: def.createdOn,
        updatedOn: def.updatedOn,
        createdBy: def.createdBy,
        updatedBy: def.createdBy,
      },
    };
  }

  private listRoleDefinitions(scope: string, filter: string | null): Record<string, unknown>[] {
    const byName = filter ? /roleName\s+eq\s+'((?:[^']|'')*)'/i.exec(filter) : null;
    const byType = filter ? /type\s+eq\s+'([^']*)'/i.exec(filter) : null;
    const name = byName ? byName[1].replace(/''/g, "'") : undefined;
    return Object.values(this.data.roleDefinitions)
      .filter((d) => name === undefined || key(d.roleName) === key(name))
      .filter((d) => !byType || key(d.roleType) === key(byType[1]))
      // A role is visible at a scope when one of its assignable scopes is at, above or below it.
      .filter((d) => d.assignableScopes.some((s) => isAtOrAbove(s, scope) || isAtOrAbove(scope, s)))
      .map((d) => this.roleDefinitionBody(d, scope));
  }

  private async putRoleDefinition(req: ArmRequest, scope: string, guid: string): Promise<ArmResponse> {
    if (!isGuid(guid)) throw badRequest('InvalidRoleDefinitionId', `The role definition ID '${guid}' is not valid. It must be a GUID.`);
    const body = isObject(req.body) ? req.body : {};
    const props = isObject(body.properties) ? body.properties : {};
    const roleName = typeof props.roleName === 'string' ? props.roleName.trim() : '';
    if (!roleName) throw badRequest('RoleDefinitionNameNullOrEmpty', 'The role definition name cannot be null or empty.');
    const assignableScopes = Array.isArray(props.assignableScopes) ? props.assignableScopes.map(String) : [];
    if (assignableScopes.length === 0) throw badRequest('InvalidAssignableScopes', 'The role definition must have at least one assignable scope.');
    for (const s of assignableScopes) {
      if (s.split('/').filter(Boolean).length === 0) {
        throw badRequest('InvalidAssignableScopes', "Custom roles cannot use the root scope '/' as an assignable scope. Use a management group, subscription, resource group or resource.");
      }
      this.validateScope(s);
      this.authorize(req, 'Microsoft.Authorization/roleDefinitions/write', s);
    }
    const perms = Array.isArray(props.permissions) ? props.permissions : [];
    const permissions = perms.filter(isObject).map((p) => ({
      actions: stringArray(p.actions),
      notActions: stringArray(p.notActions),
      dataActions: stringArray(p.dataActions),
      notDataActions: stringArray(p.notDataActions),
    }));
    await this.ctx.sleep(this.ctx.duration('roleDefinition'));
    const existing = this.data.roleDefinitions[key(guid)];
    if (existing?.roleType === 'BuiltInRole') {
      throw new ArmError(403, 'RoleDefinitionNotEditable', `The role definition '${guid}' is a built-in role and cannot be changed.`);
    }
    const clash = Object.values(this.data.roleDefinitions).find((d) => key(d.roleName) === key(roleName) && key(d.guid) !== key(guid));
    if (clash) {
      throw new ArmError(409, 'RoleDefinitionWithSameNameExists', 'A custom role with the same name already exists in this directory. Use a different name.');
    }
    const now = iso(this.ctx.now());
    const def: SimRoleDefinition = {
      guid: guid.toLowerCase(),
      roleName,
      description: typeof props.description === 'string' ? props.description : '',
      roleType: 'CustomRole',
      permissions,
      assignableScopes,
      createdAtScope: existing?.createdAtScope ?? scope,
      createdOn: existing?.createdOn ?? now,
      updatedOn: now,
      createdBy: existing?.createdBy ?? req.principal.principalId,
    };
    this.data.roleDefinitions[key(guid)] = def;
    this.ctx.changed();
    return ok(this.roleDefinitionBody(def, scope), 201);
  }

  private deleteRoleDefinition(req: ArmRequest, scope: string, guid: string): ArmResponse {
    this.authorize(req, 'Microsoft.Authorization/roleDefinitions/delete', scope);
    const def = this.data.roleDefinitions[key(guid)];
    if (!def) return { status: 204 };
    if (def.roleType === 'BuiltInRole') throw new ArmError(403, 'RoleDefinitionNotEditable', `The role definition '${guid}' is a built-in role and cannot be deleted.`);
    if (Object.values(this.data.roleAssignments).some((a) => key(lastSegment(a.roleDefinitionId)) === key(guid))) {
      throw new ArmError(409, 'RoleDefinitionHasAssignments', 'There are existing role assignments referencing role (code: RoleDefinitionHasAssignments).');
    }
    const body = this.roleDefinitionBody(def, scope);
    delete this.data.roleDefinitions[key(guid)];
    this.ctx.changed();
    return ok(body);
  }

  private mustRoleAssignment(guid: string, scope: string): SimRoleAssignment {
    const ra = this.data.roleAssignments[key(guid)];
    if (!ra || key(ra.scope) !== key(scope)) throw new ArmError(404, 'RoleAssignmentNotFound', `The role assignment '${guid}' is not found.`);
    return ra;
  }

  roleAssignmentBody(ra: SimRoleAssignment): Record<string, unknown> {
    return {
      id: `${ra.scope}/providers/Microsoft.Authorization/roleAssignments/${ra.guid}`,
      type: 'Microsoft.Authorization/roleAssignments',
      name: ra.guid,
      properties: {
        roleDefinitionId: ra.roleDefinitionId,
        principalId: ra.principalId,
        principalType: ra.principalType,
        scope: ra.scope,
        condition: null,
        conditionVersion: null,
        createdOn: ra.createdOn,
        updatedOn: ra.updatedOn,
        createdBy: ra.createdBy,
        updatedBy: ra.createdBy,
        delegatedManagedIdentityResourceId: null,
        description: ra.description ?? null,
      },
    };
  }

  private listRoleAssignments(scope: string, filter: string | null): Record<string, unknown>[] {
    const atScope = filter ? /atScope\(\)/i.test(filter) : false;
    const principal = filter ? /(?:principalId\s+eq\s+'([^']*)'|assignedTo\('([^']*)'\))/i.exec(filter) : null;
    const principalId = principal ? (principal[1] ?? principal[2]) : undefined;
    return Object.values(this.data.roleAssignments)
      .filter((a) => isAtOrAbove(a.scope, scope) || (!atScope && isAtOrAbove(scope, a.scope)))
      .filter((a) => principalId === undefined || key(a.principalId) === key(principalId))
      .map((a) => this.roleAssignmentBody(a));
  }

  private async putRoleAssignment(req: ArmRequest, scope: string, guid: string): Promise<ArmResponse> {
    if (!isGuid(guid)) throw badRequest('InvalidRoleAssignmentId', `The role assignment ID '${guid}' is not valid. The role assignment ID must be a GUID.`);
    this.authorize(req, 'Microsoft.Authorization/roleAssignments/write', scope);
    const body = isObject(req.body) ? req.body : {};
    const props = isObject(body.properties) ? body.properties : {};
    const roleDefinitionId = typeof props.roleDefinitionId === 'string' ? props.roleDefinitionId : '';
    const principalId = typeof props.principalId === 'string' ? props.principalId.toLowerCase() : '';
    if (!roleDefinitionId || !principalId) throw badRequest('InvalidRoleAssignmentRequest', 'The request must contain properties.roleDefinitionId and properties.principalId.');
    const def = this.data.roleDefinitions[key(lastSegment(roleDefinitionId))];
    if (!def) throw badRequest('RoleDefinitionDoesNotExist', `The specified role definition with ID '${lastSegment(roleDefinitionId)}' does not exist.`);
    if (!def.assignableScopes.some((s) => isAtOrAbove(s, scope))) {
      throw new ArmError(403, 'AuthorizationFailed', `The role definition '${def.guid}' is not assignable at scope '${scope}'. Its assignable scopes are ${def.assignableScopes.join(', ')}.`);
    }
    const principalType = typeof props.principalType === 'string' ? (props.principalType as PrincipalType) : undefined;
    await this.ctx.sleep(this.ctx.duration('roleAssignment'));
    const known = this.data.principals[principalId];
    const visible = known !== undefined && this.ctx.now() >= known.propagatedAt;
    // strictReplication: a principal the directory is still replicating is refused even with principalType;
    // a principal the simulator never saw (created outside ARM, e.g. an enterprise app) is taken on trust.
    const replicating = known !== undefined && !visible;
    if (!visible && (!principalType || (this.ctx.strictReplication && replicating))) {
      throw badRequest(
        'PrincipalNotFound',
        `Principal ${principalId.replace(/-/g, '')} does not exist in the directory ${this.data.tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`,
      );
    }
    if (visible && principalType && known && known.type !== principalType) {
      throw badRequest('UnmatchedPrincipalType', `The PrincipalId '${principalId.replace(/-/g, '')}' has type '${known.type}' , which is different from specified PrincipalType '${principalType}'.`);
    }
    const existing = this.data.roleAssignments[key(guid)];
    if (existing) {
      const same = key(existing.scope) === key(scope) && existing.principalId === principalId && key(lastSegment(existing.roleDefinitionId)) === key(def.guid);
      if (!same) {
        throw new ArmError(409, 'RoleAssignmentUpdateNotPermitted', 'Tenant ID, application ID, principal ID, and scope are not allowed to be updated.');
      }
      return ok(this.roleAssignmentBody(existing), 201);
    }
    const duplicate = Object.values(this.data.roleAssignments).find(
      (a) => a.principalId === principalId && key(a.scope) === key(scope) && key(lastSegment(a.roleDefinitionId)) === key(def.guid),
    );
    if (duplicate) throw new ArmError(409, 'RoleAssignmentExists', 'The role assignment already exists.');
    const now = iso(this.ctx.now());
    const sub = subscriptionOf(scope);
    const ra: SimRoleAssignment = {
      guid: guid.toLowerCase(),
      scope,
      roleDefinitionId: `${sub ? `/subscriptions/${sub}` : ''}/providers/Microsoft.Authorization/roleDefinitions/${def.guid}`,
      principalId,
      principalType: principalType ?? known?.type ?? 'ServicePrincipal',
      description: typeof props.description === 'string' ? props.description : undefined,
      createdOn: now,
      updatedOn: now,
      createdBy: req.principal.principalId,
    };
    this.data.roleAssignments[key(guid)] = ra;
    this.ctx.changed();
    return ok(this.roleAssignmentBody(ra), 201);
  }

  private deleteRoleAssignment(req: ArmRequest, scope: string, guid: string): ArmResponse {
    this.authorize(req, 'Microsoft.Authorization/roleAssignments/delete', scope);
    const ra = this.data.roleAssignments[key(guid)];
    if (!ra || key(ra.scope) !== key(scope)) return { status: 204 };
    const body = this.roleAssignmentBody(ra);
    delete this.data.roleAssignments[key(guid)];
    this.ctx.changed();
    return ok(body);
  }
}

// ---------------------------------------------------------------- helpers

const CONTAINER_TYPE = 'Microsoft.Storage/storageAccounts/blobServices/containers';

type IdStyle = 'plain' | 'compute' | 'msi';
const RG_TYPES: Record<string, { type: string; idStyle: IdStyle }> = {
  'microsoft.storage/storageaccounts': { type: 'Microsoft.Storage/storageAccounts', idStyle: 'plain' },
  'microsoft.containerregistry/registries': { type: 'Microsoft.ContainerRegistry/registries', idStyle: 'plain' },
  'microsoft.managedidentity/userassignedidentities': { type: 'Microsoft.ManagedIdentity/userAssignedIdentities', idStyle: 'msi' },
  'microsoft.compute/sshpublickeys': { type: 'Microsoft.Compute/sshPublicKeys', idStyle: 'compute' },
};
const SUB_LISTABLE: Record<string, string> = Object.fromEntries(Object.entries(RG_TYPES).map(([k, v]) => [k, v.type]));

const PROVIDER_TYPES: Record<string, string[]> = {
  'microsoft.storage': ['storageAccounts', 'checkNameAvailability', 'locations'],
  'microsoft.containerregistry': ['registries', 'checkNameAvailability', 'registries/operationStatuses'],
  'microsoft.managedidentity': ['userAssignedIdentities'],
  'microsoft.compute': ['virtualMachines', 'disks', 'snapshots', 'sshPublicKeys'],
  'microsoft.network': ['virtualNetworks', 'networkInterfaces', 'networkSecurityGroups', 'publicIPAddresses'],
};

/** Compute upper-cases the resource group in ids; managed identity writes `resourcegroups`. */
export function resourceId(sub: string, rg: string, type: string, name: string, style: IdStyle): string {
  if (style === 'compute') return `/subscriptions/${sub}/resourceGroups/${rg.toUpperCase()}/providers/${type}/${name}`;
  if (style === 'msi') return `/subscriptions/${sub}/resourcegroups/${rg}/providers/${type}/${name}`;
  return `/subscriptions/${sub}/resourceGroups/${rg}/providers/${type}/${name}`;
}

function findAuthorizationProvider(l: string[]): number {
  for (let i = 0; i + 2 < l.length; i++) {
    if (l[i] === 'providers' && l[i + 1] === 'microsoft.authorization') return i;
  }
  return -1;
}

/** True when `outer` is `inner` or an ancestor of it (case-insensitive path prefix). */
export function isAtOrAbove(outer: string, inner: string): boolean {
  const o = key(outer).replace(/\/+$/, '');
  const i = key(inner).replace(/\/+$/, '');
  return o === '' || o === i || i.startsWith(o + '/');
}

function subscriptionOf(scope: string): string | undefined {
  const m = /^\/subscriptions\/([^/]+)/i.exec(scope);
  return m ? m[1].toLowerCase() : undefined;
}

function lastSegment(id: string): string {
  const parts = id.split('/').filter(Boolean);
  return parts[parts.length - 1] ?? '';
}

function isGuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}

function stringArray(v: unknown): string[] {
  return Array.isArray(v) ? v.map(String) : [];
}

function normalizeLocation(loc: string): string {
  return loc.toLowerCase().replace(/\s+/g, '');
}

function isOpenSshPublicKey(s: string): boolean {
  try {
    sshpk.parseKey(s.replace(/[\r\n]+/g, ''), 'ssh');
    return true;
  } catch {
    return false;
  }
}

/** CRLF line breaks every 64 columns, as the Compute service returns keys. */
function wrap64(s: string): string {
  const lines: string[] = [];
  for (let i = 0; i < s.length; i += 64) lines.push(s.slice(i, i + 64));
  return lines.join('\r\n') + '\r\n';
}

export async function generateSshKeyPair(type: 'RSA' | 'Ed25519', bits: number): Promise<{ privateKey: string; publicKey: string }> {
  const pair = await new Promise<{ publicKey: string; privateKey: string }>((resolve, reject) => {
    const cb = (err: Error | null, publicKey: string, privateKey: string) => (err ? reject(err) : resolve({ publicKey, privateKey }));
    if (type === 'RSA') {
      crypto.generateKeyPair('rsa', { modulusLength: bits, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' } }, cb);
    } else {
      crypto.generateKeyPair('ed25519', { publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } }, cb);
    }
  });
  const pub = sshpk.parseKey(pair.publicKey, 'pem');
  pub.comment = 'generated-by-azure';
  const privateKey = type === 'RSA' ? pair.privateKey : sshpk.parsePrivateKey(pair.privateKey, 'pem').toString('ssh');
  return {
    publicKey: wrap64(pub.toString('ssh')),
    privateKey: privateKey.replace(/\r?\n/g, '\r\n'),
  };
}
