/**
 * Puts requests into the bot's SQLite file from outside the bot process, through the real core API
 * (SetupService on the same file), the way a second bot instance would.
 */
import { SetupService } from '../../src/core/service';
import { openSqliteStore } from '../../src/core/store/sqlite';
import { computePlanHash } from '../../src/core/plan';
import type { Logger, Notifier, Store } from '../../src/core/ports';
import type { Actor, ConversationRef, Plan, PlanStep, SetupOptions, SetupRequest, Target } from '../../src/core/types';

export const SUBSCRIPTION = '00000000-0000-0000-0000-000000000001';

export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** Decisions taken from outside the bot: the bot's own notifier will tell the chats when it picks the request up. */
export const quietNotifier: Notifier = { requestChanged: async () => {}, deliverSecret: async () => {} };

export function openService(dbPath: string, approvers: string[]): { store: Store; service: SetupService } {
  const store = openSqliteStore(dbPath);
  const service = new SetupService({
    store,
    notifier: quietNotifier,
    clock: { now: () => new Date() },
    logger: silentLogger,
    policy: { approvers, requiredApprovals: 1, approvalTtlHours: 72 },
  });
  return { store, service };
}

export function defaultOptions(suffix: string): SetupOptions {
  return {
    storageAccountName: `hwbench${suffix}`.toLowerCase().slice(0, 24),
    containerName: 'hopsworks',
    registryName: `hwbenchacr${suffix}`.toLowerCase(),
    identityName: `hopsworks-instance-${suffix}`,
    roleName: `hopsworks-instance-${suffix}`,
    sshKeyName: `hopsworks-key-${suffix}`,
    acrRetentionDays: 7,
    backupRetentionDays: 0,
    sshKeyMode: 'generate',
  };
}

/**
 * A plan shaped like the provisioner's (same step ids, kinds and dependencies), built by hand: enough
 * for requests that are only looked at and decided on, never provisioned.
 */
export function handMadePlan(target: Target, options: SetupOptions): Plan {
  const rg = `/subscriptions/${target.subscriptionId}/resourceGroups/${target.resourceGroup}`;
  const step = (id: string, kind: PlanStep['kind'], dependsOn: string[], resourceId?: string, properties: Record<string, unknown> = {}): PlanStep => ({
    id,
    kind,
    action: 'create',
    title: `Create ${id}`,
    resourceId,
    properties,
    dependsOn,
  });
  const steps: PlanStep[] = [
    step('storageAccount', 'storageAccount', [], `${rg}/providers/Microsoft.Storage/storageAccounts/${options.storageAccountName}`, { kind: 'StorageV2' }),
    step('blobContainer', 'blobContainer', ['storageAccount'], undefined, { name: options.containerName }),
    step('containerRegistry', 'containerRegistry', [], `${rg}/providers/Microsoft.ContainerRegistry/registries/${options.registryName}`, { sku: 'Premium' }),
    step('registryRetention', 'registryRetention', ['containerRegistry'], undefined, { days: options.acrRetentionDays }),
    step('managedIdentity', 'managedIdentity', [], `${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${options.identityName}`),
    step('roleDefinition', 'roleDefinition', [], undefined, { roleName: options.roleName }),
    step('roleAssignment', 'roleAssignment', ['managedIdentity', 'roleDefinition', 'storageAccount', 'containerRegistry']),
    step('sshPublicKey', 'sshPublicKey', [], `${rg}/providers/Microsoft.Compute/sshPublicKeys/${options.sshKeyName}`),
  ];
  return {
    steps,
    warnings: [],
    missingPermissions: [],
    cost: { currency: 'USD', monthlyTotal: 50, priceListDate: '2026-01-01', lines: [{ item: 'Container registry Premium', monthlyUsd: 50 }] },
    hash: computePlanHash(target, steps),
    createdAt: new Date().toISOString(),
  };
}

export async function seedPendingRequest(
  service: SetupService,
  store: Store,
  opts: { requester: Actor; resourceGroup: string; conversations?: { requester?: ConversationRef }; location?: string; plan?: Plan; options?: SetupOptions },
): Promise<SetupRequest> {
  const id = await store.nextId();
  const target: Target = { subscriptionId: SUBSCRIPTION, resourceGroup: opts.resourceGroup, location: opts.location ?? 'westeurope' };
  const options = opts.options ?? defaultOptions(id.replace(/[^0-9a-z]/gi, ''));
  return service.submit({
    id,
    kind: 'setup',
    requester: opts.requester,
    target,
    options,
    reason: 'Benchmark and reliability campaign',
    plan: opts.plan ?? handMadePlan(target, options),
    conversations: { ...(opts.conversations ?? {}), activityIds: {} },
  });
}
