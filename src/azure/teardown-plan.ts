import { BotError } from '../core/errors';
import { assertAcyclic, computePlanHash, topologicalOrder } from '../core/plan';
import type { CostEstimate, Plan, PlanStep, SetupRequest } from '../core/types';
import { isBotTagged, lastSegment, resourceGroupScope, sameId, tagValue, TAG_REQUEST } from './arm';
import type { SubscriptionClients } from './clients';
import type { Ctx } from './context';
import { PRICE_LIST_DATE } from './cost';
import { isNotFound } from './errors';
import { missingActions, requiredActionsForPlan } from './permissions';
import prices from './prices.json';
import { isBotRole } from './roles';
import { CONTAINER_META_REQUEST, PLAN_READS, readPermissions, readResourceGroup } from './setup-plan';

export interface TeardownPreflightInput {
  requestId: string;
  parent: SetupRequest;
  confirmDeleteData?: boolean;
}

const DELETE_SECONDS: Partial<Record<PlanStep['kind'], number>> = {
  storageAccount: 5,
  blobContainer: 1,
  containerRegistry: 10,
  managedIdentity: 2,
  roleDefinition: 1,
  roleAssignment: 1,
  sshPublicKey: 1,
  hopsworksRoleDefinition: 1,
  hopsworksRoleAssignment: 1,
};

async function getOrUndefined<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** What a resource looks like now, for the delete-or-keep decision. */
interface Observed {
  exists: boolean;
  /** The parent request's tag (or marker) is on it. */
  ours: boolean;
  extra?: Record<string, unknown>;
  keepReason?: string;
  /** Shown to the approver when the resource is deleted. */
  warning?: string;
}

/**
 * Teardown plan from the parent's recorded outputs: a resource is deleted only when the parent created it
 * (action create, id recorded) and it still carries the parent's tag; everything else is kept. Deletes run in
 * reverse dependency order. Provider registrations are never undone.
 */
