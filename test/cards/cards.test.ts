import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  approvalCard,
  escapeMarkdown,
  helpCard,
  noticeCard,
  planCard,
  privateKeyCard,
  progressCard,
  renderCacheContains,
  statusDetailCard,
  statusListCard,
  summaryCard,
  TEMPLATES,
  welcomeCard,
  wizardOptionsCard,
  wizardTargetCard,
} from '../../src/bot/cards';
import type { SetupRequest } from '../../src/core/types';
import { cardActions, cardInputs, cardProblems, cardTexts } from '../helpers/teams-cards';
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

function failed(): SetupRequest {
  const r = sampleRequest({ state: 'failed' });
  r.steps.storageAccount = { status: 'done', attempts: 1, startedAt: '2026-11-26T04:10:00.000Z', finishedAt: '2026-11-26T04:10:25.000Z' };
  r.steps.roleAssignment = {
    status: 'failed',
    attempts: 3,
    startedAt: '2026-11-26T04:10:30.000Z',
    finishedAt: '2026-11-26T04:11:30.000Z',
    error: { code: 'PrincipalNotFound', message: 'Principal 1234 does not exist in the directory <tenant>.', remediation: 'Wait a few minutes for the identity to replicate, then Retry.' },
  };
  return r;
}

/** Every card the bot can send, expanded with realistic data, several variants each. */
const cases: [string, () => unknown][] = [
  ['help', () => helpCard()],
  ['help with notice', () => helpCard('I did not understand "frobnicate".')],
  ['welcome (personal)', () => welcomeCard(false)],
  ['welcome (channel)', () => welcomeCard(true)],
  ['notice', () => noticeCard('error', 'Something went wrong', ['Try again.'], [{ title: 'Request', value: 'HW-1042' }])],
  ['notice without facts', () => noticeCard('info', 'Cancelled')],
  [
    'wizard target (several subscriptions)',
    () =>
      wizardTargetCard({
        wizardId: 'w1',
        stage: 'subscription',
        title: 'Set up managed.hopsworks.ai',
        showSubscriptions: true,
        subscriptions: [
          { subscriptionId: TARGET.subscriptionId, displayName: 'Production', tenantId: TARGET.tenantId! },
          { subscriptionId: '00000000-0000-0000-0000-000000000002', displayName: 'Dev', tenantId: TARGET.tenantId! },
        ],
      }),
  ],
  [
    'wizard target (resource groups, with error)',
    () =>
      wizardTargetCard({
        wizardId: 'w1',
        stage: 'resourceGroup',
        title: 'Set up managed.hopsworks.ai',
        showSubscriptions: false,
        subscriptions: [],
        subscriptionId: TARGET.subscriptionId,
        resourceGroups: [
          { name: 'rg-hopsworks-prod', location: 'westeurope' },
          { name: 'rg_data(dev)', location: 'northeurope' },
        ],
        resourceGroup: 'rg-hopsworks-prod',
        errors: { resourceGroup: 'Choose one of the listed resource groups.' },
      }),
  ],
  [
    'wizard options (errors everywhere)',
    () =>
      wizardOptionsCard({
        wizardId: 'w1',
        stage: 'options',
        title: 'Set up managed.hopsworks.ai',
        requestId: 'HW-1042',
        target: TARGET,
        subscriptionName: 'Production',
        values: { ...OPTIONS, sshKeyMode: 'provided', sshPublicKey: 'ssh-ed25519 AAAAC3Nza rita@laptop', hopsworksSpObjectId: 'x', reason: 'fraud team' },
        errors: { storageAccountName: 'Storage account names are 3-24 lowercase letters and digits.', backupRetentionDays: 'Backup retention is 0 or at least 7 days.', reason: 'A reason is required.' },
        notice: 'Fix the fields marked below.',
      }),
  ],
  ['wizard options (defaults)', () => wizardOptionsCard({ wizardId: 'w1', stage: 'options', title: 'Set up', requestId: 'HW-1042', target: TARGET, values: { ...OPTIONS, reason: '' } })],
  ['plan', () => planCard({ wizardId: 'w1', stage: 'plan', kind: 'setup', requestId: 'HW-1042', target: TARGET, plan: samplePlan(), reason: 'fraud team' })],
  ['plan submitted', () => planCard({ wizardId: 'w1', stage: 'plan', kind: 'setup', requestId: 'HW-1042', target: TARGET, plan: samplePlan(), reason: 'fraud team', submitted: true })],
  [
    'plan with missing permissions',
    () => planCard({ wizardId: 'w1', stage: 'plan', kind: 'setup', requestId: 'HW-1042', target: TARGET, plan: samplePlan({ missingPermissions: ['Microsoft.Authorization/roleAssignments/write'], warnings: [] }), reason: 'r' }),
  ],
  [
    'teardown plan with data confirmation',
    () => planCard({ wizardId: 'w1', stage: 'plan', kind: 'teardown', requestId: 'HW-1050', target: TARGET, plan: samplePlan(), reason: '', showDataToggle: true, askReason: true, errors: { confirmDeleteData: 'Tick the box to delete data.', reason: 'A reason is required.' } }),
  ],
  ['approval (actionable)', () => approvalCard({ request: sampleRequest(), requiredApprovals: 2, actionable: true, refreshUserIds: ['29:1abc'], now })],
  ['approval (read-only with notice)', () => approvalCard({ request: sampleRequest(), requiredApprovals: 1, actionable: false, notice: 'You are not an approver.', now })],
  [
    'approval (rejected)',
    () =>
      approvalCard({
        request: sampleRequest({
          state: 'rejected',
          approvals: [{ actor: { platform: 'teams', userId: 'a1', displayName: 'Alice _Admin_' }, decision: 'reject', planHash: samplePlan().hash, reason: 'Use rg-x', at: '2026-11-26T04:30:00.000Z' }],
        }),
        requiredApprovals: 1,
        actionable: true,
        now,
      }),
  ],
  ['progress (running)', () => progressCard({ request: { ...sampleRequest({ state: 'provisioning' }), steps: { ...sampleRequest().steps, storageAccount: { status: 'running', attempts: 1, startedAt: '2026-11-26T04:59:00.000Z' } } }, now })],
  ['progress (failed)', () => progressCard({ request: failed(), now })],
  ['progress (succeeded)', () => progressCard({ request: succeeded(), now })],
  ['summary', () => summaryCard(succeeded())],
  ['summary with SP role', () => summaryCard({ ...succeeded(), options: { ...OPTIONS, hopsworksSpObjectId: '11111111-2222-3333-4444-555555555555' } })],
  ['private key', () => privateKeyCard('HW-1042', 'hopsworksKey', '-----BEGIN RSA PRIVATE KEY-----\nMIIEow+/==\n-----END RSA PRIVATE KEY-----\n')],
  ['status list', () => statusListCard([sampleRequest(), failed(), succeeded()], now)],
  ['status list (empty)', () => statusListCard([], now)],
  [
    'status detail',
    () =>
      statusDetailCard(
        failed(),
        [
          { requestId: 'HW-1042', at: '2026-11-26T04:00:00.000Z', actor: sampleRequest().requester, type: 'submitted', detail: { planHash: 'abc' } },
          { requestId: 'HW-1042', at: '2026-11-26T04:10:00.000Z', actor: { platform: 'system', userId: 'system', displayName: 'job runner' }, type: 'step.failed', detail: { step: 'roleAssignment' } },
        ],
        now,
        1,
      ),
  ],
  ['status detail (succeeded)', () => statusDetailCard(succeeded(), [], now, 1)],
];

