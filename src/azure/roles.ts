/**
 * The two custom roles of the getting-started guide, copied exactly from
 * /work/shared/reference/hopsworks-azure-requirements.md (GS Step 4.2 and PERM, 35 actions).
 */

export const INSTANCE_ROLE_DEFAULT_NAME = 'hopsworks-instance';
export const INSTANCE_ROLE_DESCRIPTION = 'Allow the hopsworks instance to access the storage and the docker repository';

export const INSTANCE_ROLE_ACTIONS: readonly string[] = [
  'Microsoft.Storage/storageAccounts/blobServices/containers/write',
  'Microsoft.Storage/storageAccounts/blobServices/containers/read',
  'Microsoft.Storage/storageAccounts/blobServices/write',
  'Microsoft.Storage/storageAccounts/blobServices/read',
  'Microsoft.Storage/storageAccounts/listKeys/action',
  'Microsoft.ContainerRegistry/registries/artifacts/delete',
  'Microsoft.ContainerRegistry/registries/pull/read',
  'Microsoft.ContainerRegistry/registries/push/write',
];

export const INSTANCE_ROLE_DATA_ACTIONS: readonly string[] = [
  'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete',
  'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read',
  'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action',
  'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write',
];

export const HOPSWORKS_ROLE_DEFAULT_NAME = 'hopsworks.ai';
export const HOPSWORKS_ROLE_DESCRIPTION = 'Allows hopsworks.ai to start and manage clusters';
/** Application id of the hopsworks.ai service principal (GS-UI). */
export const HOPSWORKS_APP_ID = 'd4abcc44-2c40-40bd-9bba-986df591c28f';

export const HOPSWORKS_ROLE_ACTIONS: readonly string[] = [
  'Microsoft.Compute/virtualMachines/write',
  'Microsoft.Compute/virtualMachines/start/action',
  'Microsoft.Compute/virtualMachines/delete',
  'Microsoft.Compute/virtualMachines/read',
  'Microsoft.Compute/virtualMachines/deallocate/action',
  'Microsoft.Compute/disks/write',
  'Microsoft.Compute/disks/delete',
  'Microsoft.Network/networkInterfaces/read',
  'Microsoft.Network/networkInterfaces/join/action',
  'Microsoft.Network/networkInterfaces/write',
  'Microsoft.Network/networkInterfaces/delete',
  'Microsoft.Network/networkSecurityGroups/read',
  'Microsoft.Network/networkSecurityGroups/join/action',
  'Microsoft.Network/networkSecurityGroups/write',
  'Microsoft.Network/networkSecurityGroups/delete',
  'Microsoft.Compute/snapshots/read',
  'Microsoft.Compute/disks/beginGetAccess/action',
  'Microsoft.Authorization/roleAssignments/read',
  'Microsoft.Network/publicIPAddresses/join/action',
  'Microsoft.Network/publicIPAddresses/read',
  'Microsoft.Network/publicIPAddresses/write',
  'Microsoft.Network/publicIPAddresses/delete',
  'Microsoft.Network/virtualNetworks/write',
  'Microsoft.Network/virtualNetworks/delete',
  'Microsoft.Network/virtualNetworks/read',
  'Microsoft.Network/virtualNetworks/subnets/read',
  'Microsoft.Network/virtualNetworks/subnets/join/action',
  'Microsoft.Resources/subscriptions/resourceGroups/read',
  'Microsoft.Compute/sshPublicKeys/read',
  'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action',
  'Microsoft.ManagedIdentity/userAssignedIdentities/read',
  'Microsoft.Storage/storageAccounts/read',
  'Microsoft.Compute/snapshots/write',
  'Microsoft.Compute/snapshots/delete',
  'Microsoft.Compute/disks/read',
];

/** Marker in a role's description: lets a later preflight recognise a role this bot created. */
export const BOT_MARKER = 'managed by hopsworks-setup-bot';

export function botRoleDescription(base: string, requestId: string): string {
  return `${base} (${BOT_MARKER}, request ${requestId})`;
}

export function isBotRole(description: string | undefined): boolean {
  return (description ?? '').includes(BOT_MARKER);
}

/** Case-insensitive set equality of two action lists (ARM treats action strings case-insensitively). */
export function sameActions(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const norm = (x: readonly string[] | undefined) => [...new Set((x ?? []).map((s) => s.toLowerCase()))].sort().join('\n');
  return norm(a) === norm(b);
}
