/**
 * Ports: the small interfaces the core talks to. Implementations live in outer layers
 * (SQLite store in src/core/store is the one exception: it is pure Node + better-sqlite3).
 */
import type {
  Actor,
  AuditEvent,
  ConversationRef,
  FormOutputs,
  Plan,
  PlanStep,
  RequestConversations,
  RequestKind,
  RequestState,
  RequestSummary,
  SetupOptions,
  SetupRequest,
  Target,
} from './types';

/** Wall clock, injectable so expiry and leases are testable. */
export interface Clock {
  now(): Date;
}

export interface RequestQuery {
  states?: RequestState[];
  kind?: RequestKind;
  subscriptionId?: string;
  resourceGroup?: string;
  /** Newest first; default 20. */
  limit?: number;
}

/** Requests, with compare-and-set updates and the one-active-request-per-resource-group lock. */
export interface RequestRepository {
  /** Allocates the next readable id (`HW-1001`, `HW-1002`, …). */
  nextId(): Promise<string>;
  /**
   * Stores a new request (version 1). Throws `ACTIVE_REQUEST_EXISTS` (details.existingId) when the
   * request is in an active state and another active request holds its subscription + resource group.
   */
  create(request: SetupRequest): Promise<SetupRequest>;
  get(id: string): Promise<SetupRequest | undefined>;
  list(query?: RequestQuery): Promise<SetupRequest[]>;
  /** The same selection as `list`, without reading whole requests. */
  listSummaries(query?: RequestQuery): Promise<RequestSummary[]>;
  /**
   * Compare-and-set: succeeds only if the stored version equals `request.version`; returns the
   * stored request with `version + 1`. Throws `VERSION_CONFLICT` otherwise, `ACTIVE_REQUEST_EXISTS`
   * when the new state would break the resource-group lock. `audit` events are appended in the same
   * transaction, so a crash never keeps a state change without its audit event or the other way round.
   */
  update(request: SetupRequest, audit?: AuditEvent[]): Promise<SetupRequest>;
}

/** Append-only audit trail. */
export interface AuditLog {
  appendAudit(event: AuditEvent): Promise<void>;
  listAudit(requestId: string): Promise<AuditEvent[]>;
}

/** Expiring job leases: two bot instances never run the same request. */
export interface JobLeases {
  /** True when `owner` now holds the lease (free, lapsed, or already its own); false when someone else holds it. */
  claim(requestId: string, owner: string, ttlMs: number): Promise<boolean>;
  release(requestId: string, owner: string): Promise<void>;
}

/** When a key-value entry ends. */
export interface KvEntryOptions {
  /** Epoch ms after which the entry is gone (absent to `get`, replaceable by `create`, deleted by the store in time). Default: kept until deleted. */
  expiresAt?: number;
}

/** Small key-value store with optimistic concurrency and optional expiry, for bot settings, dialog state and the Slack adapter's records. */
export interface KeyValueStore {
  /** The live entry: one past its expiry is absent. */
  get(key: string): Promise<{ value: unknown; etag: string } | undefined>;
  /**
   * Writes when `etag` matches the live entry's (or `'*'`/undefined for last-writer-wins); the entry then ends as
   * `options` says (a write without `expiresAt` keeps it until deleted). Throws `VERSION_CONFLICT`.
   */
  put(key: string, value: unknown, etag?: string, options?: KvEntryOptions): Promise<string>;
  /**
   * Writes only when there is no live entry under `key`, atomically across every instance sharing the store;
   * true when this call wrote it. One row per key: the cost does not grow with the number of entries.
   */
  create(key: string, value: unknown, options?: KvEntryOptions): Promise<boolean>;
  delete(key: string): Promise<void>;
}

