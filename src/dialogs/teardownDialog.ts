/**
 * `teardown <id>`: the delete plan of a setup request goes through the same approval as a setup.
 * Deleting the storage account (and the data in it) is an explicit choice on the card; changing it
 * recomputes the plan, so the approver approves exactly what will be deleted.
 */
import { ComponentDialog, WaterfallDialog, type DialogTurnResult, type WaterfallStepContext } from 'botbuilder-dialogs';
import type { StatePropertyAccessor } from 'botbuilder';
import { cardAttachment, noticeCard, planCard, type FieldErrors } from '../bot/cards';
import { assertCanTearDown } from '../core/policy';
import type { Logger, Planner, Workflow } from '../core/ports';
import type { Plan, SetupRequest } from '../core/types';
import { CardPromptDialog, showWizardCard, type CardSubmit, type WizardSession } from './cardPrompt';
import { errorCard, submitDraft } from './submit';
import { MAX_REASON } from './validation';

export const TEARDOWN_DIALOG = 'teardownWizard';
const MAIN = 'teardownWizard.main';
const CARD = 'teardownWizard.card';

export interface TeardownDialogDeps {
  workflow: Workflow;
  planner: Planner;
  ids: { nextId(): Promise<string> };
  sessions: StatePropertyAccessor<WizardSession | undefined>;
  logger: Logger;
}

export interface TeardownOptions {
  parentId: string;
  requestId?: string;
  confirmDeleteData?: boolean;
  reason?: string;
  plan?: Plan;
  errors?: FieldErrors;
  notice?: string;
}

export class TeardownDialog extends ComponentDialog {
  constructor(private readonly deps: TeardownDialogDeps) {
    super(TEARDOWN_DIALOG);
    this.addDialog(new CardPromptDialog(CARD, deps.sessions, deps.logger));
    this.addDialog(new WaterfallDialog(MAIN, [this.planStep.bind(this), this.readStep.bind(this), this.submitStep.bind(this)]));
    this.initialDialogId = MAIN;
  }

  private async parent(step: WaterfallStepContext<TeardownOptions>): Promise<SetupRequest | undefined> {
    const parent = await this.deps.workflow.get(step.options.parentId);
    return parent && parent.kind === 'setup' ? parent : undefined;
  }

  private async planStep(step: WaterfallStepContext<TeardownOptions>): Promise<DialogTurnResult> {
    const s = step.options;
    const session = (await this.deps.sessions.get(step.context))!;
    const found = await this.deps.workflow.get(s.parentId);
    let parent: SetupRequest;
    try {
      // The core's rule, asked before any preflight, so no delete plan is ever offered for a request that cannot be torn down.
      parent = assertCanTearDown(found, s.parentId);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await showWizardCard(step.context, this.deps.sessions, noticeCard('error', message, ['Type status to list recent requests.']));
      return this.end(step);
    }
    try {
      s.requestId ??= await this.deps.ids.nextId();
      s.plan ??= await this.deps.planner.preflight({
        requestId: s.requestId,
        kind: 'teardown',
        target: parent.target,
        options: parent.options,
        parent,
        confirmDeleteData: Boolean(s.confirmDeleteData),
      });
    } catch (err) {
      await step.context.sendActivity({ attachments: [cardAttachment(errorCard(err, this.deps.logger, { dialog: TEARDOWN_DIALOG }))] });
      await showWizardCard(step.context, this.deps.sessions, noticeCard('warning', 'Teardown stopped', ['Nothing was deleted or requested.']));
      return this.end(step);
    }
    const card = planCard({
      wizardId: session.wizardId,
      stage: 'teardownPlan',
      kind: 'teardown',
      requestId: s.requestId,
      target: parent.target,
      plan: s.plan,
      reason: s.reason ?? '',
      askReason: true,
      showDataToggle: s.plan.steps.some((x) => x.kind === 'storageAccount'),
      confirmDeleteData: Boolean(s.confirmDeleteData),
      errors: s.errors,
      notice: s.notice ?? `Deletes what ${parent.id} created in ${parent.target.resourceGroup}. Resources the bot did not create are kept.`,
    });
    return step.beginDialog(CARD, { card, stage: 'teardownPlan' });
  }

  private async readStep(step: WaterfallStepContext<TeardownOptions>): Promise<DialogTurnResult> {
    const s = step.options;
    const submit = step.result as CardSubmit;
    if (submit.action === 'cancel') {
      await showWizardCard(step.context, this.deps.sessions, noticeCard('info', 'Teardown cancelled', ['Nothing was deleted or requested.']));
      return this.end(step);
    }
    const reason = typeof submit.reason === 'string' ? submit.reason.trim().slice(0, MAX_REASON) : '';
    const wantsDataDeleted = String(submit.confirmDeleteData ?? 'false') === 'true';
    if (submit.action !== 'confirm' || submit.planHash !== s.plan?.hash) {
      return step.replaceDialog(MAIN, { ...s, reason, errors: undefined, notice: 'That card was out of date; here is the current plan.' } satisfies TeardownOptions);
    }
    if (wantsDataDeleted !== Boolean(s.confirmDeleteData)) {
      return step.replaceDialog(MAIN, {
        ...s,
        reason,
        plan: undefined,
        confirmDeleteData: wantsDataDeleted,
        errors: undefined,
        notice: wantsDataDeleted
          ? 'The plan now also deletes the storage account and its data. Check it and confirm again.'
          : 'The plan now keeps the storage account and its data. Check it and confirm again.',
      } satisfies TeardownOptions);
    }
    if (reason === '') {
      return step.replaceDialog(MAIN, { ...s, reason, errors: { reason: 'Say why these resources should be deleted.' }, notice: undefined } satisfies TeardownOptions);
    }
    s.reason = reason;
    return step.next();
  }

  /** Last step: submits the teardown request and returns it. */
  private async submitStep(step: WaterfallStepContext<TeardownOptions>): Promise<DialogTurnResult> {
    const s = step.options;
    const parent = await this.parent(step);
    const session = await this.deps.sessions.get(step.context);
    if (!parent || !s.plan || !s.requestId) return this.end(step);
    const request = await submitDraft(step.context, this.deps.workflow, this.deps.logger, {
      id: s.requestId,
      kind: 'teardown',
      parentId: parent.id,
      target: parent.target,
      options: parent.options,
      reason: s.reason ?? '',
      plan: s.plan,
      confirmDeleteData: Boolean(s.confirmDeleteData),
      wizardActivityId: session?.activityId,
    });
    if (request) {
      await showWizardCard(
        step.context,
        this.deps.sessions,
        planCard({ wizardId: '', stage: 'done', kind: 'teardown', requestId: request.id, target: request.target, plan: s.plan, reason: request.reason, submitted: true }),
      );
    } else {
      await showWizardCard(step.context, this.deps.sessions, noticeCard('warning', 'Not submitted', ['The message below says why. Type teardown with the request id to start again.']));
    }
    await this.deps.sessions.delete(step.context);
    return step.endDialog(request);
  }

  private async end(step: WaterfallStepContext): Promise<DialogTurnResult> {
    await this.deps.sessions.delete(step.context);
    return step.endDialog();
  }
}
