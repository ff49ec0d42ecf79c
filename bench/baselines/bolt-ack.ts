/**
 * Baseline: a bare Bolt app (its own HTTPReceiver) that only acks the `/hopsworks` slash command
 * and any button click. The benchmark puts the real bot's Slack acks beside it.
 * PORT, SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN and SLACK_API_URL as for the bot.
 */
import { App, LogLevel } from '@slack/bolt';

const app = new App({
  signingSecret: process.env.SLACK_SIGNING_SECRET ?? '',
  token: process.env.SLACK_BOT_TOKEN,
  clientOptions: process.env.SLACK_API_URL ? { slackApiUrl: process.env.SLACK_API_URL } : undefined,
  logLevel: LogLevel.ERROR,
  customRoutes: [
    {
      path: '/readyz',
      method: ['GET'],
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"status":"ok"}');
      },
    },
  ],
});

app.command('/hopsworks', async ({ ack }) => {
  await ack();
});
app.action(/.*/, async ({ ack }) => {
  await ack();
});

void app.start({ port: Number(process.env.PORT ?? 3980), host: '127.0.0.1' }).then(() => {
  console.log(JSON.stringify({ msg: 'bolt baseline listening' }));
});
process.on('SIGTERM', () => {
  void app.stop().then(() => process.exit(0));
});
