/**
 * Adaptive Card → Block Kit, for the subset our templates use. The card stays the one format the bot
 * speaks; this module only translates it, within Slack's documented limits, and turns Slack's form
 * state back into the values Teams would send for the same card.
 */

/** Block Kit limits (docs.slack.dev/reference/block-kit). Tests walk every sent payload against these. */
export const LIMITS = {
  blocksPerMessage: 50,
  blocksPerModal: 100,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  headerText: 150,
  contextElements: 10,
  actionsElements: 25,
  buttonText: 75,
  buttonValue: 2000,
  actionId: 255,
  blockId: 255,
  optionText: 75,
  optionValue: 150,
  staticSelectOptions: 100,
  radioOptions: 10,
  checkboxOptions: 10,
  inputLabel: 2000,
  placeholder: 150,
  plainTextInputMax: 3000,
  modalTitle: 24,
  modalButton: 24,
  privateMetadata: 3000,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  messageText: 40000,
} as const;

export type Block = Record<string, unknown>;

/** An Adaptive Card element or action, loosely typed: templates are data. */
export interface AcNode {
  type: string;
  [key: string]: unknown;
}

export interface AdaptiveCard extends AcNode {
  body?: AcNode[];
  actions?: AcNode[];
}

export const ADAPTIVE_CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';
export const MODAL_CALLBACK_ID = 'hopsworks_form';
const ACTION_ID_PREFIX = 'hw:';

/** What a Slack button carries back: the card action it stands for, or a form to open. */
export type ButtonPayload =
  | { k: 'submit'; d: unknown }
  | { k: 'execute'; v: string; d: unknown }
  | { k: 'form'; f: string; i: number }
  | { k: 'ref'; r: string; i: number };

export function isBotActionId(actionId: string): boolean {
  return actionId.startsWith(ACTION_ID_PREFIX);
}

// ---------------------------------------------------------------------------------------------
// Text

/** Escapes the three characters Slack treats as control sequences, so `<!channel>`, `<@U…>` and links cannot be injected. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function encodeLinkUrl(url: string): string {
  return url.replace(/[|<> ]/g, (c) => encodeURIComponent(c));
}

const MD_ESCAPABLE = /[\\`*_{}[\]()#+\-.!<>&|~"'=]/;

/**
 * Adaptive Card markdown (CommonMark subset) → Slack mrkdwn. Backslash escapes (which the card view
 * builder uses for user-typed text) become literal characters; `**bold**` becomes `*bold*`; only
 * `[text](https://…)` links written in templates become Slack links; everything else is escaped.
 */
export function toMrkdwn(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const ch = src[i];
    if (ch === '\\' && i + 1 < src.length && MD_ESCAPABLE.test(src[i + 1])) {
      out += escapeSlack(src[i + 1]);
      i += 2;
      continue;
    }
    if (ch === '*' && src[i + 1] === '*') {
      out += '*';
      i += 2;
      continue;
    }
    if (ch === '[') {
      const m = /^\[((?:\\.|[^\]\\])*)\]\((https?:\/\/[^\s()<>]+)\)/.exec(src.slice(i));
      if (m) {
        out += `<${encodeLinkUrl(m[2])}|${escapeSlack(unescapeMarkdown(m[1]))}>`;
        i += m[0].length;
        continue;
      }
    }
    out += escapeSlack(ch);
    i += 1;
  }
  return out;
}

/** Markdown → plain text (for plain_text objects, which Slack never parses). */
export function toPlain(src: string): string {
  return unescapeMarkdown(src.replace(/\[((?:\\.|[^\]\\])*)\]\((https?:\/\/[^\s()<>]+)\)/g, '$1 ($2)').replace(/\*\*/g, ''));
}

function unescapeMarkdown(src: string): string {
  return src.replace(/\\(.)/g, (whole, c: string) => (MD_ESCAPABLE.test(c) ? c : whole));
}

