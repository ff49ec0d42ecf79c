/**
 * CloudAdapter asks its BotFrameworkAuthentication for a new ConnectorClient and a new UserTokenClient
 * on every turn, and each one builds a fresh HTTP pipeline (a sizeable share of a short turn's CPU).
 * Both are stateless and safe to share between concurrent turns: this wrapper keeps one per bot app id,
 * service URL and audience, and delegates everything else (in particular every authentication
 * decision) to the configured authentication unchanged.
 */
import {
  BotFrameworkAuthentication,
  ConnectorFactory,
  JwtTokenValidation,
  type AuthenticateRequestResult,
  type BotFrameworkClient,
  type ClaimsIdentity,
  type ConnectorClient,
  type UserTokenClient,
} from 'botframework-connector';
import type { Activity } from 'botbuilder';

/** Distinct service URLs are few (Teams has a handful per region); the bound only guards against surprises. */
const MAX_ENTRIES = 200;

class BoundedCache<V> {
  private readonly entries = new Map<string, V>();
  getOrCreate(key: string, create: () => V): V {
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit;
    const value = create();
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, value);
    return value;
  }
  delete(key: string): void {
    this.entries.delete(key);
  }
}

function appIdOf(claims: ClaimsIdentity | undefined): string {
  return (claims ? JwtTokenValidation.getAppIdFromClaims(claims.claims) : undefined) ?? '';
}

/** A connector factory that hands out one client per service URL and audience (per app id). */
class ReusingConnectorFactory extends ConnectorFactory {
  constructor(
    private readonly inner: ConnectorFactory,
    private readonly appId: string,
    private readonly clients: BoundedCache<Promise<ConnectorClient>>,
  ) {
    super();
  }

  create(serviceUrl: string, audience?: string): Promise<ConnectorClient> {
    const key = `${this.appId}\n${serviceUrl}\n${audience ?? ''}`;
    const client = this.clients.getOrCreate(key, () => this.inner.create(serviceUrl, audience));
    // A failed creation is not kept: the next turn tries again.
    client.catch(() => this.clients.delete(key));
    return client;
  }
}

export class ReusingBotFrameworkAuthentication extends BotFrameworkAuthentication {
  private readonly connectors = new BoundedCache<Promise<ConnectorClient>>();
  private readonly userTokenClients = new BoundedCache<Promise<UserTokenClient>>();

  constructor(private readonly inner: BotFrameworkAuthentication) {
    super();
  }

  private reuse(result: AuthenticateRequestResult): AuthenticateRequestResult {
    if (!result.connectorFactory) return result;
    return { ...result, connectorFactory: new ReusingConnectorFactory(result.connectorFactory, appIdOf(result.claimsIdentity), this.connectors) };
  }

  async authenticateRequest(activity: Activity, authHeader: string): Promise<AuthenticateRequestResult> {
    return this.reuse(await this.inner.authenticateRequest(activity, authHeader));
  }

  async authenticateStreamingRequest(authHeader: string, channelIdHeader: string): Promise<AuthenticateRequestResult> {
    return this.reuse(await this.inner.authenticateStreamingRequest(authHeader, channelIdHeader));
  }

  createConnectorFactory(claimsIdentity: ClaimsIdentity): ConnectorFactory {
    return new ReusingConnectorFactory(this.inner.createConnectorFactory(claimsIdentity), appIdOf(claimsIdentity), this.connectors);
  }

  createUserTokenClient(claimsIdentity: ClaimsIdentity): Promise<UserTokenClient> {
    const key = appIdOf(claimsIdentity);
    const client = this.userTokenClients.getOrCreate(key, () => this.inner.createUserTokenClient(claimsIdentity));
    client.catch(() => this.userTokenClients.delete(key));
    return client;
  }

  createBotFrameworkClient(): BotFrameworkClient {
    return this.inner.createBotFrameworkClient();
  }

  getOriginatingAudience(): string {
    return this.inner.getOriginatingAudience();
  }

  authenticateChannelRequest(authHeader: string): Promise<ClaimsIdentity> {
    return this.inner.authenticateChannelRequest(authHeader);
  }
}
