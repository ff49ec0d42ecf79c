/**
 * Helper C's test world: the real bot, real SetupService over an in-memory SQLite store, the real
 * AzureProvisioner against the ARM simulator, and botbuilder's TestAdapter with a transcript that
 * follows cards updated in place.
 */
import { ConversationState, TestAdapter, type Activity, type ResourceResponse, type TurnContext } from 'botbuilder';
import { AzureProvisioner } from '../../src/azure/provisioner';
import { createAzureClients } from '../../src/azure/clients';
import { startArmSimulator, type ArmSimulator } from '../../src/azure/simulator';
import { HopsworksBot, installOnTurnError } from '../../src/bot/bot';
import { KeyValueBotStorage } from '../../src/bot/storage';
import { SetupService } from '../../src/core/service';
import { openSqliteStore } from '../../src/core/store/sqlite';
import type { Notifier, Store } from '../../src/core/ports';
import { ManualClock, MemoryLogger, RecordingNotifier } from './core-fakes';

export interface TeamsUser {
  id: string;
  name: string;
  aadObjectId: string;
}

export const RITA: TeamsUser = { id: '29:rita', name: 'Rita Requester', aadObjectId: 'aad-rita' };
export const ALICE: TeamsUser = { id: '29:alice', name: 'Alice Approver', aadObjectId: 'aad-alice' };
export const CAROL: TeamsUser = { id: '29:carol', name: 'Carol Approver', aadObjectId: 'aad-carol' };
export const MALLORY: TeamsUser = { id: '29:mallory', name: 'Mallory <at>Outsider</at>', aadObjectId: 'aad-mallory' };

/** TestAdapter that keeps every activity the bot sent, by id, with updates applied in place. */
export class TranscriptAdapter extends TestAdapter {
  readonly byId = new Map<string, Partial<Activity>>();
  readonly order: string[] = [];
  updates = 0;

  async sendActivities(context: TurnContext, activities: Partial<Activity>[]): Promise<ResourceResponse[]> {
    const res = await super.sendActivities(context, activities);
    activities.forEach((a, i) => {
      if (a.type === 'invokeResponse') return;
      const id = res[i].id;
      this.byId.set(id, a);
      this.order.push(id);
    });
    return res;
  }

  async updateActivity(context: TurnContext, activity: Partial<Activity>): Promise<ResourceResponse | void> {
    if (!activity.id || !this.byId.has(activity.id)) throw new Error(`update of unknown activity ${activity.id}`);
    this.byId.set(activity.id, activity);
    this.updates++;
    return super.updateActivity(context, activity);
  }

  /** Card JSON of every message in order (after updates). */
  cards(): Record<string, unknown>[] {
    return this.order.map((id) => this.byId.get(id)?.attachments?.[0]?.content as Record<string, unknown>).filter(Boolean);
  }

  lastCard(): Record<string, unknown> {
    const cards = this.cards();
    return cards[cards.length - 1];
  }

  /** Drops what was recorded so far (activeQueue too). */
  clear(): void {
    this.byId.clear();
    this.order.length = 0;
    this.activeQueue.length = 0;
    this.updates = 0;
  }
}

export interface TeamsWorld {
  sim: ArmSimulator;
  provisioner: AzureProvisioner;
  store: Store;
  service: SetupService;
  notifier: Notifier;
  bot: HopsworksBot;
  adapter: TranscriptAdapter;
  logger: MemoryLogger;
  clock: ManualClock;
  close(): Promise<void>;
}