describe('Adaptive Card templates', () => {
  test.each(cases)('%s parses with zero warnings in the adaptivecards library', (_name, build) => {
    const card = build() as Record<string, unknown>;
    expect(card.version).toBe('1.5');
    expect(cardProblems(card)).toEqual([]);
  });

  test('every template in cards/ is used by a view builder and is Adaptive Card 1.5', () => {
    const files = fs.readdirSync(path.join(__dirname, '../../cards')).filter((f) => f.endsWith('.json'));
    expect(files.map((f) => f.replace(/\.json$/, '')).sort()).toEqual(Object.keys(TEMPLATES).sort());
    for (const f of files) {
      const json = JSON.parse(fs.readFileSync(path.join(__dirname, '../../cards', f), 'utf8'));
      expect(json.version).toBe('1.5');
    }
  });

  test('templates use only elements the Slack adapter translates', () => {
    const allowed = new Set([
      'AdaptiveCard', 'TextBlock', 'FactSet', 'ColumnSet', 'Column', 'Container', 'ActionSet',
      'Input.Text', 'Input.ChoiceSet', 'Input.Toggle', 'Input.Number',
      'Action.Submit', 'Action.Execute', 'Action.OpenUrl',
    ]);
    const seen = new Set<string>();
    const walk = (n: unknown): void => {
      if (Array.isArray(n)) n.forEach(walk);
      else if (n && typeof n === 'object') {
        const o = n as Record<string, unknown>;
        if (typeof o.type === 'string') seen.add(o.type);
        Object.values(o).forEach(walk);
      }
    };
    Object.values(TEMPLATES).forEach(walk);
    expect([...seen].filter((t) => !allowed.has(t))).toEqual([]);
  });
});

