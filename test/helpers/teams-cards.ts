/** Parses a card with the adaptivecards library (helper C): returns every parse and validation message. */
// The package's default entry is an ESM build that does not load in Node; the UMD bundle does.
const AC = require('adaptivecards/dist/adaptivecards.js');

export function cardProblems(card: unknown): string[] {
  const problems: string[] = [];
  const ac = new AC.AdaptiveCard();
  const ctx = new AC.SerializationContext();
  ac.parse(card, ctx);
  for (let i = 0; i < ctx.eventCount; i++) problems.push(`parse: ${ctx.getEventAt(i).message}`);
  const results = ac.validateProperties();
  for (const e of results.validationEvents as { message: string }[]) problems.push(`validate: ${e.message}`);
  const text = JSON.stringify(card);
  if (text.includes('${')) problems.push(`unexpanded binding: ${text.match(/.{0,40}\$\{[^}]*\}/)?.[0]}`);
  return problems;
}

/** Every TextBlock text in a card, in document order. */
export function cardTexts(card: unknown): string[] {
  const out: string[] = [];
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (n && typeof n === 'object') {
      const o = n as Record<string, unknown>;
      if (o.type === 'TextBlock' && typeof o.text === 'string') out.push(o.text);
      if (o.type === 'FactSet' && Array.isArray(o.facts)) for (const f of o.facts as { title: string; value: string }[]) out.push(`${f.title}: ${f.value}`);
      Object.values(o).forEach(walk);
    }
  };
  walk(card);
  return out;
}

/** Actions anywhere in a card (card-level and ActionSets), as [type, verb or title, data]. */
export function cardActions(card: unknown): { type: string; title?: string; verb?: string; data?: Record<string, unknown> }[] {
  const out: { type: string; title?: string; verb?: string; data?: Record<string, unknown> }[] = [];
  const walk = (n: unknown, inActions: boolean): void => {
    if (Array.isArray(n)) n.forEach((x) => walk(x, inActions));
    else if (n && typeof n === 'object') {
      const o = n as Record<string, unknown>;
      if (inActions && typeof o.type === 'string' && o.type.startsWith('Action.')) out.push(o as never);
      for (const [k, v] of Object.entries(o)) if (k !== 'refresh') walk(v, k === 'actions');
    }
  };
  walk(card, false);
  return out;
}

/** Input ids with their values. */
export function cardInputs(card: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (n && typeof n === 'object') {
      const o = n as Record<string, unknown>;
      if (typeof o.type === 'string' && o.type.startsWith('Input.') && typeof o.id === 'string') out[o.id] = o.value;
      Object.values(o).forEach(walk);
    }
  };
  walk(card);
  return out;
}
