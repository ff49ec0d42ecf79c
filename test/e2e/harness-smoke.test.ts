/*
 * Smoke test of the end-to-end harness against a throw-away echo bot: two Agents Playground instances
 * (two people) talk to one bot at once; each sees only its own replies, the bot sees each one's AAD
 * identity from its .m365agentsplayground.yml, a card's inputs are filled and an Action.Execute comes
 * back to the bot, and a channel post reaches the bot only when it @mentions it.
 */
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import {
  Cleanup,
  launchBrowser,
  makeArtifactsDir,
  PlaygroundUser,
  startEchoBot,
  startPlayground,
  step,
  Timeline,
  type BotProcess,
} from './harness';

jest.setTimeout(180_000);

const REQUESTER_AAD = '11111111-1111-4111-8111-111111111111';
const APPROVER_AAD = '22222222-2222-4222-8222-222222222222';
const CHANNEL = 'Azure Platform - Hopsworks approvals';

describe('e2e harness (echo bot in Agents Playground)', () => {
  const cleanup = new Cleanup();
  let artifacts: string;
  let timeline: Timeline;
  let bot: BotProcess;
  let browser: Browser;
  let riley: PlaygroundUser;
  let avery: PlaygroundUser;

  beforeAll(async () => {
    artifacts = makeArtifactsDir('harness-smoke');
    timeline = new Timeline(artifacts);
    try {
      bot = await timeline.time('echo bot ready', () => startEchoBot(artifacts));
      cleanup.add('echo bot', () => bot.proc.stop());
      const [pgRiley, pgAvery] = await timeline.time('two playgrounds listening', () => Promise.all([
        startPlayground({ name: 'requester', configFile: path.join(__dirname, 'requester', '.m365agentsplayground.yml'), bot, artifactsDir: artifacts }),
        startPlayground({ name: 'approver', configFile: path.join(__dirname, 'approver', '.m365agentsplayground.yml'), bot, artifactsDir: artifacts }),
      ]));
      cleanup.add('playground requester', () => pgRiley.stop());
      cleanup.add('playground approver', () => pgAvery.stop());
      browser = await timeline.time('chromium launched', () => launchBrowser());
      cleanup.add('chromium', () => browser.close());
      riley = await timeline.time('requester tab loaded', () => PlaygroundUser.open(browser, pgRiley, artifacts, 'Hopsworks'));
      cleanup.add('requester tab', () => riley.close());
      avery = await timeline.time('approver tab loaded', () => PlaygroundUser.open(browser, pgAvery, artifacts, 'Hopsworks'));
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

  it('delivers each user’s personal-chat reply to that user’s Playground only, with their AAD identity', async () => {
    await step('personal chats', [riley, avery], async () => {
      await riley.openConversation('Personal Chat');
      await avery.openConversation('Personal Chat');
      await riley.sendMessage('hello from riley');
      await avery.sendMessage('hello from avery');
      await riley.waitForText(`echo: hello from riley | from Riley Requester aad=${REQUESTER_AAD} | conv=personal`);
      await avery.waitForText(`echo: hello from avery | from Avery Approver aad=${APPROVER_AAD} | conv=personal`);
      await riley.screenshot('personal-chat');
      expect(await riley.pane.getByText('hello from avery').count()).toBe(0);
      expect(await avery.pane.getByText('hello from riley').count()).toBe(0);
    });
  });

  it('fills an Adaptive Card and sends Action.Execute; the bot’s invoke response replaces the card', async () => {
    await step('card', [riley], async () => {
      await riley.sendMessage('card');
      const card = await riley.waitForCard('Echo form');
      await card.click('Send');
      await riley.waitForText('A reason is required');
      await card.fill('Reason', 'capacity test');
      await card.choose('Colour', 'Green');
      await card.click('Send');
      await riley.waitForCard('Executed send: reason=capacity test colour=green by Riley Requester');
      await riley.screenshot('card-executed');
    });
  });

  it('reaches the bot from a channel only through an @mention', async () => {
    await step('channel', [avery], async () => {
      await avery.openConversation(CHANNEL);
      await avery.postMentioningBotAndWait('admin channel', avery.text(`echo: admin channel | from Avery Approver aad=${APPROVER_AAD} | conv=channel`));
      await avery.screenshot('channel-mention');
    });
  });
});
