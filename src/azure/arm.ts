import { createHash } from 'node:crypto';

/** Tag keys every resource the bot creates carries. */
export const TAG_REQUEST = 'hopsworks-setup-request';
export const TAG_MANAGED_BY = 'managed-by';
export const MANAGED_BY_VALUE = 'hopsworks-setup-bot';

export function botTags(requestId: string): Record<string, string> {
  return { [TAG_REQUEST]: requestId, [TAG_MANAGED_BY]: MANAGED_BY_VALUE };
}

/** Tag lookup ignoring key case (ARM preserves case but compares case-insensitively). */
export function tagValue(tags: Record<string, string> | undefined, k: string): string | undefined {
  if (!tags) return undefined;
  const hit = Object.keys(tags).find((t) => t.toLowerCase() === k.toLowerCase());
  return hit === undefined ? undefined : tags[hit];
}

export function isBotTagged(tags: Record<string, string> | undefined): boolean {
  return tagValue(tags, TAG_MANAGED_BY) === MANAGED_BY_VALUE;
}

export function subscriptionScope(subscriptionId: string): string {
  return `/subscriptions/${subscriptionId}`;
}

export function resourceGroupScope(subscriptionId: string, resourceGroup: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`;
}

export function resourceId(subscriptionId: string, resourceGroup: string, provider: string, type: string, name: string): string {
  return `${resourceGroupScope(subscriptionId, resourceGroup)}/providers/${provider}/${type}/${name}`;
}

export function roleDefinitionResourceId(subscriptionId: string, guid: string): string {
  return `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
}

/** Compute upper-cases the resource group, MSI writes `resourcegroups`: ids compare case-insensitively. */
export function sameId(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

export function lastSegment(id: string): string {
  return id.split('/').filter(Boolean).pop() ?? id;
}

/** RFC 4122 version-5 style UUID from sha1(namespace-free name): deterministic names make repeated PUTs converge. */
export function deterministicGuid(...parts: string[]): string {
  const h = createHash('sha1').update(parts.map((p) => p.toLowerCase()).join('|')).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Name of the role assignment binding `principalId` to `roleDefinitionId` at `scope`. */
export function roleAssignmentName(scope: string, principalId: string, roleDefinitionId: string): string {
  return deterministicGuid('roleAssignment', scope, principalId, lastSegment(roleDefinitionId));
}
