/** The ARM simulator as the benchmark uses it: one subscription and a resource group per concurrent setup. */
import { startArmSimulator, type ArmSimulator } from '../../src/azure/simulator';

export interface BenchSimulator extends ArmSimulator {
  /** A resource group nothing is provisioned into (the latency runs' pending request targets it). */
  spareResourceGroup: string;
  /** Resource groups `rg-bench-000`… for the concurrent setups, created on demand. */
  resourceGroups(n: number, prefix: string): string[];
}

export async function startBenchSimulator(opts: { timeScale: number }): Promise<BenchSimulator> {
  const sim = await startArmSimulator({ port: 0, timeScale: opts.timeScale });
  const spareResourceGroup = 'rg-bench-pending';
  sim.addResourceGroup(spareResourceGroup, 'westeurope');
  return Object.assign(sim, {
    spareResourceGroup,
    resourceGroups(n: number, prefix: string): string[] {
      const names = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
      for (const name of names) sim.addResourceGroup(name, 'westeurope');
      return names;
    },
  });
}
