/**
 * Baseline: a bare botbuilder CloudAdapter echo bot on node:http, nothing else. Echoes messages
 * and answers an Adaptive Card Action.Execute invoke with a small card, so the benchmark can put
 * the real bot's Teams turns beside the framework's own cost. PORT sets the port.
 */
import http from 'node:http';
import {
  ActivityHandler,
  CardFactory,
  CloudAdapter,
  ConfigurationBotFrameworkAuthentication,
  type AdaptiveCardInvokeResponse,
  type AdaptiveCardInvokeValue,
  type TurnContext,
} from 'botbuilder';

class EchoBot extends ActivityHandler {
  constructor() {
    super();
    this.onMessage(async (context, next) => {
      await context.sendActivity(`echo: ${context.activity.text ?? ''}`);
      await next();
    });
  }

  protected async onAdaptiveCardInvoke(_context: TurnContext, invokeValue: AdaptiveCardInvokeValue): Promise<AdaptiveCardInvokeResponse> {
    const card = CardFactory.adaptiveCard({
      type: 'AdaptiveCard',
      version: '1.5',
      body: [{ type: 'TextBlock', text: `You clicked ${invokeValue.action.verb}`, wrap: true }],
    });
    return { statusCode: 200, type: card.contentType, value: card.content };
  }
}

const adapter = new CloudAdapter(new ConfigurationBotFrameworkAuthentication({}));
const bot = new EchoBot();

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/readyz' || req.url === '/healthz')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
    return;
  }
  if (req.url !== '/api/messages') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      res.writeHead(400).end();
      return;
    }
    const shim = {
      socket: res.socket,
      status: (code: number) => {
        res.statusCode = code;
      },
      header: (name: string, value: unknown) => {
        res.setHeader(name, String(value));
      },
      send: (payload: unknown) => {
        if (typeof payload === 'string' || Buffer.isBuffer(payload)) res.write(payload);
        else {
          res.setHeader('content-type', 'application/json');
          res.write(JSON.stringify(payload));
        }
      },
      end: () => {
        res.end();
      },
    };
    adapter.process({ body, headers: req.headers, method: req.method }, shim, (context) => bot.run(context)).catch((err: unknown) => {
      console.error(err);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
});

server.listen(Number(process.env.PORT ?? 3979), '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'echo bot listening', port: (server.address() as { port: number }).port }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
