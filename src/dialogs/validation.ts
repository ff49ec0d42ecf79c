/**
 * Server-side reading of the options card. Names are checked by the planner (Azure's rules, one place);
 * here: presence, numbers, the SSH key mode, the optional object id and the reason.
 */
import type { FieldErrors, OptionsFormValues } from '../bot/cards';
import type { SetupOptions } from '../core/types';

const NAME_FIELDS = ['storageAccountName', 'containerName', 'registryName', 'identityName', 'roleName', 'sshKeyName'] as const;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const MAX_REASON = 500;

function str(v: unknown): string {
  return typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '';
}

function int(v: unknown): number | undefined {
  const s = str(v);
  if (!/^-?\d+$/.test(s)) return undefined;
  return Number(s);
}

/** True when text looks like a private key: it must never be kept, echoed or stored. */
export function looksLikePrivateKey(text: string): boolean {
  return /PRIVATE KEY|PuTTY-User-Key-File|^\s*-----BEGIN OPENSSH/i.test(text);
}

/**
 * Reads what the options card submitted. Invalid numbers keep the previous value in the form (so the
 * card shows something sensible) and report the field; a pasted private key is dropped, never kept.
 */
export function readOptionsForm(value: Record<string, unknown>, previous: OptionsFormValues): { values: OptionsFormValues; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const values: OptionsFormValues = { ...previous };
  for (const f of NAME_FIELDS) {
    values[f] = str(value[f]).slice(0, 200);
    if (values[f] === '') errors[f] = 'Required.';
  }
  const acr = int(value.acrRetentionDays);
  if (acr === undefined || acr < 1 || acr > 365) errors.acrRetentionDays = 'Registry retention is a whole number of days from 1 to 365.';
  else values.acrRetentionDays = acr;
  const backup = int(value.backupRetentionDays);
  if (backup === undefined || backup < 0 || (backup > 0 && backup < 7) || backup > 3650) {
    errors.backupRetentionDays = 'Backup retention is 0 (no backups) or at least 7 days, as managed.hopsworks.ai requires.';
  } else values.backupRetentionDays = backup;
  const mode = str(value.sshKeyMode);
  if (mode === 'generate' || mode === 'provided') values.sshKeyMode = mode;
  else errors.sshKeyMode = 'Choose whether Azure generates the key or you paste your public key.';
  const key = str(value.sshPublicKey).slice(0, 16_384);
  delete values.sshPublicKey;
  if (looksLikePrivateKey(key)) {
    errors.sshPublicKey = 'That is a private key. It was discarded and not stored: paste the public key (the .pub file) instead, and consider this private key exposed.';
  } else if (values.sshKeyMode === 'provided') {
    if (key === '') errors.sshPublicKey = 'Paste your OpenSSH public key, or choose to generate one.';
    else values.sshPublicKey = key;
  }
  const sp = str(value.hopsworksSpObjectId);
  delete values.hopsworksSpObjectId;
  if (sp !== '') {
    values.hopsworksSpObjectId = sp.slice(0, 64);
    if (!GUID.test(sp)) errors.hopsworksSpObjectId = 'The object id is a GUID like 00000000-0000-0000-0000-000000000000 (Entra ID, Enterprise applications, hopsworks.ai).';
  }
  const reason = str(value.reason);
  values.reason = reason.slice(0, MAX_REASON);
  if (reason === '') errors.reason = 'Say why you need this: the approver reads it before deciding.';
  else if (reason.length > MAX_REASON) errors.reason = `Keep the reason under ${MAX_REASON} characters.`;
  return { values, errors };
}

/** The options part of the form values (the reason travels separately). */
export function toSetupOptions(values: OptionsFormValues): SetupOptions {
  const { reason: _reason, ...options } = values;
  return options;
}