describe('escapeMarkdown', () => {
  test('user text cannot inject links, emphasis, mentions or lists', () => {
    expect(escapeMarkdown('[click](https://evil.example)')).toBe('\\[click\\](https://evil.example)');
    expect(escapeMarkdown('![img](https://evil.example/x.png)')).toBe('!\\[img\\](https://evil.example/x.png)');
    expect(escapeMarkdown('<https://evil.example>')).toBe('\\<https://evil.example\\>');
    expect(escapeMarkdown('<at>everyone</at>')).toBe('\\<at\\>everyone\\</at\\>');
    expect(escapeMarkdown('**bold** _it_ `code` ~~x~~')).toBe('\\*\\*bold\\*\\* \\_it\\_ \\`code\\` \\~\\~x\\~\\~');
    expect(escapeMarkdown('# Heading\n- item\n1. first\n  + x')).toBe('\\# Heading\n\\- item\n1\\. first\n  \\+ x');
    expect(escapeMarkdown('rg-a (dev) #1, 1.5 - ok')).toBe('rg-a (dev) #1, 1.5 - ok');
    expect(escapeMarkdown('HOPSWORKS_APPROVERS rg_data _x_')).toBe('HOPSWORKS_APPROVERS rg_data \\_x\\_');
    expect(escapeMarkdown('a\\b')).toBe('a\\\\b');
  });

  test('plain names are unchanged, control characters are dropped and long text is capped', () => {
    expect(escapeMarkdown('hopsworksst1042')).toBe('hopsworksst1042');
    expect(escapeMarkdown('Rita Requester')).toBe('Rita Requester');
    expect(escapeMarkdown('a\u0000b\u0007c')).toBe('abc');
    expect(escapeMarkdown('x'.repeat(2000)).length).toBe(1000);
    expect(escapeMarkdown(undefined)).toBe('');
  });

  test('template bindings typed by a user stay literal text', () => {
    const card = approvalCard({ request: sampleRequest({ reason: '${requestId} ${$root.planHashFull}' }), requiredApprovals: 1, actionable: true, now });
    expect(cardTexts(card)).toContain('Reason: ${requestId} ${$root.planHashFull}');
  });

  test('the approval card shows the escaped reason, not a link or a mention', () => {
    const texts = cardTexts(approvalCard({ request: sampleRequest(), requiredApprovals: 1, actionable: true, now }));
    const reason = texts.find((t) => t.startsWith('Reason: '))!;
    expect(reason).toBe('Reason: New feature store for the \\*fraud\\* team \\[link\\](https://evil.example) \\<at\\>everyone\\</at\\>');
  });
});

