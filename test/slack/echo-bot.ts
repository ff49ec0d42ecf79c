/**
 * A small bot for the adapter tests: it speaks only activities and Adaptive Cards, like the real bot,
 * and records what it receives.
 */
import { ActivityHandler, CardFactory, type Activity, type AdaptiveCardInvokeResponse, type AdaptiveCardInvokeValue, type TurnContext } from 'botbuilder';

export function formCard(notice = ''): Record<string, unknown> {
  return {
    type: 'AdaptiveCard',
    version: '1.5',
    body: [
      { type: 'TextBlock', text: 'New storage account', weight: 'Bolder', size: 'Medium', wrap: true },
      ...(notice ? [{ type: 'TextBlock', text: notice, color: 'Attention', wrap: true }] : []),
      { type: 'Input.Text', id: 'name', label: 'Name', isRequired: true, regex: '^[a-z0-9]{3,24}$', errorMessage: 'Use 3-24 lowercase letters and digits.', value: 'hopsdata' },
      { type: 'Input.Number', id: 'days', label: 'Retention (days)', min: 0, max: 365, value: 7 },
      {
        type: 'Input.ChoiceSet',
        id: 'region',
        label: 'Region',
        style: 'compact',
        value: 'westeurope',
        choices: [
          { title: 'West Europe', value: 'westeurope' },
          { title: 'North Europe', value: 'northeurope' },
        ],
      },
      { type: 'Input.Toggle', id: 'backup', title: 'Enable backups', valueOn: 'yes', valueOff: 'no', value: 'no' },
    ],
    actions: [
      { type: 'Action.Submit', title: 'Next', style: 'positive', data: { wizardId: 'w1', stage: 'options', action: 'next' } },
      { type: 'Action.Submit', title: 'Cancel', associatedInputs: 'none', data: { wizardId: 'w1', stage: 'options', action: 'cancel' } },
    ],
  };
}

export function approvalCard(state: string, notice = '', showActions = true): Record<string, unknown> {
  return {
    type: 'AdaptiveCard',
    version: '1.5',
    body: [
      ...(notice ? [{ type: 'TextBlock', text: notice, weight: 'Bolder', wrap: true }] : []),
      { type: 'TextBlock', text: 'Approval needed: HW-1001', weight: 'Bolder', size: 'Medium', wrap: true },
      { type: 'TextBlock', text: state, wrap: true },
      { type: 'FactSet', facts: [{ title: 'Requester', value: 'alice' }, { title: 'Resource group', value: 'rg-hops' }] },
      ...(showActions ? [{ type: 'Input.Text', id: 'rejectReason', label: 'Reason (required to reject)', isMultiline: true, maxLength: 500 }] : []),
    ],
    actions: showActions
      ? [
          { type: 'Action.Execute', title: 'Approve', verb: 'approve', style: 'positive', associatedInputs: 'none', data: { requestId: 'HW-1001', planHash: 'abc123' } },
          { type: 'Action.Execute', title: 'Reject', verb: 'reject', style: 'destructive', data: { requestId: 'HW-1001', planHash: 'abc123' } },
          { type: 'Action.OpenUrl', title: 'Docs', url: 'https://docs.hopsworks.ai/' },
        ]
      : [],
  };
}

export class EchoBot extends ActivityHandler {
  readonly received: Partial<Activity>[] = [];
  /** While set, message turns wait for it (to prove the ack does not wait for the turn). */
  gate?: Promise<void>;
  approvers = new Set(['U0APPROVER']);

  constructor() {
    super();
    this.onMessage(async (ctx, next) => {
      this.received.push(ctx.activity);
      if (this.gate) await this.gate;
      const text = ctx.activity.text ?? '';
      const value = ctx.activity.value as Record<string, string> | undefined;
      if (value) {
        if (value.action === 'cancel') await ctx.sendActivity('Cancelled.');
        else if (value.name === 'taken') await ctx.sendActivity({ attachments: [CardFactory.adaptiveCard(formCard('That name is taken, pick another.'))] });
        else if (value.name === 'nextstep') await ctx.updateActivity({ type: 'message', id: ctx.activity.replyToId, attachments: [CardFactory.adaptiveCard(formCard('Step 2 of 2'))] });
        else if (value.name === 'reserved') await ctx.sendActivity({ text: 'Check the form.', channelData: { inputErrors: { name: 'That name is reserved.' } } });
        else await ctx.sendActivity(`Saved ${value.name} in ${value.region} for ${value.days} days, backups ${value.backup}`);
      } else if (text === 'form') {
        await ctx.sendActivity({ attachments: [CardFactory.adaptiveCard(formCard())] });
      } else if (text === 'approval') {
        await ctx.sendActivity({ attachments: [CardFactory.adaptiveCard(approvalCard('Waiting for 1 approval'))] });
      } else if (text.startsWith('echo ')) {
        await ctx.sendActivity(text.slice(5));
      } else if (text === 'private') {
        await ctx.sendActivity({ text: 'Only you can see this.', channelData: { ephemeralTo: ctx.activity.from.id } });
      } else if (text === 'big') {
        const body = Array.from({ length: 80 }, (_, i) => ({ type: 'TextBlock', text: `Line ${i} ${'x'.repeat(i === 3 ? 5000 : 40)}`, wrap: true, separator: i % 2 === 0 }));
        const card = {
          type: 'AdaptiveCard',
          version: '1.5',
          body: [{ type: 'TextBlock', text: 'H'.repeat(300), weight: 'Bolder', size: 'Large' }, ...body, { type: 'FactSet', facts: Array.from({ length: 40 }, (_, i) => ({ title: `k${i}`, value: 'v'.repeat(100) })) }],
          actions: [{ type: 'Action.Submit', title: 'A very long button label that goes on and on and on well past seventy-five characters', data: { blob: 'z'.repeat(2500) } }],
        };
        await ctx.sendActivity({ attachments: [CardFactory.adaptiveCard(card)] });
      } else {
        await ctx.sendActivity(`You said: ${text}`);
      }
      await next();
    });
  }

  protected async onAdaptiveCardInvoke(ctx: TurnContext, invoke: AdaptiveCardInvokeValue): Promise<AdaptiveCardInvokeResponse> {
    this.received.push(ctx.activity);
    const card = (value: Record<string, unknown>): AdaptiveCardInvokeResponse => ({ statusCode: 200, type: 'application/vnd.microsoft.card.adaptive', value });
    if (!this.approvers.has(ctx.activity.from.id)) return card(approvalCard('Waiting for 1 approval', 'Only approvers can decide. Ask an admin.'));
    if (invoke.action.verb === 'approve') {
      const approved = approvalCard(`Approved by ${ctx.activity.from.name}`, '', false);
      await ctx.updateActivity({ type: 'message', id: ctx.activity.replyToId, attachments: [CardFactory.adaptiveCard(approved)] });
      return card(approved);
    }
    if (invoke.action.verb === 'reject') {
      const data = invoke.action.data as Record<string, string>;
      const rejected = approvalCard(`Rejected by ${ctx.activity.from.name}: ${data.rejectReason}`, '', false);
      await ctx.updateActivity({ type: 'message', id: ctx.activity.replyToId, attachments: [CardFactory.adaptiveCard(rejected)] });
      return card(rejected);
    }
    return { statusCode: 400, type: 'application/vnd.microsoft.error', value: { code: 'BadRequest', message: `Unknown verb ${invoke.action.verb}` } } as AdaptiveCardInvokeResponse;
  }
}
