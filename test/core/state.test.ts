import { isBotError } from '../../src/core/errors';
import { ACTIVE_STATES, TRANSITIONS, canTransition, isActive, transition } from '../../src/core/state';
import type { RequestState } from '../../src/core/types';
import { ManualClock, rawRequest } from '../helpers/core-fakes';

const ALL: RequestState[] = Object.keys(TRANSITIONS) as RequestState[];

const LEGAL: [RequestState, RequestState][] = [
  ['draft', 'pendingApproval'],
  ['pendingApproval', 'approved'],
  ['pendingApproval', 'rejected'],
  ['pendingApproval', 'expired'],
  ['pendingApproval', 'cancelled'],
  ['approved', 'provisioning'],
  ['provisioning', 'succeeded'],
  ['provisioning', 'failed'],
  ['failed', 'provisioning'],
  ['succeeded', 'tearingDown'],
  ['tearingDown', 'tornDown'],
];

describe('request state machine', () => {
  const clock = new ManualClock('2026-02-01T10:00:00.000Z');

  it.each(LEGAL)('%s → %s is legal and stamps updatedAt', (from, to) => {
    const before = rawRequest('HW-1', { state: from });
    const after = transition(before, to, clock);
    expect(after.state).toBe(to);
    expect(after.updatedAt).toBe('2026-02-01T10:00:00.000Z');
    // Pure: the input is untouched.
    expect(before.state).toBe(from);
  });

  it('the table lists exactly the legal transitions', () => {
    const listed = ALL.flatMap((from) => TRANSITIONS[from].map((to) => `${from}->${to}`)).sort();
    expect(listed).toEqual(LEGAL.map(([f, t]) => `${f}->${t}`).sort());
  });

  const ILLEGAL: [RequestState, RequestState][] = ALL.flatMap((from) =>
    ALL.filter((to) => !LEGAL.some(([f, t]) => f === from && t === to)).map((to) => [from, to] as [RequestState, RequestState]),
  );

  it.each(ILLEGAL)('%s → %s throws ILLEGAL_TRANSITION', (from, to) => {
    const req = rawRequest('HW-2', { state: from });
    let caught: unknown;
    try {
      transition(req, to, clock);
    } catch (err) {
      caught = err;
    }
    expect(isBotError(caught, 'ILLEGAL_TRANSITION')).toBe(true);
    expect((caught as Error).message).toContain(`from ${from} to ${to}`);
    expect(canTransition(from, to)).toBe(false);
  });

  it('terminal states have no way out; active states are the lock holders', () => {
    for (const s of ['rejected', 'expired', 'cancelled', 'tornDown'] as RequestState[]) expect(TRANSITIONS[s]).toEqual([]);
    expect([...ACTIVE_STATES].sort()).toEqual(['approved', 'pendingApproval', 'provisioning', 'tearingDown']);
    expect(isActive('failed')).toBe(false);
    expect(isActive('succeeded')).toBe(false);
  });
});
