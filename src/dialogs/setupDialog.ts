/**
 * The setup wizard: target → options → plan → submit. One card per conversation, updated in place.
 * Loops (validation errors, Edit, Back) replace a waterfall with the state it needs, so everything the
 * wizard knows is in its (persisted) dialog state and a restart mid-wizard loses nothing.
 */
import { ComponentDialog, WaterfallDialog, type DialogTurnResult, type WaterfallStepContext } from 'botbuilder-dialogs';
import type { StatePropertyAccessor } from 'botbuilder';
import {
  cardAttachment,
  noticeCard,
  planCard,
  wizardOptionsCard,
  wizardTargetCard,
  type FieldErrors,
  type OptionsFormValues,
} from '../bot/cards';
import { isBotError } from '../core/errors';
import type { Discovery, Logger, Planner, ResourceGroupInfo, SubscriptionInfo, Workflow } from '../core/ports';
import type { Plan, SetupRequest, Target } from '../core/types';
import { CardPromptDialog, showWizardCard, type CardSubmit, type WizardSession } from './cardPrompt';
import { errorCard, submitDraft } from './submit';
import { readOptionsForm, toSetupOptions } from './validation';

export const SETUP_DIALOG = 'setupWizard';
const MAIN = 'setupWizard.main';
const TARGET = 'setupWizard.target';
const OPTIONS = 'setupWizard.options';
const PLAN = 'setupWizard.plan';
const CARD = 'setupWizard.card';

const TITLE = 'Set up Azure for managed.hopsworks.ai';
const TARGET_FIELDS = new Set(['subscriptionId', 'resourceGroup', 'location']);

export interface SetupDialogDeps {
  workflow: Workflow;
  discovery: Discovery;
  planner: Planner;
  ids: { nextId(): Promise<string> };
  sessions: StatePropertyAccessor<WizardSession | undefined>;
  logger: Logger;
}

/** Everything the wizard knows; persisted as the main waterfall's options. */
interface WizardState {
  target?: Target;
  subscriptionName?: string;
  targetErrors?: FieldErrors;
  requestId?: string;
  values?: OptionsFormValues;
  errors?: FieldErrors;
  notice?: string;
}

interface TargetState {
  subscriptions?: SubscriptionInfo[];
  subscriptionId?: string;
  resourceGroups?: ResourceGroupInfo[];
  errors?: FieldErrors;
  notice?: string;
}

interface OptionsState {
  target: Target;
  subscriptionName?: string;
  requestId: string;
  values: OptionsFormValues;
  errors?: FieldErrors;
  notice?: string;
}

interface PlanState {
  target: Target;
  requestId: string;
  values: OptionsFormValues;
  plan?: Plan;
}

type TargetResult = { target: Target; subscriptionName: string } | { cancelled: true };
type OptionsResult = { values: OptionsFormValues } | { back: true } | { cancelled: true };
type PlanResult = { confirmed: Plan } | { edit: true } | { errors: FieldErrors; notice?: string } | { cancelled: true };

export class SetupDialog extends ComponentDialog {
  constructor(private readonly deps: SetupDialogDeps) {
    super(SETUP_DIALOG);
    this.addDialog(new CardPromptDialog(CARD, deps.sessions, deps.logger));
    this.addDialog(new WaterfallDialog(MAIN, [this.targetStep.bind(this), this.optionsStep.bind(this), this.planStep.bind(this), this.submitStep.bind(this)]));
    this.addDialog(new WaterfallDialog(TARGET, [this.showTargetStep.bind(this), this.readTargetStep.bind(this)]));
    this.addDialog(new WaterfallDialog(OPTIONS, [this.showOptionsStep.bind(this), this.readOptionsStep.bind(this)]));
    this.addDialog(new WaterfallDialog(PLAN, [this.showPlanStep.bind(this), this.readPlanStep.bind(this)]));
    this.initialDialogId = MAIN;
  }

  // --- main waterfall ------------------------------------------------------------------------

