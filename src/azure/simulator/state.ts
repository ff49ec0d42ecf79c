import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const DEFAULT_TENANT_ID = '72f988bf-0000-4000-8000-00000000a11e';
export const DEFAULT_SUBSCRIPTION_ID = '00000000-0000-0000-0000-000000000001';

/** The five namespaces the Hopsworks getting-started guide registers. */
export const HOPSWORKS_PROVIDERS = [
  'Microsoft.Network',
  'Microsoft.Compute',
  'Microsoft.Storage',
  'Microsoft.ManagedIdentity',
  'Microsoft.ContainerRegistry',
] as const;

/** Namespaces that are always registered (ARM itself). */
const ALWAYS_REGISTERED = ['Microsoft.Resources', 'Microsoft.Authorization'];

/**
 * What the bot's own identity may do by default: the getting-started guide's operator list plus the
 * reads, deletes and registrations a careful provisioner needs.
 */
export const DEFAULT_BOT_ACTIONS: readonly string[] = [
  'Microsoft.Resources/subscriptions/resourceGroups/read',
  'Microsoft.Authorization/roleDefinitions/read',
  'Microsoft.Authorization/roleDefinitions/write',
  'Microsoft.Authorization/roleDefinitions/delete',
  'Microsoft.Authorization/roleAssignments/read',
  'Microsoft.Authorization/roleAssignments/write',
  'Microsoft.Authorization/roleAssignments/delete',
  'Microsoft.Storage/storageAccounts/read',
  'Microsoft.Storage/storageAccounts/write',
  'Microsoft.Storage/storageAccounts/delete',
  'Microsoft.Storage/storageAccounts/blobServices/containers/read',
  'Microsoft.Storage/storageAccounts/blobServices/containers/write',
  'Microsoft.Storage/storageAccounts/blobServices/containers/delete',
  'Microsoft.ContainerRegistry/registries/read',
  'Microsoft.ContainerRegistry/registries/write',
  'Microsoft.ContainerRegistry/registries/delete',
  'Microsoft.ContainerRegistry/registries/operationStatuses/read',
  'Microsoft.ManagedIdentity/userAssignedIdentities/read',
  'Microsoft.ManagedIdentity/userAssignedIdentities/write',
  'Microsoft.ManagedIdentity/userAssignedIdentities/delete',
  'Microsoft.Compute/sshPublicKeys/read',
  'Microsoft.Compute/sshPublicKeys/write',
  'Microsoft.Compute/sshPublicKeys/delete',
  'Microsoft.Compute/sshPublicKeys/generateKeyPair/action',
  ...HOPSWORKS_PROVIDERS.map((ns) => `${ns}/register/action`),
];

export type ProviderState = 'NotRegistered' | 'Registering' | 'Registered' | 'Unregistering';
export type PrincipalType = 'ServicePrincipal' | 'User' | 'Group';

export interface SimResourceGroup {
  name: string;
  location: string;
  tags: Record<string, string>;
}

export interface SimProvider {
  namespace: string;
  state: ProviderState;
  /** When a registration started with `register` completes (epoch ms). */
  readyAt?: number;
}

export interface SimSubscription {
  subscriptionId: string;
  displayName: string;
  resourceGroups: Record<string, SimResourceGroup>;
  providers: Record<string, SimProvider>;
}

export interface SimPrincipal {
  principalId: string;
  clientId: string;
  displayName: string;
  type: PrincipalType;
  /** Directory replication: role assignments without principalType fail before this time (epoch ms). */
  propagatedAt: number;
  /** ARM actions this principal holds (wildcards allowed); undefined means none. */
  actions?: string[];
  /** The managed identity resource id when the principal belongs to one. */
  identityResourceId?: string;
}

/** A tracked ARM resource (storage account, container, registry, identity, SSH key). */
export interface SimResource {
  id: string;
  type: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  location?: string;
  tags: Record<string, string>;
  sku?: Record<string, unknown>;
  kind?: string;
  properties: Record<string, unknown>;
  createdAt: number;
  /** A long-running create/update is done at this time (epoch ms). */
  readyAt: number;
  /** Test hook: a blob container that holds blobs. */
  hasBlobs?: boolean;
  createdBy: string;
}

export interface SimRoleDefinition {
  guid: string;
  roleName: string;
  description: string;
  roleType: 'BuiltInRole' | 'CustomRole';
  permissions: Array<{ actions: string[]; notActions: string[]; dataActions: string[]; notDataActions: string[] }>;
  assignableScopes: string[];
  /** Scope used in the create call; the returned id is built from its subscription. */
  createdAtScope: string;
  createdOn: string;
  updatedOn: string;
  createdBy: string;
}

