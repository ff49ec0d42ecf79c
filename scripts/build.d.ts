/** Types for scripts/build.js (plain JS: `npm start` runs it before any TypeScript tooling). */
export type SourceMapMode = 'linked' | 'inline' | false;
export declare const ROOT: string;
export declare const DEFAULT_OUTFILE: string;
export declare function buildEntry(entry: string, outfile: string, opts?: { sourcemap?: SourceMapMode }): string;
export declare function buildBot(outfile?: string, opts?: { sourcemap?: SourceMapMode }): string;