  private async targetStep(step: WaterfallStepContext<WizardState>): Promise<DialogTurnResult> {
    const s = step.options;
    if (s.target) return step.next({ target: s.target, subscriptionName: s.subscriptionName ?? '' } satisfies TargetResult);
    return step.beginDialog(TARGET, { errors: s.targetErrors, notice: s.notice } satisfies TargetState);
  }

  private async optionsStep(step: WaterfallStepContext<WizardState>): Promise<DialogTurnResult> {
    const r = step.result as TargetResult | undefined;
    if (!r || 'cancelled' in r) return step.endDialog();
    const s = step.options;
    const retargeted = s.target !== undefined && (s.target.subscriptionId !== r.target.subscriptionId || s.target.resourceGroup !== r.target.resourceGroup);
    s.target = r.target;
    s.subscriptionName = r.subscriptionName;
    s.targetErrors = undefined;
    s.requestId ??= await this.deps.ids.nextId();
    if (!s.values || retargeted) {
      try {
        const suggested = await this.deps.discovery.suggestOptions(s.target, s.requestId);
        // A new target gets fresh name suggestions; the reason typed so far is kept.
        s.values = { ...suggested, reason: s.values?.reason ?? '' };
      } catch (err) {
        return this.fail(step, err);
      }
    }
    return step.beginDialog(OPTIONS, {
      target: s.target,
      subscriptionName: s.subscriptionName,
      requestId: s.requestId,
      values: s.values,
      errors: s.errors,
      notice: s.notice,
    } satisfies OptionsState);
  }

  private async planStep(step: WaterfallStepContext<WizardState>): Promise<DialogTurnResult> {
    const r = step.result as OptionsResult | undefined;
    if (!r || 'cancelled' in r) return step.endDialog();
    const s = step.options;
    if ('back' in r) return step.replaceDialog(MAIN, { ...s, target: undefined, errors: undefined, notice: undefined } satisfies WizardState);
    s.values = r.values;
    s.errors = undefined;
    s.notice = undefined;
    return step.beginDialog(PLAN, { target: s.target!, requestId: s.requestId!, values: s.values } satisfies PlanState);
  }

  /** Last step: submits the confirmed plan and returns the stored request. */
  private async submitStep(step: WaterfallStepContext<WizardState>): Promise<DialogTurnResult> {
    const r = step.result as PlanResult | undefined;
    if (!r || 'cancelled' in r) return step.endDialog();
    const s = step.options;
    if ('edit' in r) return step.replaceDialog(MAIN, { ...s, errors: undefined, notice: undefined } satisfies WizardState);
    if ('errors' in r) {
      const targetField = Object.keys(r.errors).find((f) => TARGET_FIELDS.has(f));
      if (targetField) return step.replaceDialog(MAIN, { ...s, target: undefined, targetErrors: r.errors, notice: r.notice } satisfies WizardState);
      return step.replaceDialog(MAIN, { ...s, errors: r.errors, notice: r.notice ?? 'Fix the fields marked below.' } satisfies WizardState);
    }
    const session = await this.deps.sessions.get(step.context);
    const request = await submitDraft(step.context, this.deps.workflow, this.deps.logger, {
      id: s.requestId!,
      kind: 'setup',
      target: s.target!,
      options: toSetupOptions(s.values!),
      reason: s.values!.reason,
      plan: r.confirmed,
      wizardActivityId: session?.activityId,
    });
    if (request) {
      await showWizardCard(
        step.context,
        this.deps.sessions,
        planCard({ wizardId: '', stage: 'done', kind: 'setup', requestId: request.id, target: request.target, plan: r.confirmed, reason: request.reason, submitted: true }),
        this.deps.logger,
      );
    } else {
      await showWizardCard(step.context, this.deps.sessions, noticeCard('warning', 'Not submitted', ['The message below says why. Type setup to start again.']), this.deps.logger);
    }
    await this.deps.sessions.delete(step.context);
    return step.endDialog(request as SetupRequest | undefined);
  }

  // --- step 1: target --------------------------------------------------------------------------

