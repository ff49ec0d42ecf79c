/**
 * The command language, the same in Teams (`@Hopsworks status hw-1042`) and Slack (`/hopsworks status hw-1042`).
 * The bot strips its @mention before parsing; a leading `/hopsworks` or `hopsworks` is tolerated.
 */
import { parseRequestId } from '../core/ids';

export type CommandName = 'setup' | 'status' | 'help' | 'cancel' | 'retry' | 'teardown' | 'adminChannel';

export type Command =
  | { name: CommandName; id?: string; /** What was typed where an id belongs, when it is no request id. */ badId?: string }
  | { name: 'unknown'; text: string }
  | { name: 'empty' };

const WITH_ID: Record<string, CommandName> = { status: 'status', cancel: 'cancel', retry: 'retry', teardown: 'teardown' };

export function parseCommand(raw: string | undefined): Command {
  const text = (raw ?? '')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^\/?hopsworks\b\s*/i, '');
  if (text === '') return { name: 'empty' };
  const [first, ...rest] = text.split(' ');
  const word = first.toLowerCase();
  const arg = rest.join(' ').trim();
  if (word === 'setup' && arg === '') return { name: 'setup' };
  if (word === 'help' || word === '?') return { name: 'help' };
  if (word === 'admin-channel' && arg === '') return { name: 'adminChannel' };
  if (word === 'admin' && arg.toLowerCase() === 'channel') return { name: 'adminChannel' };
  const name = WITH_ID[word];
  if (name) {
    if (arg === '') return { name };
    const [idText, ...extra] = arg.split(' ');
    const id = parseRequestId(idText);
    if (!id || extra.length > 0) return { name, badId: arg };
    return { name, id };
  }
  return { name: 'unknown', text };
}
