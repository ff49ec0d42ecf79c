import { startAzureHarness, type AzureHarness } from '../helpers/azure-provisioner';

/**
 * A brand-new managed identity is not visible to Azure RBAC until Microsoft Entra ID has replicated it; the
 * role assignment then fails with PrincipalNotFound. The simulator here refuses even with principalType set.
 */
describe('managed identity replication delay', () => {
  let h: AzureHarness;
  beforeAll(async () => {
    // Replication never ends by itself (a year); the first test ends it once the bot has met PrincipalNotFound.
    h = await startAzureHarness({ strictReplication: true, propagationDelayMs: 365 * 24 * 3_600_000 });
  });
  afterAll(async () => {
    await h.close();
  });

  it('retries PrincipalNotFound with backoff until the assignment succeeds', async () => {
    const target = h.newResourceGroup('rg-replication');
    const req = await h.submitApproved(target);
    const logStart = h.sim.requestLog.length;
    const refused = () => h.sim.requestLog.slice(logStart).some((e) => e.method === 'PUT' && /roleAssignments\//i.test(e.path) && e.status === 400);
    const drained = h.runner().drain();
    for (let i = 0; i < 1500 && !refused(); i++) await new Promise((r) => setTimeout(r, 10));
    // Directory replication completes while the bot keeps retrying.
    h.sim.propagatePrincipal((await h.store.get(req.id))!.steps.managedIdentity.output!.principalId);
    await drained;
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
    const p = h.provisioner({ propagationRetry: { maxMs: 200, initialDelayMs: 20, maxDelayMs: 50 } });
    const req = await h.submitApproved(target, {}, p);
    await h.runner(p).drain();
    const failed = (await h.store.get(req.id))!;
    expect(failed.state).toBe('failed');
    expect(failed.steps.roleAssignment.error).toMatchObject({ code: 'PrincipalNotFound', remediation: expect.stringMatching(/replicat/) });
  });
});