/** Cuts text to `max` characters, marking the cut. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max - 1)}…`;
}

/** Cuts escaped mrkdwn without splitting an entity or a link in half. */
function truncateMrkdwn(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max - 1);
  const amp = cut.lastIndexOf('&');
  if (amp >= 0 && !cut.slice(amp).includes(';')) cut = cut.slice(0, amp);
  const lt = cut.lastIndexOf('<');
  if (lt >= 0 && !cut.slice(lt).includes('>')) cut = cut.slice(0, lt);
  return `${cut}…`;
}

function plain(text: string, max: number): Block {
  return { type: 'plain_text', text: truncate(toPlain(text).trim() || ' ', max), emoji: true };
}

// `verbatim: true` stops Slack from auto-linking channel names and parsing bare @here/@channel.
function mrkdwn(text: string, max: number = LIMITS.sectionText): Block {
  return { type: 'mrkdwn', text: truncateMrkdwn(text || ' ', max), verbatim: true };
}

// ---------------------------------------------------------------------------------------------
// Card walking

function children(node: AcNode): AcNode[] {
  if (node.type === 'ColumnSet') return asNodes(node.columns);
  if (node.type === 'Column' || node.type === 'Container') return asNodes(node.items);
  if (node.type === 'AdaptiveCard') return asNodes(node.body);
  return [];
}

function asNodes(v: unknown): AcNode[] {
  return Array.isArray(v) ? v.filter((n): n is AcNode => typeof n === 'object' && n !== null && typeof (n as AcNode).type === 'string') : [];
}

/** Adaptive Card enum values are case-insensitive (`Bolder` = `bolder`). */
function enumIs(value: unknown, expected: string): boolean {
  return typeof value === 'string' && value.toLowerCase() === expected;
}

function visible(node: AcNode): boolean {
  return node.isVisible !== false;
}

export function isInput(node: AcNode): boolean {
  return node.type.startsWith('Input.');
}

/** All visible inputs of a card, in document order. */
export function cardInputs(card: AdaptiveCard): AcNode[] {
  const found: AcNode[] = [];
  const walk = (nodes: AcNode[]) => {
    for (const n of nodes) {
      if (!visible(n)) continue;
      if (isInput(n) && typeof n.id === 'string') found.push(n);
      walk(children(n));
    }
  };
  walk(asNodes(card.body));
  return found;
}

/** All actions of a card in render order (ActionSets in the body first, then the card's own actions). */
export function cardActions(card: AdaptiveCard): AcNode[] {
  const found: AcNode[] = [];
  const walk = (nodes: AcNode[]) => {
    for (const n of nodes) {
      if (!visible(n)) continue;
      if (n.type === 'ActionSet') found.push(...asNodes(n.actions));
      walk(children(n));
    }
  };
  walk(asNodes(card.body));
  found.push(...asNodes(card.actions));
  return found;
}

/** True when clicking `action` in Teams would send the card's input values (so Slack needs a modal). */
export function actionNeedsForm(card: AdaptiveCard, action: AcNode): boolean {
  if (action.type !== 'Action.Submit' && action.type !== 'Action.Execute') return false;
  if (enumIs(action.associatedInputs, 'none')) return false;
  return cardInputs(card).length > 0;
}

/** The action a slash command or a submitted modal opens straight away: the first form action, positive style first. */
export function primaryFormAction(card: AdaptiveCard): number | undefined {
  const actions = cardActions(card);
  const candidates = actions.map((a, i) => ({ a, i })).filter(({ a }) => actionNeedsForm(card, a));
  const positive = candidates.find(({ a }) => enumIs(a.style, 'positive'));
  return (positive ?? candidates[0])?.i;
}

/** Plain-text summary of a card for notifications (`text` of chat.postMessage). */
export function cardSummary(card: AdaptiveCard): string {
  const parts: string[] = [];
  const walk = (nodes: AcNode[]) => {
    for (const n of nodes) {
      if (!visible(n)) continue;
      if (n.type === 'TextBlock' && typeof n.text === 'string') parts.push(toPlain(n.text));
      walk(children(n));
      if (parts.length >= 2) return;
    }
  };
  walk(asNodes(card.body));
  return parts.slice(0, 2).join(' — ');
}