export async function planTeardown(ctx: Ctx, input: TeardownPreflightInput): Promise<Plan> {
  const { parent } = input;
  if (parent.kind !== 'setup' || !parent.plan) {
    throw new BotError('VALIDATION', `Request ${parent.id} is not a setup request with a plan, so there is nothing to tear down.`, { details: { field: 'parentId' } });
  }
  const target = parent.target;
  const c = ctx.clients.forSubscription(target.subscriptionId);
  await readResourceGroup(c, target.resourceGroup);
  const rg = target.resourceGroup;
  const rgScope = resourceGroupScope(target.subscriptionId, rg);
  const entries = await readPermissions(c, rg);
  const missingReads = missingActions(entries, PLAN_READS);
  if (missingReads.length > 0) {
    throw new BotError('MISSING_PERMISSIONS', `The bot's identity cannot read what it must check in ${rg}: ${missingReads.join(', ')}.`, {
      details: { missingPermissions: missingReads, resourceGroup: rg },
    });
  }
  const warnings: string[] = ['Resource provider registrations are never undone: other workloads in the subscription may rely on them.'];
  const steps: PlanStep[] = [];
  const deletedAssignments = new Set<string>();
  const savings: CostEstimate['lines'] = [];
  const parentSteps = topologicalOrder(parent.plan.steps);

  // Assignments first: a role definition is deletable only if its remaining assignments are all being deleted.
  const order = [
    ...parentSteps.filter((s) => s.kind === 'roleAssignment' || s.kind === 'hopsworksRoleAssignment'),
    ...parentSteps.filter((s) => s.kind !== 'roleAssignment' && s.kind !== 'hopsworksRoleAssignment'),
  ];
  for (const ps of order) {
    if (ps.kind === 'registerProvider' || ps.kind === 'registryRetention') continue;
    const state = parent.steps[ps.id];
    const out = state?.output ?? {};
    const recordedId = out.resourceId;
    const label = describe(ps, out);
    const keep = (reason: string): void => {
      steps.push({
        id: ps.id,
        kind: ps.kind,
        action: 'keep',
        title: `Keep ${label}: ${reason}`,
        resourceId: recordedId ?? ps.resourceId,
        properties: { name: out.name ?? String(ps.properties.name ?? ps.properties.roleName ?? '') },
        dependsOn: [],
        estimatedSeconds: 0,
      });
    };
    if (ps.action !== 'create') {
      keep(`it was ${ps.action === 'reuse' ? 'reused' : 'updated'}, not created, by ${parent.id}`);
      continue;
    }
    if (!recordedId || state?.status !== 'done') {
      warnings.push(`${label} has no recorded resource id (its step did not finish in ${parent.id}); the bot leaves it alone. Delete it manually if it exists.`);
      continue;
    }
    const seen = await observe(c, ps, out, parent.id, rgScope, deletedAssignments, input.confirmDeleteData === true);
    if (!seen.exists) {
      warnings.push(`${label} is already gone.`);
      continue;
    }
    if (!seen.ours) {
      warnings.push(`${label} no longer carries the tag ${TAG_REQUEST}=${parent.id}; it is kept.`);
      keep('not tagged as created by this request');
      continue;
    }
    if (seen.keepReason) {
      warnings.push(`${label} is kept: ${seen.keepReason}`);
      keep(seen.keepReason);
      continue;
    }
    if (seen.warning) warnings.push(seen.warning);
    if (ps.kind === 'roleAssignment' || ps.kind === 'hopsworksRoleAssignment') deletedAssignments.add(recordedId.toLowerCase());
    if (ps.kind === 'containerRegistry') {
      savings.push({ item: `Container registry ${out.name} deleted`, monthlyUsd: 0, note: `stops about $${(prices.containerRegistry.Premium.perDayUsd * prices.daysPerMonth).toFixed(2)}/month (Premium list price)` });
    }
    steps.push({
      id: ps.id,
      kind: ps.kind,
      action: 'delete',
      title: `Delete ${label}`,
      resourceId: recordedId,
      properties: { ...deleteProps(ps, out), createdByRequest: parent.id, ...(seen.extra ?? {}) },
      dependsOn: [],
      estimatedSeconds: DELETE_SECONDS[ps.kind] ?? 1,
    });
  }

  // Reverse dependencies: if X depended (transitively) on Y in the setup, X goes first now.
  const parentById = new Map(parent.plan.steps.map((s) => [s.id, s]));
  const ancestors = (id: string, acc = new Set<string>()): Set<string> => {
    for (const d of parentById.get(id)?.dependsOn ?? []) {
      if (!acc.has(d)) {
        acc.add(d);
        ancestors(d, acc);
      }
    }
    return acc;
  };
  const ids = new Set(steps.map((s) => s.id));
  for (const x of steps) {
    for (const y of ancestors(x.id)) {
      if (ids.has(y)) steps.find((s) => s.id === y)!.dependsOn.push(x.id);
    }
  }
  for (const s of steps) s.dependsOn.sort();
  assertAcyclic(steps);

  const missing = missingActions(entries, requiredActionsForPlan(steps));
  if (missing.length > 0) warnings.push(`The bot's identity lacks ${missing.length} permission(s) on ${rg} for this teardown (see manifest/azure/bot-role.json).`);
  return {
    steps,
    warnings,
    missingPermissions: missing,
    cost: { currency: 'USD', monthlyTotal: 0, priceListDate: PRICE_LIST_DATE, lines: savings },
    hash: computePlanHash(target, steps),
    createdAt: ctx.opts.clock.now().toISOString(),
  };
}

function describe(ps: PlanStep, out: Record<string, string>): string {
  const name = out.name ?? String(ps.properties.name ?? ps.properties.roleName ?? ps.id);
  switch (ps.kind) {
    case 'storageAccount':
      return `storage account ${name}`;
    case 'blobContainer':
      return `blob container ${name}`;
    case 'containerRegistry':
      return `container registry ${name}`;
    case 'managedIdentity':
      return `managed identity ${name}`;
    case 'roleDefinition':
    case 'hopsworksRoleDefinition':
      return `custom role "${out.roleName ?? name}"`;
    case 'roleAssignment':
    case 'hopsworksRoleAssignment':
      return `role assignment ${out.name ?? lastSegment(out.resourceId ?? ps.id)}`;
    case 'sshPublicKey':
      return `SSH key ${name}`;
    default:
      return ps.id;
  }
}

function deleteProps(ps: PlanStep, out: Record<string, string>): Record<string, unknown> {
  switch (ps.kind) {
    case 'blobContainer':
      return { name: out.name, accountName: out.accountName ?? ps.properties.accountName };
    case 'roleDefinition':
    case 'hopsworksRoleDefinition':
      return { roleName: out.roleName, roleDefinitionGuid: out.guid ?? ps.properties.roleDefinitionGuid, scope: ps.properties.scope };
    case 'roleAssignment':
    case 'hopsworksRoleAssignment':
      return { name: out.name, principalId: out.principalId, roleDefinitionId: out.roleDefinitionId, scope: out.scope ?? ps.properties.scope };
    default:
      return { name: out.name };
  }
}

