import { BotError } from '../core/errors';
import type { PreflightInput, Provisioner, ResourceGroupInfo, StepResult, SubscriptionInfo } from '../core/ports';
import type { FormOutputs, Plan, PlanStep, SetupOptions, SetupRequest, Target } from '../core/types';
import { isBotTagged } from './arm';
import type { AzureClients } from './clients';
import { resolveOptions, type AzureProvisionerOptions, type Ctx } from './context';
import { stepFailure } from './errors';
import { randomSuffix, REGISTRY_RULE, STORAGE_ACCOUNT_RULE } from './naming';
import { listRolesByName, planSetup, readResourceGroup, registryNameAvailable, storageNameAvailable } from './setup-plan';
import { executeStep } from './steps';
import { planTeardown } from './teardown-plan';
import { INSTANCE_ROLE_ACTIONS, INSTANCE_ROLE_DATA_ACTIONS, INSTANCE_ROLE_DEFAULT_NAME, sameActions } from './roles';

export type { AzureProvisionerOptions } from './context';

const NAME_ATTEMPTS = 12;

/**
 * The Azure side of the bot: discovery for the dialog, read-only preflight that returns the plan, one
 * idempotent ARM call sequence per plan step, and the values for the managed.hopsworks.ai form.
 */
export class AzureProvisioner implements Provisioner {
  private readonly ctx: Ctx;

  constructor(clients: AzureClients, options: AzureProvisionerOptions = {}) {
    this.ctx = { clients, opts: resolveOptions(options) };
  }

  listSubscriptions(): Promise<SubscriptionInfo[]> {
    return azureCall('Listing subscriptions', () => this.subscriptionsNow());
  }

  private async subscriptionsNow(): Promise<SubscriptionInfo[]> {
    const out: SubscriptionInfo[] = [];
    for await (const s of this.ctx.clients.subscriptions.subscriptions.list()) {
      if (!s.subscriptionId) continue;
      out.push({ subscriptionId: s.subscriptionId, displayName: s.displayName ?? s.subscriptionId, tenantId: s.tenantId ?? '' });
    }
    return out.sort((a, b) => a.displayName.localeCompare(b.displayName));
  }

  listResourceGroups(subscriptionId: string): Promise<ResourceGroupInfo[]> {
    return azureCall('Listing resource groups', () => this.resourceGroupsNow(subscriptionId));
  }

