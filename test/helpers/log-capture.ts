import { Writable } from 'node:stream';

/** A destination for the bot's JSON logger that keeps every line written to it, for assertions. */
export function captureLog(): { lines: string[]; destination: Writable } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  return { lines, destination };
}
