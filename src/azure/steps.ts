import sshpk from 'sshpk';
import type { PlanStep, SetupRequest } from '../core/types';
import type { StepResult } from '../core/ports';
import { deterministicGuid, isBotTagged, lastSegment, roleAssignmentName, sameId, tagValue, TAG_REQUEST } from './arm';
import type { SubscriptionClients } from './clients';
import { withBackoff, type Ctx } from './context';
import { armErrorInfo, isNotFound, ownFailure, stepFailure } from './errors';
import { isBotRole } from './roles';
import { CONTAINER_META_REQUEST } from './setup-plan';

type Props = Record<string, unknown>;
type Out = Record<string, string>;

interface StepEnv {
  ctx: Ctx;
  c: SubscriptionClients;
  request: SetupRequest;
  step: PlanStep;
  rg: string;
  p: Props;
  /** Outputs of a finished dependency. */
  dep(id: string): Out;
}

const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));

/** A DELETE whose first answer was lost is retried by the pipeline and then meets 404: that is success. */
async function deleted(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

async function getOrUndefined<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Runs one plan step against ARM. Every branch reads first, so running a step twice converges. */
export async function executeStep(ctx: Ctx, request: SetupRequest, step: PlanStep): Promise<StepResult> {
  const c = ctx.clients.forSubscription(request.target.subscriptionId);
  const env: StepEnv = {
    ctx,
    c,
    request,
    step,
    rg: request.target.resourceGroup,
    p: step.properties,
    dep: (id) => request.steps[id]?.output ?? {},
  };
  ctx.opts.logger.info({ requestId: request.id, step: step.id, action: step.action }, 'step started');
  try {
    const result = await run(env);
    ctx.opts.logger.info({ requestId: request.id, step: step.id, action: step.action }, 'step done');
    return result;
  } catch (err) {
    const failure = stepFailure(step.title, err, { scope: step.resourceId });
    ctx.opts.logger.warn({ requestId: request.id, step: step.id, error: (failure.details?.error as object) ?? failure.message }, 'step failed');
    throw failure;
  }
}

async function run(env: StepEnv): Promise<StepResult> {
  const { step } = env;
  if (step.action === 'keep') return { output: { kept: 'true' } };
  switch (step.kind) {
    case 'registerProvider':
      return registerProvider(env);
    case 'storageAccount':
      return storageAccount(env);
    case 'blobContainer':
      return blobContainer(env);
    case 'containerRegistry':
      return containerRegistry(env);
    case 'registryRetention':
      return registryRetention(env);
    case 'managedIdentity':
      return managedIdentity(env);
    case 'roleDefinition':
    case 'hopsworksRoleDefinition':
      return roleDefinition(env);
    case 'roleAssignment':
    case 'hopsworksRoleAssignment':
      return roleAssignment(env);
    case 'sshPublicKey':
      return sshPublicKey(env);
  }
}

/** A resource a create step finds already there: fine when this request made it (a crash after the PUT). */
function assertOurs(env: StepEnv, what: string, tags: Record<string, string> | undefined): void {
  const owner = tagValue(tags, TAG_REQUEST);
  if (isBotTagged(tags) && owner === env.request.id) return;
  throw ownFailure(
    env.step.title,
    'ResourceExistsNotOurs',
    `${what} already exists and was not created by request ${env.request.id}${owner ? ` (it belongs to ${owner})` : ''}.`,
    'Someone created it after the plan was approved. Start a new setup so the plan reuses it, or delete it if it is not needed.',
  );
}

/** For teardown deletes: the resource must carry the parent request's tag, else it is not ours to delete. */
function assertCreatedBy(env: StepEnv, what: string, owner: string | undefined): void {
  const parent = str(env.p.createdByRequest);
  if (owner !== undefined && owner === parent) return;
  throw ownFailure(
    env.step.title,
    'NotCreatedByRequest',
    `${what} is not tagged as created by request ${parent}${owner ? ` (tag says ${owner})` : ''}; the bot deletes only what that request created.`,
    'Delete it yourself if it is really not needed; the bot will not.',
  );
}

// ---------------------------------------------------------------- providers

/**
 * Registration state is per subscription, and concurrent setups in one subscription all ask for the same
 * five namespaces at the same moment: callers share the read already in flight. A namespace seen
 * Registered is trusted for REGISTERED_TRUST_MS by steps whose plan found it registered (Azure refuses to
 * unregister a provider that still has resources, so it practically stays registered): a burst of setups
 * reads each namespace once, and one throttled read no longer holds up every setup waiting on it.
 */
const providerReads = new WeakMap<object, { inFlight: Map<string, Promise<string>>; registeredAt: Map<string, number> }>();
const REGISTERED_TRUST_MS = 10 * 60_000;

function providerMemo(c: StepEnv['c']): { inFlight: Map<string, Promise<string>>; registeredAt: Map<string, number> } {
  let memo = providerReads.get(c.resources);
  if (!memo) providerReads.set(c.resources, (memo = { inFlight: new Map(), registeredAt: new Map() }));
  return memo;
}

function sharedProviderRead(env: StepEnv, ns: string): Promise<string> {
  const { inFlight, registeredAt } = providerMemo(env.c);
  const key = ns.toLowerCase();
  const existing = inFlight.get(key);
  if (existing) return existing;
  const read = env.c.resources.providers.get(ns).then((p) => {
    const state = p.registrationState ?? 'Unknown';
    if (state === 'Registered') registeredAt.set(key, env.ctx.opts.clock.now().getTime());
    else registeredAt.delete(key);
    return state;
  });
  inFlight.set(key, read);
  const done = (): void => {
    if (inFlight.get(key) === read) inFlight.delete(key);
  };
  read.then(done, done);
  return read;
}

/** True when this process saw `ns` Registered in this subscription less than REGISTERED_TRUST_MS ago. */
function recentlyRegistered(env: StepEnv, ns: string): boolean {
  const at = providerMemo(env.c).registeredAt.get(ns.toLowerCase());
  return at !== undefined && env.ctx.opts.clock.now().getTime() - at < REGISTERED_TRUST_MS;
}

async function registerProvider(env: StepEnv): Promise<StepResult> {
  const ns = str(env.p.namespace);
  const { c, ctx } = env;
  const read = () => sharedProviderRead(env, ns);
  if (env.step.action === 'delete') return { output: { namespace: ns } };
  if (env.step.action === 'reuse' && recentlyRegistered(env, ns)) return { output: { namespace: ns, registrationState: 'Registered' } };
  let state = await read();
  if (state === 'Registered') return { output: { namespace: ns, registrationState: state } };
  if (env.step.action === 'reuse' && state !== 'Registering') {
    // The plan found it registered and the approver approved no registration: say so instead of letting
    // the next PUT fail with MissingSubscriptionRegistration.
    throw ownFailure(
      env.step.title,
      'ProviderNoLongerRegistered',
      `${ns} was registered when the plan was made and is now ${state}.`,
      `Register it ("az provider register --namespace ${ns}") and retry the request, or start a new setup: its plan will register it.`,
    );
  }
  if (state !== 'Registering') {
    const r = await c.resources.providers.register(ns);
    state = r.registrationState ?? 'Registering';
  }
  // providers.register answers Registering and there is no poller: poll providers.get with backoff.
  const notYet = new Error('ProviderNotRegisteredYet');
  try {
    state = await withBackoff(ctx, ctx.opts.providerPolling, (e) => e === notYet, async () => {
      const s = await read();
      if (s !== 'Registered') throw notYet;
      return s;
    });
  } catch (err) {
    if (err !== notYet) throw err;
    throw ownFailure(
      env.step.title,
      'ProviderRegistrationTimeout',
      `${ns} is still ${await read()} after ${Math.round(ctx.opts.providerPolling.maxMs / 1000)} s.`,
      `Check "az provider show --namespace ${ns} --query registrationState" and retry the request once it says Registered.`,
    );
  }
  return { output: { namespace: ns, registrationState: state } };
}

// ---------------------------------------------------------------- storage

async function storageAccount(env: StepEnv): Promise<StepResult> {
  const { c, rg, p, ctx } = env;
  const name = str(p.name);
  const existing = await getOrUndefined(() => c.storage.storageAccounts.getProperties(rg, name));
  const output = (id: string | undefined): StepResult => ({ output: { resourceId: id ?? str(env.step.resourceId), name } });
  switch (env.step.action) {
    case 'reuse':
      if (!existing) throw ownFailure(env.step.title, 'ResourceNotFound', `Storage account ${name} no longer exists.`, 'Start a new setup: the plan will create it.');
      return output(existing.id);
    case 'update':
      if (!existing) throw ownFailure(env.step.title, 'ResourceNotFound', `Storage account ${name} no longer exists.`, 'Start a new setup: the plan will create it.');
      // minimumTlsVersion must be set: arm-storage 20.0's serializer drops `properties` when only mis-cased keys are present.
      await c.storage.storageAccounts.update(rg, name, { minimumTlsVersion: 'TLS1_2', allowBlobPublicAccess: false, enableHttpsTrafficOnly: true });
      return output(existing.id);
    case 'delete': {
      if (!existing) return { output: { deleted: 'alreadyGone' } };
      assertCreatedBy(env, `Storage account ${name}`, tagValue(existing.tags, TAG_REQUEST));
      if (!env.request.confirmDeleteData) {
        const containers: string[] = [];
        for await (const ct of c.storage.blobContainers.list(rg, name)) containers.push(ct.name ?? '');
        if (containers.length > 0)
          throw ownFailure(env.step.title, 'StorageHoldsData', `Storage account ${name} holds ${containers.length} container(s).`, 'Start a teardown with "delete data" confirmed to remove it.');
      }
      await deleted(() => c.storage.storageAccounts.delete(rg, name));
      return { output: { deleted: 'true', resourceId: existing.id ?? '' } };
    }
    default: {
      if (existing) {
        assertOurs(env, `Storage account ${name}`, existing.tags);
        if (existing.provisioningState === 'Succeeded') return output(existing.id);
      }
      const created = await c.storage.storageAccounts.beginCreateAndWait(
        rg,
        name,
        {
          location: str(p.location),
          kind: str(p.kind) as 'StorageV2',
          sku: { name: str(p.sku) as 'Standard_RAGRS' },
          tags: p.tags as Record<string, string>,
          minimumTlsVersion: 'TLS1_2',
          allowBlobPublicAccess: false,
          enableHttpsTrafficOnly: true,
        },
        { updateIntervalInMs: ctx.opts.lroPollIntervalMs },
      );
      return output(created.id);
    }
  }
}

async function blobContainer(env: StepEnv): Promise<StepResult> {
  const { c, rg, p } = env;
  const account = str(p.accountName);
  const name = str(p.name);
  const existing = await getOrUndefined(() => c.storage.blobContainers.get(rg, account, name));
  const output = (id: string | undefined): StepResult => ({ output: { resourceId: id ?? str(env.step.resourceId), name, accountName: account } });
  switch (env.step.action) {
    case 'reuse':
      if (!existing) throw ownFailure(env.step.title, 'ContainerNotFound', `Container ${name} no longer exists.`, 'Start a new setup: the plan will create it.');
      return output(existing.id);
    case 'delete':
      if (!existing) return { output: { deleted: 'alreadyGone' } };
      assertCreatedBy(env, `Blob container ${name}`, existing.metadata?.[CONTAINER_META_REQUEST]);
      await deleted(() => c.storage.blobContainers.delete(rg, account, name));
      return { output: { deleted: 'true', resourceId: existing.id ?? '' } };
    default:
      if (existing) return output(existing.id);
      return output(
        (await c.storage.blobContainers.create(rg, account, name, { publicAccess: 'None', metadata: p.metadata as Record<string, string> })).id,
      );
  }
}

// ---------------------------------------------------------------- registry

async function containerRegistry(env: StepEnv): Promise<StepResult> {
  const { c, rg, p, ctx } = env;
  const name = str(p.name);
  const existing = await getOrUndefined(() => c.registry.registries.get(rg, name));
  const output = (r: { id?: string; loginServer?: string } | undefined): StepResult => ({
    output: { resourceId: r?.id ?? str(env.step.resourceId), name, loginServer: r?.loginServer ?? `${name.toLowerCase()}.azurecr.io` },
  });
  const opts = { updateIntervalInMs: ctx.opts.lroPollIntervalMs };
  switch (env.step.action) {
    case 'reuse':
      if (!existing) throw ownFailure(env.step.title, 'ResourceNotFound', `Registry ${name} no longer exists.`, 'Start a new setup: the plan will create it.');
      return output(existing);
    case 'update':
      if (existing?.sku?.name === 'Premium' && existing.adminUserEnabled === false) return output(existing);
      return output(await c.registry.registries.beginUpdateAndWait(rg, name, { sku: { name: 'Premium' }, adminUserEnabled: false }, opts));
    case 'delete':
      if (!existing) return { output: { deleted: 'alreadyGone' } };
      assertCreatedBy(env, `Container registry ${name}`, tagValue(existing.tags, TAG_REQUEST));
      await deleted(() => c.registry.registries.beginDeleteAndWait(rg, name, opts));
      return { output: { deleted: 'true', resourceId: existing.id ?? '' } };
    default:
      if (existing) {
        assertOurs(env, `Container registry ${name}`, existing.tags);
        if (existing.provisioningState === 'Succeeded') return output(existing);
      }
      return output(
        await c.registry.registries.beginCreateAndWait(
          rg,
          name,
          { location: str(p.location), sku: { name: 'Premium' }, adminUserEnabled: false, tags: p.tags as Record<string, string> },
          opts,
        ),
      );
  }
}

async function registryRetention(env: StepEnv): Promise<StepResult> {
  const { c, rg, p, ctx } = env;
  const name = str(p.registryName);
  const days = Number(p.days);
  const existing = await c.registry.registries.get(rg, name);
  const ret = existing.policies?.retentionPolicy;
  const ok = (ret?.status ?? '').toLowerCase() === 'enabled' && ret?.days === days;
  const output = { registryName: name, days: String(days), status: 'enabled' };
  if (env.step.action === 'reuse' || env.step.action === 'delete' || ok) return { output: ok ? output : { registryName: name, days: String(ret?.days ?? ''), status: str(ret?.status) } };
  // `policies` is top level in RegistryUpdateParameters; retention is a Premium-only feature (the previous step ensured Premium).
  await c.registry.registries.beginUpdateAndWait(rg, name, { policies: { retentionPolicy: { days, status: 'enabled' } } }, { updateIntervalInMs: ctx.opts.lroPollIntervalMs });
  return { output };
}

// ---------------------------------------------------------------- identity and roles

async function managedIdentity(env: StepEnv): Promise<StepResult> {
  const { c, rg, p } = env;
  const name = str(p.name);
  const existing = await getOrUndefined(() => c.msi.userAssignedIdentities.get(rg, name));
  const output = (i: { id?: string; principalId?: string; clientId?: string; tenantId?: string }): StepResult => ({
    output: { resourceId: i.id ?? str(env.step.resourceId), name, principalId: i.principalId ?? '', clientId: i.clientId ?? '', tenantId: i.tenantId ?? '' },
  });
  switch (env.step.action) {
    case 'reuse':
    case 'update':
      if (!existing) throw ownFailure(env.step.title, 'ResourceNotFound', `Managed identity ${name} no longer exists.`, 'Start a new setup: the plan will create it.');
      return output(existing);
    case 'delete':
      if (!existing) return { output: { deleted: 'alreadyGone' } };
      assertCreatedBy(env, `Managed identity ${name}`, tagValue(existing.tags, TAG_REQUEST));
      await deleted(() => c.msi.userAssignedIdentities.delete(rg, name));
      return { output: { deleted: 'true', resourceId: existing.id ?? '' } };
    default:
      if (existing) {
        assertOurs(env, `Managed identity ${name}`, existing.tags);
        return output(existing);
      }
      return output(await c.msi.userAssignedIdentities.createOrUpdate(rg, name, { location: str(p.location), tags: p.tags as Record<string, string> }));
  }
}

interface RolePermission {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

/**
 * Writes of one custom role run one at a time in this process: two setups extending a shared role's
 * assignable scopes at once would each write "what I read + my resource group" and drop the other's.
 */
const roleWrites = new Map<string, Promise<unknown>>();

async function roleDefinition(env: StepEnv): Promise<StepResult> {
  const key = str(env.p.roleDefinitionGuid).toLowerCase();
  const previous = roleWrites.get(key) ?? Promise.resolve();
  const mine = previous.catch(() => undefined).then(() => roleDefinitionNow(env));
  roleWrites.set(key, mine);
  try {
    return await mine;
  } finally {
    if (roleWrites.get(key) === mine) roleWrites.delete(key);
  }
}

async function roleDefinitionNow(env: StepEnv): Promise<StepResult> {
  const { c, p, ctx } = env;
  const scope = str(p.scope);
  const guid = str(p.roleDefinitionGuid);
  const existing = await getOrUndefined(() => c.authorization.roleDefinitions.get(scope, guid));
  const output = (r: { id?: string; roleName?: string }): StepResult => ({
    output: { resourceId: r.id ?? str(env.step.resourceId), roleDefinitionId: r.id ?? str(env.step.resourceId), roleName: r.roleName ?? str(p.roleName), guid },
  });
  if (env.step.action === 'reuse') {
    if (!existing) throw ownFailure(env.step.title, 'RoleDefinitionDoesNotExist', `Custom role ${str(p.roleName)} no longer exists.`, 'Start a new setup: the plan will create it.');
    return output(existing);
  }
  if (env.step.action === 'delete') {
    if (!existing) return { output: { deleted: 'alreadyGone' } };
    if (!isBotRole(existing.description) || !(existing.description ?? '').includes(`request ${str(p.createdByRequest)})`)) {
      assertCreatedBy(env, `Custom role ${existing.roleName}`, undefined);
    }
    await deleted(() => c.authorization.roleDefinitions.delete(scope, guid));
    return { output: { deleted: 'true', resourceId: existing.id ?? '' } };
  }
  const want = (p.permissions as RolePermission[]) ?? [];
  const plannedScopes = (p.assignableScopes as string[]) ?? [scope];
  const scopes = [...(existing?.assignableScopes ?? [])];
  for (const s of plannedScopes) if (!scopes.some((x) => sameId(x, s))) scopes.push(s);
  const same =
    existing !== undefined &&
    existing.roleName === str(p.roleName) &&
    JSON.stringify(normPerms(existing.permissions)) === JSON.stringify(normPerms(want)) &&
    scopes.length === (existing.assignableScopes ?? []).length;
  if (same) return output(existing);
  const body = (roleName: string) => ({
    roleName,
    description: existing?.description ?? str(p.description),
    roleType: 'CustomRole',
    permissions: want,
    assignableScopes: scopes,
  });
  try {
    return output(await c.authorization.roleDefinitions.createOrUpdate(scope, guid, body(str(p.roleName))));
  } catch (err) {
    if (env.step.action !== 'create' || armErrorInfo(err).code !== 'RoleDefinitionWithSameNameExists') throw err;
    // The name is taken in a part of the tenant the preflight could not see. Same permissions and scope under a
    // name derived from the request, so a repeated run converges on the same role.
    const fallbackName = `${str(p.roleName)}-${env.request.id.toLowerCase()}`;
    const fallbackGuid = deterministicGuid('roleDefinition', env.request.target.subscriptionId, fallbackName);
    ctx.opts.logger.warn({ requestId: env.request.id, step: env.step.id, roleName: fallbackName }, 'role name taken elsewhere in the tenant; using a request-specific name');
    const written = await c.authorization.roleDefinitions.createOrUpdate(scope, fallbackGuid, body(fallbackName));
    return { output: { resourceId: written.id ?? '', roleDefinitionId: written.id ?? '', roleName: fallbackName, guid: fallbackGuid } };
  }
}

function normPerms(perms: Array<Partial<RolePermission>> | undefined): string[][] {
  return (perms ?? []).map((x) =>
    [x.actions, x.notActions, x.dataActions, x.notDataActions].map((l) => (l ?? []).map((s) => s.toLowerCase()).sort().join(',')),
  );
}

async function roleAssignment(env: StepEnv): Promise<StepResult> {
  const { c, p, ctx } = env;
  const scope = str(p.scope);
  const principalId = str(p.principalId) || env.dep(str(p.principalStep)).principalId;
  const roleDefinitionId = env.dep(str(p.roleDefinitionStep)).roleDefinitionId || str(p.roleDefinitionId);
  if (env.step.action === 'delete') {
    const id = str(env.step.resourceId);
    const existing = await getOrUndefined(() => c.authorization.roleAssignments.getById(id));
    if (!existing) return { output: { deleted: 'alreadyGone' } };
    if (existing.principalId !== str(p.principalId) || !sameId(lastSegment(existing.roleDefinitionId ?? ''), lastSegment(str(p.roleDefinitionId)))) {
      assertCreatedBy(env, `Role assignment ${lastSegment(id)}`, undefined);
    }
    await deleted(() => c.authorization.roleAssignments.deleteById(id));
    return { output: { deleted: 'true', resourceId: id } };
  }
  if (!principalId || !roleDefinitionId) {
    throw ownFailure(env.step.title, 'MissingDependencyOutput', 'The identity or role step left no principal id / role definition id.', 'Retry the request: the earlier steps are re-read.');
  }
  const name = str(p.name) || roleAssignmentName(scope, principalId, roleDefinitionId);
  const output = (a: { id?: string; name?: string }): StepResult => ({
    output: {
      resourceId: a.id ?? `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
      name: a.name ?? name,
      principalId,
      roleDefinitionId,
      scope,
    },
  });
  const existing = await getOrUndefined(() => c.authorization.roleAssignments.get(scope, name));
  if (existing) return output(existing);
  if (env.step.action === 'reuse') {
    const found = await findEquivalent(c, scope, principalId, roleDefinitionId);
    if (found) return output(found);
    throw ownFailure(env.step.title, 'RoleAssignmentNotFound', 'The role assignment no longer exists.', 'Start a new setup: the plan will create it.');
  }
  try {
    // principalType skips the Graph lookup, but a brand-new identity can still be PrincipalNotFound while it replicates.
    const created = await withBackoff(
      ctx,
      ctx.opts.propagationRetry,
      (err) => armErrorInfo(err).code === 'PrincipalNotFound',
      () => c.authorization.roleAssignments.create(scope, name, { roleDefinitionId, principalId, principalType: 'ServicePrincipal' }),
    );
    return output(created);
  } catch (err) {
    if (armErrorInfo(err).code === 'RoleAssignmentExists') {
      const found = await findEquivalent(c, scope, principalId, roleDefinitionId);
      if (found) return output(found);
    }
    throw err;
  }
}

async function findEquivalent(c: SubscriptionClients, scope: string, principalId: string, roleDefinitionId: string): Promise<{ id?: string; name?: string } | undefined> {
  for await (const a of c.authorization.roleAssignments.listForScope(scope, { filter: `principalId eq '${principalId}'` })) {
    if (a.principalId === principalId && sameId(lastSegment(a.roleDefinitionId ?? ''), lastSegment(roleDefinitionId))) return a;
  }
  return undefined;
}

// ---------------------------------------------------------------- SSH key

function fingerprintOf(publicKey: string | undefined): string {
  if (!publicKey) return '';
  try {
    return sshpk.parseKey(publicKey.replace(/[\r\n]+/g, ''), 'ssh').fingerprint('sha256').toString();
  } catch {
    return '';
  }
}

async function sshPublicKey(env: StepEnv): Promise<StepResult> {
  const { c, rg, p } = env;
  const name = str(p.name);
  let existing = await getOrUndefined(() => c.compute.sshPublicKeys.get(rg, name));
  const output = (id: string | undefined, publicKey: string | undefined): Out => ({
    resourceId: id ?? str(env.step.resourceId),
    name,
    publicKeyFingerprint: fingerprintOf(publicKey),
  });
  switch (env.step.action) {
    case 'reuse':
    case 'update':
      if (!existing) throw ownFailure(env.step.title, 'ResourceNotFound', `SSH key ${name} no longer exists.`, 'Start a new setup: the plan will create it.');
      return { output: output(existing.id, existing.publicKey) };
    case 'delete':
      if (!existing) return { output: { deleted: 'alreadyGone' } };
      assertCreatedBy(env, `SSH key ${name}`, tagValue(existing.tags, TAG_REQUEST));
      await deleted(() => c.compute.sshPublicKeys.delete(rg, name));
      return { output: { deleted: 'true', resourceId: existing.id ?? '' } };
    default:
      break;
  }
  if (existing) assertOurs(env, `SSH key ${name}`, existing.tags);
  if (!p.generateKeyPair) {
    if (existing) return { output: output(existing.id, existing.publicKey) };
    const created = await c.compute.sshPublicKeys.create(rg, name, { location: str(p.location), tags: p.tags as Record<string, string>, publicKey: str(p.publicKey) });
    return { output: output(created.id, created.publicKey) };
  }
  // A pair Azure generated whose private key never reached this process (the step stopped, or the answer was
  // lost and the retried call is refused) is gone for good: replace our own key rather than leave the requester without one.
  const startOver = async (): Promise<void> => {
    env.ctx.opts.logger.warn({ requestId: env.request.id, step: env.step.id }, 'regenerating an SSH key pair whose private key was never delivered');
    await deleted(() => c.compute.sshPublicKeys.delete(rg, name));
    existing = undefined;
  };
  if (existing?.publicKey) await startOver();
  for (let attempt = 1; ; attempt++) {
    // Created without a public key, then generateKeyPair fills it in (a second generateKeyPair is refused).
    const resource = existing ?? (await c.compute.sshPublicKeys.create(rg, name, { location: str(p.location), tags: p.tags as Record<string, string> }));
    existing = resource;
    try {
      const pair = await c.compute.sshPublicKeys.generateKeyPair(rg, name);
      const publicKey = pair.publicKey.replace(/[\r\n]+/g, '').trim();
      return {
        output: output(pair.id || resource.id, publicKey),
        secret: { kind: 'sshPrivateKey', value: pair.privateKey },
      };
    } catch (err) {
      const info = armErrorInfo(err);
      const again = await getOrUndefined(() => c.compute.sshPublicKeys.get(rg, name));
      // Re-thrown without the SDK error: its response (logged by callers) could hold a private key body.
      if (attempt >= 3 || info.statusCode !== 409 || !again?.publicKey) throw Object.assign(new Error(info.message), { code: info.code, statusCode: info.statusCode });
      await startOver();
    }
  }
}
