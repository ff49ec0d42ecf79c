/** Hand-written fakes of the core's ports for test/core and test/store (no module mocking). */
import { computePlanHash } from '../../src/core/plan';
import type { Clock, Logger, Notifier, RequestEvent, StepSecret, SubmitInput } from '../../src/core/ports';
import type { Actor, FormOutputs, Plan, PlanStep, SetupOptions, SetupRequest, Target } from '../../src/core/types';

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  private t: number;
  constructor(start = '2026-01-05T09:00:00.000Z') {
    this.t = Date.parse(start);
  }
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t += ms;
  }
  advanceHours(h: number): void {
    this.advance(h * 3_600_000);
  }
}

/** Records every notification; can be told to fail to prove failures never undo a decision. */
export class RecordingNotifier implements Notifier {
  events: RequestEvent[] = [];
  secrets: { requestId: string; secret: StepSecret }[] = [];
  fail = false;
  failSecret = false;
  async requestChanged(event: RequestEvent): Promise<void> {
    if (this.fail) throw new Error('chat service unavailable');
    this.events.push(event);
  }
  async deliverSecret(request: SetupRequest, secret: StepSecret): Promise<void> {
    if (this.failSecret) throw new Error(`personal chat unreachable while sending ${secret.value}`);
    this.secrets.push({ requestId: request.id, secret });
  }
  types(): string[] {
    return this.events.map((e) => e.type);
  }
}

/** Logger that keeps entries in memory, so tests can also check nothing secret was logged. */
export class MemoryLogger implements Logger {
  entries: { level: string; obj: object; msg?: string }[] = [];
  debug(obj: object, msg?: string): void {
    this.entries.push({ level: 'debug', obj, msg });
  }
  info(obj: object, msg?: string): void {
    this.entries.push({ level: 'info', obj, msg });
  }
  warn(obj: object, msg?: string): void {
    this.entries.push({ level: 'warn', obj, msg });
  }
  error(obj: object, msg?: string): void {
    this.entries.push({ level: 'error', obj, msg });
  }
  text(): string {
    return this.entries.map((e) => `${e.level} ${e.msg ?? ''} ${safeJson(e.obj)}`).join('\n');
  }
}

function safeJson(o: object): string {
  try {
    return JSON.stringify(o, (_k, v: unknown) => (v instanceof Error ? { message: v.message, stack: v.stack } : v));
  } catch {
    return String(o);
  }
}

export const requester: Actor = { platform: 'teams', userId: 'aad-requester', displayName: 'Rita Requester', upn: 'rita@contoso.com' };
export const alice: Actor = { platform: 'teams', userId: 'aad-alice', displayName: 'Alice Approver', upn: 'Alice@Contoso.com' };
export const bob: Actor = { platform: 'slack', userId: 'U0BOB', displayName: 'Bob Approver' };
export const carol: Actor = { platform: 'teams', userId: 'aad-carol', displayName: 'Carol Approver' };
export const mallory: Actor = { platform: 'teams', userId: 'aad-mallory', displayName: 'Mallory Outsider' };

/** Approver list as configured: a UPN in other case, a Slack id, an object id. */
export const APPROVERS = ['alice@contoso.COM', 'u0bob', 'aad-carol'];

export function target(resourceGroup = 'rg-hops', subscriptionId = '00000000-0000-0000-0000-000000000001'): Target {
  return { subscriptionId, resourceGroup, location: 'westeurope', tenantId: '11111111-1111-1111-1111-111111111111' };
}

export function options(): SetupOptions {
  return {
    storageAccountName: 'hopsst1001',
    containerName: 'hopsworks',
    registryName: 'hopsacr1001',
    identityName: 'hops-identity',
    roleName: 'hopsworks-instance-1001',
    sshKeyName: 'hops-ssh',
    acrRetentionDays: 7,
    backupRetentionDays: 0,
    sshKeyMode: 'generate',
  };
}

/** A plan with a valid hash; `steps` defaults to a small DAG shaped like the guide's. */
export function plan(t: Target = target(), steps: PlanStep[] = defaultSteps(), extra: Partial<Plan> = {}): Plan {
  return {
    steps,
    warnings: [],
    missingPermissions: [],
    cost: { currency: 'USD', monthlyTotal: 12.5, priceListDate: '2026-01-01', lines: [] },
    hash: computePlanHash(t, steps),
    createdAt: '2026-01-05T08:59:00.000Z',
    ...extra,
  };
}

export function step(id: string, dependsOn: string[] = [], action: PlanStep['action'] = 'create', kind: PlanStep['kind'] = 'storageAccount'): PlanStep {
  return { id, kind, action, title: `${action} ${id}`, properties: { name: id }, dependsOn, estimatedSeconds: 5 };
}

