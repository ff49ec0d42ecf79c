import type { RoleDefinition } from '@azure/arm-authorization';
import { BotError } from '../core/errors';
import { assertAcyclic, computePlanHash } from '../core/plan';
import type { Plan, PlanStep, SetupOptions, Target } from '../core/types';
import {
  botTags,
  deterministicGuid,
  isBotTagged,
  resourceGroupScope,
  resourceId,
  roleAssignmentName,
  roleDefinitionResourceId,
  sameId,
  subscriptionScope,
  tagValue,
  TAG_REQUEST,
} from './arm';
import type { SubscriptionClients } from './clients';
import type { Ctx } from './context';
import { estimateCost } from './cost';
import { armErrorInfo, isNotFound } from './errors';
import {
  parsePublicKey,
  randomSuffix,
  REGISTRY_RULE,
  STORAGE_ACCOUNT_RULE,
  validateOptions,
} from './naming';
import { missingActions, requiredActionsForPlan, type PermissionEntry } from './permissions';
import {
  botRoleDescription,
  HOPSWORKS_APP_ID,
  HOPSWORKS_ROLE_ACTIONS,
  HOPSWORKS_ROLE_DESCRIPTION,
  INSTANCE_ROLE_ACTIONS,
  INSTANCE_ROLE_DATA_ACTIONS,
  INSTANCE_ROLE_DESCRIPTION,
  isBotRole,
  sameActions,
} from './roles';

/** The providers the guide registers, in its order. */
export const REQUIRED_PROVIDERS = ['Microsoft.Network', 'Microsoft.Compute', 'Microsoft.Storage', 'Microsoft.ManagedIdentity', 'Microsoft.ContainerRegistry'] as const;

/** Modelled durations (s) for progress estimates and the critical path; reuse steps are a read. */
export const STEP_SECONDS: Record<PlanStep['kind'], number> = {
  registerProvider: 40,
  storageAccount: 25,
  blobContainer: 1,
  containerRegistry: 20,
  registryRetention: 3,
  managedIdentity: 2,
  roleDefinition: 1,
  roleAssignment: 12,
  sshPublicKey: 1,
  hopsworksRoleDefinition: 1,
  hopsworksRoleAssignment: 2,
};
const READ_SECONDS = 0.3;

/**
 * Standard_RAGRS: what the guide's `az storage account create` gets by default and what Hopsworks' Terraform
 * helper sets; backups of a feature store are worth the geo-redundant copy. (LRS is cheaper per GB, see prices.json.)
 */
export const STORAGE_SKU = 'Standard_RAGRS';
export const STORAGE_KIND = 'StorageV2';

/** The reads preflight itself does in the resource group. */
export const PLAN_READS = [
  'Microsoft.Resources/subscriptions/resourceGroups/read',
  'Microsoft.Storage/storageAccounts/read',
  'Microsoft.Storage/storageAccounts/blobServices/containers/read',
  'Microsoft.ContainerRegistry/registries/read',
  'Microsoft.ManagedIdentity/userAssignedIdentities/read',
  'Microsoft.Compute/sshPublicKeys/read',
  'Microsoft.Authorization/roleDefinitions/read',
  'Microsoft.Authorization/roleAssignments/read',
];
/** Blob container metadata keys must be C# identifiers, so they differ from the resource tags. */
export const CONTAINER_META_REQUEST = 'hopsworks_setup_request';
export const CONTAINER_META_MANAGED_BY = 'managed_by';

export interface ResourceGroupFacts {
  name: string;
  location: string;
}

/** Reads the resource group; `VALIDATION` (field resourceGroup) when it does not exist. */
export async function readResourceGroup(c: SubscriptionClients, name: string): Promise<ResourceGroupFacts> {
  const exists = await c.resources.resourceGroups.checkExistence(name);
  if (!exists.body) {
    throw new BotError('VALIDATION', `Resource group "${name}" does not exist in subscription ${c.subscriptionId}. Create it first or pick another one.`, {
      details: { field: 'resourceGroup' },
    });
  }
  const rg = await c.resources.resourceGroups.get(name);
  return { name: rg.name ?? name, location: rg.location };
}

