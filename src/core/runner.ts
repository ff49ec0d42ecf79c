import { updateWithRetry } from './cas';
import { BotError, isBotError } from './errors';
import { readySteps } from './plan';
import { SYSTEM_ACTOR } from './service';
import { transition } from './state';
import type { Clock, Logger, Notifier, RequestEventType, StepExecutor, StepResult, Store, Workflow } from './ports';
import type { AuditEvent, FormOutputs, PlanStep, SetupRequest, StepError, StepState } from './types';

/** What the runner needs from the provisioner: run a step, and read the form values at the end. */
export interface RunnerProvisioner extends StepExecutor {
  outputs(request: SetupRequest): FormOutputs;
}

/** What `JobRunner` is built from (composition root). */
export interface JobRunnerDeps {
  store: Store;
  provisioner: RunnerProvisioner;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  /** This instance's id; leases are held in its name. */
  owner: string;
  /** Lease length; renewed every third of it while a job runs. Default 60 s. */
  leaseTtlMs?: number;
  /** How often `start()` looks for work. Default 2 s. */
  pollIntervalMs?: number;
  /** When given, overdue approvals are expired on every poll. */
  workflow?: Pick<Workflow, 'expireDue'>;
}

/** What one poll did. */
export interface PollResult {
  /** Requests this instance claimed and ran (to the end, or until stopped). */
  ran: string[];
}

const DEFAULT_LEASE_TTL_MS = 60_000;
const DEFAULT_POLL_MS = 2_000;
/** Delay of a poll asked for by wake() or following a poll that found work (coalesces a burst). */
const WAKE_DELAY_MS = 20;

/** Error recorded for a step that threw something other than a step failure. */
function stepErrorOf(err: unknown): StepError {
  if (isBotError(err)) {
    const d = (err.details?.error ?? err.details?.step) as Partial<StepError> | undefined;
    if (d && typeof d.code === 'string' && typeof d.message === 'string') {
      return { code: d.code, message: d.message, remediation: d.remediation ?? 'Fix the cause above, then retry the request.' };
    }
    return { code: err.code, message: err.message, remediation: 'Fix the cause above, then retry the request.' };
  }
  return {
    code: 'INTERNAL',
    message: err instanceof Error ? err.message : String(err),
    remediation: 'This is a bot error; check the bot logs, then retry the request.',
  };
}

/**
 * Durable job runner: claims approved and lapsed provisioning requests with an expiring lease and
 * runs their plan DAG with maximal parallelism. Every step result is stored (CAS) before its
 * dependants start, so a restart resumes where the last run stopped.
 */
export class JobRunner {
  private readonly store: Store;
  private readonly provisioner: RunnerProvisioner;
  private readonly notifier: Notifier;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly owner: string;
  private readonly leaseTtlMs: number;
  private readonly pollIntervalMs: number;
  private readonly workflow?: Pick<Workflow, 'expireDue'>;

  private readonly jobs = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;
  private polling?: Promise<unknown>;
  private started = false;
  private stopping = false;
  /** A wake-up arrived while a poll was running: poll again right after it. */
  private again = false;
  /** The coming poll is the quick second look after a poll that found work. */
  private followUp = false;

  constructor(deps: JobRunnerDeps) {
    this.store = deps.store;
    this.provisioner = deps.provisioner;
    this.notifier = deps.notifier;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.owner = deps.owner;
    this.leaseTtlMs = deps.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    this.pollIntervalMs = deps.pollIntervalMs ?? DEFAULT_POLL_MS;
    this.workflow = deps.workflow;
  }

