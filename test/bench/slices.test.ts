import { sliceOrder } from '../../bench/latency';
import { combineRuns, type LoadRun } from '../../bench/lib/load';

function run(samples: number[], extra: Partial<LoadRun> = {}): LoadRun {
  return {
    samples,
    elapsedS: 2.5,
    connections: 1,
    durationS: 2.5,
    requests: samples.length + 1,
    connectionSetups: 1,
    connectionSetupMaxMs: 3,
    rps: 0,
    non2xx: 0,
    errors: 0,
    statusCodes: { '200': samples.length + 1 },
    ...extra,
  };
}

describe('bench: the bot and its baseline measured in alternating slices', () => {
  it('alternates A B B A …, so that each side is first as often as second and both get the same number of slices', () => {
    expect(sliceOrder(4)).toEqual(['bot', 'baseline', 'baseline', 'bot', 'bot', 'baseline', 'baseline', 'bot']);
    expect(sliceOrder(1)).toEqual(['bot', 'baseline']);
    for (const n of [1, 2, 3, 4, 5]) {
      const order = sliceOrder(n);
      expect(order.filter((s) => s === 'bot')).toHaveLength(n);
      expect(order.filter((s) => s === 'baseline')).toHaveLength(n);
    }
  });

  it("a row's percentiles are over all its slices' samples, not an average of each slice's", () => {
    // One slow slice: 3 of 200 samples at 50 ms. Averaging the slices' p99s would give (1 + 50) / 2.
    const fast = run(Array.from({ length: 100 }, () => 1));
    const slow = run([...Array.from({ length: 97 }, () => 1), 50, 50, 50], { non2xx: 2, errors: 1, connectionSetupMaxMs: 9, statusCodes: { '200': 101, '503': 2 } });
    const row = combineRuns([fast, slow]);
    expect(row.count).toBe(200);
    expect(row.p50).toBe(1);
    expect(row.p99).toBe(50); // the 198th of 200 sorted samples
    expect(row.max).toBe(50);
    expect(row.durationS).toBe(5);
    expect(row.requests).toBe(202);
    expect(row.rps).toBe(Math.round(202 / 5));
    expect(row.connectionSetups).toBe(2);
    expect(row.connectionSetupMaxMs).toBe(9);
    expect(row.non2xx).toBe(2);
    expect(row.errors).toBe(1);
    expect(row.statusCodes).toEqual({ '200': 202, '503': 2 });
  });
});