// ---------------------------------------------------------------------------------------------
// Rendering

export interface RenderOptions {
  /** Message: inputs are left out (they live in modals). Modal: inputs become input blocks, actions are left out. */
  surface: 'message' | 'modal';
  /** Encodes a card action into a button value (the adapter decides where big payloads and forms are kept). */
  encodeAction?: (action: AcNode, index: number) => string | undefined;
  /** Prefix keeping action ids unique across several cards in one message. */
  idPrefix?: string;
}

/** Renders card content to blocks. Order follows the card; limits are applied by `fitBlocks`. */
export function renderCard(card: AdaptiveCard, opts: RenderOptions): Block[] {
  const blocks: Block[] = [];
  let actionIndex = 0;
  const allActions = cardActions(card);
  // Inputs no button collects are there to be read or copied (the private key card): show their values.
  const displayOnly = !allActions.some((a) => actionNeedsForm(card, a));

  const pushActions = (actions: AcNode[]) => {
    const elements: Block[] = [];
    for (const action of actions) {
      const index = allActions.indexOf(action, actionIndex);
      actionIndex = index + 1;
      const button = renderButton(action, index, opts);
      if (button) elements.push(button);
    }
    for (let i = 0; i < elements.length; i += LIMITS.actionsElements) {
      blocks.push({ type: 'actions', elements: elements.slice(i, i + LIMITS.actionsElements) });
    }
  };

  const walk = (nodes: AcNode[]) => {
    for (const n of nodes) {
      if (!visible(n)) continue;
      switch (n.type) {
        case 'TextBlock':
          renderTextBlock(n, blocks);
          break;
        case 'FactSet':
          renderFactSet(n, blocks);
          break;
        case 'ColumnSet':
        case 'Column':
        case 'Container':
          walk(children(n));
          break;
        case 'ActionSet':
          if (opts.surface === 'message') pushActions(asNodes(n.actions));
          else actionIndex += asNodes(n.actions).length;
          break;
        default:
          if (isInput(n) && opts.surface === 'modal') {
            const input = renderInput(n);
            if (input) blocks.push(input);
          } else if (isInput(n) && displayOnly) renderInputValue(n, blocks);
      }
    }
  };
  walk(asNodes(card.body));
  if (opts.surface === 'message') pushActions(asNodes(card.actions));
  return blocks;
}

function renderTextBlock(n: AcNode, blocks: Block[]): void {
  const text = typeof n.text === 'string' ? n.text : '';
  if (!text.trim()) return;
  const heading = enumIs(n.style, 'heading') || (enumIs(n.weight, 'bolder') && (enumIs(n.size, 'large') || enumIs(n.size, 'extralarge')));
  if (heading && !text.includes('\n')) {
    blocks.push({ type: 'header', text: plain(text, LIMITS.headerText) });
    return;
  }
  let md = toMrkdwn(text);
  if (enumIs(n.weight, 'bolder') && !md.includes('\n') && !md.includes('*')) md = `*${md}*`;
  if (n.isSubtle === true) {
    blocks.push({ type: 'context', elements: [mrkdwn(md)] });
    return;
  }
  for (const chunk of chunkText(md, LIMITS.sectionText)) blocks.push({ type: 'section', text: mrkdwn(chunk) });
}

function renderFactSet(n: AcNode, blocks: Block[]): void {
  const facts = Array.isArray(n.facts) ? (n.facts as Array<{ title?: unknown; value?: unknown }>) : [];
  const lines = facts
    .filter((f) => f && (typeof f.title === 'string' || typeof f.value === 'string'))
    .map((f) => `*${toMrkdwn(String(f.title ?? ''))}*  ${toMrkdwn(String(f.value ?? ''))}`);
  if (lines.length === 0) return;
  for (const chunk of chunkText(lines.join('\n'), LIMITS.sectionText)) blocks.push({ type: 'section', text: mrkdwn(chunk) });
}

