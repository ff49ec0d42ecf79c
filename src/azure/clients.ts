import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ComputeManagementClient } from '@azure/arm-compute';
import { ContainerRegistryManagementClient } from '@azure/arm-containerregistry';
import { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { ResourceManagementClient } from '@azure/arm-resources';
import { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import { StorageManagementClient } from '@azure/arm-storage';
import { createDefaultHttpClient } from '@azure/core-rest-pipeline';
import https from 'node:https';
import tls from 'node:tls';

/** The token audience of Azure Resource Manager, whatever host the clients talk to. */
export const ARM_SCOPE = 'https://management.azure.com/.default';
export const DEFAULT_ARM_ENDPOINT = 'https://management.azure.com';

/** Passed to the SDK pipeline's own retry policy (429 with Retry-After, 503, other 5xx, connection resets). */
export interface ArmRetryOptions {
  maxRetries?: number;
  retryDelayInMs?: number;
  maxRetryDelayInMs?: number;
}

export interface AzureClientsConfig {
  /** ARM base URL (`AZURE_ARM_ENDPOINT`); default `https://management.azure.com`. */
  endpoint?: string;
  /** Default: `DefaultAzureCredential` (managed identity on Azure; `AZURE_CLIENT_ID` selects a user-assigned one). */
  credential?: TokenCredential;
  retryOptions?: ArmRetryOptions;
}

/** The ARM SDK clients for one subscription. */
export interface SubscriptionClients {
  subscriptionId: string;
  resources: ResourceManagementClient;
  authorization: AuthorizationManagementClient;
  storage: StorageManagementClient;
  registry: ContainerRegistryManagementClient;
  msi: ManagedServiceIdentityClient;
  compute: ComputeManagementClient;
}

/** Builds SDK clients once per subscription and hands out the cached set. */
export interface AzureClients {
  readonly endpoint: string;
  /** Tenant-level client (lists the subscriptions the identity can see). */
  readonly subscriptions: SubscriptionClient;
  forSubscription(subscriptionId: string): SubscriptionClients;
}

export const DEFAULT_RETRY: Required<ArmRetryOptions> = { maxRetries: 6, retryDelayInMs: 1000, maxRetryDelayInMs: 30_000 };

/**
 * The only place ARM SDK clients are constructed. Every client gets the endpoint and BOTH scope options:
 * the packages disagree on which one they read (see azure-sdk-notes), and a scope derived from a local
 * endpoint would make the managed-identity endpoint refuse the token request.
 */
export function createAzureClients(config: AzureClientsConfig = {}): AzureClients {
  const endpoint = (config.endpoint ?? DEFAULT_ARM_ENDPOINT).replace(/\/+$/, '');
  const credential = config.credential ?? new DefaultAzureCredential();
  const retryOptions = { ...DEFAULT_RETRY, ...config.retryOptions };
  const common = {
    endpoint,
    // One HTTP client and one keep-alive agent (the SDK's `agent` pipeline option) for every ARM client: the
    // clients all talk to the same host, so they share connections and TLS sessions instead of each opening
    // its own. The agent also has one TLS context: without `secureContext`, Node builds a new one (the default
    // CA store included) for every connection it opens; a burst of 20 approved setups opens about 100 at once,
    // and that was 4% of the bot's CPU in the burst's first second.
    httpClient: createDefaultHttpClient(),
    agent: new https.Agent({ keepAlive: true, secureContext: tls.createSecureContext() }),
    credentialScopes: [ARM_SCOPE],
    credentials: { scopes: [ARM_SCOPE] },
    retryOptions,
    userAgentOptions: { userAgentPrefix: 'hopsworks-setup-bot' },
  };
  const subscriptions = new SubscriptionClient(credential, common);
  const cache = new Map<string, SubscriptionClients>();
  return {
    endpoint,
    subscriptions,
    forSubscription(subscriptionId: string): SubscriptionClients {
      let set = cache.get(subscriptionId);
      if (!set) {
        set = {
          subscriptionId,
          resources: new ResourceManagementClient(credential, subscriptionId, common),
          authorization: new AuthorizationManagementClient(credential, subscriptionId, common),
          storage: new StorageManagementClient(credential, subscriptionId, common),
          registry: new ContainerRegistryManagementClient(credential, subscriptionId, common),
          msi: new ManagedServiceIdentityClient(credential, subscriptionId, common),
          compute: new ComputeManagementClient(credential, subscriptionId, common),
        };
        cache.set(subscriptionId, set);
      }
      return set;
    },
  };
}
