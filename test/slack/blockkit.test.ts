/* eslint-disable @typescript-eslint/no-explicit-any -- Block Kit output is arbitrary JSON, read field by field */
/**
 * Adaptive Card → Block Kit with the bot's real cards (helper C's view builders and templates):
 * every card stays within Slack's limits, keeps its text and buttons, and user-typed text stays inert.
 */
import {
  approvalCard,
  escapeMarkdown,
  helpCard,
  noticeCard,
  planCard,
  privateKeyCard,
  progressCard,
  statusDetailCard,
  statusListCard,
  summaryCard,
  welcomeCard,
  wizardOptionsCard,
  wizardTargetCard,
} from '../../src/bot/cards';
import {
  cardActions,
  fitBlocks,
  LIMITS,
  renderCard,
  renderModal,
  toMrkdwn,
  validateInputs,
  viewStateToValues,
  type AdaptiveCard,
  type Block,
} from '../../src/bot/slack/blockkit';
import type { SetupRequest } from '../../src/core/types';
import { blockKitViolations, mrkdwnTexts, viewSubmissionBody } from '../helpers/slack-fake';
import { OPTIONS, TARGET, sampleRequest, samplePlan } from '../helpers/teams-fixtures';

const now = new Date('2026-11-26T05:00:00.000Z');

function succeeded(): SetupRequest {
  const r = sampleRequest({ state: 'succeeded' });
  for (const id of Object.keys(r.steps)) r.steps[id] = { status: 'done', attempts: 1, startedAt: '2026-11-26T04:10:00.000Z', finishedAt: '2026-11-26T04:10:21.000Z' };
  r.outputs = {
    resourceGroup: TARGET.resourceGroup,
    location: TARGET.location,
    storageAccountName: OPTIONS.storageAccountName,
    containerName: OPTIONS.containerName,
    registryName: OPTIONS.registryName,
    sshKeyName: OPTIONS.sshKeyName,
    managedIdentityName: OPTIONS.identityName,
    managedIdentityResourceId: `/subscriptions/${TARGET.subscriptionId}/resourceGroups/${TARGET.resourceGroup}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/hopsworks-instance`,
    backupRetentionDays: 0,
    subscriptionId: TARGET.subscriptionId,
    tenantId: TARGET.tenantId!,
  };
  return r;
}

// An RSA key is ~2.5 kB of base64 lines; a long one must arrive whole.
const PRIVATE_KEY = ['-----BEGIN RSA PRIVATE KEY-----', ...Array.from({ length: 60 }, (_, i) => `MIIEow${String(i).padStart(2, '0')}${'A+/b'.repeat(15)}`), '-----END RSA PRIVATE KEY-----'].join('\n');

