import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PlanStep } from '../../src/core/types';
import { isAllowed, requiredActionsForPlan } from '../../src/azure/permissions';
import { REQUIRED_PROVIDERS } from '../../src/azure/setup-plan';
import { approverActor, inventory, requesterActor, startAzureHarness, type AzureHarness } from '../helpers/azure-provisioner';

interface RoleFile {
  Name: string;
  Actions: string[];
  NotActions: string[];
  AssignableScopes: string[];
}
const load = (f: string): RoleFile => JSON.parse(readFileSync(join(__dirname, '../../manifest/azure', f), 'utf8')) as RoleFile;
const rgRole = load('bot-role.json');
const subRole = load('bot-subscription-role.json');

describe('manifest/azure bot roles', () => {
  it('cover every action any plan step can need, and nothing beyond the guide’s resource types', () => {
    const kinds: PlanStep['kind'][] = ['storageAccount', 'blobContainer', 'containerRegistry', 'registryRetention', 'managedIdentity', 'roleDefinition', 'roleAssignment', 'sshPublicKey', 'hopsworksRoleDefinition', 'hopsworksRoleAssignment'];
    const steps: PlanStep[] = [];
    for (const action of ['create', 'update', 'reuse', 'delete'] as const) {
      for (const kind of kinds) steps.push({ id: `${kind}:${action}`, kind, action, title: '', properties: { generateKeyPair: true }, dependsOn: [] });
      for (const ns of REQUIRED_PROVIDERS) steps.push({ id: `${ns}:${action}`, kind: 'registerProvider', action, title: '', properties: { namespace: ns }, dependsOn: [] });
    }
    const granted = [{ actions: rgRole.Actions, notActions: rgRole.NotActions }, { actions: subRole.Actions, notActions: subRole.NotActions }];
    const needed = requiredActionsForPlan(steps);
    expect(needed.filter((a) => !isAllowed(granted, a))).toEqual([]);
    // No wildcards: least privilege is reviewable line by line.
    expect([...rgRole.Actions, ...subRole.Actions].filter((a) => a.includes('*'))).toEqual([]);
    expect(rgRole.AssignableScopes).toEqual(['/subscriptions/SUBSCRIPTION_ID/resourceGroups/RESOURCE_GROUP']);
    expect(subRole.Actions.filter((a) => a.endsWith('/register/action')).sort()).toEqual(REQUIRED_PROVIDERS.map((ns) => `${ns}/register/action`).sort());
  });

  describe('against the simulator with exactly these actions', () => {
    let h: AzureHarness;
    beforeAll(async () => {
      h = await startAzureHarness();
    });
    afterAll(async () => {
      await h.close();
    });

    it('a full setup (providers, Step 1 role) and its teardown succeed with nothing missing', async () => {
      h.sim.setPrincipalPermissions(h.sim.botPrincipalId, [...rgRole.Actions, ...subRole.Actions]);
      for (const ns of REQUIRED_PROVIDERS) h.sim.setProviderState(ns, 'NotRegistered');
      const target = h.newResourceGroup('rg-least');
      const sp = h.sim.addPrincipal({ displayName: 'hopsworks.ai', type: 'ServicePrincipal' });
      const req = await h.submitApproved(target, { hopsworksSpObjectId: sp.principalId });
      expect(req.plan!.missingPermissions).toEqual([]);
      await h.runner().drain();
      const parent = (await h.store.get(req.id))!;
      expect(parent.state).toBe('succeeded');

      const id = await h.store.nextId();
      const plan = await h.provisioner().preflight({ requestId: id, kind: 'teardown', target, options: parent.options, parent, confirmDeleteData: true });
      expect(plan.missingPermissions).toEqual([]);
      await h.service.submit({ id, kind: 'teardown', parentId: parent.id, requester: requesterActor, target, options: parent.options, reason: 'done', plan, conversations: { activityIds: {} }, confirmDeleteData: true });
      await h.service.approve(id, approverActor, plan.hash);
      await h.runner().drain();
      expect((await h.store.get(id))!.state).toBe('succeeded');
      expect(inventory(h.sim, target.resourceGroup)).toEqual({});
    });
  });
});