async function observe(
  c: SubscriptionClients,
  ps: PlanStep,
  out: Record<string, string>,
  parentId: string,
  rgScope: string,
  deletedAssignments: Set<string>,
  confirmDeleteData: boolean,
): Promise<Observed> {
  const rg = rgScope.split('/')[4];
  const tagged = (tags: Record<string, string> | undefined) => isBotTagged(tags) && tagValue(tags, TAG_REQUEST) === parentId;
  switch (ps.kind) {
    case 'storageAccount': {
      const sa = await getOrUndefined(() => c.storage.storageAccounts.getProperties(rg, out.name));
      if (!sa) return { exists: false, ours: false };
      const containers: string[] = [];
      for await (const ct of c.storage.blobContainers.list(rg, out.name)) containers.push(ct.name ?? '');
      const keepReason =
        containers.length > 0 && !confirmDeleteData
          ? `it holds ${containers.length} blob container(s) (${containers.join(', ')}) that may contain Hopsworks data. Start the teardown again with "delete data" confirmed to remove it.`
          : undefined;
      const warning =
        containers.length > 0 && confirmDeleteData
          ? `Deleting storage account ${out.name} deletes its ${containers.length} container(s) (${containers.join(', ')}) and every blob in them; this cannot be undone.`
          : undefined;
      return { exists: true, ours: tagged(sa.tags), keepReason, warning };
    }
    case 'blobContainer': {
      const ct = await getOrUndefined(() => c.storage.blobContainers.get(rg, out.accountName, out.name));
      if (!ct) return { exists: false, ours: false };
      return {
        exists: true,
        ours: ct.metadata?.[CONTAINER_META_REQUEST] === parentId,
        keepReason: confirmDeleteData ? undefined : 'a container may hold Hopsworks data (Azure Resource Manager cannot see blobs). Start the teardown again with "delete data" confirmed to remove it.',
      };
    }
    case 'containerRegistry': {
      const r = await getOrUndefined(() => c.registry.registries.get(rg, out.name));
      return r ? { exists: true, ours: tagged(r.tags) } : { exists: false, ours: false };
    }
    case 'managedIdentity': {
      const i = await getOrUndefined(() => c.msi.userAssignedIdentities.get(rg, out.name));
      return i ? { exists: true, ours: tagged(i.tags) } : { exists: false, ours: false };
    }
    case 'sshPublicKey': {
      const k = await getOrUndefined(() => c.compute.sshPublicKeys.get(rg, out.name));
      return k ? { exists: true, ours: tagged(k.tags) } : { exists: false, ours: false };
    }
    case 'roleAssignment':
    case 'hopsworksRoleAssignment': {
      const a = await getOrUndefined(() => c.authorization.roleAssignments.getById(out.resourceId));
      if (!a) return { exists: false, ours: false };
      const ours = a.principalId === out.principalId && sameId(lastSegment(a.roleDefinitionId ?? ''), lastSegment(out.roleDefinitionId ?? ''));
      return { exists: true, ours };
    }
    case 'roleDefinition':
    case 'hopsworksRoleDefinition': {
      const scope = String(ps.properties.scope ?? rgScope);
      const guid = out.guid ?? String(ps.properties.roleDefinitionGuid);
      const r = await getOrUndefined(() => c.authorization.roleDefinitions.get(scope, guid));
      if (!r) return { exists: false, ours: false };
      const ours = isBotRole(r.description) && (r.description ?? '').includes(`request ${parentId})`);
      const otherScopes = (r.assignableScopes ?? []).filter((s) => !sameId(s, rgScope));
      if (otherScopes.length > 0) {
        return { exists: true, ours, keepReason: `it is also assignable at ${otherScopes.join(', ')} (another setup reuses it).` };
      }
      const elsewhere: string[] = [];
      for (const s of r.assignableScopes ?? [rgScope]) {
        for await (const a of c.authorization.roleAssignments.listForScope(s)) {
          if (sameId(lastSegment(a.roleDefinitionId ?? ''), guid) && !deletedAssignments.has((a.id ?? '').toLowerCase())) elsewhere.push(a.id ?? '');
        }
      }
      if (elsewhere.length > 0) return { exists: true, ours, keepReason: `it is still assigned elsewhere (${elsewhere.length} other assignment(s)); Azure refuses to delete an assigned role.` };
      return { exists: true, ours };
    }
    default:
      return { exists: false, ours: false };
  }
}
