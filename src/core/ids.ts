/** Prefix of readable request ids. */
export const REQUEST_ID_PREFIX = 'HW-';

/** First number handed out, so ids look like `HW-1001`. */
export const FIRST_REQUEST_NUMBER = 1001;

/** Readable id for a counter value, e.g. 1042 → `HW-1042`. */
export function formatRequestId(n: number): string {
  return `${REQUEST_ID_PREFIX}${n}`;
}

/** Normalises what a person typed (`hw-1042`, ` HW-1042 `) to the stored form, or undefined when it is no request id. */
export function parseRequestId(text: string): string | undefined {
  const m = /^\s*hw-(\d{1,9})\s*$/i.exec(text);
  return m ? formatRequestId(Number(m[1])) : undefined;
}
