/**
 * A fake Bot Framework connector (the service behind an activity's `serviceUrl`): records every
 * activity the bot sends and can hold its answers, so a test can keep a turn in flight.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SentActivity {
  conversationId: string;
  activity: Record<string, unknown>;
}

export interface FakeConnector {
  url: string;
  sent: SentActivity[];
  /** While held, replies are not answered; resolves when the first held request arrives. */
  hold(): Promise<void>;
  /** Answers every held request and stops holding. */
  release(): void;
  /** Resolves once `count` activities have been received. */
  waitForActivities(count: number): Promise<SentActivity[]>;
  close(): Promise<void>;
}

export async function startFakeConnector(): Promise<FakeConnector> {
  const sent: SentActivity[] = [];
  let holding = false;
  let held: (() => void)[] = [];
  let heldArrived: (() => void) | undefined;
  let waiters: { count: number; resolve: (v: SentActivity[]) => void }[] = [];
  let nextId = 1;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const match = /^\/v3\/conversations\/([^/]+)\/activities/.exec(req.url ?? '');
      if (req.method !== 'POST' || !match) {
        res.writeHead(404).end();
        return;
      }
      const answer = () => {
        sent.push({ conversationId: decodeURIComponent(match[1]), activity: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        waiters = waiters.filter((w) => (sent.length >= w.count ? (w.resolve([...sent]), false) : true));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `reply-${nextId++}` }));
      };
      if (holding) {
        held.push(answer);
        heldArrived?.();
      } else {
        answer();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    hold() {
      holding = true;
      return new Promise<void>((resolve) => (heldArrived = resolve));
    },
    release() {
      holding = false;
      const pending = held;
      held = [];
      for (const answer of pending) answer();
    },
    waitForActivities(count) {
      if (sent.length >= count) return Promise.resolve([...sent]);
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A Teams-like message activity addressed to the bot, replying through `serviceUrl`. */
export function messageActivity(serviceUrl: string, text: string, id = `act-${Math.random().toString(36).slice(2)}`): Record<string, unknown> {
  return {
    type: 'message',
    id,
    text,
    channelId: 'msteams',
    serviceUrl,
    timestamp: new Date().toISOString(),
    from: { id: 'user-1', name: 'Test User', aadObjectId: '00000000-0000-0000-0000-0000000000a1' },
    recipient: { id: 'bot-1', name: 'Hopsworks setup bot' },
    conversation: { id: 'conv-1', conversationType: 'personal', tenantId: '00000000-0000-0000-0000-0000000000t1' },
    channelData: { tenant: { id: '00000000-0000-0000-0000-0000000000t1' } },
    locale: 'en-US',
  };
}
