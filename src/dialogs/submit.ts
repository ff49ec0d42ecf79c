/**
 * Shared by the setup and teardown wizards: hand the confirmed draft to the core and tell the requester
 * what happens next (or why nothing happened), in words that name the request and what to do.
 */
import type { TurnContext } from 'botbuilder';
import { cardAttachment, escapeMarkdown, noticeCard, type CardJson } from '../bot/cards';
import { actorFromContext, conversationRefOf, isPersonalConversation } from '../bot/teamsActor';
import { isBotError } from '../core/errors';
import type { Logger, SubmitInput, Workflow } from '../core/ports';
import type { SetupRequest } from '../core/types';

/** A user-safe card for an error: core errors carry user-safe messages, anything else is logged and summarised. */
export function errorCard(err: unknown, logger: Logger, context: Record<string, unknown> = {}): CardJson {
  if (isBotError(err)) {
    const title: Record<string, string> = {
      ACTIVE_REQUEST_EXISTS: 'That resource group already has an active request',
      MISSING_PERMISSIONS: 'The bot lacks permissions on the resource group',
      NO_APPROVERS_CONFIGURED: 'Nobody can approve requests yet',
      NOT_AN_APPROVER: 'Only approvers can do that',
      NOT_ALLOWED: 'Not allowed',
      NOT_FOUND: 'Not found',
      NOT_PENDING: 'Not waiting for approval',
      ILLEGAL_TRANSITION: 'Not possible in this state',
      VALIDATION: 'Please check the input',
      AZURE: 'Azure refused the request',
    };
    const lines = [escapeMarkdown(err.message)];
    const existing = err.details?.existingId;
    if (err.code === 'ACTIVE_REQUEST_EXISTS' && typeof existing === 'string') lines.push(`Type status ${escapeMarkdown(existing)} to follow it.`);
    if (err.code === 'NO_APPROVERS_CONFIGURED') lines.push('An administrator must list approvers (Teams object ids or UPNs, Slack user ids) in HOPSWORKS_APPROVERS and restart the bot.');
    return noticeCard('error', title[err.code] ?? 'That did not work', lines);
  }
  logger.error({ err, ...context }, 'unexpected error in a dialog');
  return noticeCard('error', 'Something went wrong', ['Nothing was changed. Try again in a minute; if it keeps failing, an administrator can find the details in the bot log.']);
}

export interface SubmitDraft extends Omit<SubmitInput, 'requester' | 'conversations'> {
  wizardActivityId?: string;
}

/**
 * Submits the draft as the authenticated user of this turn. Returns the stored request, or undefined
 * after telling the user why it was refused.
 */
export async function submitDraft(context: TurnContext, workflow: Workflow, logger: Logger, draft: SubmitDraft): Promise<SetupRequest | undefined> {
  const requester = await actorFromContext(context, logger);
  const here = conversationRefOf(context);
  const { wizardActivityId, ...input } = draft;
  try {
    const request = await workflow.submit({
      ...input,
      requester,
      conversations: {
        requester: here,
        ...(isPersonalConversation(context) ? { requesterPersonal: here } : {}),
        activityIds: wizardActivityId ? { requesterCard: wizardActivityId } : {},
      },
    });
    await tellWhatHappensNext(context, workflow, request);
    return request;
  } catch (err) {
    await context.sendActivity({ attachments: [cardAttachment(errorCard(err, logger, { requestId: draft.id }))] });
    return undefined;
  }
}

async function tellWhatHappensNext(context: TurnContext, workflow: Workflow, submitted: SetupRequest): Promise<void> {
  const request = (await workflow.get(submitted.id)) ?? submitted;
  const admin = await workflow.getAdminChannel(request.requester.platform);
  const id = escapeMarkdown(request.id);
  if (!admin) {
    await context.sendActivity({
      attachments: [
        cardAttachment(
          noticeCard('warning', `${id} waits for approval, but no admin channel is registered`, [
            'An approver must open the Teams channel (or group chat) where approval cards should go and type: @Hopsworks admin channel. The approval card for this request is posted there at once.',
            `Type status ${id} to follow the request.`,
          ]),
        ),
      ],
    });
    return;
  }
  const posted = Boolean(request.conversations.activityIds.approvalCard);
  await context.sendActivity({
    attachments: [
      cardAttachment(
        noticeCard(posted ? 'success' : 'warning', `${id} is waiting for approval`, [
          posted
            ? 'The approval card is in the admin channel. I will tell you here when an approver decides, and show the progress here.'
            : 'I could not post the approval card to the admin channel right now; it is posted again when an approver registers the admin channel. Ask an approver to check.',
          `Type status ${id} to follow the request, or cancel ${id} to withdraw it.`,
        ]),
      ),
    ],
  });
}
