import { isBotError } from '../../src/core/errors';
import {
  countedApprovals,
  decideApprove,
  decideReject,
  expiryFor,
  isApprover,
  isOverdue,
  sameActor,
  type ApprovalPolicy,
} from '../../src/core/policy';
import { APPROVERS, ManualClock, alice, bob, carol, rawRequest, requester } from '../helpers/core-fakes';

const policy: ApprovalPolicy = { approvers: APPROVERS, requiredApprovals: 2, approvalTtlHours: 72 };

describe('approval policy (pure functions)', () => {
  const clock = new ManualClock('2026-03-01T12:00:00.000Z');

  it('isApprover matches user id or UPN case-insensitively, ignoring blanks and whitespace in the list', () => {
    const p = { ...policy, approvers: ['  ALICE@contoso.com ', '', 'U0BOB'] };
    expect(isApprover(p, alice)).toBe(true);
    expect(isApprover(p, { ...bob, userId: 'u0bob' })).toBe(true);
    expect(isApprover(p, carol)).toBe(false);
    expect(isApprover(p, { platform: 'teams', userId: '', displayName: 'Nobody' })).toBe(false);
  });

  it('sameActor: same platform and user id, or same UPN; never across platforms', () => {
    expect(sameActor(alice, { ...alice, displayName: 'renamed' })).toBe(true);
    expect(sameActor(alice, { ...alice, userId: 'other', upn: 'alice@contoso.com' })).toBe(true);
    expect(sameActor(alice, { ...alice, platform: 'slack' })).toBe(false);
    expect(sameActor(alice, carol)).toBe(false);
  });

  it('expiry: exactly TTL hours after submission; overdue only while pending', () => {
    expect(expiryFor(policy, new Date('2026-03-01T00:00:00.000Z'))).toBe('2026-03-04T00:00:00.000Z');
    const r = rawRequest('HW-1', { expiresAt: '2026-03-01T12:00:00.000Z' });
    expect(isOverdue(r, new Date('2026-03-01T11:59:59.999Z'))).toBe(false);
    expect(isOverdue(r, new Date('2026-03-01T12:00:00.000Z'))).toBe(true);
    expect(isOverdue({ ...r, state: 'approved' }, new Date('2026-03-09T00:00:00.000Z'))).toBe(false);
  });

  it('countedApprovals: one per distinct approver, current hash only, approvals only', () => {
    const r = rawRequest('HW-1');
    const h = r.plan!.hash;
    const at = clock.now().toISOString();
    const counted = countedApprovals({
      ...r,
      approvals: [
        { actor: alice, decision: 'approve', planHash: h, at },
        { actor: { ...alice, displayName: 'dup' }, decision: 'approve', planHash: h, at },
        { actor: bob, decision: 'approve', planHash: 'old-hash', at },
        { actor: carol, decision: 'reject', planHash: h, reason: 'no', at },
      ],
    });
    expect(counted.map((a) => a.actor.userId)).toEqual([alice.userId]);
  });

  it('decisions are pure: the input request is unchanged and refusals carry codes', () => {
    const r = rawRequest('HW-1', { expiresAt: '2026-03-04T12:00:00.000Z' });
    const snapshot = JSON.stringify(r);
    const out = decideApprove(r, alice, r.plan!.hash, policy, clock);
    expect(out).toMatchObject({ kind: 'recorded', approved: false });
    expect(JSON.stringify(r)).toBe(snapshot);
    const both = decideApprove(out.request, bob, r.plan!.hash, policy, clock);
    expect(both).toMatchObject({ kind: 'recorded', approved: true, request: { state: 'approved' } });
    expect(() => decideApprove(r, requester, r.plan!.hash, { ...policy, approvers: ['aad-requester'] }, clock)).toThrow(
      expect.objectContaining({ code: 'SELF_APPROVAL' }),
    );
    let caught: unknown;
    try {
      decideReject(r, alice, r.plan!.hash, '', policy, clock);
    } catch (err) {
      caught = err;
    }
    expect(isBotError(caught, 'REASON_REQUIRED')).toBe(true);
    const late = new ManualClock('2026-03-05T00:00:00.000Z');
    expect(decideApprove(r, alice, r.plan!.hash, policy, late)).toMatchObject({ kind: 'expired', request: { state: 'expired' } });
  });
});
