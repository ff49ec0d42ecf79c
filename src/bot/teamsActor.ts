/**
 * Who is acting and where: built on the server from the authenticated activity, never from card data.
 */
import { TeamsInfo, TurnContext, type ConversationReference } from 'botbuilder';
import type { Logger } from '../core/ports';
import type { Actor, ConversationRef, Platform } from '../core/types';

/** 'slack' for the Slack adapter's activities; everything else (msteams, the Agents Playground, tests) is Teams. */
export function platformOf(context: TurnContext): Platform {
  return context.activity.channelId === 'slack' ? 'slack' : 'teams';
}

/** True in a Teams channel or group chat (where the bot is @mentioned and approval cards may go). */
export function isSharedConversation(context: TurnContext): boolean {
  const c = context.activity.conversation;
  return c?.conversationType === 'channel' || c?.conversationType === 'groupChat' || c?.isGroup === true;
}

const UPN_TTL_MS = 10 * 60_000;
/** A failed roster lookup is retried soon: an approver listed by UPN must not wait ten minutes. */
const MISS_TTL_MS = 30_000;
const upnCache = new Map<string, { upn: string | undefined; at: number }>();

/** UPN from the Teams roster; undefined when Teams cannot tell (tolerated: approvers may be listed by object id). */
async function teamsUpn(context: TurnContext, logger?: Logger): Promise<string | undefined> {
  const from = context.activity.from;
  if (context.activity.channelId !== 'msteams' || !from?.id) return undefined;
  const hit = upnCache.get(from.id);
  if (hit && Date.now() - hit.at < (hit.upn ? UPN_TTL_MS : MISS_TTL_MS)) return hit.upn;
  let upn: string | undefined;
  try {
    const member = await TeamsInfo.getMember(context, from.id);
    upn = member.userPrincipalName || member.email || undefined;
  } catch (err) {
    logger?.debug({ err: (err as Error).message, userId: from.id }, 'could not read the Teams member; acting without UPN');
  }
  upnCache.set(from.id, { upn, at: Date.now() });
  if (upnCache.size > 5000) upnCache.delete(upnCache.keys().next().value as string);
  return upn;
}

/** The authenticated actor of this turn. */
export async function actorFromContext(context: TurnContext, logger?: Logger): Promise<Actor> {
  const from = context.activity.from ?? { id: 'unknown', name: '' };
  const platform = platformOf(context);
  const userId = (platform === 'teams' ? from.aadObjectId : undefined) || from.id;
  const actor: Actor = { platform, userId, displayName: (from.name || '').trim() || userId };
  if (platform === 'teams') {
    const upn = await teamsUpn(context, logger);
    if (upn) actor.upn = upn;
  }
  return actor;
}

/** The conversation of this turn, stored for proactive messages. */
export function conversationRefOf(context: TurnContext): ConversationRef {
  const reference = TurnContext.getConversationReference(context.activity) as Partial<ConversationReference>;
  // The activity id of the incoming message is not part of "where": drop it so replies start fresh.
  delete reference.activityId;
  return { platform: platformOf(context), reference: JSON.parse(JSON.stringify(reference)) as Record<string, unknown> };
}

/** True in a 1:1 chat with the bot. */
export function isPersonalConversation(context: TurnContext): boolean {
  const c = context.activity.conversation;
  return c?.conversationType === 'personal' || (!isSharedConversation(context) && c?.conversationType === undefined);
}
