import sshpk from 'sshpk';
import { BotError } from '../core/errors';
import type { SetupOptions } from '../core/types';

/**
 * Azure's naming rules for everything the plan creates, quoted in the error a requester sees next to
 * the field. Source: MicrosoftDocs azure-docs `resource-name-rules.md` (MS-NAME) and `custom-roles.md`.
 */
export interface NameRule {
  field: keyof SetupOptions;
  label: string;
  /** The rule as Azure states it, shown verbatim to the requester. */
  rule: string;
  test(value: string): boolean;
}

export const STORAGE_ACCOUNT_RULE: NameRule = {
  field: 'storageAccountName',
  label: 'Storage account name',
  rule: 'Storage account names must be 3-24 characters, lowercase letters and numbers only, and unique across all of Azure.',
  test: (v) => /^[a-z0-9]{3,24}$/.test(v),
};

export const REGISTRY_RULE: NameRule = {
  field: 'registryName',
  label: 'Container registry name',
  rule: 'Container registry names must be 5-50 characters, letters and numbers only (alphanumerics), and unique across all of Azure.',
  test: (v) => /^[a-zA-Z0-9]{5,50}$/.test(v),
};

export const CONTAINER_RULE: NameRule = {
  field: 'containerName',
  label: 'Blob container name',
  rule:
    'Container names must be 3-63 characters of lowercase letters, numbers and hyphens, start and end with a letter or number, and may not contain consecutive hyphens.',
  test: (v) => /^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(v) && v.length <= 63,
};

export const IDENTITY_RULE: NameRule = {
  field: 'identityName',
  label: 'Managed identity name',
  rule: 'User-assigned identity names must be 3-128 characters of letters, numbers, hyphens and underscores, and start with a letter or number.',
  test: (v) => /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$/.test(v),
};

/** resource-name-rules.md has no row for sshPublicKeys; this is the Microsoft.Compute rule for images/snapshots, which the RP enforces for keys too. */
export const SSH_KEY_RULE: NameRule = {
  field: 'sshKeyName',
  label: 'SSH key name',
  rule:
    'SSH key names must be 1-80 characters of letters, numbers, underscores, periods and hyphens, start with a letter or number, and end with a letter, number or underscore.',
  test: (v) => /^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]{0,78}[a-zA-Z0-9_])?$/.test(v),
};

export const ROLE_NAME_RULE: NameRule = {
  field: 'roleName',
  label: 'Custom role name',
  rule:
    'Custom role names are at most 512 characters of letters, numbers, spaces and special characters, without leading or trailing spaces or control characters, and must be unique in the Microsoft Entra tenant.',
  // eslint-disable-next-line no-control-regex
  test: (v) => v.length >= 1 && v.length <= 512 && v.trim() === v && !/[\u0000-\u001f\u007f]/.test(v),
};

export const NAME_RULES: NameRule[] = [STORAGE_ACCOUNT_RULE, CONTAINER_RULE, REGISTRY_RULE, IDENTITY_RULE, ROLE_NAME_RULE, SSH_KEY_RULE];

/** Throws `VALIDATION` with the field and Azure's rule when `value` breaks it. */
export function assertName(rule: NameRule, value: string | undefined): void {
  if (typeof value !== 'string' || !rule.test(value)) {
    throw new BotError('VALIDATION', `${rule.label} "${value ?? ''}" is not valid. ${rule.rule}`, {
      details: { field: rule.field, rule: rule.rule, value },
    });
  }
}

export const ACR_RETENTION_RULE = 'Registry retention for untagged manifests is 1-365 days (0 would purge them immediately and is not offered).';
export const BACKUP_RETENTION_RULE =
  'Backup retention is 0 (no backups: managed.hopsworks.ai then blocks cluster backups) or at least 7 days; managed.hopsworks.ai rejects 1-6 and it cannot be changed after the cluster is created.';

/**
 * Azure VMs accept "SSH protocol 2 (SSH-2) RSA with a minimum length of 2048 bits" and "ED25519 keys with a
 * fixed length of 256 bits"; ECDSA and DSA are not supported (learn.microsoft.com, create-ssh-keys-detailed).
 * The sshPublicKeys API reference still says a provided key "needs to be at least 2048-bit and in ssh-rsa
 * format", so ED25519 is accepted with a plan warning.
 */
