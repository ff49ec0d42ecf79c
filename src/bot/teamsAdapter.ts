/**
 * The Teams adapter behind `POST /api/messages`: botbuilder's CloudAdapter, entered one step further in.
 *
 * `CloudAdapter.process` is written for Express- or Restify-shaped request and response objects. On every
 * call it checks them with zod (five parses, three of them through schemas it builds for that call), fixes the
 * activity's timestamps, takes the Authorization header, and then calls its protected `processActivity`,
 * which authenticates the request and runs the turn. Our server has already read, size-checked and parsed
 * the body, so this subclass starts at the timestamps and calls `processActivity` itself; the server
 * writes the answer. Authentication, the turn and the invoke response are botbuilder's, unchanged.
 */
import { CloudAdapter, StatusCodes, type Activity, type TurnContext } from 'botbuilder';
import { validateAndFixActivity } from 'botbuilder/lib/activityValidator';
import { AuthenticationError } from 'botframework-connector';

/** What to answer the Bot Framework request with. */
export interface BotHttpAnswer {
  status: number;
  /** The invoke response's body (JSON), if any. */
  body?: unknown;
  /** Why authentication refused the request (for the log; never sent). */
  authFailure?: string;
}

export class TeamsCloudAdapter extends CloudAdapter {
  /**
   * Runs one Bot Framework request: `activity` is the parsed body (an object with a string `type`), and
   * `authorization` the request's Authorization header (empty when absent). Resolves to 401 when
   * authentication refuses it, otherwise to the turn's invoke response or 200. Other failures reject.
   */
  async handleActivity(authorization: string, activity: Record<string, unknown>, logic: (context: TurnContext) => Promise<void>): Promise<BotHttpAnswer> {
    const fixed = validateAndFixActivity(activity as unknown as Activity);
    try {
      const invokeResponse = await this.processActivity(authorization, fixed, logic);
      return { status: invokeResponse?.status ?? StatusCodes.OK, body: invokeResponse?.body };
    } catch (err) {
      if (err instanceof AuthenticationError) return { status: StatusCodes.UNAUTHORIZED, authFailure: err.message };
      throw err;
    }
  }
}
