import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BotError } from '../../src/core/errors';
import { JobRunner } from '../../src/core/runner';
import { SetupService } from '../../src/core/service';
import { openSqliteStore } from '../../src/core/store/sqlite';
import type { Store } from '../../src/core/ports';
import type { PlanStep, SetupRequest } from '../../src/core/types';
import { APPROVERS, FakeExecutor, Gate, ManualClock, MemoryLogger, RecordingNotifier, alice, plan, step, submitInput, target } from '../helpers/core-fakes';

const azureFailure = (code: string): BotError =>
  new BotError('AZURE', `Create managed identity failed: ${code}`, {
    details: { error: { code, message: 'The client does not have authorization to perform action', remediation: 'Grant the bot Managed Identity Contributor on the resource group.' } },
  });

describe('JobRunner', () => {
  let dir: string;
  let dbPath: string;
  let store: Store;
  let clock: ManualClock;
  let notifier: RecordingNotifier;
  let logger: MemoryLogger;
  let exec: FakeExecutor;
  let svc: SetupService;
  const runners: JobRunner[] = [];
  const extraStores: Store[] = [];

  const runner = (owner = 'bot-a', s: Store = store, leaseTtlMs = 60_000): JobRunner => {
    const r = new JobRunner({ store: s, provisioner: exec, notifier, clock, logger, owner, leaseTtlMs, pollIntervalMs: 10 });
    runners.push(r);
    return r;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-runner-'));
    dbPath = join(dir, 'bot.sqlite');
    clock = new ManualClock();
    store = openSqliteStore(dbPath, { clock });
    notifier = new RecordingNotifier();
    logger = new MemoryLogger();
    exec = new FakeExecutor();
    svc = new SetupService({ store, notifier, clock, logger, policy: { approvers: APPROVERS, requiredApprovals: 1, approvalTtlHours: 72 } });
  });

  afterEach(async () => {
    for (const r of runners.splice(0)) await r.stop();
    for (const s of extraStores.splice(0)) await s.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function approvedRequest(steps?: PlanStep[], rg = 'rg-hops'): Promise<SetupRequest> {
    const t = target(rg);
    const req = await svc.submit(submitInput(await store.nextId(), { target: t, plan: plan(t, steps) }));
    return svc.approve(req.id, alice, req.plan!.hash);
  }

  it('runs the DAG with maximal parallelism and stores every result before dependants start', async () => {
    const req = await approvedRequest();
    // Both roots must be running at once: each waits for the other to start.
    exec.holds.set('storageAccount', exec.started('managedIdentity').promise);
    exec.holds.set('managedIdentity', exec.started('storageAccount').promise);
    // roleAssignment must start as soon as its two dependencies are done, while blobContainer still runs.
    exec.holds.set('blobContainer', exec.started('roleAssignment').promise);
    // Assertions inside the executor would only fail the step: collect what is wrong and check afterwards.
    const violations: string[] = [];
    exec.onStart = async (stepId, passed) => {
      const stored = (await store.get(passed.id))!;
      const s = passed.plan!.steps.find((x) => x.id === stepId)!;
      for (const dep of s.dependsOn) {
        // Persisted before this step started, and visible in the request it received.
        if (stored.steps[dep].status !== 'done' || stored.steps[dep].output?.id !== `/fake/${dep}`) violations.push(`${dep} not stored before ${stepId}`);
        if (passed.steps[dep].output?.id !== `/fake/${dep}`) violations.push(`${stepId} did not receive ${dep}'s output`);
      }
      if (stored.steps[stepId].status !== 'running' || passed.steps[stepId].status !== 'running') violations.push(`${stepId} not stored as running`);
    };

    const { ran } = await runner().runOnce();

    expect(ran).toEqual([req.id]);
    expect(violations).toEqual([]);
    expect(exec.maxActive).toBeGreaterThanOrEqual(2);
    expect(exec.log.indexOf('start:roleAssignment')).toBeLessThan(exec.log.indexOf('done:blobContainer'));
    const done = (await store.get(req.id))!;
    expect(done.state).toBe('succeeded');
    expect(Object.values(done.steps).map((s) => [s.status, s.attempts])).toEqual(Array(4).fill(['done', 1]));
    expect(done.steps.roleAssignment.output).toEqual({
      id: '/fake/roleAssignment',
      from_managedIdentity: '/fake/managedIdentity',
      from_storageAccount: '/fake/storageAccount',
    });
    expect(done.outputs).toMatchObject({ resourceGroup: 'rg-hops', managedIdentityResourceId: '/fake/managedIdentity', storageAccountName: 'hopsst1001' });
    const types = notifier.types();
    expect(types.filter((t) => t === 'stepChanged')).toHaveLength(8); // running + done per step
    expect(types.slice(-1)).toEqual(['succeeded']);
    expect(types).toContain('provisioningStarted');
    const audit = (await svc.audit(req.id)).map((a) => a.type);
    expect(audit.filter((t) => t === 'step.done')).toHaveLength(4);
    expect(audit).toEqual(expect.arrayContaining(['submitted', 'approved', 'state.provisioning', 'state.succeeded']));
    // The lease is released: any instance could claim it now.
    expect(await store.claim(req.id, 'someone-else', 1000)).toBe(true);
  });

  it('stores the steps a job starts at once as running in one write, each with its own audit trail', async () => {
    const steps = ['a', 'b', 'c', 'd', 'e'].map((id) => step(id));
    const req = await approvedRequest(steps);
    const seen: Record<string, number> = {};
    exec.onStart = async (stepId, passed) => {
      seen[stepId] = passed.version;
    };
    await runner().runOnce();
    // All five received the same stored version: one compare-and-set marked them running together.
    expect(Object.keys(seen).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(new Set(Object.values(seen)).size).toBe(1);
    const done = (await store.get(req.id))!;
    expect(done.state).toBe('succeeded');
    expect(Object.values(done.steps).map((s) => [s.status, s.attempts])).toEqual(Array(5).fill(['done', 1]));
    const audit = (await svc.audit(req.id)).map((a) => a.type);
    expect(audit.filter((t) => t === 'step.done')).toHaveLength(5);
  });

  it('every action, reuse and keep included, goes through the executor', async () => {
    const steps = [step('rg', [], 'reuse', 'storageAccount'), step('id', ['rg'], 'keep', 'managedIdentity'), step('ra', ['id'], 'update', 'roleAssignment')];
    const req = await approvedRequest(steps);
    await runner().runOnce();
    expect(exec.calls.map((c) => c.stepId)).toEqual(['rg', 'id', 'ra']);
    expect((await store.get(req.id))!.steps.ra.output).toMatchObject({ from_id: '/fake/id' });
  });

  it('on a failure waits for running siblings, then fails; retry resumes only the failed and pending steps', async () => {
    const req = await approvedRequest();
    exec.failures.set('managedIdentity', [azureFailure('AuthorizationFailed')]);
    // storageAccount is still running when managedIdentity fails.
    const slowStorage = new Gate();
    exec.holds.set('storageAccount', slowStorage.promise);
    exec.onStart = (stepId) => {
      if (stepId === 'managedIdentity') void Promise.resolve().then(() => setImmediate(() => setImmediate(() => slowStorage.open())));
    };

    await runner().runOnce();

    let cur = (await store.get(req.id))!;
    expect(cur.state).toBe('failed');
    expect(cur.steps.storageAccount.status).toBe('done'); // the sibling finished and was recorded
    expect(cur.steps.managedIdentity).toMatchObject({
      status: 'failed',
      attempts: 1,
      error: { code: 'AuthorizationFailed', remediation: 'Grant the bot Managed Identity Contributor on the resource group.' },
    });
    expect(cur.steps.roleAssignment.status).toBe('pending'); // dependants never started
    expect(exec.count('roleAssignment')).toBe(0);
    // No new step starts after a failure, even one that became ready meanwhile.
    expect(exec.count('blobContainer')).toBe(0);
    expect(cur.steps.blobContainer.status).toBe('pending');
    expect(notifier.types().slice(-1)).toEqual(['failed']);
    expect(exec.log.indexOf('fail:managedIdentity')).toBeLessThan(exec.log.indexOf('done:storageAccount'));

    await svc.retry(req.id, alice);
    await runner().runOnce();

    cur = (await store.get(req.id))!;
    expect(cur.state).toBe('succeeded');
    expect(exec.count('storageAccount')).toBe(1);
    expect(exec.count('blobContainer')).toBe(1);
    expect(exec.count('managedIdentity')).toBe(2);
    expect(exec.count('roleAssignment')).toBe(1);
    expect(cur.steps.managedIdentity).toMatchObject({ status: 'done', attempts: 2 });
    expect(cur.steps.managedIdentity.error).toBeUndefined();
    const audit = (await svc.audit(req.id)).map((a) => a.type);
    expect(audit).toEqual(expect.arrayContaining(['step.failed', 'state.failed', 'retried', 'job.resumed', 'state.succeeded']));
  });

  it('after a restart a provisioning request whose lease lapsed is resumed; steps left running are re-run', async () => {
    const req = await approvedRequest();
    // What a crashed instance leaves behind: provisioning, one step done, one caught mid-flight, its lease held.
    const crashed = (await store.get(req.id))!;
    await store.update({
      ...crashed,
      state: 'provisioning',
      steps: {
        ...crashed.steps,
        storageAccount: { status: 'done', attempts: 1, output: { id: '/fake/storageAccount' } },
        managedIdentity: { status: 'running', attempts: 1, startedAt: clock.now().toISOString() },
      },
    });
    expect(await store.claim(req.id, 'bot-dead', 60_000)).toBe(true);
    await store.close();

    // The restarted process opens the same file.
    store = openSqliteStore(dbPath, { clock });
    const restarted = runner('bot-b', store);
    expect((await restarted.runOnce()).ran).toEqual([]); // the dead owner's lease has not lapsed yet
    clock.advance(61_000);
    expect((await restarted.runOnce()).ran).toEqual([req.id]);

    const cur = (await store.get(req.id))!;
    expect(cur.state).toBe('succeeded');
    expect(exec.count('storageAccount')).toBe(0);
    expect(exec.count('managedIdentity')).toBe(1);
    expect(cur.steps.managedIdentity.attempts).toBe(2);
    expect(exec.calls.find((c) => c.stepId === 'roleAssignment')!.request.steps.storageAccount.output?.id).toBe('/fake/storageAccount');
  });

  it('two instances never run the same request', async () => {
    const req = await approvedRequest();
    const other = openSqliteStore(dbPath, { clock });
    extraStores.push(other);
    const hold = new Gate();
    exec.holds.set('storageAccount', hold.promise);
    const a = runner('bot-a');
    const b = runner('bot-b', other);
    const first = a.runOnce();
    await exec.started('storageAccount').promise;
    expect((await b.runOnce()).ran).toEqual([]);
    hold.open();
    expect((await first).ran).toEqual([req.id]);
    expect(exec.count('storageAccount')).toBe(1);
  });

  it('a secret is delivered once and never reaches the database file, the audit or the logs', async () => {
    const secret = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAC2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHUNIQUEMARKER\n-----END OPENSSH PRIVATE KEY-----';
    const steps = [step('sshPublicKey', [], 'create', 'sshPublicKey'), step('after', ['sshPublicKey'], 'create', 'roleAssignment')];
    exec.secrets.set('sshPublicKey', { kind: 'sshPrivateKey', value: secret });
    exec.failures.set('after', [azureFailure('InternalServerError')]);
    const req = await approvedRequest(steps);

    await runner().runOnce();
    await svc.retry(req.id, alice);
    await runner().runOnce();

    expect((await store.get(req.id))!.state).toBe('succeeded');
    expect(notifier.secrets).toEqual([{ requestId: req.id, secret: { kind: 'sshPrivateKey', value: secret } }]);
    expect(exec.count('sshPublicKey')).toBe(1);
    const marker = 'HUNIQUEMARKER';
    const files = readdirSync(dir).filter((f) => f.startsWith('bot.sqlite'));
    expect(files).toContain('bot.sqlite-wal');
    for (const f of files) expect(readFileSync(join(dir, f)).includes(Buffer.from(marker))).toBe(false);
    expect(JSON.stringify(await svc.audit(req.id))).not.toContain(marker);
    expect(JSON.stringify(await store.get(req.id))).not.toContain(marker);
    expect(logger.text()).not.toContain(marker);
    expect(JSON.stringify(notifier.events.map((e) => e.request))).not.toContain(marker);
    expect((await svc.audit(req.id)).find((a) => a.type === 'step.done')!.detail).toMatchObject({ secretDelivered: 'sshPrivateKey' });
  });

  it('a secret that cannot be delivered fails its step visibly, and is still never stored or logged', async () => {
    const marker = 'ANOTHERUNIQUEMARKER';
    exec.secrets.set('sshPublicKey', { kind: 'sshPrivateKey', value: `-----BEGIN OPENSSH PRIVATE KEY-----\n${marker}\n-----END OPENSSH PRIVATE KEY-----` });
    notifier.failSecret = true;
    const req = await approvedRequest([step('sshPublicKey', [], 'create', 'sshPublicKey')]);
    await runner().runOnce();
    const cur = (await store.get(req.id))!;
    expect(cur.state).toBe('failed');
    expect(cur.steps.sshPublicKey.error).toMatchObject({ code: 'SECRET_NOT_DELIVERED' });
    expect(cur.steps.sshPublicKey.error!.remediation).toMatch(/retry/);
    for (const f of readdirSync(dir).filter((x) => x.startsWith('bot.sqlite'))) expect(readFileSync(join(dir, f)).includes(Buffer.from(marker))).toBe(false);
    expect(logger.text()).not.toContain(marker);
  });

  it('stop(): no new steps, running steps finish and are stored, the lease is released; another instance resumes', async () => {
    const req = await approvedRequest();
    const hold = new Gate();
    exec.holds.set('storageAccount', hold.promise);
    exec.holds.set('managedIdentity', hold.promise);
    const a = runner('bot-a');
    a.start();
    await exec.started('storageAccount').promise;
    await exec.started('managedIdentity').promise;
    const stopped = a.stop();
    hold.open();
    await stopped;

    let cur = (await store.get(req.id))!;
    expect(cur.state).toBe('provisioning');
    expect(cur.steps.storageAccount.status).toBe('done');
    expect(cur.steps.managedIdentity.status).toBe('done');
    expect(exec.count('blobContainer') + exec.count('roleAssignment')).toBe(0);

    await runner('bot-b').drain(); // no clock advance needed: the lease was released
    cur = (await store.get(req.id))!;
    expect(cur.state).toBe('succeeded');
    expect(exec.count('storageAccount')).toBe(1);
  });

  it('teardown: the parent goes tearingDown while it runs, then tornDown', async () => {
    const setup = await approvedRequest();
    await runner().runOnce();
    expect((await store.get(setup.id))!.state).toBe('succeeded');

    const t = target();
    const tdSteps = [step('deleteStorage', [], 'delete', 'storageAccount')];
    const td = await svc.submit(
      submitInput(await store.nextId(), { kind: 'teardown', parentId: setup.id, target: t, plan: plan(t, tdSteps), reason: 'project finished' }),
    );
    await svc.approve(td.id, alice, td.plan!.hash);
    let parentDuring: string | undefined;
    exec.onStart = async (stepId) => {
      if (stepId === 'deleteStorage') parentDuring = (await store.get(setup.id))!.state;
    };
    await runner().runOnce();

    expect(parentDuring).toBe('tearingDown');
    expect((await store.get(td.id))!.state).toBe('succeeded');
    expect((await store.get(setup.id))!.state).toBe('tornDown');
    expect(notifier.events.slice(-1)[0]).toMatchObject({ type: 'tornDown', request: { id: td.id } });
    expect((await svc.audit(setup.id)).map((a) => a.type)).toEqual(expect.arrayContaining(['state.tearingDown', 'state.tornDown']));
    // The resource group is free again.
    expect((await svc.submit(submitInput(await store.nextId()))).state).toBe('pendingApproval');
  });

  it('a store failure mid-job leaves the request provisioning with its lease released; the next poll resumes it', async () => {
    const req = await approvedRequest();
    let failBlobResult = true;
    // A hand-written decorator of the store port: the first write of blobContainer's result fails.
    const flaky: Store = Object.assign(Object.create(store) as Store, {
      update: async (r: SetupRequest) => {
        if (failBlobResult && r.steps.blobContainer?.status === 'done') {
          failBlobResult = false;
          throw new Error('SQLITE_IOERR: disk I/O error');
        }
        return store.update(r);
      },
    });
    const r = runner('bot-a', flaky);
    await r.runOnce();
    let cur = (await store.get(req.id))!;
    expect(cur.state).toBe('provisioning');
    expect(cur.steps.blobContainer.status).toBe('running');
    expect(logger.entries.some((e) => e.level === 'error' && /job crashed/.test(e.msg ?? ''))).toBe(true);
    expect(await store.claim(req.id, 'bot-z', 1_000)).toBe(true); // released: free for anyone
    await store.release(req.id, 'bot-z');

    await r.drain();
    cur = (await store.get(req.id))!;
    expect(cur.state).toBe('succeeded');
    expect(exec.count('storageAccount')).toBe(1);
    expect(exec.count('blobContainer')).toBe(2); // re-run: its first result was never stored
  });

  it('an instance that loses its lease stops starting steps and leaves the job to the new owner', async () => {
    const req = await approvedRequest();
    const hold = new Gate();
    exec.holds.set('storageAccount', hold.promise);
    exec.holds.set('managedIdentity', hold.promise);
    const a = runner('bot-a', store, 300); // renews every 100 ms
    const first = a.runOnce();
    await exec.started('storageAccount').promise;
    // bot-a stalls past its lease (e.g. a long GC pause); bot-b takes the job over.
    clock.advance(1_000);
    expect(await store.claim(req.id, 'bot-b', 60_000)).toBe(true);
    while (!logger.entries.some((e) => /lease lost/.test(e.msg ?? ''))) await new Promise((r) => setTimeout(r, 20));
    hold.open();
    await first;
    expect(exec.count('blobContainer') + exec.count('roleAssignment')).toBe(0);
    expect((await store.get(req.id))!.state).toBe('provisioning');
    // bot-a did not release bot-b's lease.
    expect(await store.claim(req.id, 'bot-c', 60_000)).toBe(false);
  });

  it('start() keeps polling: a request approved after start is picked up and run', async () => {
    const r = runner('bot-a');
    r.start();
    const req = await approvedRequest();
    while ((await store.get(req.id))!.state !== 'succeeded') await new Promise((res) => setTimeout(res, 10));
    await r.stop();
    expect(exec.calls.map((c) => c.stepId).sort()).toEqual(['blobContainer', 'managedIdentity', 'roleAssignment', 'storageAccount']);
  });

  it('an approval made through this instance starts provisioning at once, not at the next poll', async () => {
    const r = new JobRunner({ store, provisioner: exec, notifier, clock, logger, owner: 'bot-a', pollIntervalMs: 60_000 });
    runners.push(r);
    const waking = new SetupService({ store, notifier, clock, logger, policy: { approvers: APPROVERS, requiredApprovals: 1, approvalTtlHours: 72 }, onRunnable: () => r.wake() });
    r.start();
    await new Promise((res) => setTimeout(res, 50)); // the first poll has run and found nothing
    const t = target('rg-wake');
    const req = await waking.submit(submitInput(await store.nextId(), { target: t, plan: plan(t) }));
    const began = Date.now();
    await waking.approve(req.id, alice, req.plan!.hash);
    await exec.started('storageAccount').promise;
    expect(Date.now() - began).toBeLessThan(5_000); // the poll interval is 60 s
    for (let i = 0; i < 200 && (await store.get(req.id))!.state !== 'succeeded'; i++) await new Promise((res) => setTimeout(res, 10));
    expect((await store.get(req.id))!.state).toBe('succeeded');
  });

  it('a write by someone else while a job runs is kept: the job re-reads and applies its step result on top', async () => {
    const req = await approvedRequest();
    const gate = exec.started('storageAccount');
    let release!: () => void;
    exec.holds.set('storageAccount', new Promise<void>((res) => (release = res)));
    const running = runner().runOnce();
    await gate.promise;
    // Another writer (e.g. the notifier recording a message id) changes the request mid-job.
    const cur = (await store.get(req.id))!;
    await store.update({ ...cur, conversations: { ...cur.conversations, activityIds: { ...cur.conversations.activityIds, progress: 'msg-42' } } });
    release();
    await running;
    const done = (await store.get(req.id))!;
    expect(done.state).toBe('succeeded');
    expect(done.conversations.activityIds.progress).toBe('msg-42');
    expect(done.steps.storageAccount.status).toBe('done');
  });

  it('a notifier that throws never stops provisioning', async () => {
    const req = await approvedRequest();
    notifier.fail = true;
    await runner().runOnce();
    expect((await store.get(req.id))!.state).toBe('succeeded');
  });

  it('the poll also expires overdue approvals when given the workflow', async () => {
    const t = target('rg-late');
    const pending = await svc.submit(submitInput(await store.nextId(), { target: t, plan: plan(t) }));
    clock.advanceHours(73);
    const r = new JobRunner({ store, provisioner: exec, notifier, clock, logger, owner: 'bot-a', workflow: svc });
    runners.push(r);
    await r.runOnce();
    expect((await store.get(pending.id))!.state).toBe('expired');
  });
});