export interface SimRoleAssignment {
  guid: string;
  scope: string;
  roleDefinitionId: string;
  principalId: string;
  principalType: PrincipalType;
  description?: string;
  createdOn: string;
  updatedOn: string;
  createdBy: string;
}

export interface SimOperation {
  id: string;
  resourceId: string;
  kind: 'create' | 'update' | 'delete';
  startedAt: number;
  readyAt: number;
}

export interface SimStateData {
  version: 1;
  tenantId: string;
  identityHeader: string;
  botPrincipalId: string;
  subscriptions: Record<string, SimSubscription>;
  principals: Record<string, SimPrincipal>;
  resources: Record<string, SimResource>;
  roleDefinitions: Record<string, SimRoleDefinition>;
  roleAssignments: Record<string, SimRoleAssignment>;
  operations: Record<string, SimOperation>;
  /** Global names (storage accounts, registries) held by someone outside the simulated subscriptions. */
  foreignNames: { storage: string[]; registry: string[] };
  /** sha256(token) -> principal, so tokens survive a restart without ever being stored. */
  tokens: Record<string, { principalId: string; expiresOn: number }>;
}

export interface SubscriptionSeed {
  subscriptionId: string;
  displayName: string;
  resourceGroups?: Array<{ name: string; location: string; tags?: Record<string, string> }>;
  /** Registration state per namespace; unspecified namespaces default to Registered. */
  providers?: Record<string, ProviderState>;
}

export interface PrincipalSeed {
  principalId?: string;
  clientId?: string;
  displayName: string;
  type?: PrincipalType;
  actions?: string[];
}

export const DEFAULT_SUBSCRIPTIONS: SubscriptionSeed[] = [
  {
    subscriptionId: DEFAULT_SUBSCRIPTION_ID,
    displayName: 'Sandbox subscription',
    resourceGroups: [
      { name: 'rg-hopsworks-dev', location: 'westeurope', tags: { environment: 'dev' } },
      { name: 'rg-hopsworks-prod', location: 'northeurope', tags: { environment: 'prod' } },
      { name: 'rg-analytics', location: 'eastus' },
    ],
    providers: { 'Microsoft.ContainerRegistry': 'NotRegistered', 'Microsoft.ManagedIdentity': 'NotRegistered' },
  },
];

