/*
 * End to end in a real Teams client: the bot in sandbox mode (ARM simulator, fresh SQLite store) and
 * Microsoft 365 Agents Playground instances, one per person, each driven in headless Chromium exactly
 * as a user would click.
 *
 *   Riley (requester, not an approver)      Playground "requester": personal chat with the bot
 *   Avery (approver, in HOPSWORKS_APPROVERS) Playground "approver": the team channel "Hopsworks approvals"
 *   Megan (not an approver)                  Playground "bystander": replaces Avery's Playground on the same
 *                                            port, so the bot's stored admin-channel reference reaches her
 *
 * Each Playground keeps its own conversations and is its own Bot Framework connector (serviceUrl), and
 * the bot replies to the serviceUrl of each activity; so one bot serves several Playgrounds at once and
 * a proactive card lands in the Playground where its conversation was registered.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { DEFAULT_SUBSCRIPTION_ID, DEFAULT_TENANT_ID } from '../../src/azure/simulator/state';
import {
  Cleanup,
  launchBrowser,
  makeArtifactsDir,
  makeTempDir,
  PlaygroundUser,
  REPO_ROOT,
  startPlayground,
  startRealBot,
  step,
  Timeline,
  type BotProcess,
  type Card,
  type PlaygroundProcess,
} from './harness';

jest.setTimeout(600_000);

const BOT_NAME = 'Hopsworks';
const APPROVER_AAD = '22222222-2222-4222-8222-222222222222';
const ADMIN_CHANNEL = 'Azure Platform - Hopsworks approvals';
/** Provisioning in the simulator at SIM_TIME_SCALE takes seconds; the bound is for a loaded CI machine. */
const PROVISIONING_TIMEOUT = 180_000;
const config = (who: string) => path.join(__dirname, who, '.m365agentsplayground.yml');

interface WizardValues {
  storageAccountName: string;
  containerName: string;
  registryName: string;
  identityName: string;
  sshKeyName: string;
  backupRetentionDays: string;
}