export async function readPermissions(c: SubscriptionClients, rg: string): Promise<PermissionEntry[]> {
  const out: PermissionEntry[] = [];
  for await (const p of c.authorization.permissions.listForResourceGroup(rg)) out.push(p);
  return out;
}

async function getOrUndefined<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function storageNameAvailable(c: SubscriptionClients, name: string): Promise<{ available: boolean; message?: string }> {
  const r = await c.storage.storageAccounts.checkNameAvailability({ name, type: 'Microsoft.Storage/storageAccounts' });
  return { available: r.nameAvailable === true, message: r.message };
}

export async function registryNameAvailable(c: SubscriptionClients, name: string): Promise<{ available: boolean; message?: string }> {
  const r = await c.registry.registries.checkNameAvailability({ name, type: 'Microsoft.ContainerRegistry/registries' });
  return { available: r.nameAvailable === true, message: r.message };
}

/**
 * Custom roles with this display name. Names are unique per tenant but a role is only listed at scopes it is
 * assignable at, so the target subscription is searched first, then every other subscription the identity sees.
 */
export async function listRolesByName(ctx: Ctx, c: SubscriptionClients, roleName: string): Promise<RoleDefinition[]> {
  const filter = `roleName eq '${roleName.replace(/'/g, "''")}'`;
  const inSubscription = async (sc: SubscriptionClients): Promise<RoleDefinition[]> => {
    const out: RoleDefinition[] = [];
    for await (const r of sc.authorization.roleDefinitions.list(subscriptionScope(sc.subscriptionId), { filter })) {
      if ((r.roleName ?? '').toLowerCase() === roleName.toLowerCase()) out.push(r);
    }
    return out;
  };
  const here = await inSubscription(c);
  if (here.length > 0) return here;
  for await (const sub of ctx.clients.subscriptions.subscriptions.list()) {
    if (!sub.subscriptionId || sub.subscriptionId.toLowerCase() === c.subscriptionId.toLowerCase()) continue;
    const there = await inSubscription(ctx.clients.forSubscription(sub.subscriptionId)).catch(() => []);
    if (there.length > 0) return there;
  }
  return [];
}

interface RoleWant {
  stepId: 'roleDefinition' | 'hopsworksRoleDefinition';
  roleName: string;
  baseDescription: string;
  actions: readonly string[];
  dataActions: readonly string[];
}

interface RolePlan {
  step: PlanStep;
  /** Known now when the role exists (reuse/update); else computed from the GUID. */
  roleDefinitionId: string;
}

/**
 * Custom role names are unique per tenant: reuse a role with the same permissions (adding our resource group
 * to its assignable scopes when needed, if the bot may write the role at every scope it already has), repair
 * our own role's drifted actions, or pick another name. The decision is made here so apply never meets
 * RoleDefinitionWithSameNameExists.
 */
