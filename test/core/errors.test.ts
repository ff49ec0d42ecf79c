/** Refusals are answers, not faults: they carry no stack trace; faults keep theirs for the logs. */
import { BotError } from '../../src/core/errors';

test('refusal codes have no stack frames, fault codes do, and the global limit is left as it was', () => {
  const limit = Error.stackTraceLimit;
  const refusal = new BotError('NOT_AN_APPROVER', 'You are not an approver.');
  const fault = new BotError('INTERNAL', 'Something broke.', { cause: new Error('inner') });
  expect(refusal.stack).toBe('BotError: You are not an approver.');
  expect(refusal).toBeInstanceOf(Error);
  expect(refusal.code).toBe('NOT_AN_APPROVER');
  expect(fault.stack!.split('\n').length).toBeGreaterThan(1);
  expect((fault.cause as Error).message).toBe('inner');
  expect(Error.stackTraceLimit).toBe(limit);
});