export function defaultSteps(): PlanStep[] {
  return [
    step('storageAccount', [], 'create', 'storageAccount'),
    step('blobContainer', ['storageAccount'], 'create', 'blobContainer'),
    step('managedIdentity', [], 'create', 'managedIdentity'),
    step('roleAssignment', ['managedIdentity', 'storageAccount'], 'create', 'roleAssignment'),
  ];
}

export function submitInput(id: string, overrides: Partial<SubmitInput> = {}): SubmitInput {
  const t = overrides.target ?? target();
  return {
    id,
    kind: 'setup',
    requester,
    target: t,
    options: options(),
    reason: 'Feature store for the fraud team',
    plan: plan(t),
    conversations: { activityIds: {} },
    ...overrides,
  };
}

/** A stored-shape request for store-level tests (bypasses the service). */
export function rawRequest(id: string, overrides: Partial<SetupRequest> = {}): SetupRequest {
  const t = overrides.target ?? target();
  return {
    id,
    kind: 'setup',
    state: 'pendingApproval',
    requester,
    conversations: { activityIds: {} },
    target: t,
    options: options(),
    reason: 'test',
    plan: plan(t),
    approvals: [],
    steps: {},
    createdAt: '2026-01-05T09:00:00.000Z',
    updatedAt: '2026-01-05T09:00:00.000Z',
    version: 0,
    ...overrides,
  };
}

/** A promise with its resolve exposed. */
export class Gate {
  readonly promise: Promise<void>;
  open!: () => void;
  opened = false;
  constructor() {
    this.promise = new Promise<void>((resolve) => {
      this.open = () => {
        this.opened = true;
        resolve();
      };
    });
  }
}

/** Hand-written fake of the provisioner's step port: scripted per step, recording what it saw. */
export class FakeExecutor {
  /** Every call in order, with the request exactly as the runner passed it. */
  calls: { stepId: string; request: SetupRequest }[] = [];
  log: string[] = [];
  active = new Set<string>();
  maxActive = 0;
  /** Awaited before a step finishes. */
  holds = new Map<string, Promise<void>>();
  /** Opened when a step starts. */
  startedGates = new Map<string, Gate>();
  /** Failures to throw, consumed one per attempt. */
  failures = new Map<string, Error[]>();
  secrets = new Map<string, StepSecret>();
  /** Runs inside executeStep before anything else (e.g. to inspect the store). */
  onStart?: (stepId: string, request: SetupRequest) => Promise<void> | void;

  started(stepId: string): Gate {
    let g = this.startedGates.get(stepId);
    if (!g) {
      g = new Gate();
      this.startedGates.set(stepId, g);
    }
    return g;
  }

  count(stepId: string): number {
    return this.calls.filter((c) => c.stepId === stepId).length;
  }

  async executeStep(request: SetupRequest, s: PlanStep): Promise<{ output?: Record<string, string>; secret?: StepSecret }> {
    this.calls.push({ stepId: s.id, request: structuredClone(request) });
    this.log.push(`start:${s.id}`);
    this.active.add(s.id);
    this.maxActive = Math.max(this.maxActive, this.active.size);
    this.started(s.id).open();
    try {
      await this.onStart?.(s.id, request);
      await (this.holds.get(s.id) ?? Promise.resolve());
      // Let other scheduled work interleave, as a real network call would.
      await new Promise((r) => setImmediate(r));
      const failure = this.failures.get(s.id)?.shift();
      if (failure) {
        this.log.push(`fail:${s.id}`);
        throw failure;
      }
      this.log.push(`done:${s.id}`);
      const deps = Object.fromEntries(s.dependsOn.map((d) => [`from_${d}`, request.steps[d]?.output?.id ?? 'MISSING']));
      return { output: { id: `/fake/${s.id}`, ...deps }, ...(this.secrets.has(s.id) ? { secret: this.secrets.get(s.id) } : {}) };
    } finally {
      this.active.delete(s.id);
    }
  }

  outputs(request: SetupRequest): FormOutputs {
    return {
      resourceGroup: request.target.resourceGroup,
      location: request.target.location,
      storageAccountName: request.options.storageAccountName,
      containerName: request.options.containerName,
      registryName: request.options.registryName,
      sshKeyName: request.options.sshKeyName,
      managedIdentityName: request.options.identityName,
      managedIdentityResourceId: request.steps.managedIdentity?.output?.id ?? '',
      backupRetentionDays: request.options.backupRetentionDays,
      subscriptionId: request.target.subscriptionId,
      tenantId: request.target.tenantId ?? '',
    };
  }
}
