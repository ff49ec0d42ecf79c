/** What a finished setup must have left in the simulator: exactly one of each resource, one role assignment. */
import type { ArmSimulator } from '../../src/azure/simulator';
import type { SetupRequest } from '../../src/core/types';

export const RG_RESOURCE_TYPES = [
  'Microsoft.Storage/storageAccounts',
  'Microsoft.Storage/storageAccounts/blobServices/containers',
  'Microsoft.ContainerRegistry/registries',
  'Microsoft.ManagedIdentity/userAssignedIdentities',
  'Microsoft.Compute/sshPublicKeys',
] as const;

/** Counts by type in the request's resource group, plus its role definition (by name) and the identity's assignments. */
export function inventoryOf(sim: ArmSimulator, request: SetupRequest): Record<string, number> {
  const rg = `/resourcegroups/${request.target.resourceGroup.toLowerCase()}/`;
  const all = sim.resources();
  const counts: Record<string, number> = {};
  for (const type of RG_RESOURCE_TYPES) counts[type] = (all[type] ?? []).filter((r) => r.id.toLowerCase().includes(rg)).length;
  counts['roleDefinition named like the request'] = (all['Microsoft.Authorization/roleDefinitions'] ?? []).filter(
    (d) => d.name.toLowerCase() === request.options.roleName.toLowerCase(),
  ).length;
  const principalId = request.steps.managedIdentity?.output?.principalId;
  counts['roleAssignments of the instance identity'] = principalId ? sim.roleAssignments().filter((a) => a.principalId === principalId).length : -1;
  return counts;
}

export function exactlyOneOfEach(): Record<string, number> {
  return Object.fromEntries([...RG_RESOURCE_TYPES, 'roleDefinition named like the request', 'roleAssignments of the instance identity'].map((k) => [k, 1]));
}