  /** Polls in the background until `stop()`. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    this.tick();
  }

  private tick(): void {
    this.again = false;
    this.polling = this.poll()
      .catch((err: unknown): string[] => {
        this.logger.error({ err }, 'job runner poll failed');
        return [];
      })
      .then((started) => {
        this.polling = undefined;
        if (!this.started || this.stopping) return;
        // Work arriving in a burst (several approvals at once) is picked up by one quick second look
        // (only one: a job that crashes at once must not be re-claimed in a tight loop).
        const soon = this.again || (started.length > 0 && !this.followUp);
        this.followUp = soon && !this.again;
        this.timer = setTimeout(() => this.tick(), soon ? WAKE_DELAY_MS : this.pollIntervalMs);
      });
  }

  /**
   * Looks for work now instead of at the next poll: this instance just approved or retried a request.
   * Other instances still find it by polling.
   */
  wake(): void {
    if (!this.started || this.stopping) return;
    if (this.polling) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), WAKE_DELAY_MS);
  }

  /** Graceful shutdown: no new polls or steps; running steps finish and are stored; leases are released. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.polling;
    await Promise.allSettled([...this.jobs.values()]);
    this.stopping = false;
  }

  /** One poll, waiting for the jobs it started to finish (tests and scripts). */
  async runOnce(): Promise<PollResult> {
    const started = await this.poll();
    await Promise.allSettled(started.map((id) => this.jobs.get(id)));
    return { ran: started };
  }

  /**
   * Polls until there is nothing left to run, waiting for every job (tests and scripts). A job that
   * keeps crashing (e.g. a broken store) would be picked up forever, so this gives up after `maxRounds`.
   */
  async drain(maxRounds = 100): Promise<void> {
    for (let round = 0; round < maxRounds; round++) {
      await Promise.allSettled([...this.jobs.values()]);
      const { ran } = await this.runOnce();
      if (ran.length === 0 && this.jobs.size === 0) return;
    }
    throw new BotError('INTERNAL', `Job runner ${this.owner} still had work after ${maxRounds} rounds; see the logs for crashing jobs.`);
  }

  /** Finds runnable requests, claims them and starts their jobs; returns the ids started. */
  private async poll(): Promise<string[]> {
    if (this.workflow) {
      try {
        await this.workflow.expireDue();
      } catch (err) {
        this.logger.error({ err }, 'expiry sweep failed');
      }
    }
    const candidates = await this.store.listSummaries({ states: ['approved', 'provisioning'], limit: 100 });
    const started: string[] = [];
    // Oldest first: the queue is fair.
    for (const req of candidates.reverse()) {
      if (this.stopping) break;
      if (this.jobs.has(req.id)) continue;
      if (!(await this.store.claim(req.id, this.owner, this.leaseTtlMs))) continue;
      const job = this.runJob(req.id)
        .catch((err: unknown) => this.logger.error({ err, requestId: req.id }, 'job crashed; its lease is released and a later poll resumes it'))
        .finally(() => this.jobs.delete(req.id));
      this.jobs.set(req.id, job);
      started.push(req.id);
    }
    return started;
  }

  private async runJob(id: string): Promise<void> {
    const lease = { lost: false };
    const renew = setInterval(() => {
      this.store
        .claim(id, this.owner, this.leaseTtlMs)
        .then((held) => {
          if (!held && !lease.lost) {
            lease.lost = true;
            this.logger.warn({ requestId: id, owner: this.owner }, 'lease lost to another instance; stopping after running steps');
          }
        })
        .catch((err: unknown) => this.logger.warn({ err, requestId: id }, 'lease renewal failed'));
    }, Math.max(10, Math.floor(this.leaseTtlMs / 3)));
    try {
      const request = await this.begin(id);
      if (request) await this.execute(request, lease);
    } finally {
      clearInterval(renew);
      if (!lease.lost) await this.store.release(id, this.owner);
    }
  }

  /** approved → provisioning (and a teardown's parent → tearingDown); returns the request to run, if any. */
  private async begin(id: string): Promise<SetupRequest | undefined> {
    const current = await this.store.get(id);
    if (!current) return undefined;
    let request = current;
    if (current.state === 'approved') {
      const res = await updateWithRetry(this.store, id, (cur) =>
        cur.state === 'approved'
          ? { request: transition(cur, 'provisioning', this.clock), result: undefined, audit: [this.auditEvent(id, 'state.provisioning', { owner: this.owner })] }
          : undefined,
      );
      request = res.request;
      if (res.changed) await this.notify('provisioningStarted', request);
    } else if (current.state === 'provisioning') {
      const unfinished = Object.entries(current.steps).filter(([, s]) => s.status !== 'done').map(([stepId]) => stepId);
      await this.audit(request, 'job.resumed', { owner: this.owner, steps: unfinished });
      this.logger.info({ requestId: id, owner: this.owner, steps: unfinished }, 'resuming provisioning');
    }
    if (request.state !== 'provisioning') return undefined;
    if (request.kind === 'teardown' && request.parentId) await this.moveParent(request, 'succeeded', 'tearingDown');
    return request;
  }

  private async execute(initial: SetupRequest, lease: { lost: boolean }): Promise<void> {
    const steps: PlanStep[] = initial.plan?.steps ?? [];
    const finished = new Set(steps.filter((s) => initial.steps[s.id]?.status === 'done' || initial.steps[s.id]?.status === 'skipped').map((s) => s.id));
    const running = new Map<string, Promise<void>>();
    const failed = new Set<string>();
    let latest = initial;
    // One write at a time per job: parallel steps never collide with each other's compare-and-set. The writes
    // asked for while the previous one is made (e.g. the steps a job starts at once) go out together, as one
    // compare-and-set in the order they were asked for, with all their audit events.
    // A result and its audit event are one transaction: a crash never keeps one without the other.
    type Audit = { type: string; detail: Record<string, unknown> };
    type Queued = { patch: (cur: SetupRequest) => SetupRequest | undefined; audit?: Audit; resolve: (r: SetupRequest) => void; reject: (e: unknown) => void };
    let queued: Queued[] = [];
    let flushScheduled = false;
    /** Settles once every write asked for so far is made (or failed); never rejects. */
    let writes: Promise<void> = Promise.resolve();
    const flush = async (): Promise<void> => {
      const batch = queued;
      queued = [];
      flushScheduled = false;
      try {
        // This job is the main writer of its request: start from its own last stored copy (no read);
        // a concurrent writer (cancel, a notifier's message ids) makes the CAS fail and the retry re-reads.
        const res = await updateWithRetry(
          this.store,
          initial.id,
          (cur) => {
            let next = cur;
            const events: AuditEvent[] = [];
            for (const q of batch) {
              const r = q.patch(next);
              if (!r) continue;
              next = r;
              if (q.audit) events.push(this.auditEvent(initial.id, q.audit.type, q.audit.detail));
            }
            return next === cur ? undefined : { request: next, result: undefined, audit: events.length > 0 ? events : undefined };
          },
          latest,
        );
        latest = res.request;
        for (const q of batch) q.resolve(res.request);
      } catch (err) {
        for (const q of batch) q.reject(err);
      }
    };
    const write = (patch: (cur: SetupRequest) => SetupRequest | undefined, audit?: Audit): Promise<SetupRequest> =>
      new Promise<SetupRequest>((resolve, reject) => {
        queued.push({ patch, audit, resolve, reject });
        if (!flushScheduled) {
          flushScheduled = true;
          writes = writes.then(flush);
        }
      });
    const setStep = (stepId: string, f: (s: StepState) => StepState, audit?: Audit) =>
      write(
        (cur) => ({ ...cur, steps: { ...cur.steps, [stepId]: f(cur.steps[stepId] ?? { status: 'pending', attempts: 0 }) }, updatedAt: this.clock.now().toISOString() }),
        audit,
      );

    const failStep = async (step: PlanStep, error: StepError): Promise<void> => {
      const stored = await setStep(step.id, (s) => ({ ...s, status: 'failed', finishedAt: this.clock.now().toISOString(), error }), {
        type: 'step.failed',
        detail: { stepId: step.id, action: step.action, error },
      });
      failed.add(step.id);
      await this.notify('stepChanged', stored, step.id);
    };

    const runStep = async (step: PlanStep): Promise<void> => {
      const startedAt = this.clock.now().toISOString();
      const fresh = await setStep(step.id, (s) => ({ status: 'running', attempts: s.attempts + 1, startedAt }));
      await this.notify('stepChanged', fresh, step.id);
      let result: StepResult;
      try {
        result = await this.provisioner.executeStep(fresh, step);
      } catch (err) {
        const error = stepErrorOf(err);
        this.logger.warn({ requestId: fresh.id, stepId: step.id, code: error.code, err }, 'step failed');
        return failStep(step, error);
      }
      if (result.secret) {
        // Handed over at once and dropped: it never reaches the store, the audit or a log line.
        try {
          await this.notifier.deliverSecret(fresh, result.secret);
        } catch (err) {
          // Neither the error text nor the error object is kept: a transport error might echo what it failed to send.
          const error: StepError = {
            code: 'SECRET_NOT_DELIVERED',
            message: `The ${result.secret.kind === 'sshPrivateKey' ? 'SSH private key' : 'secret'} could not be sent to the requester's personal chat.`,
            remediation: 'Make sure the bot can message the requester 1:1, delete the SSH key resource, then retry.',
          };
          const errName = err instanceof Error ? err.name : typeof err;
          this.logger.error({ requestId: fresh.id, stepId: step.id, code: error.code, errName }, 'secret delivery failed');
          return failStep(step, error);
        }
      }
      const output = result.output;
      const stored = await setStep(
        step.id,
        (s) => ({
          ...s,
          status: 'done',
          finishedAt: this.clock.now().toISOString(),
          error: undefined,
          ...(output ? { output: { ...output } } : {}),
        }),
        { type: 'step.done', detail: { stepId: step.id, action: step.action, ...(output ? { output } : {}), ...(result.secret ? { secretDelivered: result.secret.kind } : {}) } },
      );
      finished.add(step.id);
      this.logger.info(
        { requestId: stored.id, stepId: step.id, action: step.action, attempt: stored.steps[step.id]?.attempts, ms: Date.parse(stored.steps[step.id]?.finishedAt ?? startedAt) - Date.parse(startedAt) },
        'step done',
      );
      await this.notify('stepChanged', stored, step.id);
    };

    // A store that cannot record a step result stops the job; the request stays provisioning and is resumed later.
    let crash: unknown;
    const halted = (): boolean => failed.size > 0 || crash !== undefined || this.stopping || lease.lost;
    for (;;) {
      if (!halted()) {
        for (const step of readySteps(steps, finished, new Set([...running.keys(), ...failed]))) {
          const p = runStep(step)
            .catch((err: unknown) => {
              crash ??= err;
            })
            .finally(() => running.delete(step.id));
          running.set(step.id, p);
        }
      }
      if (running.size === 0) break;
      // Wake up as soon as any step settles and schedule what became ready.
      await Promise.race(running.values());
    }
    await writes;
    if (crash !== undefined) throw crash;

    if (lease.lost || (this.stopping && failed.size === 0 && finished.size < steps.length)) {
      this.logger.info({ requestId: initial.id, owner: this.owner, lost: lease.lost }, 'job paused; it resumes on the next claim');
      return;
    }
    if (failed.size > 0) {
      const stored = await write((cur) => (cur.state === 'provisioning' ? transition(cur, 'failed', this.clock) : undefined), {
        type: 'state.failed',
        detail: { failedSteps: [...failed] },
      });
      await this.notify('failed', stored);
      return;
    }
    if (finished.size < steps.length) {
      // Unreachable steps (a dependency never finishes) would be a plan bug: fail loudly instead of spinning.
      throw new BotError('INTERNAL', `Request ${initial.id}: steps left that can never run.`);
    }
    if (initial.kind === 'teardown') {
      const stored = await write((cur) => (cur.state === 'provisioning' ? transition(cur, 'succeeded', this.clock) : undefined), { type: 'state.succeeded', detail: {} });
      await this.moveParent(stored, 'tearingDown', 'tornDown');
      await this.notify('tornDown', stored);
      return;
    }
    let outputs: FormOutputs;
    try {
      outputs = this.provisioner.outputs(latest);
    } catch (err) {
      // Every step is done but the summary cannot be built: fail visibly rather than resume forever.
      const error = stepErrorOf(err);
      this.logger.error({ err, requestId: initial.id }, 'form outputs could not be built');
      const failedReq = await write((cur) => (cur.state === 'provisioning' ? transition(cur, 'failed', this.clock) : undefined), {
        type: 'state.failed',
        detail: { outputsError: error },
      });
      await this.notify('failed', failedReq);
      return;
    }
    const stored = await write((cur) => (cur.state === 'provisioning' ? { ...transition(cur, 'succeeded', this.clock), outputs } : undefined), {
      type: 'state.succeeded',
      detail: { outputs },
    });
    await this.notify('succeeded', stored);
  }

  /** Moves a teardown's parent setup between states, tolerating a move already made by an earlier run. */
  private async moveParent(teardown: SetupRequest, from: 'succeeded' | 'tearingDown', to: 'tearingDown' | 'tornDown'): Promise<void> {
    const parentId = teardown.parentId as string;
    await updateWithRetry(this.store, parentId, (cur) =>
      cur.state === from
        ? { request: transition(cur, to, this.clock), result: undefined, audit: [this.auditEvent(parentId, `state.${to}`, { teardownId: teardown.id })] }
        : undefined,
    );
  }

  private auditEvent(requestId: string, type: string, detail: Record<string, unknown>): AuditEvent {
    return { requestId, at: this.clock.now().toISOString(), actor: SYSTEM_ACTOR, type, detail };
  }

  private async audit(request: SetupRequest, type: string, detail: Record<string, unknown>): Promise<void> {
    try {
      await this.store.appendAudit(this.auditEvent(request.id, type, detail));
    } catch (err) {
      this.logger.error({ err, requestId: request.id, type }, 'audit append failed');
    }
  }

  private async notify(type: RequestEventType, request: SetupRequest, stepId?: string): Promise<void> {
    try {
      await this.notifier.requestChanged({ type, request, ...(stepId !== undefined ? { stepId } : {}) });
    } catch (err) {
      this.logger.warn({ err, requestId: request.id, event: type }, 'notifier failed; provisioning continues');
    }
  }
}
