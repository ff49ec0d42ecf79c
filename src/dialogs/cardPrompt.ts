/**
 * Shows one wizard card (updating the wizard's single card in place) and waits for a submit from it.
 * A submit from any other card (an earlier wizard, an earlier step, another person) changes nothing.
 */
import { Dialog, type DialogContext, type DialogTurnResult } from 'botbuilder-dialogs';
import type { StatePropertyAccessor, TurnContext } from 'botbuilder';
import { cardAttachment, escapeMarkdown, noticeCard, type CardJson } from '../bot/cards';
import type { Logger } from '../core/ports';

/** The wizard card of a conversation: one per conversation, replaced when a new wizard starts. */
export interface WizardSession {
  wizardId: string;
  kind: 'setup' | 'teardown';
  /** Channel user id of the person who started it: only they may click its buttons. */
  ownerId: string;
  ownerName: string;
  /** Activity id of the wizard card, updated in place. */
  activityId?: string;
}

export interface CardPromptOptions {
  card: CardJson;
  stage: string;
}

/** What a wizard card submits: the inputs plus the action data. */
export interface CardSubmit extends Record<string, unknown> {
  wizardId: string;
  stage: string;
  action: string;
}

/** Sends the wizard card, or replaces it in place when it was sent before. */
export async function showWizardCard(
  context: TurnContext,
  sessions: StatePropertyAccessor<WizardSession | undefined>,
  card: CardJson,
  logger?: Logger,
): Promise<void> {
  const session = await sessions.get(context);
  const attachment = cardAttachment(card);
  if (session?.activityId) {
    try {
      await context.updateActivity({ id: session.activityId, type: 'message', attachments: [attachment] });
      return;
    } catch (err) {
      // The card may have been deleted by the user; a fresh one is better than none.
      logger?.warn({ err: (err as Error).message }, 'could not update the wizard card; sending a new one');
    }
  }
  const sent = await context.sendActivity({ type: 'message', attachments: [attachment] });
  if (session && sent?.id) {
    session.activityId = sent.id;
    await sessions.set(context, session);
  }
}

export class CardPromptDialog extends Dialog<CardPromptOptions> {
  constructor(
    id: string,
    private readonly sessions: StatePropertyAccessor<WizardSession | undefined>,
    private readonly logger?: Logger,
  ) {
    super(id);
  }

  async beginDialog(dc: DialogContext, options?: CardPromptOptions): Promise<DialogTurnResult> {
    if (!options) throw new Error('CardPromptDialog needs a card');
    await showWizardCard(dc.context, this.sessions, options.card, this.logger);
    dc.activeDialog!.state.stage = options.stage;
    return Dialog.EndOfTurn;
  }

  async continueDialog(dc: DialogContext): Promise<DialogTurnResult> {
    const activity = dc.context.activity;
    const stage = dc.activeDialog!.state.stage as string;
    const session = await this.sessions.get(dc.context);
    const value = activity.value as Partial<CardSubmit> | undefined;
    if (activity.type !== 'message') return Dialog.EndOfTurn;
    if (!value || typeof value !== 'object' || typeof value.wizardId !== 'string') {
      await dc.context.sendActivity({
        attachments: [cardAttachment(noticeCard('info', 'Finish the card above first', ['Fill in the card and press its button, or type cancel to stop.']))],
      });
      return Dialog.EndOfTurn;
    }
    if (!session || value.wizardId !== session.wizardId || value.stage !== stage) {
      await dc.context.sendActivity({
        attachments: [cardAttachment(noticeCard('warning', 'That card is out of date', ['Nothing was changed. Use the latest card, or type setup to start again.']))],
      });
      return Dialog.EndOfTurn;
    }
    if (activity.from?.id !== session.ownerId) {
      await dc.context.sendActivity({
        attachments: [cardAttachment(noticeCard('warning', `Only ${escapeMarkdown(session.ownerName)} can fill in this card`, ['Type setup to start your own request.']))],
      });
      return Dialog.EndOfTurn;
    }
    return dc.endDialog(value as CardSubmit);
  }
}