describe('Teams end to end in Microsoft 365 Agents Playground (sandbox bot, headless Chromium)', () => {
  const cleanup = new Cleanup();
  let artifacts: string;
  let timeline: Timeline;
  /** Holds the bot's SQLite store and the simulator's state. */
  let tmp: string;
  let bot: BotProcess;
  let browser: Browser;
  let approverPlayground: PlaygroundProcess;
  let riley: PlaygroundUser;
  let avery: PlaygroundUser;
  const users = () => [riley, avery].filter((u): u is PlaygroundUser => u !== undefined);

  beforeAll(async () => {
    artifacts = makeArtifactsDir('playground');
    timeline = new Timeline(artifacts);
    try {
      tmp = makeTempDir('hopsworks-e2e');
      cleanup.add('temp dir', () => fs.rmSync(tmp, { recursive: true, force: true }));
      bot = await timeline.time('bot ready (/readyz)', () =>
        startRealBot({
          cwd: REPO_ROOT,
          artifactsDir: artifacts,
          env: {
            BOT_DB_PATH: path.join(tmp, 'bot.sqlite'),
            HOPSWORKS_APPROVERS: APPROVER_AAD,
            SIM_TIME_SCALE: '0.02',
            LOG_LEVEL: 'debug',
          },
        }),
      );
      cleanup.add('bot', () => bot.proc.stop());
      const [pgRiley, pgAvery] = await timeline.time('two playgrounds listening', () =>
        Promise.all([
          startPlayground({ name: 'requester', configFile: config('requester'), bot, artifactsDir: artifacts }),
          startPlayground({ name: 'approver', configFile: config('approver'), bot, artifactsDir: artifacts }),
        ]),
      );
      approverPlayground = pgAvery;
      cleanup.add('playground requester', () => pgRiley.stop());
      cleanup.add('playground approver', () => approverPlayground.stop());
      browser = await timeline.time('chromium launched', () => launchBrowser());
      cleanup.add('chromium', () => browser.close());
      riley = await timeline.time('requester tab loaded', () => PlaygroundUser.open(browser, pgRiley, artifacts, BOT_NAME));
      cleanup.add('requester tab', () => riley.close());
      avery = await timeline.time('approver tab loaded', () => PlaygroundUser.open(browser, pgAvery, artifacts, BOT_NAME));
      cleanup.add('approver tab', () => avery.close());
    } catch (err) {
      await cleanup.run();
      throw err;
    }
  });

  afterAll(async () => {
    await timeline.time('teardown', () => cleanup.run());
    expect(cleanup.errors).toEqual([]);
  });

  /** Runs the setup wizard in Riley's personal chat up to the submitted plan; returns the request id and form values. */
  async function requestSetup(resourceGroup: string, reason: string, shotPrefix: string): Promise<{ id: string; values: WizardValues }> {
    await riley.sendMessage('setup');
    const target = await riley.waitForCard('Step 1 of 3');
    await riley.screenshot(`${shotPrefix}-step1-target`, target);
    await target.choose(/Resource group/, new RegExp(`^${resourceGroup} \\(`));
    await target.click('Next');

    const options = await riley.waitForCard('Step 2 of 3');
    // Every default is filled in; the reason is the one field the requester must type.
    const values: WizardValues = {
      storageAccountName: await options.input(/Azure Storage account name/).inputValue(),
      containerName: await options.input(/Azure Container name/).inputValue(),
      registryName: await options.input(/Azure container registry name/).inputValue(),
      identityName: await options.input(/User assigned managed identity name/).inputValue(),
      sshKeyName: await options.input(/SSH key name/).inputValue(),
      backupRetentionDays: await options.input(/Backup retention days/).inputValue(),
    };
    for (const [field, value] of Object.entries(values)) expect({ field, value }).toEqual({ field, value: expect.stringMatching(/\S/) });
    expect(await options.input(/Reason for the request/).inputValue()).toBe('');
    await riley.screenshot(`${shotPrefix}-step2-options-defaults`, options);
    await options.click('Check and show plan');
    await riley.waitForText('A reason is required.', 10_000);
    await options.fill(/Reason for the request/, reason);
    await options.click('Check and show plan');

    const plan = await riley.waitForCard('Step 3 of 3', 60_000);
    const planText = await plan.text();
    const id = /Plan for (\S+)/.exec(planText)?.[1];
    expect(id).toMatch(/\S/);
    expect(planText).toContain(resourceGroup);
    expect(planText).toContain(reason);
    await riley.screenshot(`${shotPrefix}-step3-plan`, plan);
    await plan.click('Confirm and request approval');
    await riley.waitForCard([`Plan for ${id!}`, 'Submitted for approval']);
    return { id: id!, values };
  }

  /** The approval card of `id` in the admin channel, with its Approve/Reject buttons showing. */
  async function actionableApprovalCard(user: PlaygroundUser, id: string): Promise<Card> {
    const card = await user.waitForCard([`request ${id}`, 'Waiting for approval']);
    // Teams refreshes the card into the approver's own view automatically (refresh.userIds); the
    // Playground does not support that "user specific view", so the approver uses the card's Refresh.
    if ((await card.root.getByRole('button', { name: 'Approve', exact: true }).count()) === 0) {
      await card.click('Refresh');
    }
    await card.root.getByRole('button', { name: 'Approve', exact: true }).waitFor();
    return card;
  }

  it('refuses a non-approver who tries to make a channel the admin channel', async () => {
    await step('non-approver admin channel', users(), async () => {
      await riley.openConversation(ADMIN_CHANNEL);
      await riley.postMentioningBotAndWait('admin channel', riley.card('Only approvers can choose the admin channel').root);
      await riley.screenshot('admin-channel-refused');
    });
  });

  it('lets the approver register the admin channel with an @mention', async () => {
    await step('approver admin channel', users(), async () => {
      await avery.openConversation(ADMIN_CHANNEL);
      await avery.postMentioningBotAndWait('admin channel', avery.card('Approval cards go to this conversation now').root);
      await avery.screenshot('admin-channel-registered');
    });
  });

  let first: { id: string; values: WizardValues };

  it('walks the requester through the wizard (target, options with defaults and a required reason, plan) to a submitted request', async () => {
    await step('wizard', users(), async () => {
      await riley.openConversation('Personal Chat');
      first = await timeline.time('wizard to submitted plan', () => requestSetup('rg-hopsworks-dev', 'Feature store for the churn model', 'first'));
      await riley.screenshot('first-submitted');
    });
  });

  it('shows the approval card in the admin channel; after Approve the requester sees progress reach done and a summary with every value', async () => {
    await step('approve and provision', users(), async () => {
      const card = await timeline.time('approval card in channel', () => actionableApprovalCard(avery, first.id));
      const approvalText = await card.text();
      expect(approvalText).toContain('Riley Requester');
      expect(approvalText).toContain('Feature store for the churn model');
      await avery.screenshot('approval-card', card);
      const t0 = Date.now();
      await card.click('Approve');
      // The click's own answer ("You approved …") is soon replaced by the bot's update of the card for everyone.
      await avery.screenshot('approved', await avery.waitForCard([`request ${first.id}`, 'Approved by Avery Approver']));

      await riley.waitForCard(`${first.id} is approved`);
      const summary = await riley.waitForCard(['Values for managed.hopsworks.ai', `Request ${first.id} is done`], PROVISIONING_TIMEOUT);
      timeline.note(`Approve click to summary card in the requester's chat: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      // Case matters: the state is "Done", a finished step says "✔ done". (Card text has no spaces between blocks, so no \b.)
      const progress = await riley.waitForCard([`Setup ${first.id}`, /Done/]);
      const progressText = await progress.text();
      const counts = /(\d+) of (\d+) steps/.exec(progressText);
      expect(counts).not.toBeNull();
      expect(counts![1]).toBe(counts![2]);
      await riley.screenshot('progress-done', progress);
      await riley.screenshot('summary', summary);

      const expected: Record<string, string> = {
        'Subscription id': DEFAULT_SUBSCRIPTION_ID,
        'Tenant id (not a managedByTenants id)': DEFAULT_TENANT_ID,
        'Resource Group': 'rg-hopsworks-dev',
        Location: 'westeurope',
        'Azure Storage account name': first.values.storageAccountName,
        'Azure Container name': first.values.containerName,
        'Azure container registry name': first.values.registryName,
        'SSH key': first.values.sshKeyName,
        'User assigned managed identity (name)': first.values.identityName,
        'Backup retention days': first.values.backupRetentionDays,
      };
      const shown: Record<string, string> = {};
      for (const label of Object.keys(expected)) shown[label] = await summary.fact(label);
      expect(shown).toEqual(expected);
      // ARM ids are case-insensitive (the simulator, like ARM, may answer "resourcegroups").
      expect((await summary.fact('User assigned managed identity (resource id)')).toLowerCase()).toBe(
        `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}/resourceGroups/rg-hopsworks-dev/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${first.values.identityName}`.toLowerCase(),
      );

      // The generated SSH private key goes to the requester's personal chat only: not to the channel,
      // not to the bot's log, not to its store.
      const keyCard = await riley.waitForCard(`SSH private key for ${first.values.sshKeyName}`);
      const privateKey = await keyCard.input(/Private key/).inputValue();
      expect(privateKey).toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
      const keyBody = privateKey.split('\n').find((l) => l.length > 40 && !l.startsWith('-----'))!;
      expect(await avery.pane.getByText(`SSH private key for`).count()).toBe(0);
      const channelInputs = await avery.pane.locator('input, textarea').evaluateAll((els) => els.map((e) => (e as unknown as { value: string }).value).join('\n'));
      expect(channelInputs).not.toContain('PRIVATE KEY');
      expect(bot.proc.log).not.toContain(keyBody);
      for (const file of fs.readdirSync(tmp).filter((f) => f.startsWith('bot.sqlite'))) {
        expect({ file, hasKey: fs.readFileSync(path.join(tmp, file)).includes(keyBody) }).toEqual({ file, hasKey: false });
      }
      // The channel follows along: the approval card says Done and progress is threaded under it.
      await avery.screenshot('channel-approval-card-done', await avery.waitForCard([`request ${first.id}`, /Done/], 30_000));
      await avery.screenshot('channel-after-provisioning');
    });
  });

  let second: { id: string; values: WizardValues };

  it('tells the requester when the approver rejects, with the approver’s reason', async () => {
    await step('reject', users(), async () => {
      second = await requestSetup('rg-analytics', 'Sandbox for a quick experiment', 'second');
      const card = await actionableApprovalCard(avery, second.id);
      await card.click('Reject');
      // Rejecting needs a reason; the server says so and changes nothing.
      await avery.screenshot('reject-without-reason', await avery.waitForCard([`request ${second.id}`, /reason/i, 'Nothing was changed']));
      const again = await actionableApprovalCard(avery, second.id);
      await again.fill(/Reason \(required to reject\)/, 'Use the shared analytics subscription instead');
      await again.click('Reject');
      await avery.screenshot('rejected', await avery.waitForCard([`request ${second.id}`, /Rejected/]));
      await riley.screenshot('rejection-told', await riley.waitForCard([`${second.id} was rejected`, 'Use the shared analytics subscription instead']));
    });
  });

  it('refuses an Approve click by a channel member who is not an approver, and changes nothing', async () => {
    let megan: PlaygroundUser | undefined;
    await step('non-approver click', users(), async () => {
      // Megan's Playground takes over the approver's port: the bot's admin-channel reference now reaches her.
      await avery.close();
      await approverPlayground.stop();
      const port = approverPlayground.port;
      approverPlayground = await startPlayground({ name: 'bystander', configFile: config('bystander'), bot, artifactsDir: artifacts, port });
      megan = await PlaygroundUser.open(browser, approverPlayground, artifacts, BOT_NAME);
      cleanup.add('bystander tab', () => megan!.close());
      await megan.openConversation(ADMIN_CHANNEL);

      const third = await requestSetup('rg-hopsworks-prod', 'Production feature store', 'third');
      const card = await megan.waitForCard([`request ${third.id}`, 'Waiting for approval']);
      await megan.screenshot('bystander-sees-approval-card', card);
      await card.click('Approve');
      const refused = await megan.waitForCard([`request ${third.id}`, 'Megan Bowen is not on the approver list', 'Nothing was changed']);
      const text = await refused.text();
      expect(text).toContain('Waiting for approval (0 of 1)');
      expect(await refused.root.getByRole('button', { name: 'Approve', exact: true }).count()).toBe(0);
      await megan.screenshot('bystander-refused', refused);
      expect(await riley.pane.getByText(`${third.id} is approved`).count()).toBe(0);
    });
  });
});