  private async showTargetStep(step: WaterfallStepContext<TargetState>): Promise<DialogTurnResult> {
    const s = step.options;
    const session = (await this.deps.sessions.get(step.context))!;
    try {
      s.subscriptions ??= await this.deps.discovery.listSubscriptions();
      if (s.subscriptions.length === 0) {
        await showWizardCard(
          step.context,
          this.deps.sessions,
          noticeCard('error', 'The bot cannot see any Azure subscription', [
            'Its managed identity needs at least Reader on the subscription (and the permissions in manifest/azure on the resource group). Ask an Azure administrator, then type setup again.',
          ]),
        );
        await this.deps.sessions.delete(step.context);
        return step.endDialog({ cancelled: true } satisfies TargetResult);
      }
      if (s.subscriptions.length === 1) s.subscriptionId = s.subscriptions[0].subscriptionId;
      if (!s.subscriptionId) {
        const card = wizardTargetCard({ wizardId: session.wizardId, stage: 'subscription', title: TITLE, subscriptions: s.subscriptions, showSubscriptions: true, errors: s.errors, notice: s.notice });
        return step.beginDialog(CARD, { card, stage: 'subscription' });
      }
      s.resourceGroups ??= await this.deps.discovery.listResourceGroups(s.subscriptionId);
    } catch (err) {
      return this.fail(step, err);
    }
    if (s.resourceGroups.length === 0) {
      await showWizardCard(
        step.context,
        this.deps.sessions,
        noticeCard('error', 'No resource group found', [
          'The bot can only prepare an existing resource group it can read. Create one (or grant the bot identity access to it), then type setup again.',
        ]),
      );
      await this.deps.sessions.delete(step.context);
      return step.endDialog({ cancelled: true } satisfies TargetResult);
    }
    const card = wizardTargetCard({
      wizardId: session.wizardId,
      stage: 'resourceGroup',
      title: TITLE,
      subscriptions: s.subscriptions,
      showSubscriptions: false,
      subscriptionId: s.subscriptionId,
      resourceGroups: s.resourceGroups,
      errors: s.errors,
      notice: s.subscriptions.length > 1 ? `Subscription: ${subscriptionTitle(s.subscriptions, s.subscriptionId)}${s.notice ? `. ${s.notice}` : ''}` : s.notice,
    });
    return step.beginDialog(CARD, { card, stage: 'resourceGroup' });
  }

  private async readTargetStep(step: WaterfallStepContext<TargetState>): Promise<DialogTurnResult> {
    const s = step.options;
    const submit = step.result as CardSubmit;
    if (submit.action === 'cancel') return this.cancel(step);
    const subs = s.subscriptions ?? [];
    if (!s.subscriptionId) {
      const chosen = subs.find((x) => x.subscriptionId === String(submit.subscriptionId ?? ''));
      if (!chosen) return step.replaceDialog(TARGET, { ...s, errors: { subscriptionId: 'Choose one of the listed subscriptions.' } } satisfies TargetState);
      return step.replaceDialog(TARGET, { subscriptions: subs, subscriptionId: chosen.subscriptionId } satisfies TargetState);
    }
    const rg = (s.resourceGroups ?? []).find((g) => g.name === String(submit.resourceGroup ?? ''));
    if (!rg) return step.replaceDialog(TARGET, { ...s, errors: { resourceGroup: 'Choose one of the listed resource groups.' }, notice: undefined } satisfies TargetState);
    const sub = subs.find((x) => x.subscriptionId === s.subscriptionId)!;
    const target: Target = { subscriptionId: sub.subscriptionId, resourceGroup: rg.name, location: rg.location, tenantId: sub.tenantId };
    return step.endDialog({ target, subscriptionName: sub.displayName } satisfies TargetResult);
  }

  // --- step 2: options -------------------------------------------------------------------------