/** Splits at line breaks so each piece fits a section; a single over-long line is cut (or, with `keepAll`, split). */
function chunkText(text: string, max: number, keepAll = false): string[] {
  if (text.length <= max) return [text];
  const out: string[] = [];
  let current = '';
  const lines = text.split('\n').flatMap((line) => {
    if (!keepAll || line.length <= max) return [line];
    const parts: string[] = [];
    // Never split inside an entity (&amp; …): Slack would show it broken.
    for (let i = 0; i < line.length; ) {
      let end = Math.min(i + max, line.length);
      const amp = line.lastIndexOf('&', end - 1);
      if (amp > i && end < line.length && !line.slice(amp, end).includes(';')) end = amp;
      parts.push(line.slice(i, end));
      i = end;
    }
    return parts;
  });
  for (const line of lines) {
    const candidate = current ? `${current}\n${line}` : line;
    if (candidate.length <= max) {
      current = candidate;
      continue;
    }
    if (current) out.push(current);
    current = line.length <= max ? line : truncateMrkdwn(line, max);
  }
  if (current) out.push(current);
  return out;
}

function renderInputValue(n: AcNode, blocks: Block[]): void {
  const value = n.value === undefined || n.value === null ? '' : String(n.value);
  if (!value) return;
  const label = [n.label, n.title, n.placeholder].find((v) => typeof v === 'string' && v.trim()) as string | undefined;
  if (label) blocks.push({ type: 'section', text: mrkdwn(`*${toMrkdwn(label)}*`) });
  if (n.type === 'Input.Text') {
    // A code block keeps keys and ids copyable exactly; Slack does not format inside it.
    for (const chunk of chunkText(escapeSlack(value), LIMITS.sectionText - 6, true)) blocks.push({ type: 'section', text: mrkdwn(`\`\`\`${chunk}\`\`\``) });
    return;
  }
  let shown = value;
  if (n.type === 'Input.ChoiceSet' && Array.isArray(n.choices)) {
    const byValue = new Map((n.choices as Array<{ title?: unknown; value?: unknown }>).map((c) => [String(c.value), String(c.title ?? c.value)]));
    shown = value.split(',').map((v) => byValue.get(v) ?? v).join(', ');
  }
  blocks.push({ type: 'section', text: mrkdwn(escapeSlack(shown)) });
}