const cards: [string, () => unknown][] = [
  ['help', () => helpCard()],
  ['welcome', () => welcomeCard(true)],
  ['notice', () => noticeCard('error', 'Something went wrong', ['Try again.'], [{ title: 'Request', value: 'HW-1042' }])],
  [
    'wizard target',
    () =>
      wizardTargetCard({
        wizardId: 'w1',
        stage: 'subscription',
        title: 'Set up managed.hopsworks.ai',
        showSubscriptions: true,
        subscriptions: Array.from({ length: 120 }, (_, i) => ({ subscriptionId: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`, displayName: `Subscription number ${i} with a rather long display name`, tenantId: 't' })),
      }),
  ],
  [
    'wizard options with errors',
    () =>
      wizardOptionsCard({
        wizardId: 'w1',
        stage: 'options',
        title: 'Set up managed.hopsworks.ai',
        requestId: 'HW-1042',
        target: TARGET,
        values: { ...OPTIONS, reason: '' },
        errors: { storageAccountName: 'Storage account names are 3-24 lowercase letters and digits.' },
        notice: 'Fix the fields marked below.',
      }),
  ],
  ['plan', () => planCard({ wizardId: 'w1', stage: 'plan', kind: 'setup', requestId: 'HW-1042', target: TARGET, plan: samplePlan(), reason: 'fraud team' })],
  ['approval', () => approvalCard({ request: sampleRequest(), requiredApprovals: 2, actionable: true, now })],
  ['approval read-only', () => approvalCard({ request: sampleRequest(), requiredApprovals: 1, actionable: false, notice: 'You are not an approver.', now })],
  ['progress', () => progressCard({ request: sampleRequest({ state: 'provisioning' }), now })],
  ['summary', () => summaryCard(succeeded())],
  ['private key', () => privateKeyCard('HW-1042', 'hopsworksKey', PRIVATE_KEY)],
  ['status list', () => statusListCard(Array.from({ length: 30 }, () => sampleRequest()), now)],
  ['status detail', () => statusDetailCard(succeeded(), [], now, 1)],
];

function asCall(blocks: Block[]) {
  return { method: 'chat.postMessage', args: { text: 'x', blocks } };
}

function allText(blocks: Block[]): string {
  return JSON.stringify(blocks);
}

describe('the bot\'s cards in Slack', () => {
  test.each(cards)('%s fits Block Kit limits, and so does each of its modals', (_name, build) => {
    const card = build() as AdaptiveCard;
    let n = 0;
    const blocks = fitBlocks(renderCard(card, { surface: 'message', encodeAction: () => `{"k":"form","f":"abc","i":${n++}}` }), LIMITS.blocksPerMessage);
    const calls: Array<{ method: string; args: Record<string, any> }> = [asCall(blocks)];
    cardActions(card).forEach((_a, i) => calls.push({ method: 'views.open', args: { view: renderModal(card, i, '{"f":"abc","i":0,"c":"C1"}') } }));
    expect(blockKitViolations(calls)).toEqual([]);
    for (const t of mrkdwnTexts(calls)) expect(t.verbatim).toBe(true);
  });

  test('the approval card keeps its facts and buttons; Reject collects the reason in a modal', () => {
    const card = approvalCard({ request: sampleRequest(), requiredApprovals: 1, actionable: true, now }) as AdaptiveCard;
    const encoded: string[] = [];
    const blocks = renderCard(card, { surface: 'message', encodeAction: (a) => (encoded.push(String(a.title)), String(a.title)) });
    expect(encoded).toEqual(['Approve', 'Reject']);
    const text = allText(blocks);
    expect(text).toContain(sampleRequest().target.resourceGroup);
    expect(text).toContain(sampleRequest().requester.displayName);
    const reject = cardActions(card).findIndex((a) => a.verb === 'reject');
    const modal = renderModal(card, reject, '{}') as { blocks: Block[]; submit: { text: string } };
    expect(modal.submit.text).toBe('Reject');
    expect(modal.blocks.filter((b) => b.type === 'input').map((b) => b.block_id)).toEqual(['rejectReason']);
  });

  test('the private key arrives whole and exact, in code blocks', () => {
    const blocks = renderCard(privateKeyCard('HW-1042', 'hopsworksKey', PRIVATE_KEY) as AdaptiveCard, { surface: 'message' });
    const code = blocks
      .map((b) => ((b.text as Block | undefined)?.text as string) ?? '')
      .filter((t) => t.startsWith('```'))
      .map((t) => t.slice(3, -3))
      .join('\n');
    expect(code).toBe(PRIVATE_KEY);
    expect(blockKitViolations([asCall(blocks)])).toEqual([]);
  });

  test('a subscription picker with more choices than Slack allows keeps the first 100', () => {
    const card = wizardTargetCard({
      wizardId: 'w1',
      stage: 'subscription',
      title: 'Set up',
      showSubscriptions: true,
      subscriptions: Array.from({ length: 120 }, (_, i) => ({ subscriptionId: `sub-${i}`, displayName: `S${i}`, tenantId: 't' })),
    }) as AdaptiveCard;
    const modal = renderModal(card, 0, '{}') as { blocks: Block[] };
    const select = modal.blocks.find((b) => b.type === 'input')!.element as { type: string; options: unknown[] };
    expect(select.type).toBe('static_select');
    expect(select.options).toHaveLength(100);
  });
});

describe('text translation', () => {
  test('user text escaped by the card builder stays inert in Slack', () => {
    const typed = '[click](https://evil.example) <!channel> <@U0BOSS> **bold** & done';
    const md = toMrkdwn(escapeMarkdown(typed));
    expect(md).toBe('[click](https://evil.example) &lt;!channel&gt; &lt;@U0BOSS&gt; **bold** &amp; done');
  });

  test('template markdown becomes Slack mrkdwn: bold and links written by the template', () => {
    expect(toMrkdwn('**Next:** open [managed.hopsworks.ai](https://managed.hopsworks.ai/)')).toBe('*Next:* open <https://managed.hopsworks.ai/|managed.hopsworks.ai>');
    expect(toMrkdwn('[x](javascript:alert(1))')).toBe('[x](javascript:alert(1))');
  });
});

describe('form values', () => {
  const card = wizardOptionsCard({ wizardId: 'w1', stage: 'options', title: 'Set up', requestId: 'HW-1042', target: TARGET, values: { ...OPTIONS, reason: '' } }) as AdaptiveCard;

  test('every input of the options step is in the modal, keyed by its input id', () => {
    const next = cardActions(card).findIndex((a) => a.title === 'Next' || a.style === 'positive');
    const modal = renderModal(card, next, '{}') as { blocks: Block[] };
    const ids = modal.blocks.filter((b) => b.type === 'input').map((b) => b.block_id);
    expect(ids).toEqual(expect.arrayContaining(['storageAccountName', 'containerName', 'registryName', 'acrRetentionDays', 'backupRetentionDays', 'sshKeyMode', 'reason']));
  });

  test('untouched fields submit their initial values as strings, like Teams', () => {
    const next = cardActions(card).findIndex((a) => a.style === 'positive');
    const view = renderModal(card, next, '{}');
    // What Slack sends when the person submits without editing: each element's initial value.
    const payload = JSON.parse(new URLSearchParams(viewSubmissionBody({ user: { id: 'U1', name: 'u' }, view, values: {} })).get('payload')!);
    const values = viewStateToValues(card, payload.view.state.values);
    expect(values.acrRetentionDays).toBe(String(OPTIONS.acrRetentionDays));
    expect(values.storageAccountName).toBe(OPTIONS.storageAccountName);
    expect(values.sshKeyMode).toBe(OPTIONS.sshKeyMode);
    expect(validateInputs(card, values).reason).toBeDefined();
  });
});
