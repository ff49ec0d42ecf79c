/**
 * Connector clients are reused between turns; authentication stays botbuilder's own.
 */
import { ConfigurationBotFrameworkAuthentication, type Activity } from 'botbuilder';
import { ReusingBotFrameworkAuthentication } from '../../src/bot/connectorReuse';

const activity = (serviceUrl: string): Activity =>
  ({ type: 'message', channelId: 'msteams', serviceUrl, from: { id: 'u' }, recipient: { id: 'b' }, conversation: { id: 'c' } }) as Activity;

describe('ReusingBotFrameworkAuthentication', () => {
  it('hands every turn to the same service URL the same connector client, and another URL its own', async () => {
    const auth = new ReusingBotFrameworkAuthentication(new ConfigurationBotFrameworkAuthentication({}));
    const first = await auth.authenticateRequest(activity('https://smba.example/emea/'), '');
    const second = await auth.authenticateRequest(activity('https://smba.example/emea/'), '');
    const a = await first.connectorFactory!.create('https://smba.example/emea/', first.audience);
    const b = await second.connectorFactory!.create('https://smba.example/emea/', second.audience);
    const other = await second.connectorFactory!.create('https://smba.example/amer/', second.audience);
    expect(b).toBe(a);
    expect(other).not.toBe(a);
    // Proactive messages (continueConversation) go through createConnectorFactory: same cache.
    const proactive = await auth.createConnectorFactory(first.claimsIdentity).create('https://smba.example/emea/', first.audience);
    expect(proactive).toBe(a);
    expect(await auth.createUserTokenClient(first.claimsIdentity)).toBe(await auth.createUserTokenClient(second.claimsIdentity));
  });

  it('still refuses a request without a valid token when the bot has an app id', async () => {
    const registration = { MicrosoftAppId: '11111111-1111-1111-1111-111111111111', MicrosoftAppPassword: 'not-a-real-secret', MicrosoftAppType: 'MultiTenant' };
    const auth = new ReusingBotFrameworkAuthentication(new ConfigurationBotFrameworkAuthentication(registration));
    await expect(auth.authenticateRequest(activity('https://smba.example/emea/'), '')).rejects.toThrow(/Unauthorized|authorization|token/i);
    await expect(auth.authenticateRequest(activity('https://smba.example/emea/'), 'Bearer not.a.jwt')).rejects.toThrow();
  });
});