async function planRole(ctx: Ctx, c: SubscriptionClients, target: Target, requestId: string, want: RoleWant, warnings: string[]): Promise<RolePlan> {
  const rgScope = resourceGroupScope(target.subscriptionId, target.resourceGroup);
  const permissions = (actions: readonly string[], dataActions: readonly string[]) => ({
    actions: [...actions],
    notActions: [] as string[],
    dataActions: [...dataActions],
    notDataActions: [] as string[],
  });
  let name = want.roleName;
  for (let attempt = 0; attempt < 8; attempt++) {
    const existing = await listRolesByName(ctx, c, name);
    const role = existing[0];
    if (!role) {
      const guid = deterministicGuid('roleDefinition', target.subscriptionId, name);
      if (name !== want.roleName) warnings.push(`A custom role named "${want.roleName}" already exists in the tenant with other permissions, so this plan creates "${name}" instead.`);
      const id = roleDefinitionResourceId(target.subscriptionId, guid);
      return {
        roleDefinitionId: id,
        step: {
          id: want.stepId,
          kind: want.stepId,
          action: 'create',
          title: `Create custom role "${name}" assignable at resource group ${target.resourceGroup}`,
          resourceId: id,
          properties: {
            roleName: name,
            roleDefinitionGuid: guid,
            description: botRoleDescription(want.baseDescription, requestId),
            roleType: 'CustomRole',
            permissions: [permissions(want.actions, want.dataActions)],
            assignableScopes: [rgScope],
            scope: rgScope,
          },
          dependsOn: [],
          estimatedSeconds: STEP_SECONDS[want.stepId],
        },
      };
    }
    const perm = role.permissions?.[0] ?? {};
    const actionsMatch =
      (role.permissions?.length ?? 0) <= 1 &&
      sameActions(perm.actions, want.actions) &&
      sameActions(perm.dataActions, want.dataActions) &&
      (perm.notActions ?? []).length === 0 &&
      (perm.notDataActions ?? []).length === 0;
    const scopes = role.assignableScopes ?? [];
    const inScope = scopes.some((s) => sameId(s, rgScope));
    const guid = role.name as string;
    const id = role.id ?? roleDefinitionResourceId(target.subscriptionId, guid);
    const base = {
      roleName: role.roleName ?? name,
      roleDefinitionGuid: guid,
      description: role.description ?? '',
      roleType: 'CustomRole',
      permissions: [permissions(want.actions, want.dataActions)],
      scope: rgScope,
    };
    if (actionsMatch && inScope) {
      return {
        roleDefinitionId: id,
        step: {
          id: want.stepId,
          kind: want.stepId,
          action: 'reuse',
          title: `Reuse custom role "${base.roleName}" (same permissions, already assignable here)`,
          resourceId: id,
          properties: { ...base, assignableScopes: scopes },
          dependsOn: [],
          estimatedSeconds: READ_SECONDS,
        },
      };
    }
    if (actionsMatch && role.roleType === 'CustomRole' && (await mayWriteRoleAtScopes(c, scopes))) {
      warnings.push(`Custom role "${base.roleName}" already exists with the same permissions; the plan adds resource group ${target.resourceGroup} to its assignable scopes instead of creating a duplicate.`);
      return {
        roleDefinitionId: id,
        step: {
          id: want.stepId,
          kind: want.stepId,
          action: 'update',
          title: `Add resource group ${target.resourceGroup} to the assignable scopes of custom role "${base.roleName}"`,
          resourceId: id,
          properties: { ...base, assignableScopes: [...scopes, rgScope] },
          dependsOn: [],
          estimatedSeconds: STEP_SECONDS[want.stepId],
        },
      };
    }
    if (!actionsMatch && inScope && isBotRole(role.description) && role.roleType === 'CustomRole' && (await mayWriteRoleAtScopes(c, scopes))) {
      warnings.push(`Drift: custom role "${base.roleName}" no longer has the guide's permissions; the plan restores them.`);
      return {
        roleDefinitionId: id,
        step: {
          id: want.stepId,
          kind: want.stepId,
          action: 'update',
          title: `Restore the guide's permissions on custom role "${base.roleName}"`,
          resourceId: id,
          properties: { ...base, assignableScopes: scopes },
          dependsOn: [],
          estimatedSeconds: STEP_SECONDS[want.stepId],
        },
      };
    }
    name = `${want.roleName}-${attempt === 0 ? target.resourceGroup.toLowerCase().replace(/[^a-z0-9-]/g, '').slice(0, 40) : randomSuffix(ctx.opts.random, 6)}`;
  }
  throw new BotError('VALIDATION', `Could not find a free custom role name starting with "${want.roleName}". Type another role name.`, {
    details: { field: 'roleName' },
  });
}

/** Updating a role means writing it at every assignable scope it has; only resource-group scopes of this subscription can be checked. */
async function mayWriteRoleAtScopes(c: SubscriptionClients, scopes: string[]): Promise<boolean> {
  for (const s of scopes) {
    const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)$/i.exec(s);
    if (!m || m[1].toLowerCase() !== c.subscriptionId.toLowerCase()) return false;
    try {
      const entries = await readPermissions(c, m[2]);
      if (missingActions(entries, ['Microsoft.Authorization/roleDefinitions/write']).length > 0) return false;
    } catch {
      return false;
    }
  }
  return true;
}

async function findAssignment(
  c: SubscriptionClients,
  scope: string,
  principalId: string,
  roleDefinitionId: string,
): Promise<{ id: string; name: string } | undefined> {
  for await (const a of c.authorization.roleAssignments.listForScope(scope, { filter: `principalId eq '${principalId}'` })) {
    if (a.principalId === principalId && sameId(a.roleDefinitionId?.split('/').pop(), roleDefinitionId.split('/').pop()) && sameId(a.scope ?? scope, scope)) {
      return { id: a.id as string, name: a.name as string };
    }
  }
  return undefined;
}

