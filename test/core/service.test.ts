import { BotError, isBotError, type ErrorCode } from '../../src/core/errors';
import type { ApprovalPolicy } from '../../src/core/policy';
import { SetupService } from '../../src/core/service';
import { openSqliteStore } from '../../src/core/store/sqlite';
import type { Store } from '../../src/core/ports';
import type { Actor } from '../../src/core/types';
import {
  APPROVERS,
  ManualClock,
  MemoryLogger,
  RecordingNotifier,
  alice,
  bob,
  carol,
  mallory,
  plan,
  requester,
  step,
  submitInput,
  target,
} from '../helpers/core-fakes';

async function refusal(p: Promise<unknown>): Promise<BotError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BotError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<BotError> {
  const err = await refusal(p);
  expect(err.code).toBe(code);
  expect(err.message.length).toBeGreaterThan(10);
  return err;
}

describe('SetupService', () => {
  let store: Store;
  let clock: ManualClock;
  let notifier: RecordingNotifier;
  let logger: MemoryLogger;

  const make = (policy: Partial<ApprovalPolicy> = {}): SetupService =>
    new SetupService({ store, notifier, clock, logger, policy: { approvers: APPROVERS, requiredApprovals: 1, approvalTtlHours: 72, ...policy } });

  beforeEach(() => {
    store = openSqliteStore(':memory:');
    clock = new ManualClock();
    notifier = new RecordingNotifier();
    logger = new MemoryLogger();
  });
  afterEach(async () => store.close());

  async function submitted(svc: SetupService, rg = 'rg-hops') {
    const id = await store.nextId();
    return svc.submit(submitInput(id, { target: target(rg), plan: plan(target(rg)) }));
  }

  it('submit stores a pending request with readable id, expiry, pending steps, audit and a notification', async () => {
    const svc = make();
    const req = await submitted(svc);
    expect(req.id).toMatch(/^HW-\d{4}$/);
    expect(req.state).toBe('pendingApproval');
    expect(req.version).toBe(1);
    expect(req.expiresAt).toBe('2026-01-08T09:00:00.000Z');
    expect(Object.values(req.steps).every((s) => s.status === 'pending')).toBe(true);
    expect(await svc.get(req.id)).toEqual(req);
    const audit = await svc.audit(req.id);
    expect(audit.map((a) => a.type)).toEqual(['submitted']);
    expect(audit[0].actor).toMatchObject({ platform: 'teams', userId: requester.userId });
    expect(notifier.types()).toEqual(['submitted']);
  });

  it('submit refuses a plan with missing permissions and stores nothing', async () => {
    const svc = make();
    const t = target();
    const err = await expectCode(
      svc.submit(submitInput('HW-1001', { plan: plan(t, undefined, { missingPermissions: ['Microsoft.Authorization/roleAssignments/write'] }) })),
      'MISSING_PERMISSIONS',
    );
    expect(err.message).toContain('Microsoft.Authorization/roleAssignments/write');
    expect(await svc.get('HW-1001')).toBeUndefined();
  });

  it('submit refuses a plan whose hash does not match its steps, and a missing reason', async () => {
    const svc = make();
    const p = { ...plan(), hash: 'f'.repeat(64) };
    await expectCode(svc.submit(submitInput('HW-1001', { plan: p })), 'VALIDATION');
    await expectCode(svc.submit(submitInput('HW-1001', { reason: '   ' })), 'VALIDATION');
    expect(await svc.list()).toEqual([]);
  });

  it('no approvers configured: submit and decisions are refused with NO_APPROVERS_CONFIGURED', async () => {
    const svc = make({ approvers: [] });
    await expectCode(svc.submit(submitInput('HW-1001')), 'NO_APPROVERS_CONFIGURED');
    const withApprovers = make();
    const req = await submitted(withApprovers);
    await expectCode(svc.approve(req.id, alice, req.plan!.hash), 'NO_APPROVERS_CONFIGURED');
    expect((await svc.get(req.id))!.state).toBe('pendingApproval');
  });

  it('only listed approvers approve (user id or UPN, case-insensitive)', async () => {
    const svc = make();
    const req = await submitted(svc);
    await expectCode(svc.approve(req.id, mallory, req.plan!.hash), 'NOT_AN_APPROVER');
    expect(svc.isApprover(mallory)).toBe(false);
    expect(svc.isApprover(alice)).toBe(true); // listed by UPN in another case
    expect(svc.isApprover(bob)).toBe(true); // Slack id in another case
    const approved = await svc.approve(req.id, alice, req.plan!.hash);
    expect(approved.state).toBe('approved');
    expect(approved.approvals).toHaveLength(1);
    expect(notifier.types()).toEqual(['submitted', 'approved']);
    expect((await svc.audit(req.id)).map((a) => a.type)).toEqual(['submitted', 'approved']);
  });

  it('a requester never approves their own request, even when listed as an approver', async () => {
    const svc = make({ approvers: [...APPROVERS, requester.upn!] });
    const req = await submitted(svc);
    expect(svc.isApprover(requester)).toBe(true);
    await expectCode(svc.approve(req.id, requester, req.plan!.hash), 'SELF_APPROVAL');
    // Same person seen with another user id but the same UPN is still the requester.
    const alias: Actor = { ...requester, userId: 'other-id', upn: 'RITA@contoso.com' };
    await expectCode(svc.approve(req.id, alias, req.plan!.hash), 'SELF_APPROVAL');
    expect((await svc.get(req.id))!.approvals).toEqual([]);
  });

  it('N-of-M: needs N distinct approvers; a second click by the same approver is ALREADY_DECIDED and does not count', async () => {
    const svc = make({ requiredApprovals: 2 });
    const req = await submitted(svc);
    const hash = req.plan!.hash;
    const first = await svc.approve(req.id, alice, hash);
    expect(first.state).toBe('pendingApproval');
    const err = await expectCode(svc.approve(req.id, { ...alice, displayName: 'Alice again' }, hash), 'ALREADY_DECIDED');
    expect(err.message).toContain('already approved');
    expect((await svc.get(req.id))!.state).toBe('pendingApproval');
    expect((await svc.get(req.id))!.approvals).toHaveLength(1);
    const second = await svc.approve(req.id, bob, hash);
    expect(second.state).toBe('approved');
    expect(notifier.types()).toEqual(['submitted', 'approvalRecorded', 'approved']);
    // Once approved, further decisions are refused.
    await expectCode(svc.approve(req.id, carol, hash), 'NOT_PENDING');
  });

  it('an approval by someone no longer in the approver list does not count toward N-of-M', async () => {
    const before = make({ requiredApprovals: 2 });
    const req = await submitted(before);
    const hash = req.plan!.hash;
    expect((await before.approve(req.id, alice, hash)).state).toBe('pendingApproval');
    // Alice leaves the approver list (HOPSWORKS_APPROVERS changed, bot restarted) while the request waits.
    const after = make({ requiredApprovals: 2, approvers: APPROVERS.filter((a) => a.toLowerCase() !== alice.upn!.toLowerCase() && a !== alice.userId) });
    expect(after.isApprover(alice)).toBe(false);
    expect((await after.approve(req.id, bob, hash)).state).toBe('pendingApproval');
    expect((await after.approve(req.id, carol, hash)).state).toBe('approved');
  });

  it('a rejection needs a reason; one rejection by an approver rejects', async () => {
    const svc = make({ requiredApprovals: 2 });
    const req = await submitted(svc);
    await svc.approve(req.id, alice, req.plan!.hash);
    await expectCode(svc.reject(req.id, bob, req.plan!.hash, '  '), 'REASON_REQUIRED');
    await expectCode(svc.reject(req.id, mallory, req.plan!.hash, 'no'), 'NOT_AN_APPROVER');
    const rejected = await svc.reject(req.id, bob, req.plan!.hash, '  Use the shared registry  ');
    expect(rejected.state).toBe('rejected');
    expect(rejected.approvals[1]).toMatchObject({ decision: 'reject', reason: 'Use the shared registry' });
    await expectCode(svc.approve(req.id, carol, req.plan!.hash), 'NOT_PENDING');
    const audit = await svc.audit(req.id);
    expect(audit.map((a) => a.type)).toEqual(['submitted', 'approvalRecorded', 'rejected']);
    expect(audit[2].detail).toMatchObject({ reason: 'Use the shared registry' });
  });

  it('an approve click on an overdue request expires it and is refused with REQUEST_EXPIRED', async () => {
    const svc = make({ approvalTtlHours: 72 });
    const req = await submitted(svc);
    clock.advanceHours(71.9);
    expect(await svc.expireDue()).toEqual([]);
    clock.advanceHours(0.2);
    const err = await expectCode(svc.approve(req.id, alice, req.plan!.hash), 'REQUEST_EXPIRED');
    expect(err.details).toMatchObject({ id: req.id });
    const stored = await svc.get(req.id);
    expect(stored!.state).toBe('expired');
    expect(stored!.approvals).toEqual([]);
    expect(notifier.types()).toEqual(['submitted', 'expired']);
    // Later clicks get the same answer, and change nothing.
    await expectCode(svc.approve(req.id, bob, req.plan!.hash), 'REQUEST_EXPIRED');
    await expectCode(svc.reject(req.id, bob, req.plan!.hash, 'too late'), 'REQUEST_EXPIRED');
    expect((await svc.get(req.id))!.version).toBe(stored!.version);
    expect(notifier.types()).toEqual(['submitted', 'expired']);
  });

  it('expireDue sweeps overdue pending requests only, and releases their resource groups', async () => {
    const svc = make({ approvalTtlHours: 1 });
    const a = await submitted(svc, 'rg-a');
    const b = await submitted(svc, 'rg-b');
    await svc.approve(b.id, alice, b.plan!.hash);
    clock.advanceHours(2);
    const expired = await svc.expireDue();
    expect(expired.map((r) => r.id)).toEqual([a.id]);
    expect((await svc.get(b.id))!.state).toBe('approved');
    const again = await submitted(svc, 'rg-a');
    expect(again.state).toBe('pendingApproval');
    expect((await svc.audit(a.id)).map((e) => [e.type, e.actor.platform])).toEqual([
      ['submitted', 'teams'],
      ['expired', 'system'],
    ]);
  });

  it('approvals are bound to the plan hash: another hash is PLAN_SUPERSEDED, and a changed plan voids earlier approvals', async () => {
    const svc = make({ requiredApprovals: 2 });
    const req = await submitted(svc);
    const oldHash = req.plan!.hash;
    await expectCode(svc.approve(req.id, alice, 'a'.repeat(64)), 'PLAN_SUPERSEDED');
    await svc.approve(req.id, alice, oldHash);
    const t = target();
    const newPlan = plan(t, [step('storageAccount'), step('blobContainer', ['storageAccount'])]);
    const replanned = await svc.replan(req.id, requester, newPlan);
    expect(replanned.plan!.hash).not.toBe(oldHash);
    expect(Object.keys(replanned.steps).sort()).toEqual(['blobContainer', 'storageAccount']);
    // Bob approving from a stale card is refused; Alice's old approval no longer counts.
    await expectCode(svc.approve(req.id, bob, oldHash), 'PLAN_SUPERSEDED');
    const afterBob = await svc.approve(req.id, bob, newPlan.hash);
    expect(afterBob.state).toBe('pendingApproval');
    const afterAlice = await svc.approve(req.id, alice, newPlan.hash);
    expect(afterAlice.state).toBe('approved');
  });

  it('cancel: requester or approver, pending only', async () => {
    const svc = make();
    const req = await submitted(svc);
    await expectCode(svc.cancel(req.id, mallory), 'NOT_ALLOWED');
    const cancelled = await svc.cancel(req.id, requester);
    expect(cancelled.state).toBe('cancelled');
    await expectCode(svc.cancel(req.id, alice), 'NOT_PENDING');
    await expectCode(svc.cancel('HW-9999', alice), 'NOT_FOUND');
  });

  describe('one active request per resource group', () => {
    it('a second setup for a resource group with a pending one is refused with the first id', async () => {
      const svc = make();
      const first = await submitted(svc);
      const err = await expectCode(submitted(svc), 'ACTIVE_REQUEST_EXISTS');
      expect(err.details).toEqual({ existingId: first.id });
      expect(err.message).toContain(first.id);
      // Case does not matter in Azure names.
      const id = await store.nextId();
      const upper = target('RG-HOPS', '00000000-0000-0000-0000-000000000001'.toUpperCase());
      await expectCode(svc.submit(submitInput(id, { target: upper, plan: plan(upper) })), 'ACTIVE_REQUEST_EXISTS');
      // Another resource group is free.
      expect((await submitted(svc, 'rg-other')).state).toBe('pendingApproval');
    });

    it('approved also holds the lock; rejected, cancelled and expired release it', async () => {
      const svc = make();
      const a = await submitted(svc);
      await svc.approve(a.id, alice, a.plan!.hash);
      await expectCode(submitted(svc), 'ACTIVE_REQUEST_EXISTS');
      // Simulate the rest of the lifecycle through the store (the runner's job) to reach terminal states.
      let cur = (await store.get(a.id))!;
      cur = await store.update({ ...cur, state: 'provisioning' });
      await expectCode(submitted(svc), 'ACTIVE_REQUEST_EXISTS');
      await store.update({ ...cur, state: 'failed' });
      const b = await submitted(svc);
      await svc.reject(b.id, alice, b.plan!.hash, 'not now');
      const c = await submitted(svc);
      await svc.cancel(c.id, requester);
      const d = await submitted(svc);
      expect(d.state).toBe('pendingApproval');
      // A retry of the failed one now collides with d.
      await expectCode(svc.retry(a.id, requester), 'ACTIVE_REQUEST_EXISTS');
      expect((await store.get(a.id))!.state).toBe('failed');
    });

    it('teardown: shares the lock with its parent, and a torn-down resource group is free again', async () => {
      const svc = make();
      const setup = await submitted(svc);
      let parent = (await store.get(setup.id))!;
      parent = await store.update({ ...parent, state: 'approved' });
      parent = await store.update({ ...parent, state: 'provisioning' });
      // Only a succeeded setup can be torn down.
      const tdId = await store.nextId();
      await expectCode(svc.submit(submitInput(tdId, { kind: 'teardown', parentId: setup.id, reason: 'project over' })), 'NOT_ALLOWED');
      parent = await store.update({ ...parent, state: 'succeeded' });
      const td = await svc.submit(submitInput(tdId, { kind: 'teardown', parentId: setup.id, reason: 'project over' }));
      expect(td).toMatchObject({ kind: 'teardown', parentId: setup.id, state: 'pendingApproval' });
      // The pending teardown holds the resource group: no new setup, no second teardown.
      await expectCode(submitted(svc), 'ACTIVE_REQUEST_EXISTS');
      const td2 = await store.nextId();
      const err = await expectCode(svc.submit(submitInput(td2, { kind: 'teardown', parentId: setup.id, reason: 'again' })), 'ACTIVE_REQUEST_EXISTS');
      expect(err.details).toEqual({ existingId: td.id });
      // Running: teardown provisioning and parent tearingDown coexist.
      await svc.approve(td.id, alice, td.plan!.hash);
      let tdCur = (await store.get(td.id))!;
      tdCur = await store.update({ ...tdCur, state: 'provisioning' });
      parent = await store.update({ ...parent, state: 'tearingDown' });
      tdCur = await store.update({ ...tdCur, state: 'failed' });
      // A failed teardown leaves the parent tearingDown, which still holds the lock.
      const blocked = await expectCode(submitted(svc), 'ACTIVE_REQUEST_EXISTS');
      expect(blocked.details).toEqual({ existingId: setup.id });
      tdCur = await store.update({ ...tdCur, state: 'provisioning' });
      await store.update({ ...tdCur, state: 'succeeded' });
      await store.update({ ...parent, state: 'tornDown' });
      expect((await submitted(svc)).state).toBe('pendingApproval');
    });
  });

  it('a failing notifier is logged and never fails the decision', async () => {
    const svc = make();
    const req = await submitted(svc);
    notifier.fail = true;
    const approved = await svc.approve(req.id, alice, req.plan!.hash);
    expect(approved.state).toBe('approved');
    expect((await svc.get(req.id))!.state).toBe('approved');
    expect(logger.entries.some((e) => e.level === 'warn' && /notifier failed/.test(e.msg ?? ''))).toBe(true);
  });

  it('concurrent decisions by two approvers both count (compare-and-set re-decides on conflict)', async () => {
    const svc = make({ requiredApprovals: 2 });
    const req = await submitted(svc);
    const [a, b] = await Promise.all([svc.approve(req.id, alice, req.plan!.hash), svc.approve(req.id, bob, req.plan!.hash)]);
    expect([a.state, b.state].sort()).toEqual(['approved', 'pendingApproval']);
    const stored = (await svc.get(req.id))!;
    expect(stored.state).toBe('approved');
    expect(stored.approvals.map((x) => x.actor.userId).sort()).toEqual(['U0BOB', 'aad-alice']);
  });

  it('retry: failed → provisioning, failed steps back to pending, done steps untouched; others refused', async () => {
    const svc = make();
    const req = await submitted(svc);
    await expectCode(svc.retry(req.id, requester), 'ILLEGAL_TRANSITION');
    await svc.approve(req.id, alice, req.plan!.hash);
    let cur = (await store.get(req.id))!;
    cur = await store.update({ ...cur, state: 'provisioning' });
    await store.update({
      ...cur,
      state: 'failed',
      steps: {
        ...cur.steps,
        storageAccount: { status: 'done', attempts: 1, output: { id: 'sa' } },
        managedIdentity: { status: 'failed', attempts: 1, error: { code: 'AuthorizationFailed', message: 'no', remediation: 'grant' } },
      },
    });
    await expectCode(svc.retry(req.id, mallory), 'NOT_ALLOWED');
    const retried = await svc.retry(req.id, alice);
    expect(retried.state).toBe('provisioning');
    expect(retried.steps.storageAccount).toMatchObject({ status: 'done', output: { id: 'sa' } });
    expect(retried.steps.managedIdentity.status).toBe('pending');
    expect(retried.steps.managedIdentity.error).toBeUndefined();
    expect((await svc.audit(req.id)).map((a) => a.type)).toContain('retried');
  });

  it('recordConversation merges references and activity ids', async () => {
    const svc = make();
    const req = await submitted(svc);
    await svc.recordConversation(req.id, { approval: { platform: 'teams', reference: { conversation: { id: 'c1' } } } }, { approvalCard: 'a1' });
    const r = await svc.recordConversation(req.id, {}, { progressCard: 'p1' });
    expect(r.conversations.approval?.reference).toEqual({ conversation: { id: 'c1' } });
    expect(r.conversations.activityIds).toEqual({ approvalCard: 'a1', progressCard: 'p1' });
  });

  it('admin channel per platform, set by approvers only', async () => {
    const svc = make();
    const ref = { platform: 'teams' as const, reference: { conversation: { id: '19:admins@thread.tacv2' } } };
    await expectCode(svc.setAdminChannel(mallory, ref), 'NOT_AN_APPROVER');
    expect(await svc.getAdminChannel('teams')).toBeUndefined();
    await svc.setAdminChannel(alice, ref);
    expect(await svc.getAdminChannel('teams')).toEqual(ref);
    expect(await svc.getAdminChannel('slack')).toBeUndefined();
    await expectCode(svc.setAdminChannel(bob, ref), 'VALIDATION');
    const slackRef = { platform: 'slack' as const, reference: { channel: 'C0ADMINS' } };
    await svc.setAdminChannel(bob, slackRef);
    expect(await svc.getAdminChannel('slack')).toEqual(slackRef);
  });

  it('unknown request ids are NOT_FOUND', async () => {
    const svc = make();
    const err = await refusal(svc.approve('HW-4040', alice, 'x'));
    expect(isBotError(err, 'NOT_FOUND')).toBe(true);
  });
});