function renderButton(action: AcNode, index: number, opts: RenderOptions): Block | undefined {
  const title = typeof action.title === 'string' && action.title.trim() ? action.title : 'Open';
  const button: Block = {
    type: 'button',
    text: plain(title, LIMITS.buttonText),
    action_id: truncate(`${ACTION_ID_PREFIX}${opts.idPrefix ?? ''}${index}`, LIMITS.actionId),
  };
  if (action.type === 'Action.OpenUrl') {
    if (typeof action.url !== 'string' || !/^https?:\/\//.test(action.url)) return undefined;
    button.url = action.url;
    return button;
  }
  if (action.type !== 'Action.Submit' && action.type !== 'Action.Execute') return undefined;
  const value = opts.encodeAction?.(action, index);
  if (value === undefined) return undefined;
  button.value = value;
  if (enumIs(action.style, 'positive')) button.style = 'primary';
  if (enumIs(action.style, 'destructive')) {
    button.style = 'danger';
    button.confirm = {
      title: plain(`${toPlain(title)}?`, LIMITS.confirmTitle),
      text: plain(`Do you really want to ${toPlain(title).toLowerCase()}?`, LIMITS.confirmText),
      confirm: plain(title, LIMITS.confirmButton),
      deny: plain('Go back', LIMITS.confirmButton),
      style: 'danger',
    };
  }
  return button;
}

function option(title: unknown, value: unknown): Block {
  return { text: plain(String(title ?? value ?? ''), LIMITS.optionText), value: truncate(String(value ?? ''), LIMITS.optionValue) };
}

function inputLabel(n: AcNode): Block {
  const label = [n.label, n.placeholder, n.title, n.id].find((v) => typeof v === 'string' && v.trim()) as string;
  return plain(label, LIMITS.inputLabel);
}

function renderInput(n: AcNode): Block | undefined {
  const id = String(n.id);
  const base: Block = { type: 'input', block_id: truncate(id, LIMITS.blockId), label: inputLabel(n), optional: n.isRequired !== true };
  const placeholder = typeof n.placeholder === 'string' && n.placeholder ? { placeholder: plain(n.placeholder, LIMITS.placeholder) } : {};
  switch (n.type) {
    case 'Input.Text': {
      const element: Block = { type: 'plain_text_input', action_id: id, multiline: n.isMultiline === true, ...placeholder };
      if (typeof n.value === 'string' && n.value) element.initial_value = n.value;
      if (typeof n.maxLength === 'number' && n.maxLength > 0) element.max_length = Math.min(n.maxLength, LIMITS.plainTextInputMax);
      return { ...base, element };
    }
    case 'Input.Number': {
      const nums = [n.min, n.max, n.value].filter((v): v is number => typeof v === 'number');
      const element: Block = {
        type: 'number_input',
        action_id: id,
        // Our numeric inputs are day counts; decimals are offered only when the card itself uses them.
        is_decimal_allowed: nums.some((v) => !Number.isInteger(v)),
        ...placeholder,
      };
      if (typeof n.value === 'number' || (typeof n.value === 'string' && n.value !== '')) element.initial_value = String(n.value);
      if (typeof n.min === 'number') element.min_value = String(n.min);
      if (typeof n.max === 'number') element.max_value = String(n.max);
      return { ...base, element };
    }
    case 'Input.Toggle': {
      const on = typeof n.valueOn === 'string' ? n.valueOn : 'true';
      const opt = option(n.title ?? n.label ?? id, on);
      const element: Block = { type: 'checkboxes', action_id: id, options: [opt] };
      if (n.value === on) element.initial_options = [opt];
      // An unchecked box is a valid answer ("off"), so Slack must not insist on a tick.
      return { ...base, optional: true, element };
    }
    case 'Input.ChoiceSet': {
      const choices = Array.isArray(n.choices) ? (n.choices as Array<{ title?: unknown; value?: unknown }>) : [];
      const multi = n.isMultiSelect === true;
      const expanded = enumIs(n.style, 'expanded');
      const limit = expanded ? (multi ? LIMITS.checkboxOptions : LIMITS.radioOptions) : LIMITS.staticSelectOptions;
      const useExpanded = expanded && choices.length <= limit;
      const options = choices.slice(0, useExpanded ? limit : LIMITS.staticSelectOptions).map((c) => option(c.title, c.value));
      if (options.length === 0) return undefined;
      const selected = typeof n.value === 'string' ? n.value.split(multi ? ',' : '\u0000') : [];
      const initial = options.filter((o) => selected.includes(String(o.value)));
      const type = useExpanded ? (multi ? 'checkboxes' : 'radio_buttons') : multi ? 'multi_static_select' : 'static_select';
      const element: Block = { type, action_id: id, options, ...(useExpanded ? {} : placeholder) };
      if (initial.length > 0) {
        if (multi) element.initial_options = initial;
        else element.initial_option = initial[0];
      }
      return { ...base, element };
    }
    default:
      return undefined;
  }
}

/**
 * Keeps a message within Slack's block count: merges neighbouring text sections first, then drops
 * the tail (keeping the last actions block, so the buttons survive) with a note.
 */
export function fitBlocks(blocks: Block[], max: number): Block[] {
  if (blocks.length <= max) return blocks;
  const merged: Block[] = [];
  for (const b of blocks) {
    const prev = merged[merged.length - 1];
    const prevText = prev && prev.type === 'section' && !prev.fields && !prev.accessory ? (prev.text as Block).text as string : undefined;
    const text = b.type === 'section' && !b.fields && !b.accessory ? (b.text as Block).text as string : undefined;
    if (prevText !== undefined && text !== undefined && prevText.length + text.length + 1 <= LIMITS.sectionText) {
      merged[merged.length - 1] = { type: 'section', text: mrkdwn(`${prevText}\n${text}`) };
    } else merged.push(b);
  }
  if (merged.length <= max) return merged;
  const lastActions = [...merged].reverse().find((b) => b.type === 'actions');
  const room = max - 1 - (lastActions ? 1 : 0);
  const kept = merged.filter((b) => b !== lastActions).slice(0, room);
  const dropped = merged.length - kept.length - (lastActions ? 1 : 0);
  kept.push({ type: 'context', elements: [mrkdwn(`… ${dropped} more item(s) not shown in Slack.`)] });
  if (lastActions) kept.push(lastActions);
  return kept;
}

/** Builds the modal for one form action of a card; `notice` (plain text) goes on top. */
export function renderModal(card: AdaptiveCard, actionIndex: number, privateMetadata: string, notice?: string): Record<string, unknown> {
  const action = cardActions(card)[actionIndex];
  const title = modalTitle(card);
  const submit = typeof action?.title === 'string' && action.title.trim() ? action.title : 'Submit';
  const blocks = renderCard(card, { surface: 'modal' });
  if (notice) blocks.unshift({ type: 'section', text: mrkdwn(`:warning: ${escapeSlack(notice)}`) });
  return {
    type: 'modal',
    callback_id: MODAL_CALLBACK_ID,
    title: plain(title, LIMITS.modalTitle),
    submit: plain(submit, LIMITS.modalButton),
    close: plain('Cancel', LIMITS.modalButton),
    private_metadata: privateMetadata,
    blocks: fitBlocks(blocks, LIMITS.blocksPerModal),
  };
}

/** A modal without a form: "working on it" while the bot is slower than Slack's 3 s, then where the answer is. */
export function statusModal(card: AdaptiveCard, text: string): Record<string, unknown> {
  return {
    type: 'modal',
    callback_id: MODAL_CALLBACK_ID,
    title: plain(modalTitle(card), LIMITS.modalTitle),
    close: plain('Close', LIMITS.modalButton),
    blocks: [{ type: 'section', text: mrkdwn(text) }],
  };
}

function modalTitle(card: AdaptiveCard): string {
  const first = asNodes(card.body).find((n) => n.type === 'TextBlock' && typeof n.text === 'string' && visible(n));
  return first ? toPlain(String(first.text)).split('\n')[0] : 'Hopsworks setup';
}

// ---------------------------------------------------------------------------------------------
// Form state → Teams-shaped values

interface SlackStateValue {
  type?: string;
  value?: string | null;
  selected_option?: { value: string } | null;
  selected_options?: Array<{ value: string }>;
}

/** Input values keyed by Adaptive Card input id, as strings, the way Teams sends them. */
export function viewStateToValues(card: AdaptiveCard, state: Record<string, Record<string, SlackStateValue>> | undefined): Record<string, string> {
  const values: Record<string, string> = {};
  for (const input of cardInputs(card)) {
    const id = String(input.id);
    const entry = state?.[id]?.[id];
    if (input.type === 'Input.Toggle') {
      const on = typeof input.valueOn === 'string' ? input.valueOn : 'true';
      const off = typeof input.valueOff === 'string' ? input.valueOff : 'false';
      values[id] = entry?.selected_options && entry.selected_options.length > 0 ? on : off;
      continue;
    }
    if (!entry) {
      values[id] = '';
      continue;
    }
    if (entry.selected_options) values[id] = entry.selected_options.map((o) => o.value).join(',');
    else if (entry.selected_option !== undefined) values[id] = entry.selected_option?.value ?? '';
    else values[id] = entry.value ?? '';
  }
  return values;
}

/** Default input values of a card: what Teams sends when a button is clicked without editing. */
export function defaultValues(card: AdaptiveCard): Record<string, string> {
  const values: Record<string, string> = {};
  for (const input of cardInputs(card)) {
    const id = String(input.id);
    if (input.type === 'Input.Toggle') {
      const on = typeof input.valueOn === 'string' ? input.valueOn : 'true';
      const off = typeof input.valueOff === 'string' ? input.valueOff : 'false';
      values[id] = input.value === on ? on : off;
    } else values[id] = input.value === undefined || input.value === null ? '' : String(input.value);
  }
  return values;
}

/**
 * The checks an Adaptive Card client runs before submitting (required, regex, length, range), so a
 * Slack user gets the card author's `errorMessage` next to the field exactly as in Teams.
 */
export function validateInputs(card: AdaptiveCard, values: Record<string, string>): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const input of cardInputs(card)) {
    const id = String(input.id);
    const value = values[id] ?? '';
    const label = toPlain(String(input.label ?? input.placeholder ?? id));
    const message = typeof input.errorMessage === 'string' && input.errorMessage ? toPlain(input.errorMessage) : undefined;
    if (input.isRequired === true && value === '' && input.type !== 'Input.Toggle') {
      errors[id] = message ?? `${label} is required.`;
      continue;
    }
    if (value === '') continue;
    if (input.type === 'Input.Text') {
      if (typeof input.regex === 'string' && input.regex) {
        let ok = true;
        try {
          ok = new RegExp(input.regex).test(value);
        } catch {
          ok = true; // A broken pattern is the template's bug; Teams ignores it too.
        }
        if (!ok) errors[id] = message ?? `${label} has an invalid format.`;
      }
      if (typeof input.maxLength === 'number' && input.maxLength > 0 && value.length > input.maxLength) {
        errors[id] = message ?? `${label} must be at most ${input.maxLength} characters.`;
      }
    }
    if (input.type === 'Input.Number') {
      const num = Number(value);
      const bad = !Number.isFinite(num) || (typeof input.min === 'number' && num < input.min) || (typeof input.max === 'number' && num > input.max);
      if (bad) errors[id] = message ?? `${label} must be a number${typeof input.min === 'number' ? ` ≥ ${input.min}` : ''}${typeof input.max === 'number' ? ` and ≤ ${input.max}` : ''}.`;
    }
  }
  return errors;
}