  private async resourceGroupsNow(subscriptionId: string): Promise<ResourceGroupInfo[]> {
    const c = this.ctx.clients.forSubscription(subscriptionId);
    const out: ResourceGroupInfo[] = [];
    for await (const rg of c.resources.resourceGroups.list()) {
      if (rg.name) out.push({ name: rg.name, location: rg.location });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Defaults for the options step. Resources an earlier request left in this resource group are proposed
   * again (so the plan reuses them); new global names are generated until Azure says they are free.
   */
  suggestOptions(target: Target, requestId: string): Promise<SetupOptions> {
    return azureCall('Proposing names', () => this.suggestNow(target, requestId));
  }

  private async suggestNow(target: Target, requestId: string): Promise<SetupOptions> {
    const c = this.ctx.clients.forSubscription(target.subscriptionId);
    const rg = (await readResourceGroup(c, target.resourceGroup)).name;
    const random = this.ctx.opts.random;

    let storageAccountName: string | undefined;
    for await (const sa of c.storage.storageAccounts.listByResourceGroup(rg)) {
      if (isBotTagged(sa.tags) && sa.name) {
        storageAccountName = sa.name;
        break;
      }
    }
    let containerName: string | undefined;
    if (storageAccountName) {
      for await (const ct of c.storage.blobContainers.list(rg, storageAccountName)) {
        if (ct.name) {
          containerName = ct.name;
          break;
        }
      }
    }
    if (!storageAccountName) {
      for (let i = 0; i < NAME_ATTEMPTS && !storageAccountName; i++) {
        const candidate = `hopsworks${randomSuffix(random, 8)}`;
        if ((await storageNameAvailable(c, candidate)).available) storageAccountName = candidate;
      }
      if (!storageAccountName) throw this.noFreeName(STORAGE_ACCOUNT_RULE.field, 'storage account');
    }

    let registryName: string | undefined;
    for await (const r of c.registry.registries.listByResourceGroup(rg)) {
      if (isBotTagged(r.tags) && r.name) {
        registryName = r.name;
        break;
      }
    }
    if (!registryName) {
      // Not the guide's fixed `hopsworksecr`: registry names are global, so every first setup (and two setups
      // planned at the same time) would race for that one name. A random suffix, like the storage account.
      const candidates: string[] = [];
      for (let i = 0; i < NAME_ATTEMPTS; i++) candidates.push(`hopsworks${randomSuffix(random, 8)}`);
      for (const candidate of candidates) {
        if ((await registryNameAvailable(c, candidate)).available) {
          registryName = candidate;
          break;
        }
      }
      if (!registryName) throw this.noFreeName(REGISTRY_RULE.field, 'container registry');
    }

    let identityName = 'hopsworks-instance';
    for await (const i of c.msi.userAssignedIdentities.listByResourceGroup(rg)) {
      if (isBotTagged(i.tags) && i.name) {
        identityName = i.name;
        break;
      }
    }
    let sshKeyName = 'hopsworksKey';
    for await (const k of c.compute.sshPublicKeys.listByResourceGroup(rg)) {
      if (isBotTagged(k.tags) && k.name) {
        sshKeyName = k.name;
        break;
      }
    }

    return {
      storageAccountName,
      containerName: containerName ?? `hopsworks-${requestId.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`.replace(/-+$/, ''),
      registryName,
      identityName,
      roleName: await this.suggestRoleName(target),
      sshKeyName,
      acrRetentionDays: 7,
      backupRetentionDays: 7,
      sshKeyMode: 'generate',
    };
  }

  /** The guide's role name when free or identical in permissions; else a name the preflight will accept. */
  private async suggestRoleName(target: Target): Promise<string> {
    const c = this.ctx.clients.forSubscription(target.subscriptionId);
    const candidates = [INSTANCE_ROLE_DEFAULT_NAME, `${INSTANCE_ROLE_DEFAULT_NAME}-${target.resourceGroup.toLowerCase().replace(/[^a-z0-9-]/g, '').slice(0, 40)}`];
    for (const name of candidates) {
      const [role] = await listRolesByName(this.ctx, c, name);
      const p = role?.permissions?.[0];
      if (!role || (sameActions(p?.actions, INSTANCE_ROLE_ACTIONS) && sameActions(p?.dataActions, INSTANCE_ROLE_DATA_ACTIONS))) return name;
    }
    return `${INSTANCE_ROLE_DEFAULT_NAME}-${randomSuffix(this.ctx.opts.random, 6)}`;
  }

  private noFreeName(field: string, what: string): BotError {
    return new BotError('VALIDATION', `Could not find a free ${what} name after ${NAME_ATTEMPTS} tries; type one.`, { details: { field } });
  }

  preflight(input: PreflightInput): Promise<Plan> {
    return azureCall('Preflight', () => {
      if (input.kind === 'teardown') {
        if (!input.parent) throw new BotError('VALIDATION', 'A teardown needs the setup request it undoes.', { details: { field: 'parentId' } });
        return planTeardown(this.ctx, { requestId: input.requestId, parent: input.parent, confirmDeleteData: input.confirmDeleteData });
      }
      return planSetup(this.ctx, { requestId: input.requestId, target: input.target, options: input.options });
    });
  }

  executeStep(request: SetupRequest, step: PlanStep): Promise<StepResult> {
    return executeStep(this.ctx, request, step);
  }

  outputs(request: SetupRequest): FormOutputs {
    const out = (id: string): Record<string, string> => request.steps[id]?.output ?? {};
    const o = request.options;
    return {
      resourceGroup: request.target.resourceGroup,
      // The resource group's location, which every created resource got (the plan's, should the target's differ).
      location: String(request.plan?.steps.find((st) => typeof st.properties.location === 'string')?.properties.location ?? request.target.location),
      storageAccountName: out('storageAccount').name ?? o.storageAccountName,
      containerName: out('blobContainer').name ?? o.containerName,
      registryName: out('containerRegistry').name ?? o.registryName,
      sshKeyName: out('sshPublicKey').name ?? o.sshKeyName,
      managedIdentityName: out('managedIdentity').name ?? o.identityName,
      managedIdentityResourceId: out('managedIdentity').resourceId ?? '',
      backupRetentionDays: o.backupRetentionDays,
      subscriptionId: request.target.subscriptionId,
      tenantId: request.target.tenantId || out('managedIdentity').tenantId || '',
    };
  }
}

/** ARM errors outside a step (discovery, preflight) become `AZURE` BotErrors with code and remediation too. */
async function azureCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw stepFailure(what, err);
  }
}
