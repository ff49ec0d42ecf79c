/**
 * A fake Teams Bot Connector (the REST service behind `serviceUrl`) for helper C's tests: the real
 * CloudAdapter and TeamsInfo talk HTTP to it. It keeps every message by id with updates applied,
 * answers roster lookups and creates 1:1 conversations.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Member {
  id: string;
  name: string;
  aadObjectId: string;
  userPrincipalName?: string;
}

export interface StoredMessage {
  id: string;
  conversationId: string;
  replyToId?: string;
  activity: Record<string, unknown>;
  updates: number;
}

export interface TeamsConnector {
  url: string;
  messages: Map<string, StoredMessage>;
  /** Every request, in order: `POST /v3/conversations/x/activities` etc. */
  calls: string[];
  created: Record<string, unknown>[];
  members: Member[];
  /** When set, creating a conversation is refused (the user blocked the bot's 1:1 chat). */
  failCreateConversation: boolean;
  /** Message ids in a conversation (exact id), in posting order. */
  inConversation(conversationId: string): StoredMessage[];
  close(): Promise<void>;
}

export async function startTeamsConnector(members: Member[]): Promise<TeamsConnector> {
  const messages = new Map<string, StoredMessage>();
  const calls: string[] = [];
  const created: Record<string, unknown>[] = [];
  let next = 1;

  const json = (res: http.ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const state = { failCreateConversation: false };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const path = url.pathname;
      calls.push(`${req.method} ${decodeURIComponent(path)}`);
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
      let m: RegExpExecArray | null;
      if (req.method === 'POST' && path === '/v3/conversations') {
        if (state.failCreateConversation) return json(res, 403, { error: { code: 'ConversationBlockedByUser', message: 'User blocked the conversation with the bot.' } });
        created.push(body);
        const user = (body.members as { id: string }[])[0];
        const id = `a:personal-${user.id}`;
        return json(res, 201, { id });
      }
      if ((m = /^\/v3\/conversations\/([^/]+)\/activities(?:\/([^/]+))?$/.exec(path))) {
        const conversationId = decodeURIComponent(m[1]);
        const activityId = m[2] ? decodeURIComponent(m[2]) : undefined;
        if (req.method === 'POST') {
          const id = `msg-${next++}`;
          messages.set(id, { id, conversationId, replyToId: activityId, activity: body, updates: 0 });
          return json(res, 200, { id });
        }
        if (req.method === 'PUT' && activityId) {
          const existing = messages.get(activityId);
          if (!existing || existing.conversationId.split(';')[0] !== conversationId.split(';')[0]) return json(res, 404, { error: { code: 'NotFound' } });
          existing.activity = body;
          existing.updates++;
          return json(res, 200, { id: activityId });
        }
      }
      if (req.method === 'GET' && (m = /^\/v3\/conversations\/([^/]+)\/members\/([^/]+)$/.exec(path))) {
        const userId = decodeURIComponent(m[2]);
        const member = members.find((x) => x.id === userId || x.aadObjectId === userId);
        if (!member) return json(res, 404, { error: { code: 'MemberNotFoundInConversation' } });
        return json(res, 200, member);
      }
      if (req.method === 'GET' && /^\/v3\/conversations\/([^/]+)\/pagedmembers$/.test(path)) {
        return json(res, 200, { members });
      }
      json(res, 404, { error: { code: 'NotFound', message: `${req.method} ${path}` } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    get failCreateConversation() {
      return state.failCreateConversation;
    },
    set failCreateConversation(v: boolean) {
      state.failCreateConversation = v;
    },
    url: `http://127.0.0.1:${port}/`,
    messages,
    calls,
    created,
    members,
    inConversation: (conversationId) => [...messages.values()].filter((x) => x.conversationId === conversationId),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The Adaptive Card content of a stored message. */
export function cardOfMessage(m: StoredMessage | undefined): Record<string, unknown> {
  const attachments = (m?.activity.attachments ?? []) as { content: Record<string, unknown> }[];
  return attachments[0]?.content ?? {};
}
