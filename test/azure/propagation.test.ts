import { startAzureHarness, type AzureHarness } from '../helpers/azure-provisioner';

/**
 * A brand-new managed identity is not visible to Azure RBAC until Microsoft Entra ID has replicated it; the
 * role assignment then fails with PrincipalNotFound. The simulator here refuses even with principalType set.
 */
describe('managed identity replication delay', () => {
  let h: AzureHarness;
  beforeAll(async () => {
    // 300 s of replication at time scale 0.001 = 300 ms of PrincipalNotFound after the identity is created.
    h = await startAzureHarness({ strictReplication: true, propagationDelayMs: 300_000 });
  });
  afterAll(async () => {
    await h.close();
  });

  it('retries PrincipalNotFound with backoff until the assignment succeeds', async () => {
    const target = h.newResourceGroup('rg-replication');
    const req = await h.submitApproved(target);
    const logStart = h.sim.requestLog.length;
    await h.runner().drain();
    const done = (await h.store.get(req.id))!;
    expect(done.state).toBe('succeeded');
    const puts = h.sim.requestLog.slice(logStart).filter((e) => e.method === 'PUT' && /roleAssignments\//i.test(e.path));
    // Refused while replicating (400 PrincipalNotFound), then created once.
    expect(puts.filter((e) => e.status === 400).length).toBeGreaterThan(0);
    expect(puts.filter((e) => e.status === 201)).toHaveLength(1);
    expect(done.steps.roleAssignment.attempts).toBe(1);
  });

  it('gives up after the configured maximum with the code and a remediation', async () => {
    const target = h.newResourceGroup('rg-replication-slow');
    h.sim.setLatency({ durations: { principalPropagation: 3_600_000_000 } });
    try {
      const p = h.provisioner({ propagationRetry: { maxMs: 200, initialDelayMs: 20, maxDelayMs: 50 } });
      const req = await h.submitApproved(target, {}, p);
      await h.runner(p).drain();
      const failed = (await h.store.get(req.id))!;
      expect(failed.state).toBe('failed');
      expect(failed.steps.roleAssignment.error).toMatchObject({ code: 'PrincipalNotFound', remediation: expect.stringMatching(/replicat/) });
    } finally {
      h.sim.setLatency({ durations: { principalPropagation: 300_000 } });
    }
  });
});
