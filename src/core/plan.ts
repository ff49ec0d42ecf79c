import { createHash } from 'node:crypto';
import { BotError } from './errors';
import type { Plan, PlanStep, Target } from './types';

/** JSON with object keys sorted, so equal plans hash equally whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * Stable hash of what a plan will do: target plus each step's id, kind, action, resource and properties.
 * Titles, estimates, warnings and timestamps are left out so rewording never voids an approval.
 */
export function computePlanHash(target: Target, steps: PlanStep[]): string {
  const material = {
    target: { subscriptionId: target.subscriptionId, resourceGroup: target.resourceGroup, location: target.location },
    steps: [...steps]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((s) => ({
        id: s.id,
        kind: s.kind,
        action: s.action,
        resourceId: s.resourceId?.toLowerCase(),
        properties: s.properties,
        dependsOn: [...s.dependsOn].sort(),
      })),
  };
  return createHash('sha256').update(canonicalJson(material)).digest('hex');
}

/** Short form of a plan hash for cards (first 12 hex characters). */
export function shortHash(hash: string): string {
  return hash.slice(0, 12);
}

/** Throws `VALIDATION` when a step depends on an unknown step or the dependencies form a cycle. */
export function assertAcyclic(steps: PlanStep[]): void {
  topologicalOrder(steps);
}

/** Steps ordered so that every step comes after its dependencies (stable for equal rank). */
export function topologicalOrder(steps: PlanStep[]): PlanStep[] {
  const byId = new Map(steps.map((s) => [s.id, s]));
  for (const s of steps) {
    for (const d of s.dependsOn) {
      if (!byId.has(d)) throw new BotError('VALIDATION', `Plan step ${s.id} depends on unknown step ${d}.`);
    }
  }
  const done = new Set<string>();
  const visiting = new Set<string>();
  const out: PlanStep[] = [];
  const visit = (s: PlanStep): void => {
    if (done.has(s.id)) return;
    if (visiting.has(s.id)) throw new BotError('VALIDATION', `Plan has a dependency cycle through ${s.id}.`);
    visiting.add(s.id);
    for (const d of s.dependsOn) visit(byId.get(d) as PlanStep);
    visiting.delete(s.id);
    done.add(s.id);
    out.push(s);
  };
  steps.forEach(visit);
  return out;
}

/** Steps whose dependencies are all in `finished` and which are themselves not finished or excluded. */
export function readySteps(steps: PlanStep[], finished: ReadonlySet<string>, exclude: ReadonlySet<string> = new Set()): PlanStep[] {
  return steps.filter((s) => !finished.has(s.id) && !exclude.has(s.id) && s.dependsOn.every((d) => finished.has(d)));
}

/** Longest path through the DAG by `duration(step)`: the lower bound on any schedule's makespan. */
export function criticalPath(steps: PlanStep[], duration: (s: PlanStep) => number): { length: number; path: string[] } {
  const finish = new Map<string, { t: number; via?: string }>();
  for (const s of topologicalOrder(steps)) {
    let start = 0;
    let via: string | undefined;
    for (const d of s.dependsOn) {
      const f = finish.get(d)!.t;
      if (f > start) {
        start = f;
        via = d;
      }
    }
    finish.set(s.id, { t: start + duration(s), via });
  }
  let end: string | undefined;
  let length = 0;
  for (const [id, f] of finish) {
    if (f.t > length || end === undefined) {
      length = f.t;
      end = id;
    }
  }
  const path: string[] = [];
  for (let cur = end; cur !== undefined; cur = finish.get(cur)?.via) path.unshift(cur);
  return { length, path };
}

/** True when the plan can be applied: no missing permissions. */
export function planIsApplicable(plan: Plan): boolean {
  return plan.missingPermissions.length === 0;
}