export interface SetupPreflightInput {
  requestId: string;
  target: Target;
  options: SetupOptions;
}

/** Read-only: checks the target, names, providers and permissions and returns the setup plan. */
export async function planSetup(ctx: Ctx, input: SetupPreflightInput): Promise<Plan> {
  const { requestId, options } = input;
  validateOptions(options);
  const c = ctx.clients.forSubscription(input.target.subscriptionId);
  const rg = await readResourceGroup(c, input.target.resourceGroup);
  const target: Target = { ...input.target, resourceGroup: rg.name, location: rg.location };
  const sub = target.subscriptionId;
  const rgName = rg.name;
  const location = rg.location;
  const rgScope = resourceGroupScope(sub, rgName);
  const tags = botTags(requestId);
  // Without these reads no honest plan can be made (every "exists?" check would be a guess): say so up front.
  const entries = await readPermissions(c, rgName);
  const missingReads = missingActions(entries, PLAN_READS);
  if (missingReads.length > 0) {
    throw new BotError(
      'MISSING_PERMISSIONS',
      `The bot's identity cannot read what it must check in ${rgName}: ${missingReads.join(', ')}. An Azure admin must grant them (manifest/azure/bot-role.json) before a plan can be made.`,
      { details: { missingPermissions: missingReads, resourceGroup: rgName } },
    );
  }
  const warnings: string[] = [];
  const steps: PlanStep[] = [];
  if (input.target.location && input.target.location.toLowerCase() !== location.toLowerCase()) {
    warnings.push(`Resource group ${rgName} is in ${location}; every resource goes there (not ${input.target.location}).`);
  }

  // Providers: registered ones are a read; the rest are registered (there is no poller: the step polls).
  for (const ns of REQUIRED_PROVIDERS) {
    const p = await c.resources.providers.get(ns);
    const registered = (p.registrationState ?? '').toLowerCase() === 'registered';
    steps.push({
      id: `provider:${ns}`,
      kind: 'registerProvider',
      action: registered ? 'reuse' : 'create',
      title: registered ? `Resource provider ${ns} is registered` : `Register resource provider ${ns} on the subscription`,
      resourceId: `${subscriptionScope(sub)}/providers/${ns}`,
      properties: { namespace: ns },
      dependsOn: [],
      estimatedSeconds: registered ? READ_SECONDS : STEP_SECONDS.registerProvider,
    });
  }

  // Storage account (global name) and the empty container.
  const sa = await getOrUndefined(() => c.storage.storageAccounts.getProperties(rgName, options.storageAccountName));
  if (sa) {
    const drift: Record<string, unknown> = {};
    if (sa.minimumTlsVersion !== 'TLS1_2') drift.minimumTlsVersion = 'TLS1_2';
    if (sa.allowBlobPublicAccess !== false) drift.allowBlobPublicAccess = false;
    if (sa.enableHttpsTrafficOnly !== true) drift.enableHttpsTrafficOnly = true;
    const ours = isBotTagged(sa.tags);
    if (!ours) warnings.push(`Storage account ${sa.name} already exists in ${rgName} and was not created by the bot: it is reused and a teardown will keep it.`);
    if (Object.keys(drift).length > 0) {
      warnings.push(`Drift: storage account ${sa.name} has ${Object.keys(drift).join(', ')} different from the guide's secure settings; the plan fixes them.`);
      steps.push({
        id: 'storageAccount',
        kind: 'storageAccount',
        action: 'update',
        title: `Update storage account ${sa.name}: ${Object.entries(drift).map(([k, v]) => `${k}=${String(v)}`).join(', ')}`,
        resourceId: sa.id,
        properties: { name: sa.name, minimumTlsVersion: 'TLS1_2', allowBlobPublicAccess: false, enableHttpsTrafficOnly: true },
        dependsOn: ['provider:Microsoft.Storage'],
        estimatedSeconds: 3,
      });
    } else {
      steps.push({
        id: 'storageAccount',
        kind: 'storageAccount',
        action: 'reuse',
        title: `Reuse storage account ${sa.name} (${sa.sku?.name ?? 'unknown SKU'}, ${sa.location})`,
        resourceId: sa.id,
        properties: { name: sa.name, sku: sa.sku?.name, kind: sa.kind, requestTag: tagValue(sa.tags, TAG_REQUEST) },
        dependsOn: ['provider:Microsoft.Storage'],
        estimatedSeconds: READ_SECONDS,
      });
    }
  } else {
    const avail = await storageNameAvailable(c, options.storageAccountName);
    if (!avail.available) {
      throw new BotError('VALIDATION', `Storage account name "${options.storageAccountName}" is already taken in Azure. ${STORAGE_ACCOUNT_RULE.rule}`, {
        details: { field: 'storageAccountName', rule: STORAGE_ACCOUNT_RULE.rule, azureMessage: avail.message },
      });
    }
    steps.push({
      id: 'storageAccount',
      kind: 'storageAccount',
      action: 'create',
      title: `Create storage account ${options.storageAccountName} (${STORAGE_KIND}, ${STORAGE_SKU}, TLS 1.2, HTTPS only, no public blob access) in ${location}`,
      resourceId: resourceId(sub, rgName, 'Microsoft.Storage', 'storageAccounts', options.storageAccountName),
      properties: {
        name: options.storageAccountName,
        location,
        kind: STORAGE_KIND,
        sku: STORAGE_SKU,
        minimumTlsVersion: 'TLS1_2',
        allowBlobPublicAccess: false,
        enableHttpsTrafficOnly: true,
        tags,
      },
      dependsOn: ['provider:Microsoft.Storage'],
      estimatedSeconds: STEP_SECONDS.storageAccount,
    });
  }
  const containerId = `${resourceId(sub, rgName, 'Microsoft.Storage', 'storageAccounts', options.storageAccountName)}/blobServices/default/containers/${options.containerName}`;
  const container = sa ? await getOrUndefined(() => c.storage.blobContainers.get(rgName, options.storageAccountName, options.containerName)) : undefined;
  if (container) {
    warnings.push(`Blob container ${options.containerName} already exists and is reused: managed.hopsworks.ai requires it to be empty for a new cluster.`);
    steps.push({
      id: 'blobContainer',
      kind: 'blobContainer',
      action: 'reuse',
      title: `Reuse blob container ${options.containerName}`,
      resourceId: container.id ?? containerId,
      properties: { accountName: options.storageAccountName, name: options.containerName },
      dependsOn: ['storageAccount'],
      estimatedSeconds: READ_SECONDS,
    });
  } else {
    steps.push({
      id: 'blobContainer',
      kind: 'blobContainer',
      action: 'create',
      title: `Create empty blob container ${options.containerName} (private)`,
      resourceId: containerId,
      properties: {
        accountName: options.storageAccountName,
        name: options.containerName,
        publicAccess: 'None',
        metadata: { [CONTAINER_META_REQUEST]: requestId, [CONTAINER_META_MANAGED_BY]: 'hopsworks_setup_bot' },
      },
      dependsOn: ['storageAccount'],
      estimatedSeconds: STEP_SECONDS.blobContainer,
    });
  }

  // Container registry (global name), Premium, then the retention policy as its own step.
  const reg = await getOrUndefined(() => c.registry.registries.get(rgName, options.registryName));
  const retentionWanted = { registryName: options.registryName, days: options.acrRetentionDays, status: 'enabled', type: 'UntaggedManifests' };
  if (reg) {
    const notPremium = reg.sku?.name !== 'Premium';
    const adminOn = reg.adminUserEnabled === true;
    if (!isBotTagged(reg.tags)) warnings.push(`Container registry ${reg.name} already exists in ${rgName} and was not created by the bot: it is reused and a teardown will keep it.`);
    if (notPremium || adminOn) {
      warnings.push(
        `Drift: container registry ${reg.name} ${[notPremium ? `is ${reg.sku?.name ?? 'not Premium'} (retention needs Premium)` : '', adminOn ? 'has the admin user enabled' : ''].filter(Boolean).join(' and ')}; the plan changes it to Premium with the admin user off.`,
      );
      steps.push({
        id: 'containerRegistry',
        kind: 'containerRegistry',
        action: 'update',
        title: `Update container registry ${reg.name}: Premium SKU, admin user off`,
        resourceId: reg.id,
        properties: { name: reg.name, sku: 'Premium', adminUserEnabled: false },
        dependsOn: ['provider:Microsoft.ContainerRegistry'],
        estimatedSeconds: 10,
      });
    } else {
      steps.push({
        id: 'containerRegistry',
        kind: 'containerRegistry',
        action: 'reuse',
        title: `Reuse container registry ${reg.name} (Premium)`,
        resourceId: reg.id,
        properties: { name: reg.name, sku: 'Premium', requestTag: tagValue(reg.tags, TAG_REQUEST) },
        dependsOn: ['provider:Microsoft.ContainerRegistry'],
        estimatedSeconds: READ_SECONDS,
      });
    }
    const ret = reg.policies?.retentionPolicy;
    const retOk = (ret?.status ?? '').toLowerCase() === 'enabled' && ret?.days === options.acrRetentionDays;
    if (!retOk) {
      warnings.push(
        `Drift: registry ${reg.name} retention for untagged manifests is ${(ret?.status ?? 'disabled').toLowerCase() === 'enabled' ? `${ret?.days} days` : 'off'}; the plan sets it to ${options.acrRetentionDays} days.`,
      );
    }
    steps.push({
      id: 'registryRetention',
      kind: 'registryRetention',
      action: retOk ? 'reuse' : 'update',
      title: retOk ? `Registry retention for untagged manifests is ${options.acrRetentionDays} days` : `Set registry retention for untagged manifests to ${options.acrRetentionDays} days`,
      resourceId: reg.id,
      properties: retentionWanted,
      dependsOn: ['containerRegistry'],
      estimatedSeconds: retOk ? READ_SECONDS : STEP_SECONDS.registryRetention,
    });
  } else {
    const avail = await registryNameAvailable(c, options.registryName);
    if (!avail.available) {
      throw new BotError('VALIDATION', `Container registry name "${options.registryName}" is already taken in Azure. ${REGISTRY_RULE.rule}`, {
        details: { field: 'registryName', rule: REGISTRY_RULE.rule, azureMessage: avail.message },
      });
    }
    const regId = resourceId(sub, rgName, 'Microsoft.ContainerRegistry', 'registries', options.registryName);
    steps.push({
      id: 'containerRegistry',
      kind: 'containerRegistry',
      action: 'create',
      title: `Create container registry ${options.registryName} (Premium, admin user off) in ${location}`,
      resourceId: regId,
      properties: { name: options.registryName, location, sku: 'Premium', adminUserEnabled: false, tags },
      dependsOn: ['provider:Microsoft.ContainerRegistry'],
      estimatedSeconds: STEP_SECONDS.containerRegistry,
    });
    steps.push({
      id: 'registryRetention',
      kind: 'registryRetention',
      action: 'update',
      title: `Set registry retention for untagged manifests to ${options.acrRetentionDays} days`,
      resourceId: regId,
      properties: retentionWanted,
      dependsOn: ['containerRegistry'],
      estimatedSeconds: STEP_SECONDS.registryRetention,
    });
  }

  // User-assigned identity, its custom role and the assignment.
  const identity = await getOrUndefined(() => c.msi.userAssignedIdentities.get(rgName, options.identityName));
  if (identity && !isBotTagged(identity.tags)) {
    warnings.push(`Managed identity ${options.identityName} already exists in ${rgName} and was not created by the bot: it is reused and a teardown will keep it.`);
  }
  steps.push({
    id: 'managedIdentity',
    kind: 'managedIdentity',
    action: identity ? 'reuse' : 'create',
    title: identity ? `Reuse managed identity ${options.identityName}` : `Create user-assigned managed identity ${options.identityName} in ${location}`,
    resourceId: identity?.id ?? resourceId(sub, rgName, 'Microsoft.ManagedIdentity', 'userAssignedIdentities', options.identityName),
    properties: identity ? { name: options.identityName, principalId: identity.principalId } : { name: options.identityName, location, tags },
    dependsOn: ['provider:Microsoft.ManagedIdentity'],
    estimatedSeconds: identity ? READ_SECONDS : STEP_SECONDS.managedIdentity,
  });
  const instanceRole = await planRole(ctx, c, target, requestId, {
    stepId: 'roleDefinition',
    roleName: options.roleName,
    baseDescription: INSTANCE_ROLE_DESCRIPTION,
    actions: INSTANCE_ROLE_ACTIONS,
    dataActions: INSTANCE_ROLE_DATA_ACTIONS,
  }, warnings);
  steps.push(instanceRole.step);
  steps.push(
    await planAssignment(c, {
      stepId: 'roleAssignment',
      kind: 'roleAssignment',
      scope: rgScope,
      principalId: identity?.principalId,
      principalStep: 'managedIdentity',
      role: instanceRole,
      dependsOn: ['managedIdentity', 'roleDefinition'],
      title: (a) =>
        a === 'reuse'
          ? `Role "${String(instanceRole.step.properties.roleName)}" is already assigned to ${options.identityName} on ${rgName}`
          : `Assign role "${String(instanceRole.step.properties.roleName)}" to ${options.identityName} on resource group ${rgName} (retries while the identity replicates)`,
    }),
  );

  // SSH public key: generated by Azure (private key sent once to the requester) or the requester's own.
  const key = await getOrUndefined(() => c.compute.sshPublicKeys.get(rgName, options.sshKeyName));
  if (key) {
    if (!isBotTagged(key.tags)) warnings.push(`SSH key ${options.sshKeyName} already exists in ${rgName} and was not created by the bot: it is reused and a teardown will keep it.`);
    if (options.sshKeyMode === 'generate') warnings.push(`SSH key ${options.sshKeyName} already exists, so no new key pair is generated and no private key will be sent.`);
    if (options.sshKeyMode === 'provided' && options.sshPublicKey) {
      const parsed = parsePublicKey(options.sshPublicKey);
      if ((key.publicKey ?? '').replace(/\s+/g, ' ').trim().split(' ').slice(0, 2).join(' ') !== parsed.openssh.split(' ').slice(0, 2).join(' ')) {
        warnings.push(`SSH key ${options.sshKeyName} already exists with a different public key; it is reused as is. Choose another SSH key name to upload yours.`);
      }
    }
    steps.push({
      id: 'sshPublicKey',
      kind: 'sshPublicKey',
      action: 'reuse',
      title: `Reuse SSH key ${options.sshKeyName}`,
      resourceId: key.id,
      properties: { name: options.sshKeyName },
      dependsOn: ['provider:Microsoft.Compute'],
      estimatedSeconds: READ_SECONDS,
    });
  } else {
    const id = resourceId(sub, rgName, 'Microsoft.Compute', 'sshPublicKeys', options.sshKeyName);
    if (options.sshKeyMode === 'provided') {
      const parsed = parsePublicKey(options.sshPublicKey);
      if (parsed.type === 'ed25519') {
        warnings.push('The SSH key is ED25519: Azure VMs accept it, but the sshPublicKeys API reference still documents ssh-rsa only; use an RSA key if managed.hopsworks.ai rejects it.');
      }
      steps.push({
        id: 'sshPublicKey',
        kind: 'sshPublicKey',
        action: 'create',
        title: `Upload your SSH public key as ${options.sshKeyName} (${parsed.type.toUpperCase()} ${parsed.bits} bits, ${parsed.fingerprint})`,
        resourceId: id,
        properties: { name: options.sshKeyName, location, tags, publicKey: parsed.openssh, fingerprint: parsed.fingerprint, generateKeyPair: false },
        dependsOn: ['provider:Microsoft.Compute'],
        estimatedSeconds: STEP_SECONDS.sshPublicKey,
      });
    } else {
      steps.push({
        id: 'sshPublicKey',
        kind: 'sshPublicKey',
        action: 'create',
        title: `Create SSH key ${options.sshKeyName} and let Azure generate the key pair (private key sent to you once, never stored)`,
        resourceId: id,
        properties: { name: options.sshKeyName, location, tags, generateKeyPair: true },
        dependsOn: ['provider:Microsoft.Compute'],
        estimatedSeconds: STEP_SECONDS.sshPublicKey,
      });
    }
  }

  // Optional Step 1: the hopsworks.ai control-plane role for Hopsworks' service principal.
  if (options.hopsworksSpObjectId) {
    const spRole = await planRole(ctx, c, target, requestId, {
      stepId: 'hopsworksRoleDefinition',
      roleName: 'hopsworks.ai',
      baseDescription: HOPSWORKS_ROLE_DESCRIPTION,
      actions: HOPSWORKS_ROLE_ACTIONS,
      dataActions: [],
    }, warnings);
    steps.push(spRole.step);
    steps.push(
      await planAssignment(c, {
        stepId: 'hopsworksRoleAssignment',
        kind: 'hopsworksRoleAssignment',
        scope: rgScope,
        principalId: options.hopsworksSpObjectId,
        role: spRole,
        dependsOn: ['hopsworksRoleDefinition'],
        title: (a) =>
          a === 'reuse'
            ? `Role "${String(spRole.step.properties.roleName)}" is already assigned to the hopsworks.ai service principal`
            : `Assign role "${String(spRole.step.properties.roleName)}" to the hopsworks.ai service principal ${options.hopsworksSpObjectId} on ${rgName}`,
      }),
    );
    warnings.push(
      `Step 1 needs the hopsworks.ai service principal in your tenant, which the bot cannot create (it needs a Microsoft Entra role such as Application Administrator): run \`az ad sp create --id ${HOPSWORKS_APP_ID}\` once if \`az ad sp show --id ${HOPSWORKS_APP_ID}\` finds nothing. Object id given: ${options.hopsworksSpObjectId}.`,
    );
  } else {
    warnings.push(
      `Step 1 (connect managed.hopsworks.ai to Azure) is not part of this plan: no hopsworks.ai service principal object id was given. Follow "Connect to Azure" on managed.hopsworks.ai, or run \`az ad sp create --id ${HOPSWORKS_APP_ID}\` and start a setup with its object id.`,
    );
  }

  assertAcyclic(steps);
  const missing = missingActions(entries, requiredActionsForPlan(steps));
  if (missing.length > 0) {
    warnings.push(`The bot's identity lacks ${missing.length} permission(s) on ${rgName}; an Azure admin must grant them before this plan can be applied (see manifest/azure/bot-role.json).`);
  }
  return {
    steps,
    warnings,
    missingPermissions: missing,
    cost: estimateCost(steps),
    // The hash binds the target as the core stores it; the resource group's real location is in every step.
    hash: computePlanHash(input.target, steps),
    createdAt: ctx.opts.clock.now().toISOString(),
  };
}

