/**
 * Starts the ARM simulator for a test file and builds the real SDK clients against it, the way the bot
 * does: a managed-identity credential through IDENTITY_ENDPOINT/IDENTITY_HEADER and both scope options.
 * Run tests with `node scripts/with-sandbox-ca.js npx jest …` so Node trusts the sandbox CA.
 */
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import type { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import { createAzureClients, type SubscriptionClients } from '../../src/azure/clients';
import { startArmSimulator, type ArmSimulator, type ArmSimulatorOptions } from '../../src/azure/simulator';

export interface SimClients extends SubscriptionClients {
  credential: TokenCredential;
  subscriptions: SubscriptionClient;
}

/** Fast SDK retries so fault tests do not wait for the default exponential backoff. */
export const FAST_RETRY = { maxRetries: 8, retryDelayInMs: 5, maxRetryDelayInMs: 20 };

/** The bot's own client factory (endpoint and both scope options), with fast retries. */
export function clientsFor(sim: ArmSimulator, credential: TokenCredential, subscriptionId = sim.subscriptionId): SimClients {
  const clients = createAzureClients({ endpoint: sim.armEndpoint, credential, retryOptions: FAST_RETRY });
  return { credential, subscriptions: clients.subscriptions, ...clients.forSubscription(subscriptionId) };
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
