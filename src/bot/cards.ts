/**
 * Card rendering: the templates in cards/ are data, expanded with adaptivecards-templating from plain
 * view objects built here. Every string a person typed goes through `escapeMarkdown` in these builders,
 * so the templates can stay dumb.
 */
import { Template } from 'adaptivecards-templating';
import { LRUCache } from 'lru-cache';
import { CardFactory, type Attachment } from 'botbuilder';
import { countedApprovals } from '../core/policy';
import { shortHash, topologicalOrder } from '../core/plan';
import type { ResourceGroupInfo, SubscriptionInfo } from '../core/ports';
import type { Actor, AuditEvent, Plan, PlanStep, RequestState, RequestSummary, SetupOptions, SetupRequest, StepState, Target } from '../core/types';

import approvalTemplate from '../../cards/approval.json';
import helpTemplate from '../../cards/help.json';
import noticeTemplate from '../../cards/notice.json';
import planTemplate from '../../cards/plan.json';
import privateKeyTemplate from '../../cards/private-key.json';
import progressTemplate from '../../cards/progress.json';
import statusDetailTemplate from '../../cards/status-detail.json';
import statusListTemplate from '../../cards/status-list.json';
import summaryTemplate from '../../cards/summary.json';
import welcomeTemplate from '../../cards/welcome.json';
import wizardOptionsTemplate from '../../cards/wizard-options.json';
import wizardTargetTemplate from '../../cards/wizard-target.json';

export const TEMPLATES = {
  approval: approvalTemplate,
  help: helpTemplate,
  notice: noticeTemplate,
  plan: planTemplate,
  'private-key': privateKeyTemplate,
  progress: progressTemplate,
  'status-detail': statusDetailTemplate,
  'status-list': statusListTemplate,
  summary: summaryTemplate,
  welcome: welcomeTemplate,
  'wizard-options': wizardOptionsTemplate,
  'wizard-target': wizardTargetTemplate,
} as const;

export type CardName = keyof typeof TEMPLATES;
export type CardJson = Record<string, unknown>;

/** The hopsworks.ai application whose service principal gets the Step 1 role. */
export const HOPSWORKS_APP_ID = 'd4abcc44-2c40-40bd-9bba-986df591c28f';
export const HOPSWORKS_URL = 'https://managed.hopsworks.ai';

const MAX_TEXT = 1000;

/**
 * Makes user-typed text inert in a TextBlock: markdown emphasis, links, headings, lists and HTML-ish
 * tags (Teams `<at>` mentions) are backslash-escaped (CommonMark escapes), control characters are
 * dropped and the length is capped. Only characters that can start markup are escaped, so ordinary
 * text (parentheses, resource ids) reads as typed.
 */
