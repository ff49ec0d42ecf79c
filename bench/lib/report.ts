/** Turns the benchmark results into one markdown table (printed, and pasted into docs/performance.md). */

export interface Row {
  metric: string;
  value: string;
  baseline?: string;
  ratio?: string;
  target?: string;
  /** undefined: no target for this row. */
  met?: boolean;
}

export function fmtMs(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return 'n/a';
  return ms >= 100 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`;
}

/** CPU time per request: three decimals, since most are well under a millisecond. */
export function fmtCpu(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return 'n/a';
  return `${ms.toFixed(3)} ms`;
}

export function fmtS(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return 'n/a';
  return `${s.toFixed(2)} s`;
}

export function fmtRatio(r: number | undefined): string {
  if (r === undefined || !Number.isFinite(r)) return 'n/a';
  return `${r.toFixed(2)}×`;
}

function cell(s: string | undefined): string {
  return (s ?? '').replace(/\|/g, '\\|');
}

export function markdownTable(rows: Row[]): string {
  const head = '| Metric | Value | Baseline | Ratio | Target | Met |\n|---|---|---|---|---|---|';
  const body = rows
    .map((r) => `| ${cell(r.metric)} | ${cell(r.value)} | ${cell(r.baseline)} | ${cell(r.ratio)} | ${cell(r.target)} | ${r.met === undefined ? '' : r.met ? 'yes' : '**no**'} |`)
    .join('\n');
  return `${head}\n${body}`;
}