describe('card content', () => {
  test('an approval by someone removed from the approver list is shown as not counting, as the core counts it', () => {
    const base = sampleRequest();
    const at = '2026-11-26T04:00:00.000Z';
    const r: SetupRequest = {
      ...base,
      approvals: [
        { actor: { platform: 'teams', userId: 'aad-alice', displayName: 'Alice Approver' }, decision: 'approve', planHash: base.plan!.hash, at },
        { actor: { platform: 'teams', userId: 'aad-bob', displayName: 'Bob Approver' }, decision: 'approve', planHash: base.plan!.hash, at },
      ],
    };
    const isApprover = (a: { userId: string }) => a.userId !== 'aad-alice';
    const texts = cardTexts(approvalCard({ request: r, requiredApprovals: 3, actionable: true, now, isApprover })).join('\n');
    expect(texts).toContain('Approvals: 1 of 3');
    expect(texts).toMatch(/Approved by Alice Approver at [^\n]*\(no longer an approver: does not count\)/);
    expect(texts).not.toMatch(/Approved by Bob Approver at [^\n]*no longer/);
    const detail = cardTexts(statusDetailCard(r, [], now, 3, isApprover)).join('\n');
    expect(detail).toContain('Approvals: 1 of 3');
    // Once decided, the decision stands: both cards count the approvals it was made with.
    const decided = { ...r, state: 'approved' as const };
    const decidedTexts = cardTexts(approvalCard({ request: decided, requiredApprovals: 3, actionable: true, now, isApprover })).join('\n');
    expect(decidedTexts).toContain('Approvals: 2 of 3');
    expect(decidedTexts).not.toMatch(/no longer an approver/);
    expect(cardTexts(statusDetailCard(decided, [], now, 3, isApprover)).join('\n')).toContain('Approvals: 2 of 3');
  });

  test('approval card: approvers get Approve/Reject with requestId and planHash, read-only view gets none', () => {
    const r = sampleRequest();
    const actionable = approvalCard({ request: r, requiredApprovals: 2, actionable: true, now });
    const verbs = cardActions(actionable).map((a) => a.verb);
    expect(verbs).toEqual(['approve', 'reject']);
    expect(cardActions(actionable)[0].data).toEqual({ requestId: 'HW-1042', planHash: r.plan!.hash });
    expect(cardInputs(actionable)).toHaveProperty('rejectReason');
    expect(cardTexts(actionable)).toContain('Approvals: 0 of 2');
    expect((actionable.refresh as { action: { verb: string } }).action.verb).toBe('refresh');
    const readonly = approvalCard({ request: r, requiredApprovals: 2, actionable: false, now });
    expect(cardActions(readonly).map((a) => a.verb)).toEqual(['refresh']);
    expect(cardInputs(readonly)).toEqual({});
    const decided = approvalCard({ request: { ...r, state: 'approved' }, requiredApprovals: 2, actionable: true, now });
    expect(cardActions(decided)).toEqual([]);
  });

  test('summary card lists every form value in the form order with the Step 1 values and the SP note', () => {
    const card = summaryCard(succeeded());
    const texts = cardTexts(card);
    const labels = ['Resource Group', 'Location', 'Azure Storage account name', 'Azure Container name', 'Azure container registry name', 'SSH key', 'User assigned managed identity (name)', 'User assigned managed identity (resource id)', 'Backup retention days'];
    const positions = labels.map((l) => texts.indexOf(l));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(texts[texts.indexOf('Azure Storage account name') + 1]).toBe('hopsworksst1042');
    expect(texts).toContain(TARGET.subscriptionId);
    expect(texts).toContain(TARGET.tenantId);
    expect(texts).toContain('az ad sp create --id d4abcc44-2c40-40bd-9bba-986df591c28f');
    expect(cardActions(card)).toEqual([expect.objectContaining({ type: 'Action.OpenUrl', url: 'https://managed.hopsworks.ai' })]);
    const withSp = cardTexts(summaryCard({ ...succeeded(), options: { ...OPTIONS, hopsworksSpObjectId: '11111111-2222-3333-4444-555555555555' }, plan: samplePlan({ steps: [...samplePlan().steps, { id: 'hwra', kind: 'hopsworksRoleAssignment', action: 'create', title: 'Assign hopsworks.ai role', properties: {}, dependsOn: [] }] }) }));
    expect(withSp.some((t) => t.includes('az ad sp create'))).toBe(false);
  });

  test('progress card shows step states with elapsed time, the ARM error and a Retry button on failure', () => {
    const card = progressCard({ request: failed(), now });
    const texts = cardTexts(card);
    expect(texts).toContain('✔ done');
    expect(texts).toContain('25s');
    expect(texts.some((t) => t.includes('failed: PrincipalNotFound'))).toBe(true);
    expect(texts).toContain('What to do: Wait a few minutes for the identity to replicate, then Retry.');
    expect(cardActions(card)).toEqual([expect.objectContaining({ type: 'Action.Execute', verb: 'retry', data: { requestId: 'HW-1042' } })]);
    expect(cardActions(progressCard({ request: succeeded(), now }))).toEqual([]);
  });

  test('plan card with missing permissions cannot be confirmed and says what to grant', () => {
    const card = planCard({ wizardId: 'w1', stage: 'plan', kind: 'setup', requestId: 'HW-1042', target: TARGET, plan: samplePlan({ missingPermissions: ['Microsoft.Authorization/roleAssignments/write'] }), reason: 'r' });
    expect(cardActions(card).map((a) => a.data?.action)).toEqual(['edit', 'cancel']);
    expect(cardTexts(card)).toContain('Microsoft.Authorization/roleAssignments/write');
  });

  test('wizard options card keeps entered values and shows each error under its field', () => {
    const card = wizardOptionsCard({
      wizardId: 'w1', stage: 'options', title: 'Set up', requestId: 'HW-1042', target: TARGET,
      values: { ...OPTIONS, storageAccountName: 'Bad_Name', reason: 'x' },
      errors: { storageAccountName: 'Storage account names are 3-24 lowercase letters and digits.' },
    });
    expect(cardInputs(card)).toMatchObject({ storageAccountName: 'Bad_Name', acrRetentionDays: 7, backupRetentionDays: 0, sshKeyMode: 'generate', reason: 'x' });
    const body = card.body as { id?: string; text?: string }[];
    const i = body.findIndex((b) => b.id === 'storageAccountName');
    expect(body[i + 1].text).toBe('Storage account names are 3-24 lowercase letters and digits.');
    expect(body.filter((b) => b.text && b.text.includes('lowercase letters and digits.'))).toHaveLength(1);
  });
});

