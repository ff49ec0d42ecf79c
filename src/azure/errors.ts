import { BotError } from '../core/errors';
import type { StepError } from '../core/types';

/** What ARM said, however the SDK surfaced it. */
export interface ArmErrorInfo {
  code: string;
  message: string;
  statusCode?: number;
}

interface RestErrorLike {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  details?: unknown;
  response?: { bodyAsText?: string | null; status?: number };
}

/**
 * Extracts the ARM error code and message. A failed HTTP call is a `RestError` (code/statusCode, details =
 * parsed body); a failed long-running operation of the modular clients (ACR, storage on some paths) is a
 * plain `Error` with "The long-running operation has failed. <code>. <message>".
 */
export function armErrorInfo(err: unknown): ArmErrorInfo {
  const e = (err ?? {}) as RestErrorLike;
  const message = typeof e.message === 'string' ? e.message : String(err);
  const lro = /long-running operation has failed\. ([A-Za-z0-9_.]+)\. ([\s\S]*)$/.exec(message);
  if (lro) return { code: lro[1], message: lro[2].trim(), statusCode: e.statusCode };
  const body = bodyError(e);
  const code = body?.code ?? (typeof e.code === 'string' && e.code ? e.code : undefined);
  return {
    code: code ?? (e.statusCode ? `Http${e.statusCode}` : 'UnknownError'),
    message: body?.message ?? message,
    statusCode: e.statusCode ?? e.response?.status,
  };
}

function bodyError(e: RestErrorLike): { code?: string; message?: string } | undefined {
  const d = e.details as { error?: { code?: string; message?: string }; code?: string; message?: string } | undefined;
  if (d?.error?.code) return d.error;
  if (d?.code) return d;
  const text = e.response?.bodyAsText;
  if (text) {
    try {
      const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
      if (parsed.error?.code) return parsed.error;
    } catch {
      // not JSON: fall back to the SDK's own message
    }
  }
  return undefined;
}

export function isNotFound(err: unknown): boolean {
  const e = err as RestErrorLike;
  if (e?.statusCode === 404) return true;
  const { code } = armErrorInfo(err);
  return /NotFound$/i.test(code);
}

/** A concrete sentence a person can act on, per ARM error code. */
export function remediationFor(info: ArmErrorInfo, context: { scope?: string; action?: string } = {}): string {
  const { code, message } = info;
  switch (code) {
    case 'AuthorizationFailed':
    case 'LinkedAuthorizationFailed': {
      const action = /perform action '([^']+)'/.exec(message)?.[1] ?? context.action ?? 'the action named in the message';
      const scope = /over scope '([^']+)'/.exec(message)?.[1] ?? context.scope ?? 'the resource group';
      return `Grant the bot's managed identity "${action}" on ${scope} (manifest/azure/bot-role.json has the full role), wait a few minutes for RBAC to refresh, then retry the request.`;
    }
    case 'MissingSubscriptionRegistration':
    case 'NoRegisteredProviderFound':
      return 'Register the resource provider named in the message on the subscription (az provider register --namespace <namespace>), or grant the bot "<namespace>/register/action" at subscription scope, then retry.';
    case 'PrincipalNotFound':
      return 'The new managed identity has not replicated through Microsoft Entra ID yet (this can take several minutes). Retry the request; the bot already waited the configured maximum.';
    case 'RoleDefinitionWithSameNameExists':
      return 'A custom role with this name already exists elsewhere in the tenant. Start a new setup and choose another role name (the bot proposes a free one).';
    case 'RoleDefinitionHasAssignments':
      return 'The role is still assigned. Remove its remaining role assignments (az role assignment list --role <name>) before deleting it, or keep the role.';
    case 'RoleAssignmentExists':
      return 'An equivalent role assignment already exists; nothing to do. Retry the request to record it.';
    case 'StorageAccountAlreadyTaken':
    case 'StorageAccountAlreadyExists':
    case 'AlreadyInUse':
    case 'RegistryNameNotAvailable':
    case 'NameNotAvailable':
      return 'The global name was taken after the plan was approved. Start a new setup: the bot proposes a name that is free.';
    case 'RequestDisallowedByPolicy':
      return 'An Azure Policy assignment denied the request. Ask your Azure policy administrator for an exemption on this resource group, or change the option the policy objects to.';
    case 'ResourceGroupNotFound':
      return 'The resource group no longer exists. Recreate it or start a new setup for another resource group.';
    case 'QuotaExceeded':
    case 'OperationNotAllowed':
      return 'A subscription quota or restriction blocked the request. Request a quota increase for the resource type named in the message, then retry.';
    case 'TooManyRequests':
    case 'Throttled':
    case 'SubscriptionRequestsThrottled':
      return 'Azure Resource Manager kept throttling the bot after several retries. Wait a few minutes and retry the request.';
    case 'KeyPairAlreadyGenerated':
      return 'Azure generates a key pair only once per SSH key resource. Delete the SSH key resource, then retry to generate a new pair.';
    default:
      if ((info.statusCode ?? 0) >= 500)
        return 'Azure returned a server error that persisted through the automatic retries. Retry the request; if it keeps failing, check the Azure status page and the resource group activity log.';
      return 'Check the resource group activity log in the Azure portal for this operation, fix the cause, then retry the request.';
  }
}

/** The error a failed step throws: code AZURE, with the ARM code, message and remediation in details.error. */
export function stepFailure(stepTitle: string, err: unknown, context: { scope?: string; action?: string } = {}): BotError {
  if (err instanceof BotError) return err;
  const info = armErrorInfo(err);
  const error: StepError = { code: info.code, message: info.message, remediation: remediationFor(info, context) };
  return new BotError('AZURE', `${stepTitle} failed: ${info.code}: ${info.message}`, { cause: err, details: { error } });
}

/** A step failure of our own making (no ARM error behind it). */
export function ownFailure(stepTitle: string, code: string, message: string, remediation: string): BotError {
  return new BotError('AZURE', `${stepTitle} failed: ${code}: ${message}`, { details: { error: { code, message, remediation } } });
}