/** Everything a store implementation offers. */
export interface Store extends RequestRepository, AuditLog, JobLeases {
  kv: KeyValueStore;
  /** Cheap liveness probe for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface SubscriptionInfo {
  subscriptionId: string;
  displayName: string;
  tenantId: string;
}

export interface ResourceGroupInfo {
  name: string;
  location: string;
}

/** What the dialog asks Azure before there is a request. */
export interface Discovery {
  listSubscriptions(): Promise<SubscriptionInfo[]>;
  listResourceGroups(subscriptionId: string): Promise<ResourceGroupInfo[]>;
  /** Defaults for the options step: generated names that are free right now. */
  suggestOptions(target: Target, requestId: string): Promise<SetupOptions>;
}

export interface PreflightInput {
  requestId: string;
  kind: RequestKind;
  target: Target;
  options: SetupOptions;
  /** For a teardown: the setup request whose recorded resources are deleted. */
  parent?: SetupRequest;
  confirmDeleteData?: boolean;
}

/** Read-only checks that produce a plan. Bad names etc. throw `VALIDATION` with the rule quoted. */
export interface Planner {
  preflight(input: PreflightInput): Promise<Plan>;
}

/** A secret produced by a step: handed to the notifier once, never stored. */
export interface StepSecret {
  kind: 'sshPrivateKey';
  value: string;
}

export interface StepResult {
  output?: Record<string, string>;
  secret?: StepSecret;
}

/** Runs one plan step idempotently. Throws `StepFailure`-shaped BotError (code AZURE, details.step error). */
export interface StepExecutor {
  executeStep(request: SetupRequest, step: PlanStep): Promise<StepResult>;
}

/** The Azure side as the core sees it. */
export interface Provisioner extends Discovery, Planner, StepExecutor {
  /** Form values once every step is done. */
  outputs(request: SetupRequest): FormOutputs;
}

/** What changed, for the notifier to update cards. */
export type RequestEventType =
  | 'submitted'
  | 'approved'
  | 'approvalRecorded'
  | 'rejected'
  | 'cancelled'
  | 'expired'
  | 'provisioningStarted'
  | 'stepChanged'
  | 'succeeded'
  | 'failed'
  | 'tornDown';

export interface RequestEvent {
  type: RequestEventType;
  request: SetupRequest;
  actor?: Actor;
  stepId?: string;
}

/** Posts and updates chat messages about a request (proactively). */
export interface Notifier {
  requestChanged(event: RequestEvent): Promise<void>;
  /** Sends a secret to the requester's personal chat, once. Never persisted anywhere. */
  deliverSecret(request: SetupRequest, secret: StepSecret): Promise<void>;
}

/** Input for submitting a new request from a dialog. */
export interface SubmitInput {
  kind: RequestKind;
  parentId?: string;
  requester: Actor;
  target: Target;
  options: SetupOptions;
  reason: string;
  plan: Plan;
  conversations: RequestConversations;
  confirmDeleteData?: boolean;
  /** Id obtained from `RequestRepository.nextId()` before preflight (resources are tagged with it). */
  id: string;
}

/** The workflow API both chat platforms call. Implemented by `SetupService` in src/core/service.ts. */
export interface Workflow {
  /** Creates the request and moves it draft → pendingApproval (lock checked). Missing permissions refuse. */
  submit(input: SubmitInput): Promise<SetupRequest>;
  /** Records an approval of `planHash`; moves to approved when N distinct approvers agree. */
  approve(id: string, actor: Actor, planHash: string): Promise<SetupRequest>;
  reject(id: string, actor: Actor, planHash: string, reason: string): Promise<SetupRequest>;
  /** Requester or an approver cancels a pending request. */
  cancel(id: string, actor: Actor): Promise<SetupRequest>;
  /** failed → provisioning again; resumes at the failed steps. Requester or approver. */
  retry(id: string, actor: Actor): Promise<SetupRequest>;
  /** Merges conversation references / card activity ids (CAS-retried). */
  recordConversation(id: string, patch: Partial<RequestConversations>, activityIds?: Record<string, string>): Promise<SetupRequest>;
  /** Moves overdue pending requests to expired. Returns the expired ones. */
  expireDue(): Promise<SetupRequest[]>;
  get(id: string): Promise<SetupRequest | undefined>;
  list(query?: RequestQuery): Promise<SetupRequest[]>;
  /** Like `list`, without the plan and steps (the status list). */
  listSummaries(query?: RequestQuery): Promise<RequestSummary[]>;
  audit(id: string): Promise<AuditEvent[]>;
  /** Approver check for UI decisions (e.g. Action.Execute refresh): same rule the approve path uses. */
  isApprover(actor: Actor): boolean;
  /** The admin channel where approval cards go, per platform. */
  getAdminChannel(platform: Actor['platform']): Promise<ConversationRef | undefined>;
  /** Approvers only. */
  setAdminChannel(actor: Actor, ref: ConversationRef): Promise<void>;
}

/** Structured logger (pino-compatible). Never pass secrets to it. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