export function decodeButtonValue(value: string | undefined): ButtonPayload | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as ButtonPayload;
    if (parsed && typeof parsed === 'object' && typeof parsed.k === 'string') return parsed;
  } catch {
    return undefined;
  }
  return undefined;
}

export function encodeButtonValue(payload: ButtonPayload): string {
  return JSON.stringify(payload);
}

/** The visible texts of blocks, to tell what an Action.Execute response adds to a message. */
export function blockTexts(blocks: Block[]): Set<string> {
  const texts = new Set<string>();
  for (const b of blocks) {
    const t = (b.text as Block | undefined)?.text;
    if (typeof t === 'string') texts.add(t);
    for (const e of Array.isArray(b.elements) ? (b.elements as Block[]) : []) if (typeof e.text === 'string' && b.type === 'context') texts.add(e.text);
    for (const f of Array.isArray(b.fields) ? (b.fields as Block[]) : []) if (typeof f.text === 'string') texts.add(f.text);
  }
  return texts;
}

/** Text blocks of `next` whose text `current` does not show: the per-user part of a response card. */
export function addedTextBlocks(next: Block[], current: Set<string>): Block[] {
  return next.filter((b) => {
    if (b.type !== 'section' && b.type !== 'header' && b.type !== 'context') return false;
    const texts = [...blockTexts([b])];
    return texts.length > 0 && texts.some((t) => !current.has(t));
  });
}