  private async showOptionsStep(step: WaterfallStepContext<OptionsState>): Promise<DialogTurnResult> {
    const s = step.options;
    const session = (await this.deps.sessions.get(step.context))!;
    const card = wizardOptionsCard({
      wizardId: session.wizardId,
      stage: 'options',
      title: TITLE,
      requestId: s.requestId,
      target: s.target,
      subscriptionName: s.subscriptionName,
      values: s.values,
      errors: s.errors,
      notice: s.notice,
    });
    return step.beginDialog(CARD, { card, stage: 'options' });
  }

  private async readOptionsStep(step: WaterfallStepContext<OptionsState>): Promise<DialogTurnResult> {
    const s = step.options;
    const submit = step.result as CardSubmit;
    if (submit.action === 'cancel') return this.cancel(step);
    if (submit.action === 'back') return step.endDialog({ back: true } satisfies OptionsResult);
    const { values, errors } = readOptionsForm(submit, s.values);
    if (Object.keys(errors).length > 0) {
      return step.replaceDialog(OPTIONS, { ...s, values, errors, notice: 'Fix the fields marked below.' } satisfies OptionsState);
    }
    return step.endDialog({ values } satisfies OptionsResult);
  }

  // --- step 3: preflight and plan --------------------------------------------------------------

  private async showPlanStep(step: WaterfallStepContext<PlanState>): Promise<DialogTurnResult> {
    const s = step.options;
    const session = (await this.deps.sessions.get(step.context))!;
    try {
      s.plan = await this.deps.planner.preflight({ requestId: s.requestId, kind: 'setup', target: s.target, options: toSetupOptions(s.values) });
    } catch (err) {
      if (isBotError(err, 'VALIDATION')) {
        const field = typeof err.details?.field === 'string' ? err.details.field : undefined;
        if (field) return step.endDialog({ errors: { [field]: err.message } } satisfies PlanResult);
        return step.endDialog({ errors: {}, notice: err.message } satisfies PlanResult);
      }
      if (isBotError(err)) return step.endDialog({ errors: {}, notice: `The preflight check failed: ${err.message}` } satisfies PlanResult);
      return this.fail(step, err);
    }
    const card = planCard({ wizardId: session.wizardId, stage: 'plan', kind: 'setup', requestId: s.requestId, target: s.target, plan: s.plan, reason: s.values.reason });
    return step.beginDialog(CARD, { card, stage: 'plan' });
  }

  private async readPlanStep(step: WaterfallStepContext<PlanState>): Promise<DialogTurnResult> {
    const s = step.options;
    const submit = step.result as CardSubmit;
    if (submit.action === 'cancel') return this.cancel(step);
    if (submit.action === 'edit') return step.endDialog({ edit: true } satisfies PlanResult);
    if (submit.action === 'confirm' && s.plan && submit.planHash === s.plan.hash) return step.endDialog({ confirmed: s.plan } satisfies PlanResult);
    // A confirm for a plan this wizard no longer shows: show the current plan again.
    return step.replaceDialog(PLAN, s);
  }

  // --- shared ----------------------------------------------------------------------------------

  private async cancel(step: WaterfallStepContext): Promise<DialogTurnResult> {
    await showWizardCard(step.context, this.deps.sessions, noticeCard('info', 'Setup cancelled', ['Nothing was created or requested. Type setup to start again.']));
    await this.deps.sessions.delete(step.context);
    return step.endDialog({ cancelled: true });
  }

  private async fail(step: WaterfallStepContext, err: unknown): Promise<DialogTurnResult> {
    await step.context.sendActivity({ attachments: [cardAttachment(errorCard(err, this.deps.logger, { dialog: SETUP_DIALOG }))] });
    await showWizardCard(step.context, this.deps.sessions, noticeCard('warning', 'Setup stopped', ['Nothing was created or requested. Type setup to try again.']));
    await this.deps.sessions.delete(step.context);
    return step.endDialog({ cancelled: true });
  }
}

function subscriptionTitle(subs: SubscriptionInfo[], id: string): string {
  const s = subs.find((x) => x.subscriptionId === id);
  return s ? `${s.displayName} (${s.subscriptionId})` : id;
}