describe('rendered cards are reused, cannot be changed, and a private key is never kept', () => {
  it('the same view renders to an equal card each time; a caller cannot change a kept card, at any depth', () => {
    const request = sampleRequest();
    const now = new Date('2026-11-26T10:00:00Z');
    const first = statusListCard([request], now) as { body: Array<Record<string, unknown>> };
    expect(() => first.body.push({ type: 'TextBlock', text: 'changed by a caller' })).toThrow(TypeError);
    expect(() => {
      first.body[0].text = 'changed by a caller';
    }).toThrow(TypeError);
    const second = statusListCard([request], now);
    expect(JSON.stringify(second)).not.toContain('changed by a caller');
    expect(second).toEqual(statusListCard([request], now));
  });

  it('a card for another view is rendered anew, not taken from the cache', () => {
    const request = sampleRequest();
    const earlier = JSON.stringify(statusListCard([request], new Date('2026-11-26T10:00:00Z')));
    const later = JSON.stringify(statusListCard([request], new Date('2026-11-26T13:00:00Z')));
    expect(later).not.toEqual(earlier);
  });

  it('the private-key card is rendered but not kept for reuse', () => {
    const key = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowNOTKEPT+/==\n-----END RSA PRIVATE KEY-----\n';
    expect(JSON.stringify(privateKeyCard('HW-1042', 'hopsworksKey', key))).toContain('MIIEowNOTKEPT');
    expect(renderCacheContains('MIIEowNOTKEPT')).toBe(false);
  });
});