export const BUILTIN_ROLES: Array<Pick<SimRoleDefinition, 'guid' | 'roleName' | 'description' | 'permissions'>> = [
  { guid: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635', roleName: 'Owner', description: 'Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.', permissions: [{ actions: ['*'], notActions: [], dataActions: [], notDataActions: [] }] },
  { guid: 'b24988ac-6180-42a0-ab88-20f7382dd24c', roleName: 'Contributor', description: 'Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.', permissions: [{ actions: ['*'], notActions: ['Microsoft.Authorization/*/Delete', 'Microsoft.Authorization/*/Write', 'Microsoft.Authorization/elevateAccess/Action'], dataActions: [], notDataActions: [] }] },
  { guid: 'acdd72a7-3385-48ef-bd42-f606fba81ae7', roleName: 'Reader', description: 'View all resources, but does not allow you to make any changes.', permissions: [{ actions: ['*/read'], notActions: [], dataActions: [], notDataActions: [] }] },
  { guid: '7f951dda-4ed3-4680-a7ca-43fe172d538d', roleName: 'AcrPull', description: 'acr pull', permissions: [{ actions: ['Microsoft.ContainerRegistry/registries/pull/read'], notActions: [], dataActions: [], notDataActions: [] }] },
  { guid: '8311e382-0749-4cb8-b61a-304f252e45ec', roleName: 'AcrPush', description: 'acr push', permissions: [{ actions: ['Microsoft.ContainerRegistry/registries/pull/read', 'Microsoft.ContainerRegistry/registries/push/write'], notActions: [], dataActions: [], notDataActions: [] }] },
  { guid: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe', roleName: 'Storage Blob Data Contributor', description: 'Allows for read, write and delete access to Azure Storage blob containers and data', permissions: [{ actions: ['Microsoft.Storage/storageAccounts/blobServices/containers/delete', 'Microsoft.Storage/storageAccounts/blobServices/containers/read', 'Microsoft.Storage/storageAccounts/blobServices/containers/write', 'Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action'], notActions: [], dataActions: ['Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete', 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read', 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write', 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action', 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action'], notDataActions: [] }] },
];

export function key(s: string): string {
  return s.toLowerCase();
}

/** True when `action` is granted by the pattern list (ARM wildcards, case-insensitive). */
export function actionAllowed(patterns: readonly string[] | undefined, action: string): boolean {
  if (!patterns) return false;
  const a = action.toLowerCase();
  return patterns.some((p) => {
    const rx = new RegExp('^' + p.toLowerCase().split('*').map(escapeRx).join('.*') + '$');
    return rx.test(a);
  });
}

function escapeRx(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function newState(opts: {
  tenantId?: string;
  subscriptions?: SubscriptionSeed[];
  botActions?: string[];
  principals?: PrincipalSeed[];
  identityHeader?: string;
  unregisteredProviders?: string[];
}): SimStateData {
  const tenantId = opts.tenantId ?? DEFAULT_TENANT_ID;
  const subscriptions: Record<string, SimSubscription> = {};
  const seeds = opts.subscriptions ?? DEFAULT_SUBSCRIPTIONS.map((s) => ({
    ...s,
    providers: opts.unregisteredProviders ? Object.fromEntries(opts.unregisteredProviders.map((ns) => [ns, 'NotRegistered' as const])) : s.providers,
  }));
  for (const seed of seeds) {
    subscriptions[key(seed.subscriptionId)] = seedSubscription(seed);
  }
  const botPrincipalId = crypto.randomUUID();
  const principals: Record<string, SimPrincipal> = {
    [botPrincipalId]: {
      principalId: botPrincipalId,
      clientId: crypto.randomUUID(),
      displayName: 'hopsworks-setup-bot',
      type: 'ServicePrincipal',
      propagatedAt: 0,
      actions: [...(opts.botActions ?? DEFAULT_BOT_ACTIONS)],
    },
  };
  for (const p of opts.principals ?? []) {
    const principalId = (p.principalId ?? crypto.randomUUID()).toLowerCase();
    principals[principalId] = {
      principalId,
      clientId: p.clientId ?? crypto.randomUUID(),
      displayName: p.displayName,
      type: p.type ?? 'ServicePrincipal',
      propagatedAt: 0,
      actions: p.actions,
    };
  }
  const roleDefinitions: Record<string, SimRoleDefinition> = {};
  for (const b of BUILTIN_ROLES) {
    roleDefinitions[b.guid] = {
      ...b,
      roleType: 'BuiltInRole',
      assignableScopes: ['/'],
      createdAtScope: '/',
      createdOn: '2015-02-02T21:55:09.8806423Z',
      updatedOn: '2024-01-01T00:00:00.0000000Z',
      createdBy: 'system',
    };
  }
  return {
    version: 1,
    tenantId,
    identityHeader: opts.identityHeader ?? crypto.randomBytes(24).toString('base64url'),
    botPrincipalId,
    subscriptions,
    principals,
    resources: {},
    roleDefinitions,
    roleAssignments: {},
    operations: {},
    foreignNames: { storage: [], registry: [] },
    tokens: {},
  };
}

export function seedSubscription(seed: SubscriptionSeed): SimSubscription {
  const sub: SimSubscription = {
    subscriptionId: seed.subscriptionId.toLowerCase(),
    displayName: seed.displayName,
    resourceGroups: {},
    providers: {},
  };
  for (const rg of seed.resourceGroups ?? []) {
    sub.resourceGroups[key(rg.name)] = { name: rg.name, location: rg.location, tags: rg.tags ?? {} };
  }
  for (const ns of [...HOPSWORKS_PROVIDERS, ...ALWAYS_REGISTERED]) {
    sub.providers[key(ns)] = { namespace: ns, state: seed.providers?.[ns] ?? 'Registered' };
  }
  for (const [ns, state] of Object.entries(seed.providers ?? {})) {
    sub.providers[key(ns)] = { namespace: ns, state };
  }
  return sub;
}

/** Loads persisted state, or undefined when the file does not exist. A corrupt file is an error. */
export function loadState(file: string): SimStateData | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const data = JSON.parse(text) as SimStateData;
  if (data.version !== 1 || typeof data.subscriptions !== 'object') {
    throw new Error(`${file} is not an ARM simulator state file (version ${String(data.version)})`);
  }
  data.tokens ??= {};
  data.operations ??= {};
  data.foreignNames ??= { storage: [], registry: [] };
  return data;
}

export function saveState(file: string, data: SimStateData): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(data, null, 1), { mode: 0o600 });
  fs.renameSync(tmp, file);
}