export async function createTeamsWorld(opts: { approvers?: string[]; requiredApprovals?: number; notifier?: Notifier; sim?: ArmSimulator } = {}): Promise<TeamsWorld> {
  const sim = opts.sim ?? (await startArmSimulator({ timeScale: 0.001, unregisteredProviders: [] }));
  process.env.IDENTITY_ENDPOINT = sim.identityEndpoint;
  process.env.IDENTITY_HEADER = sim.identityHeader;
  const clients = createAzureClients({ endpoint: sim.armEndpoint, retryOptions: { maxRetries: 3, retryDelayInMs: 5, maxRetryDelayInMs: 20 } });
  let n = 0;
  // The simulator runs Azure's durations 1000x faster; the provisioner's own waits follow suit.
  const provisioner = new AzureProvisioner(clients, {
    random: () => (++n).toString(16).padStart(16, 'a'),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms / 1000)),
    lroPollIntervalMs: 2,
  });
  const store = openSqliteStore(':memory:');
  const logger = new MemoryLogger();
  const clock = new ManualClock('2026-11-26T04:00:00.000Z');
  const notifier = opts.notifier ?? new RecordingNotifier();
  const service = new SetupService({
    store,
    notifier,
    clock,
    logger,
    policy: { approvers: opts.approvers ?? ['aad-alice', 'carol@contoso.com', 'aad-rita'], requiredApprovals: opts.requiredApprovals ?? 1, approvalTtlHours: 72 },
  });
  const conversationState = new ConversationState(new KeyValueBotStorage(store.kv));
  const bot = new HopsworksBot({
    workflow: service,
    discovery: provisioner,
    planner: provisioner,
    ids: store,
    conversationState,
    logger,
    clock,
    config: { requiredApprovals: opts.requiredApprovals ?? 1 },
  });
  const adapter = new TranscriptAdapter((ctx) => bot.run(ctx));
  installOnTurnError(adapter, logger, conversationState);
  return {
    sim,
    provisioner,
    store,
    service,
    notifier,
    bot,
    adapter,
    logger,
    clock,
    async close() {
      await store.close();
      if (!opts.sim) await sim.close();
    },
  };
}

export interface Where {
  conversationId: string;
  conversationType: 'personal' | 'channel' | 'groupChat';
}

export const PERSONAL_RITA: Where = { conversationId: 'a:personal-rita', conversationType: 'personal' };
export const ADMIN_CHANNEL: Where = { conversationId: '19:admins@thread.tacv2', conversationType: 'channel' };

function base(user: TeamsUser, where: Where): Partial<Activity> {
  return {
    channelId: 'msteams',
    serviceUrl: 'https://smba.example.test/emea/',
    from: { id: user.id, name: user.name, aadObjectId: user.aadObjectId },
    recipient: { id: '28:hopsworks-bot', name: 'Hopsworks' },
    conversation: { id: where.conversationId, conversationType: where.conversationType, isGroup: where.conversationType !== 'personal', tenantId: 'tenant-1', name: '' },
  };
}

export async function say(adapter: TestAdapter, user: TeamsUser, text: string, where: Where = PERSONAL_RITA): Promise<void> {
  const mention = where.conversationType === 'personal' ? '' : '<at>Hopsworks</at> ';
  const activity: Partial<Activity> = { ...base(user, where), type: 'message', text: `${mention}${text}` };
  if (mention) {
    activity.entities = [{ type: 'mention', mentioned: { id: '28:hopsworks-bot', name: 'Hopsworks' }, text: '<at>Hopsworks</at>' }];
  }
  await adapter.processActivity(activity);
}

export async function submit(adapter: TestAdapter, user: TeamsUser, value: Record<string, unknown>, where: Where = PERSONAL_RITA): Promise<void> {
  await adapter.processActivity({ ...base(user, where), type: 'message', value });
}

/** Sends an Action.Execute invoke and returns the invoke response body. */
export async function invoke(adapter: TestAdapter, user: TeamsUser, verb: string, data: Record<string, unknown>, where: Where = ADMIN_CHANNEL): Promise<{ statusCode: number; type: string; value: Record<string, unknown> | string }> {
  const before = adapter.activeQueue.length;
  await adapter.processActivity({
    ...base(user, where),
    type: 'invoke',
    name: 'adaptiveCard/action',
    value: { action: { type: 'Action.Execute', verb, data } },
  });
  const res = adapter.activeQueue.slice(before).find((a) => a.type === 'invokeResponse');
  if (!res) throw new Error('no invoke response');
  return (res.value as { body: { statusCode: number; type: string; value: Record<string, unknown> } }).body;
}

/** The data of the card's action with this `action` value (wizard cards). */
export function actionData(card: Record<string, unknown>, action: string): Record<string, unknown> {
  const actions = (card.actions ?? []) as { data?: Record<string, unknown> }[];
  const found = actions.find((a) => a.data?.action === action);
  if (!found?.data) throw new Error(`card has no ${action} action: ${JSON.stringify(actions.map((a) => a.data))}`);
  return found.data;
}