async function planAssignment(
  c: SubscriptionClients,
  a: {
    stepId: string;
    kind: 'roleAssignment' | 'hopsworksRoleAssignment';
    scope: string;
    principalId?: string;
    principalStep?: string;
    role: RolePlan;
    dependsOn: string[];
    title: (action: 'create' | 'reuse') => string;
  },
): Promise<PlanStep> {
  const base = {
    scope: a.scope,
    principalType: 'ServicePrincipal',
    roleDefinitionStep: a.role.step.id,
    ...(a.principalStep ? { principalStep: a.principalStep } : {}),
  };
  if (a.principalId && a.role.step.action !== 'create') {
    const existing = await findAssignment(c, a.scope, a.principalId, a.role.roleDefinitionId).catch((err) => {
      if (armErrorInfo(err).code === 'AuthorizationFailed') return undefined;
      throw err;
    });
    if (existing) {
      return {
        id: a.stepId,
        kind: a.kind,
        action: 'reuse',
        title: a.title('reuse'),
        resourceId: existing.id,
        properties: { ...base, principalId: a.principalId, roleDefinitionId: a.role.roleDefinitionId, name: existing.name },
        dependsOn: a.dependsOn,
        estimatedSeconds: READ_SECONDS,
      };
    }
  }
  const name = a.principalId ? roleAssignmentName(a.scope, a.principalId, a.role.roleDefinitionId) : undefined;
  return {
    id: a.stepId,
    kind: a.kind,
    action: 'create',
    title: a.title('create'),
    resourceId: name ? `${a.scope}/providers/Microsoft.Authorization/roleAssignments/${name}` : undefined,
    properties: { ...base, ...(a.principalId ? { principalId: a.principalId, name } : {}), roleDefinitionId: a.role.roleDefinitionId },
    dependsOn: a.dependsOn,
    estimatedSeconds: STEP_SECONDS[a.kind],
  };
}
