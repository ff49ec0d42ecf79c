import type { PlanStep } from '../core/types';

/** One entry of `permissions.listForResourceGroup`: a role's actions minus its notActions. */
export interface PermissionEntry {
  actions?: string[];
  notActions?: string[];
  dataActions?: string[];
  notDataActions?: string[];
}

const patternCache = new Map<string, RegExp>();

/** ARM action patterns: case-insensitive, `*` matches any run of characters (also across `/`). */
export function actionMatches(pattern: string, action: string): boolean {
  let re = patternCache.get(pattern);
  if (!re) {
    const body = pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    re = new RegExp(`^${body}$`, 'i');
    patternCache.set(pattern, re);
  }
  return re.test(action);
}

/**
 * True when some entry grants `action` and that same entry does not exclude it: Azure subtracts a role's
 * notActions from that role's actions only, then unions the roles (a notAction never denies what another role grants).
 */
export function isAllowed(entries: PermissionEntry[], action: string): boolean {
  return entries.some(
    (e) => (e.actions ?? []).some((p) => actionMatches(p, action)) && !(e.notActions ?? []).some((p) => actionMatches(p, action)),
  );
}

/** The actions of `required` that `entries` do not grant, de-duplicated, in the given order. */
export function missingActions(entries: PermissionEntry[], required: Iterable<string>): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const a of required) {
    const k = a.toLowerCase();
    if (seen.has(k)) continue;
    seen.add(k);
    if (!isAllowed(entries, a)) out.push(a);
  }
  return out;
}

/** Reads done by preflight and by every step (exists-checks), needed whatever the plan does. */
export const PREFLIGHT_READS = [
  'Microsoft.Resources/subscriptions/resourceGroups/read',
  'Microsoft.Authorization/roleDefinitions/read',
  'Microsoft.Authorization/roleAssignments/read',
];

/** What the bot's own identity must be allowed to do for one step. */
export function requiredActionsForStep(step: PlanStep): string[] {
  const a = step.action;
  if (a === 'keep') return [];
  switch (step.kind) {
    case 'registerProvider':
      return a === 'create' ? [`${String(step.properties.namespace)}/register/action`] : [];
    case 'storageAccount':
      return a === 'delete'
        ? ['Microsoft.Storage/storageAccounts/read', 'Microsoft.Storage/storageAccounts/delete', 'Microsoft.Storage/storageAccounts/blobServices/containers/read']
        : a === 'reuse'
          ? ['Microsoft.Storage/storageAccounts/read']
          : ['Microsoft.Storage/storageAccounts/read', 'Microsoft.Storage/storageAccounts/write'];
    case 'blobContainer':
      return a === 'delete'
        ? ['Microsoft.Storage/storageAccounts/blobServices/containers/read', 'Microsoft.Storage/storageAccounts/blobServices/containers/delete']
        : a === 'reuse'
          ? ['Microsoft.Storage/storageAccounts/blobServices/containers/read']
          : ['Microsoft.Storage/storageAccounts/blobServices/containers/read', 'Microsoft.Storage/storageAccounts/blobServices/containers/write'];
    case 'containerRegistry':
    case 'registryRetention':
      return a === 'delete'
        ? ['Microsoft.ContainerRegistry/registries/read', 'Microsoft.ContainerRegistry/registries/delete', 'Microsoft.ContainerRegistry/registries/operationStatuses/read']
        : a === 'reuse'
          ? ['Microsoft.ContainerRegistry/registries/read']
          : [
              'Microsoft.ContainerRegistry/registries/read',
              'Microsoft.ContainerRegistry/registries/write',
              'Microsoft.ContainerRegistry/registries/operationStatuses/read',
            ];
    case 'managedIdentity':
      return a === 'delete'
        ? ['Microsoft.ManagedIdentity/userAssignedIdentities/read', 'Microsoft.ManagedIdentity/userAssignedIdentities/delete']
        : a === 'reuse'
          ? ['Microsoft.ManagedIdentity/userAssignedIdentities/read']
          : ['Microsoft.ManagedIdentity/userAssignedIdentities/read', 'Microsoft.ManagedIdentity/userAssignedIdentities/write'];
    case 'roleDefinition':
    case 'hopsworksRoleDefinition':
      return a === 'delete'
        ? ['Microsoft.Authorization/roleDefinitions/read', 'Microsoft.Authorization/roleDefinitions/delete']
        : a === 'reuse'
          ? ['Microsoft.Authorization/roleDefinitions/read']
          : ['Microsoft.Authorization/roleDefinitions/read', 'Microsoft.Authorization/roleDefinitions/write'];
    case 'roleAssignment':
    case 'hopsworksRoleAssignment':
      return a === 'delete'
        ? ['Microsoft.Authorization/roleAssignments/read', 'Microsoft.Authorization/roleAssignments/delete']
        : a === 'reuse'
          ? ['Microsoft.Authorization/roleAssignments/read']
          : ['Microsoft.Authorization/roleAssignments/read', 'Microsoft.Authorization/roleAssignments/write'];
    case 'sshPublicKey':
      return a === 'delete'
        ? ['Microsoft.Compute/sshPublicKeys/read', 'Microsoft.Compute/sshPublicKeys/delete']
        : a === 'reuse'
          ? ['Microsoft.Compute/sshPublicKeys/read']
          : step.properties.generateKeyPair
            ? ['Microsoft.Compute/sshPublicKeys/read', 'Microsoft.Compute/sshPublicKeys/write', 'Microsoft.Compute/sshPublicKeys/generateKeyPair/action']
            : ['Microsoft.Compute/sshPublicKeys/read', 'Microsoft.Compute/sshPublicKeys/write'];
  }
}

/** Everything a plan needs, preflight reads first, in a stable order. */
export function requiredActionsForPlan(steps: PlanStep[]): string[] {
  const out = [...PREFLIGHT_READS];
  for (const s of steps) out.push(...requiredActionsForStep(s));
  return [...new Map(out.map((a) => [a.toLowerCase(), a])).values()];
}
