/** Realistic request data for card and bot tests (helper C). */
import { computePlanHash } from '../../src/core/plan';
import type { Plan, PlanStep, SetupOptions, SetupRequest, Target } from '../../src/core/types';

export const TARGET: Target = {
  subscriptionId: '6f1c2a0e-3b4d-4c5e-9f80-1a2b3c4d5e6f',
  resourceGroup: 'rg-hopsworks-prod',
  location: 'westeurope',
  tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
};

export const OPTIONS: SetupOptions = {
  storageAccountName: 'hopsworksst1042',
  containerName: 'hopsworks-1042',
  registryName: 'hopsworksacr1042',
  identityName: 'hopsworks-instance',
  roleName: 'hopsworks-instance-rg-hopsworks-prod',
  sshKeyName: 'hopsworksKey',
  acrRetentionDays: 7,
  backupRetentionDays: 0,
  sshKeyMode: 'generate',
};

const rg = `/subscriptions/${TARGET.subscriptionId}/resourceGroups/${TARGET.resourceGroup}`;

export function planSteps(): PlanStep[] {
  return [
    { id: 'provider:Microsoft.Storage', kind: 'registerProvider', action: 'reuse', title: 'Resource provider Microsoft.Storage (registered)', properties: { namespace: 'Microsoft.Storage' }, dependsOn: [], estimatedSeconds: 1 },
    { id: 'storageAccount', kind: 'storageAccount', action: 'create', title: 'Storage account hopsworksst1042 (Standard_RAGRS, StorageV2)', resourceId: `${rg}/providers/Microsoft.Storage/storageAccounts/hopsworksst1042`, properties: { sku: 'Standard_RAGRS' }, dependsOn: ['provider:Microsoft.Storage'], estimatedSeconds: 25 },
    { id: 'containerRegistry', kind: 'containerRegistry', action: 'create', title: 'Container registry hopsworksacr1042 (Premium)', resourceId: `${rg}/providers/Microsoft.ContainerRegistry/registries/hopsworksacr1042`, properties: { sku: 'Premium' }, dependsOn: [], estimatedSeconds: 30 },
    { id: 'registryRetention', kind: 'registryRetention', action: 'update', title: 'Registry retention of untagged manifests: 7 days', properties: { days: 7 }, dependsOn: ['containerRegistry'], estimatedSeconds: 3 },
    { id: 'managedIdentity', kind: 'managedIdentity', action: 'create', title: 'Managed identity hopsworks-instance', resourceId: `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/hopsworks-instance`, properties: {}, dependsOn: [], estimatedSeconds: 5 },
    { id: 'roleDefinition', kind: 'roleDefinition', action: 'create', title: 'Custom role hopsworks-instance-rg-hopsworks-prod', properties: { actions: 8 }, dependsOn: [], estimatedSeconds: 5 },
    { id: 'roleAssignment', kind: 'roleAssignment', action: 'create', title: 'Assign the role to the identity on the resource group', properties: {}, dependsOn: ['managedIdentity', 'roleDefinition'], estimatedSeconds: 20 },
    { id: 'sshPublicKey', kind: 'sshPublicKey', action: 'create', title: 'SSH public key hopsworksKey (generated in Azure)', resourceId: `${rg}/providers/Microsoft.Compute/sshPublicKeys/hopsworksKey`, properties: {}, dependsOn: [], estimatedSeconds: 3 },
  ];
}

export function samplePlan(overrides: Partial<Plan> = {}): Plan {
  const steps = overrides.steps ?? planSteps();
  return {
    steps,
    warnings: ['Storage account name will be public in DNS: hopsworksst1042.blob.core.windows.net'],
    missingPermissions: [],
    cost: {
      currency: 'USD',
      monthlyTotal: 51.67,
      priceListDate: '2025-01-15',
      lines: [
        { item: 'Container registry Premium', monthlyUsd: 50, note: 'per registry' },
        { item: 'Storage account RA-GRS (first 10 GB)', monthlyUsd: 1.67, note: 'grows with data' },
      ],
    },
    hash: computePlanHash(TARGET, steps),
    createdAt: '2026-11-26T04:00:00.000Z',
    ...overrides,
  };
}

export function sampleRequest(overrides: Partial<SetupRequest> = {}): SetupRequest {
  const plan = samplePlan();
  return {
    id: 'HW-1042',
    kind: 'setup',
    state: 'pendingApproval',
    requester: { platform: 'teams', userId: 'aad-requester', displayName: 'Rita Requester', upn: 'rita@contoso.com' },
    conversations: { activityIds: {} },
    target: TARGET,
    options: OPTIONS,
    reason: 'New feature store for the *fraud* team [link](https://evil.example) <at>everyone</at>',
    plan,
    approvals: [],
    steps: Object.fromEntries(plan.steps.map((s) => [s.id, { status: 'pending' as const, attempts: 0 }])),
    createdAt: '2026-11-26T04:00:00.000Z',
    updatedAt: '2026-11-26T04:00:00.000Z',
    expiresAt: '2026-11-29T04:00:00.000Z',
    version: 2,
    ...overrides,
  };
}