export const SSH_KEY_FORMAT_RULE =
  'Azure accepts OpenSSH public keys of type ssh-rsa with at least 2048 bits, or ssh-ed25519 (256 bits); ECDSA and DSA keys are not supported.';

export interface ParsedPublicKey {
  /** Single-line OpenSSH form, as sent to Azure. */
  openssh: string;
  type: 'rsa' | 'ed25519';
  bits: number;
  /** SHA256 fingerprint, as `ssh-keygen -l` prints it. */
  fingerprint: string;
}

/** Parses and checks a requester's public key with sshpk. Throws `VALIDATION` (field sshPublicKey) with the rule. */
export function parsePublicKey(text: string | undefined): ParsedPublicKey {
  const fail = (why: string, cause?: unknown): never => {
    throw new BotError('VALIDATION', `SSH public key is not usable: ${why}. ${SSH_KEY_FORMAT_RULE}`, {
      cause,
      details: { field: 'sshPublicKey', rule: SSH_KEY_FORMAT_RULE },
    });
  };
  const cleaned = (text ?? '').replace(/\r?\n/g, ' ').trim();
  if (!cleaned) return fail('it is empty');
  if (/PRIVATE KEY/.test(cleaned)) return fail('this is a private key; paste the public key (the .pub file) and never share the private one');
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(cleaned, 'ssh');
  } catch (err) {
    return fail('it is not an OpenSSH public key (expected "ssh-rsa AAAA… comment")', err);
  }
  if (key.type === 'rsa') {
    if (key.size < 2048) fail(`it is an RSA key of ${key.size} bits`);
  } else if (key.type !== 'ed25519') {
    fail(`it is a ${key.type.toUpperCase()} key`);
  }
  return {
    openssh: key.toString('ssh').trim(),
    type: key.type as 'rsa' | 'ed25519',
    bits: key.size,
    fingerprint: key.fingerprint('sha256').toString(),
  };
}

/** Validates every requester-chosen option (names, numbers, SSH key). Throws `VALIDATION` for the first bad field. */
export function validateOptions(options: SetupOptions): void {
  for (const rule of NAME_RULES) assertName(rule, options[rule.field] as string | undefined);
  const d = options.acrRetentionDays;
  if (!Number.isInteger(d) || d < 1 || d > 365) {
    throw new BotError('VALIDATION', `Registry retention of ${String(d)} days is not valid. ${ACR_RETENTION_RULE}`, {
      details: { field: 'acrRetentionDays', rule: ACR_RETENTION_RULE },
    });
  }
  const b = options.backupRetentionDays;
  if (!Number.isInteger(b) || b < 0 || (b > 0 && b < 7)) {
    throw new BotError('VALIDATION', `Backup retention of ${String(b)} days is not valid. ${BACKUP_RETENTION_RULE}`, {
      details: { field: 'backupRetentionDays', rule: BACKUP_RETENTION_RULE },
    });
  }
  if (options.sshKeyMode !== 'generate' && options.sshKeyMode !== 'provided') {
    throw new BotError('VALIDATION', `SSH key mode must be "generate" or "provided".`, { details: { field: 'sshKeyMode' } });
  }
  if (options.sshKeyMode === 'provided') parsePublicKey(options.sshPublicKey);
  if (options.hopsworksSpObjectId !== undefined && options.hopsworksSpObjectId !== '' && !isGuid(options.hopsworksSpObjectId)) {
    throw new BotError(
      'VALIDATION',
      'The hopsworks.ai service principal object id must be a GUID (the "id" printed by `az ad sp show --id d4abcc44-2c40-40bd-9bba-986df591c28f --query id -o tsv`).',
      { details: { field: 'hopsworksSpObjectId' } },
    );
  }
}

export function isGuid(v: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v);
}

/** Lowercase letters and digits, from an injectable random source. */
export function randomSuffix(random: () => string, length = 8): string {
  let out = '';
  while (out.length < length) out += random().toLowerCase().replace(/[^a-z0-9]/g, '');
  return out.slice(0, length);
}
