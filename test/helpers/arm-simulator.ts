/**
 * Starts the ARM simulator for a test file and builds the real SDK clients against it, the way the bot
 * does: a managed-identity credential through IDENTITY_ENDPOINT/IDENTITY_HEADER and both scope options.
 * Run tests with `node scripts/with-sandbox-ca.js npx jest …` so Node trusts the sandbox CA.
 */
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ComputeManagementClient } from '@azure/arm-compute';
import { ContainerRegistryManagementClient } from '@azure/arm-containerregistry';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { ResourceManagementClient } from '@azure/arm-resources';
import { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import { StorageManagementClient } from '@azure/arm-storage';
import { ARM_SCOPE, startArmSimulator, type ArmSimulator, type ArmSimulatorOptions } from '../../src/azure/simulator';

export interface SimClients {
  credential: TokenCredential;
  subscriptions: SubscriptionClient;
  resources: ResourceManagementClient;
  authorization: AuthorizationManagementClient;
  storage: StorageManagementClient;
  registry: ContainerRegistryManagementClient;
  msi: ManagedServiceIdentityClient;
  compute: ComputeManagementClient;
}

/** Fast SDK retries so fault tests do not wait for the default exponential backoff. */
export const FAST_RETRY = { maxRetries: 8, retryDelayInMs: 5, maxRetryDelayInMs: 20 };

export function clientsFor(sim: ArmSimulator, credential: TokenCredential, subscriptionId = sim.subscriptionId): SimClients {
  const common = {
    endpoint: sim.armEndpoint,
    credentialScopes: [ARM_SCOPE],
    credentials: { scopes: [ARM_SCOPE] },
    retryOptions: FAST_RETRY,
  };
  return {
    credential,
    subscriptions: new SubscriptionClient(credential, common),
    resources: new ResourceManagementClient(credential, subscriptionId, common),
    authorization: new AuthorizationManagementClient(credential, subscriptionId, common),
    storage: new StorageManagementClient(credential, subscriptionId, common),
    registry: new ContainerRegistryManagementClient(credential, subscriptionId, common),
    msi: new ManagedServiceIdentityClient(credential, subscriptionId, common),
    compute: new ComputeManagementClient(credential, subscriptionId, common),
  };
}

/** Points @azure/identity at the simulator's token endpoint (read when a credential is built). */
export function useSimulatorIdentity(sim: ArmSimulator): void {
  process.env.IDENTITY_ENDPOINT = sim.identityEndpoint;
  process.env.IDENTITY_HEADER = sim.identityHeader;
}

export async function startSimulatorWithClients(options: ArmSimulatorOptions = {}): Promise<{ sim: ArmSimulator; clients: SimClients }> {
  const sim = await startArmSimulator({ timeScale: 0.001, unregisteredProviders: [], ...options });
  useSimulatorIdentity(sim);
  return { sim, clients: clientsFor(sim, new DefaultAzureCredential()) };
}

/** Clients acting as another configured principal (`client_id` on the token request). */
export function clientsAs(sim: ArmSimulator, clientId: string): SimClients {
  useSimulatorIdentity(sim);
  return clientsFor(sim, new ManagedIdentityCredential({ clientId }));
}

export async function collect<T>(iter: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iter) out.push(x);
  return out;
}
