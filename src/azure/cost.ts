import type { CostEstimate, CostLine, PlanStep } from '../core/types';
import prices from './prices.json';

export const PRICE_LIST_DATE: string = prices.priceListDate;

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * Monthly list-price estimate of what the plan adds. Only the Premium registry has a fixed fee; storage is
 * billed per GB stored (shown as a note because the data volume is unknown); everything else is free.
 * Reused resources already cost what they cost, so only created or upgraded ones are counted.
 */
export function estimateCost(steps: PlanStep[]): CostEstimate {
  const lines: CostLine[] = [];
  const registry = steps.find((s) => s.kind === 'containerRegistry');
  if (registry && (registry.action === 'create' || registry.action === 'update')) {
    const perDay = prices.containerRegistry.Premium.perDayUsd;
    lines.push({
      item: `Container registry ${String(registry.properties.name)} (Premium)`,
      monthlyUsd: round2(perDay * prices.daysPerMonth),
      note: `$${perDay}/day list price, ${prices.containerRegistry.Premium.includedStorageGb} GB included (${prices.region})`,
    });
  } else if (registry) {
    lines.push({ item: `Container registry ${String(registry.properties.name)} (reused)`, monthlyUsd: 0, note: 'already billed; no change' });
  }
  const storage = steps.find((s) => s.kind === 'storageAccount');
  if (storage && storage.action === 'create') {
    const sku = String(storage.properties.sku ?? 'Standard_RAGRS') as keyof typeof prices.storage;
    const perGb = prices.storage[sku]?.hotPerGbMonthUsd ?? prices.storage.Standard_RAGRS.hotPerGbMonthUsd;
    lines.push({
      item: `Storage account ${String(storage.properties.name)} (${sku})`,
      monthlyUsd: 0,
      note: `empty account is free; data is billed at about $${perGb}/GB-month (Hot tier) plus operations`,
    });
  }
  const free = steps.filter(
    (s) => (s.action === 'create' || s.action === 'update') && ['managedIdentity', 'roleDefinition', 'roleAssignment', 'sshPublicKey', 'hopsworksRoleDefinition', 'hopsworksRoleAssignment', 'registerProvider'].includes(s.kind),
  );
  if (free.length > 0) {
    lines.push({ item: 'Managed identity, custom roles, role assignments, SSH key, provider registrations', monthlyUsd: 0, note: 'no charge' });
  }
  return {
    currency: 'USD',
    monthlyTotal: round2(lines.reduce((t, l) => t + l.monthlyUsd, 0)),
    priceListDate: PRICE_LIST_DATE,
    lines,
  };
}