export function escapeMarkdown(text: string | undefined | null, max = MAX_TEXT): string {
  if (text === undefined || text === null) return '';
  // eslint-disable-next-line no-control-regex
  let s = String(text).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
  if (s.length > max) s = `${s.slice(0, max - 1)}…`;
  // Emphasis, code, links/images ([…](…)) and tags/autolinks (<…>) need these characters.
  s = s.replace(/[\\`*~[\]<>]/g, (c) => `\\${c}`);
  // An underscore inside a word (HOPSWORKS_APPROVERS, rg_data) never emphasises: keep it readable.
  s = s.replace(/(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])/g, '\\_');
  // Block syntax only counts at the start of a line: headings, lists, numbered items.
  s = s.replace(/^(\s*)([#+=-])/gm, '$1\\$2').replace(/^(\s*\d+)([.)])/gm, '$1\\$2');
  return s;
}

/**
 * Templates prepared once: preparing parses every `${…}` expression (adaptive-expressions' ANTLR parser),
 * which dominated a turn's CPU time; the library documents a prepared Template as reusable across data.
 */
const prepared = new Map<CardName, Template>();

/**
 * Expanded cards by template and view: the same card is rendered again and again (status lists, the
 * approval card for every refused click, progress updates). A view is plain data, so its JSON is the
 * key. The card is kept deep-frozen and handed out as it is: callers share it and cannot change it (a
 * write throws). Parsing a kept copy on every hit was a tenth of a refused Approve click's CPU time.
 */
const rendered = new LRUCache<string, CardJson>({ max: 500, maxSize: 8 * 1024 * 1024 });

/** Whether a rendered card kept for reuse contains `text` (tests: secrets are never kept). */
export function renderCacheContains(text: string): boolean {
  for (const [key, card] of rendered.entries()) if (key.includes(text) || JSON.stringify(card).includes(text)) return true;
  return false;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Expands a template with a view object. Unbound `${…}` would stay literal, so views carry every key. */
export function renderCard(name: CardName, view: object): CardJson {
  // The private-key card carries a secret: it is rendered once and never kept.
  const key = name === 'private-key' ? undefined : `${name}\n${JSON.stringify(view)}`;
  const hit = key === undefined ? undefined : rendered.get(key);
  if (hit !== undefined) return hit;
  let template = prepared.get(name);
  if (!template) {
    template = new Template(TEMPLATES[name]);
    prepared.set(name, template);
  }
  const card = template.expand({ $root: view }) as CardJson;
  if (key === undefined) return card;
  rendered.set(key, deepFreeze(card), { size: JSON.stringify(card).length + key.length });
  return card;
}

export function cardAttachment(card: CardJson): Attachment {
  return CardFactory.adaptiveCard(card);
}

// ---------------------------------------------------------------------------------------------
// Formatting helpers

export function formatUsd(amount: number): string {
  return `$${amount.toFixed(2)}`;
}

/** "3m 05s", "42s", "2h 10m". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d`;
}

export function formatAge(fromIso: string, now: Date): string {
  return formatDuration(now.getTime() - Date.parse(fromIso));
}

function formatTime(iso: string | undefined): string {
  if (!iso) return '';
  return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

type Color = 'Default' | 'Good' | 'Warning' | 'Attention' | 'Accent';

const STATE_TEXT: Record<RequestState, [string, Color]> = {
  draft: ['Draft', 'Default'],
  pendingApproval: ['Waiting for approval', 'Warning'],
  approved: ['Approved, starting', 'Good'],
  provisioning: ['Provisioning', 'Accent'],
  succeeded: ['Done', 'Good'],
  failed: ['Failed', 'Attention'],
  rejected: ['Rejected', 'Attention'],
  expired: ['Expired', 'Attention'],
  cancelled: ['Cancelled', 'Default'],
  tearingDown: ['Deleting', 'Accent'],
  tornDown: ['Deleted', 'Default'],
};

export function stateLabel(state: RequestState): string {
  return STATE_TEXT[state][0];
}

const ACTION_COLOR: Record<PlanStep['action'], Color> = {
  create: 'Good',
  update: 'Warning',
  reuse: 'Default',
  delete: 'Attention',
  keep: 'Default',
};

const STATUS_TEXT: Record<StepState['status'], [string, Color]> = {
  pending: ['○ pending', 'Default'],
  running: ['◔ running', 'Accent'],
  done: ['✔ done', 'Good'],
  failed: ['✖ failed', 'Attention'],
  skipped: ['– skipped', 'Default'],
};

interface Fact {
  title: string;
  value: string;
}

function targetFacts(target: Target): Fact[] {
  return [
    { title: 'Subscription', value: escapeMarkdown(target.subscriptionId) },
    { title: 'Resource group', value: escapeMarkdown(target.resourceGroup) },
    { title: 'Location', value: escapeMarkdown(target.location) },
  ];
}

function planSteps(plan: Plan): { action: string; color: Color; title: string }[] {
  return topologicalOrder(plan.steps).map((s) => ({ action: s.action, color: ACTION_COLOR[s.action], title: escapeMarkdown(s.title) }));
}

function costLines(plan: Plan): Fact[] {
  const lines = plan.cost.lines.map((l) => ({
    title: escapeMarkdown(l.item),
    value: `${formatUsd(l.monthlyUsd)}/month${l.note ? ` (${escapeMarkdown(l.note)})` : ''}`,
  }));
  lines.push({ title: 'Total', value: `${formatUsd(plan.cost.monthlyTotal)}/month` });
  return lines;
}

function costTitle(plan: Plan): string {
  return `Estimated cost (list prices of ${escapeMarkdown(plan.cost.priceListDate)}; usage not included)`;
}

function planCounts(plan: Plan): string {
  const counts = new Map<string, number>();
  for (const s of plan.steps) counts.set(s.action, (counts.get(s.action) ?? 0) + 1);
  return [...counts].map(([a, n]) => `${n} ${a}`).join(', ');
}

// ---------------------------------------------------------------------------------------------
// Help and welcome

export interface CommandHelp {
  command: string;
  description: string;
}

export const COMMANDS: CommandHelp[] = [
  { command: 'setup', description: 'Prepare a resource group for managed.hopsworks.ai (guided, needs approval)' },
  { command: 'status [id]', description: 'Recent requests, or the steps, outputs and audit trail of one' },
  { command: 'cancel <id>', description: 'Cancel a request that waits for approval' },
  { command: 'retry <id>', description: 'Resume a failed request at the failed steps' },
  { command: 'teardown <id>', description: 'Delete what a setup created (needs approval)' },
  { command: 'admin channel', description: 'Approvers: send approval cards to this channel or chat' },
  { command: 'help', description: 'This list' },
];

export function helpCard(notice = ''): CardJson {
  return renderCard('help', { notice: escapeMarkdown(notice), commands: COMMANDS });
}

export function welcomeCard(isChannel: boolean): CardJson {
  return renderCard('welcome', { isChannel, commands: COMMANDS });
}

// ---------------------------------------------------------------------------------------------
// Notices

export type NoticeKind = 'info' | 'success' | 'warning' | 'error';

const NOTICE_COLOR: Record<NoticeKind, Color> = { info: 'Default', success: 'Good', warning: 'Warning', error: 'Attention' };

/**
 * A short message card. `title` and `lines` are treated as the bot's own text; pass user text
 * through `escapeMarkdown` before putting it in.
 */
export function noticeCard(kind: NoticeKind, title: string, lines: string[] = [], facts: Fact[] = []): CardJson {
  return renderCard('notice', {
    title,
    color: NOTICE_COLOR[kind],
    lines: lines.map((text) => ({ text })),
    facts,
  });
}

// ---------------------------------------------------------------------------------------------
// Setup wizard

export type FieldErrors = Record<string, string>;

function errorsFor(keys: readonly string[], errors: FieldErrors | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) out[k] = errors?.[k] ? escapeMarkdown(errors[k]) : '';
  return out;
}

export interface TargetView {
  wizardId: string;
  stage: string;
  title: string;
  subscriptions: SubscriptionInfo[];
  /** Only when the identity sees several subscriptions. */
  showSubscriptions: boolean;
  subscriptionId?: string;
  resourceGroups?: ResourceGroupInfo[];
  resourceGroup?: string;
  errors?: FieldErrors;
  notice?: string;
}

export function wizardTargetCard(v: TargetView): CardJson {
  const rgs = v.resourceGroups ?? [];
  return renderCard('wizard-target', {
    wizardId: v.wizardId,
    stage: v.stage,
    title: escapeMarkdown(v.title),
    notice: escapeMarkdown(v.notice ?? ''),
    showSubscriptions: v.showSubscriptions,
    subscriptionId: v.subscriptionId ?? '',
    // Choice titles are plain text in every renderer (no markdown), so they are not escaped.
    subscriptions: v.subscriptions.map((s) => ({ title: `${s.displayName} (${s.subscriptionId})`, value: s.subscriptionId })),
    showResourceGroups: v.resourceGroups !== undefined,
    resourceGroup: v.resourceGroup ?? '',
    resourceGroups: rgs.map((g) => ({ title: `${g.name} (${g.location})`, value: g.name })),
    errors: errorsFor(['subscriptionId', 'resourceGroup'], v.errors),
  });
}

export const OPTION_FIELDS = [
  'storageAccountName',
  'containerName',
  'registryName',
  'identityName',
  'roleName',
  'sshKeyName',
  'acrRetentionDays',
  'backupRetentionDays',
  'sshKeyMode',
  'sshPublicKey',
  'hopsworksSpObjectId',
  'reason',
] as const;
export type OptionField = (typeof OPTION_FIELDS)[number];

/** What the options form holds: the options plus the reason, as the inputs carry them. */
export interface OptionsFormValues extends SetupOptions {
  reason: string;
}

export interface OptionsView {
  wizardId: string;
  stage: string;
  title: string;
  requestId: string;
  target: Target;
  subscriptionName?: string;
  values: OptionsFormValues;
  errors?: FieldErrors;
  notice?: string;
}

export function wizardOptionsCard(v: OptionsView): CardJson {
  const o = v.values;
  return renderCard('wizard-options', {
    wizardId: v.wizardId,
    stage: v.stage,
    title: escapeMarkdown(v.title),
    requestId: escapeMarkdown(v.requestId),
    subscription: escapeMarkdown(v.subscriptionName ? `${v.subscriptionName} (${v.target.subscriptionId})` : v.target.subscriptionId),
    resourceGroup: escapeMarkdown(v.target.resourceGroup),
    location: escapeMarkdown(v.target.location),
    notice: escapeMarkdown(v.notice ?? ''),
    // Input values are not markdown: they go back verbatim.
    values: {
      storageAccountName: o.storageAccountName,
      containerName: o.containerName,
      registryName: o.registryName,
      identityName: o.identityName,
      roleName: o.roleName,
      sshKeyName: o.sshKeyName,
      acrRetentionDays: o.acrRetentionDays,
      backupRetentionDays: o.backupRetentionDays,
      sshKeyMode: o.sshKeyMode,
      sshPublicKey: o.sshPublicKey ?? '',
      hopsworksSpObjectId: o.hopsworksSpObjectId ?? '',
      reason: o.reason,
    },
    errors: errorsFor(OPTION_FIELDS, v.errors),
  });
}

export interface PlanView {
  wizardId: string;
  stage: string;
  kind: 'setup' | 'teardown';
  requestId: string;
  target: Target;
  plan: Plan;
  reason: string;
  /** Teardown: offer the toggle that also deletes the storage account and its data. */
  showDataToggle?: boolean;
  /** The toggle's value the plan was computed with. */
  confirmDeleteData?: boolean;
  /** Teardown: the reason is asked on the plan card. */
  askReason?: boolean;
  errors?: FieldErrors;
  notice?: string;
  /** After Confirm: the card becomes a read-only record of what was submitted. */
  submitted?: boolean;
}

export function planCard(v: PlanView): CardJson {
  const applicable = v.plan.missingPermissions.length === 0;
  const verb = v.kind === 'teardown' ? 'Teardown plan' : 'Plan';
  return renderCard('plan', {
    wizardId: v.wizardId,
    stage: v.stage,
    title: `${verb} for ${escapeMarkdown(v.requestId)}`,
    subtitle: v.submitted
      ? 'Submitted for approval. Nothing is changed in Azure before an approver approves this exact plan.'
      : v.kind === 'teardown'
        ? 'Step 3 of 3: check what will be deleted. Nothing is deleted before an approver approves this exact plan.'
        : 'Step 3 of 3: check the plan. Nothing is created before an approver approves this exact plan.',
    notice: escapeMarkdown(v.notice ?? ''),
    facts: [
      { title: 'Request', value: escapeMarkdown(v.requestId) },
      ...targetFacts(v.target),
      ...(v.askReason && !v.submitted ? [] : [{ title: 'Reason', value: escapeMarkdown(v.reason) }]),
      { title: 'Summary', value: planCounts(v.plan) },
    ],
    steps: planSteps(v.plan),
    missingPermissions: v.plan.missingPermissions.map((p) => ({ text: escapeMarkdown(p) })),
    missingHelp:
      'The bot identity lacks these actions on the resource group. An Azure administrator must grant them (for example with the role in manifest/azure), then type setup again.',
    warnings: v.plan.warnings.map((w) => ({ text: escapeMarkdown(w) })),
    costTitle: costTitle(v.plan),
    costLines: costLines(v.plan),
    planHash: shortHash(v.plan.hash),
    planHashFull: v.plan.hash,
    showDataToggle: Boolean(v.showDataToggle) && !v.submitted,
    confirmDeleteDataValue: v.confirmDeleteData ? 'true' : 'false',
    askReason: Boolean(v.askReason) && !v.submitted,
    reasonValue: v.reason,
    errors: errorsFor(['confirmDeleteData', 'reason'], v.errors),
    canConfirm: applicable && !v.submitted,
    canEdit: v.kind === 'setup' && !v.submitted,
    canCancel: !v.submitted,
    confirmTitle: v.kind === 'teardown' ? 'Request teardown' : 'Confirm and request approval',
  });
}

// ---------------------------------------------------------------------------------------------
// Approval

export interface ApprovalViewInput {
  request: SetupRequest;
  requiredApprovals: number;
  /** Approve/Reject buttons (approvers, or everyone on the card that is sent before a refresh). */
  actionable: boolean;
  /** A message for the one user who acted (invoke response), e.g. why a click changed nothing. */
  notice?: string;
  noticeKind?: NoticeKind;
  /** Teams user ids (MRI) whose client refreshes the card automatically. */
  refreshUserIds?: string[];
  now: Date;
  /** Who is an approver now: an approval by someone since removed is shown as not counting (as the core decides). */
  isApprover?: (actor: Actor) => boolean;
}

/**
 * Who counts toward the quorum as the core decides it: while the request waits, only people still in the
 * approver list; once it is decided, the decision stands.
 */
function liveApprovers(r: SetupRequest, isApprover?: (actor: Actor) => boolean): ((actor: Actor) => boolean) | undefined {
  return r.state === 'pendingApproval' ? isApprover : undefined;
}

export function approvalCard(v: ApprovalViewInput): CardJson {
  const r = v.request;
  const plan = r.plan as Plan;
  const pending = r.state === 'pendingApproval';
  const stillApprover = liveApprovers(r, v.isApprover);
  const approvals = countedApprovals(r, stillApprover);
  const decisions = r.approvals.map((a) => {
    const verb = a.decision === 'approve' ? 'Approved' : 'Rejected';
    const removed = a.decision === 'approve' && stillApprover && !stillApprover(a.actor) ? ' (no longer an approver: does not count)' : '';
    const stale = (a.planHash !== plan.hash ? ' (for an earlier plan)' : '') + removed;
    const why = a.reason ? `: ${escapeMarkdown(a.reason)}` : '';
    return { text: `${verb} by ${escapeMarkdown(a.actor.displayName)} at ${formatTime(a.at)}${stale}${why}` };
  });
  const [stateText, stateColor] = STATE_TEXT[r.state];
  const kind = r.kind === 'teardown' ? 'Teardown' : 'Setup';
  const facts: Fact[] = [
    { title: 'Requester', value: escapeMarkdown(r.requester.displayName) },
    { title: 'Reason', value: escapeMarkdown(r.reason) },
    ...targetFacts(r.target),
  ];
  if (r.parentId) facts.push({ title: 'Deletes resources of', value: escapeMarkdown(r.parentId) });
  facts.push({ title: 'Submitted', value: formatTime(r.createdAt) });
  if (pending && r.expiresAt) facts.push({ title: 'Expires', value: formatTime(r.expiresAt) });
  facts.push({ title: 'Summary', value: planCounts(plan) });
  return renderCard('approval', {
    requestId: r.id,
    planHashFull: plan.hash,
    planHash: shortHash(plan.hash),
    refreshUserIds: (v.refreshUserIds ?? []).slice(0, 60),
    notice: escapeMarkdown(v.notice ?? ''),
    noticeColor: NOTICE_COLOR[v.noticeKind ?? 'warning'],
    title: `${kind} request ${escapeMarkdown(r.id)}: ${escapeMarkdown(r.target.resourceGroup)}`,
    stateText: pending ? `${stateText} (${approvals.length} of ${v.requiredApprovals})` : stateText,
    stateColor,
    facts,
    steps: planSteps(plan),
    warnings: plan.warnings.map((w) => ({ text: escapeMarkdown(w) })),
    costTitle: costTitle(plan),
    costLines: costLines(plan),
    approvalsText: `${approvals.length} of ${v.requiredApprovals}`,
    decisions,
    showActions: pending && v.actionable,
    showRefresh: pending && !v.actionable,
  });
}

// ---------------------------------------------------------------------------------------------
// Progress

export interface ProgressViewInput {
  request: SetupRequest;
  now: Date;
  /** Shows Retry on a failed request (the server still checks who clicks). */
  retryable?: boolean;
  /** A message for the one user who clicked (invoke response). */
  notice?: string;
  noticeKind?: NoticeKind;
}

function stepRows(r: SetupRequest, now: Date): { status: string; color: Color; title: string; elapsed: string }[] {
  const steps = r.plan ? topologicalOrder(r.plan.steps) : [];
  return steps.map((s) => {
    const st = r.steps[s.id];
    const status = st?.status ?? 'pending';
    const [label, color] = STATUS_TEXT[status];
    let elapsed = '';
    if (st?.startedAt) {
      const end = st.finishedAt ? Date.parse(st.finishedAt) : now.getTime();
      elapsed = formatDuration(end - Date.parse(st.startedAt));
    }
    return { status: label, color, title: escapeMarkdown(s.title), elapsed };
  });
}

export function progressCard(v: ProgressViewInput): CardJson {
  const r = v.request;
  const [stateText, stateColor] = STATE_TEXT[r.state];
  const rows = stepRows(r, v.now);
  const done = Object.values(r.steps).filter((s) => s.status === 'done' || s.status === 'skipped').length;
  const total = r.plan?.steps.length ?? 0;
  const failures = (r.plan ? topologicalOrder(r.plan.steps) : [])
    .filter((s) => r.steps[s.id]?.status === 'failed' && r.steps[s.id]?.error)
    .map((s) => {
      const e = r.steps[s.id].error!;
      return { step: escapeMarkdown(s.title), code: escapeMarkdown(e.code), message: escapeMarkdown(e.message), remediation: escapeMarkdown(e.remediation) };
    });
  const started = Object.values(r.steps)
    .map((s) => s.startedAt)
    .filter((x): x is string => Boolean(x))
    .sort()[0];
  const facts: Fact[] = [
    { title: 'Resource group', value: escapeMarkdown(r.target.resourceGroup) },
    { title: 'Progress', value: `${done} of ${total} steps` },
  ];
  if (started) facts.push({ title: 'Elapsed', value: formatDuration((r.state === 'provisioning' || r.state === 'tearingDown' ? v.now.getTime() : Date.parse(r.updatedAt)) - Date.parse(started)) });
  return renderCard('progress', {
    notice: escapeMarkdown(v.notice ?? ''),
    noticeColor: NOTICE_COLOR[v.noticeKind ?? 'warning'],
    title: `${r.kind === 'teardown' ? 'Teardown' : 'Setup'} ${escapeMarkdown(r.id)}`,
    stateText,
    stateColor,
    facts,
    steps: rows,
    failures,
    footer: r.state === 'failed' ? 'Retry resumes at the failed steps; finished steps are not repeated. Only the requester or an approver can retry.' : '',
    canRetry: r.state === 'failed' && (v.retryable ?? true),
    requestId: r.id,
  });
}

// ---------------------------------------------------------------------------------------------
// Summary

export function summaryCard(request: SetupRequest): CardJson {
  const o = request.outputs;
  if (!o) throw new Error(`Request ${request.id} has no outputs yet`);
  const copy = (value: string | number): string => escapeMarkdown(String(value));
  const spInPlan = Boolean(request.options.hopsworksSpObjectId) && (request.plan?.steps.some((s) => s.kind === 'hopsworksRoleAssignment') ?? false);
  return renderCard('summary', {
    intro: `Request ${escapeMarkdown(request.id)} is done. Type these values into managed.hopsworks.ai when you create the cluster.`,
    step1: [
      { label: 'Subscription id', value: copy(o.subscriptionId) },
      { label: 'Tenant id (not a managedByTenants id)', value: copy(o.tenantId) },
    ],
    spNote: spInPlan
      ? 'The hopsworks.ai role was created and assigned to the hopsworks.ai service principal on this resource group.'
      : 'The hopsworks.ai role was not part of this plan. If the hopsworks.ai service principal does not exist in your tenant yet, an Entra ID admin creates it with the command below; then assign it a role on the resource group as the managed.hopsworks.ai guide describes.',
    spCommand: spInPlan ? '' : escapeMarkdown(`az ad sp create --id ${HOPSWORKS_APP_ID}`),
    fields: [
      { label: 'Resource Group', value: copy(o.resourceGroup) },
      { label: 'Location', value: copy(o.location) },
      { label: 'Azure Storage account name', value: copy(o.storageAccountName) },
      { label: 'Azure Container name', value: copy(o.containerName) },
      { label: 'Azure container registry name', value: copy(o.registryName) },
      { label: 'SSH key', value: copy(o.sshKeyName) },
      { label: 'User assigned managed identity (name)', value: copy(o.managedIdentityName) },
      { label: 'User assigned managed identity (resource id)', value: copy(o.managedIdentityResourceId) },
      { label: 'Backup retention days', value: copy(o.backupRetentionDays) },
    ],
    footer:
      request.options.sshKeyMode === 'generate'
        ? 'The SSH private key was sent once to the requester in a personal chat; the bot keeps no copy.'
        : '',
  });
}

export function privateKeyCard(requestId: string, sshKeyName: string, privateKey: string): CardJson {
  return renderCard('private-key', { requestId: escapeMarkdown(requestId), sshKeyName: escapeMarkdown(sshKeyName), privateKey });
}

// ---------------------------------------------------------------------------------------------
// Status

export function statusListCard(requests: RequestSummary[], now: Date): CardJson {
  return renderCard('status-list', {
    rows: requests.map((r) => ({
      id: escapeMarkdown(r.id),
      resourceGroup: escapeMarkdown(r.target.resourceGroup),
      requester: escapeMarkdown(r.requester.displayName),
      state: `${r.kind === 'teardown' ? 'teardown: ' : ''}${stateLabel(r.state)}`,
      color: STATE_TEXT[r.state][1],
      age: formatAge(r.createdAt, now),
    })),
  });
}

function auditText(e: AuditEvent): string {
  const who = escapeMarkdown(e.actor.displayName);
  const detail = e.detail
    ? Object.entries(e.detail)
        .filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
        .map(([k, v]) => `${escapeMarkdown(k)}=${escapeMarkdown(String(v), 200)}`)
        .join(', ')
    : '';
  return `${formatTime(e.at)}: ${escapeMarkdown(e.type)} by ${who}${detail ? ` (${detail})` : ''}`;
}

export function statusDetailCard(r: SetupRequest, audit: AuditEvent[], now: Date, requiredApprovals: number, isApprover?: (actor: Actor) => boolean): CardJson {
  const [stateText, stateColor] = STATE_TEXT[r.state];
  const facts: Fact[] = [
    { title: 'Kind', value: r.kind },
    ...(r.parentId ? [{ title: 'Setup request', value: escapeMarkdown(r.parentId) }] : []),
    { title: 'Requester', value: escapeMarkdown(r.requester.displayName) },
    { title: 'Reason', value: escapeMarkdown(r.reason) },
    ...targetFacts(r.target),
    { title: 'Created', value: formatTime(r.createdAt) },
    { title: 'Approvals', value: `${countedApprovals(r, liveApprovers(r, isApprover)).length} of ${requiredApprovals}` },
  ];
  if (r.plan) facts.push({ title: 'Plan hash', value: shortHash(r.plan.hash) });
  const outputs: Fact[] = [];
  if (r.outputs) {
    outputs.push(
      { title: 'Storage account', value: escapeMarkdown(r.outputs.storageAccountName) },
      { title: 'Container', value: escapeMarkdown(r.outputs.containerName) },
      { title: 'Registry', value: escapeMarkdown(r.outputs.registryName) },
      { title: 'SSH key', value: escapeMarkdown(r.outputs.sshKeyName) },
      { title: 'Managed identity', value: escapeMarkdown(r.outputs.managedIdentityResourceId) },
    );
  } else {
    for (const [stepId, st] of Object.entries(r.steps)) {
      for (const [k, val] of Object.entries(st.output ?? {})) outputs.push({ title: escapeMarkdown(`${stepId} ${k}`), value: escapeMarkdown(val) });
    }
  }
  return renderCard('status-detail', {
    title: `${r.kind === 'teardown' ? 'Teardown' : 'Setup'} ${escapeMarkdown(r.id)}`,
    stateText,
    stateColor,
    facts,
    steps: stepRows(r, now),
    outputs,
    audit: audit.map((e) => ({ text: auditText(e) })),
  });
}
