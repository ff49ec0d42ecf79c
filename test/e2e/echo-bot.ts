/*
 * A throw-away Bot Framework bot for the harness smoke test: it proves the Playground, Chromium and
 * the harness helpers work before the real bot is involved, so a failure there points at the harness.
 * Run as a child process: `tsx test/e2e/echo-bot.ts` with PORT set; it prints "echo bot listening on N".
 */
import * as http from 'node:http';
import {
  ActivityHandler,
  ActivityTypes,
  CardFactory,
  CloudAdapter,
  ConfigurationBotFrameworkAuthentication,
  InvokeResponse,
  TurnContext,
} from 'botbuilder';

const formCard = {
  type: 'AdaptiveCard',
  $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
  version: '1.5',
  body: [
    { type: 'TextBlock', text: 'Echo form', weight: 'Bolder' },
    { type: 'Input.Text', id: 'reason', label: 'Reason', isRequired: true, errorMessage: 'A reason is required' },
    {
      type: 'Input.ChoiceSet', id: 'colour', label: 'Colour', value: 'blue',
      choices: [{ title: 'Blue', value: 'blue' }, { title: 'Green', value: 'green' }],
    },
  ],
  actions: [
    { type: 'Action.Execute', title: 'Send', verb: 'send', data: { kind: 'echo' } },
  ],
};

class EchoBot extends ActivityHandler {
  constructor() {
    super();
    this.onMessage(async (context, next) => {
      const text = TurnContext.removeRecipientMention(context.activity)?.trim() ?? '';
      const from = context.activity.from;
      if (text === 'card') {
        await context.sendActivity({ attachments: [CardFactory.adaptiveCard(formCard)] });
      } else {
        await context.sendActivity(
          `echo: ${text} | from ${from.name} aad=${from.aadObjectId ?? '-'} | conv=${context.activity.conversation.conversationType ?? '-'}`,
        );
      }
      await next();
    });
  }

  protected async onInvokeActivity(context: TurnContext): Promise<InvokeResponse> {
    if (context.activity.name === 'adaptiveCard/action') {
      const action = context.activity.value as { action?: { verb?: string; data?: Record<string, unknown> } };
      const data = action.action?.data ?? {};
      const done = {
        type: 'AdaptiveCard', version: '1.5',
        body: [{ type: 'TextBlock', text: `Executed ${action.action?.verb}: reason=${String(data.reason)} colour=${String(data.colour)} by ${context.activity.from.name}` }],
      };
      return { status: 200, body: { statusCode: 200, type: 'application/vnd.microsoft.card.adaptive', value: done } };
    }
    return super.onInvokeActivity(context);
  }
}

const adapter = new CloudAdapter(new ConfigurationBotFrameworkAuthentication({}));
adapter.onTurnError = async (context, error) => {
  console.error('echo bot turn error', error);
  if (context.activity.type === ActivityTypes.Message) await context.sendActivity('echo bot error');
};
const bot = new EchoBot();

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/api/messages') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    // CloudAdapter wants express-like status/header/send; a thin shim over node's response is enough.
    let status = 200;
    const shim = {
      socket: res.socket,
      status: (code: number) => { status = code; return shim; },
      header: (name: string, value: unknown) => { res.setHeader(name, String(value)); return shim; },
      send: (payload?: unknown) => {
        if (payload === undefined) { res.writeHead(status).end(); return shim; }
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
        return shim;
      },
      end: () => { if (!res.writableEnded) res.writeHead(status).end(); return shim; },
    };
    adapter
      .process({ body, headers: req.headers, method: req.method }, shim, (context) => bot.run(context))
      .catch((err: unknown) => {
        console.error('echo bot process error', err);
        if (!res.headersSent) res.writeHead(500).end();
      });
  });
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address();
  console.log(`echo bot listening on ${typeof address === 'object' && address ? address.port : '?'}`);
});
