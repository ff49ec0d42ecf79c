import { generateKeyPairSync } from 'node:crypto';
import sshpk from 'sshpk';
import { isBotError } from '../../src/core/errors';
import type { PlanStep, SetupOptions } from '../../src/core/types';
import { deterministicGuid, roleAssignmentName } from '../../src/azure/arm';
import { armErrorInfo, remediationFor, stepFailure } from '../../src/azure/errors';
import { assertName, CONTAINER_RULE, IDENTITY_RULE, parsePublicKey, REGISTRY_RULE, SSH_KEY_RULE, STORAGE_ACCOUNT_RULE, validateOptions } from '../../src/azure/naming';
import { actionMatches, isAllowed, missingActions, requiredActionsForPlan } from '../../src/azure/permissions';
import { HOPSWORKS_ROLE_ACTIONS, INSTANCE_ROLE_ACTIONS, INSTANCE_ROLE_DATA_ACTIONS } from '../../src/azure/roles';
import { estimateCost } from '../../src/azure/cost';
import prices from '../../src/azure/prices.json';

function openssh(type: 'rsa' | 'ed25519' | 'ec', bits?: number): string {
  const { publicKey } =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: bits ?? 2048 })
      : type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
        : generateKeyPairSync('ed25519');
  return sshpk.parseKey(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'pem').toString('ssh') + ' someone@laptop';
}

const options = (over: Partial<SetupOptions> = {}): SetupOptions => ({
  storageAccountName: 'hopsworksabc12345',
  containerName: 'hopsworks-hw-1042',
  registryName: 'hopsworksecr',
  identityName: 'hopsworks-instance',
  roleName: 'hopsworks-instance',
  sshKeyName: 'hopsworksKey',
  acrRetentionDays: 7,
  backupRetentionDays: 7,
  sshKeyMode: 'generate',
  ...over,
});

function validationField(fn: () => void): { field: unknown; message: string } {
  try {
    fn();
  } catch (err) {
    if (isBotError(err, 'VALIDATION')) return { field: err.details?.field, message: err.message };
    throw err;
  }
  throw new Error('expected a VALIDATION error');
}

describe('Azure naming rules', () => {
  it.each([
    [STORAGE_ACCOUNT_RULE.label, STORAGE_ACCOUNT_RULE, ['abc', 'hopsworks12345678', 'a'.repeat(24)], ['ab', 'Hopsworks', 'hops-works', 'a'.repeat(25)]],
    [REGISTRY_RULE.label, REGISTRY_RULE, ['hopsworksecr', 'ACR01', 'a'.repeat(50)], ['acr1', 'hops-ecr', 'a'.repeat(51)]],
    [CONTAINER_RULE.label, CONTAINER_RULE, ['abc', 'hopsworks-hw-1042', 'a-b-c', 'a'.repeat(63)], ['ab', '-abc', 'abc-', 'a--b', 'ABC', 'a'.repeat(64)]],
    [IDENTITY_RULE.label, IDENTITY_RULE, ['abc', 'hopsworks-instance', 'id_1'], ['ab', '-abc', '_abc', 'a.b', 'a'.repeat(129)]],
    [SSH_KEY_RULE.label, SSH_KEY_RULE, ['k', 'hopsworksKey', 'key.v2_', 'a'.repeat(80)], ['', '.key', 'key.', 'key-', 'a'.repeat(81), 'key/1']],
  ])('%s: accepts and rejects per Azure rule', (_label, rule, good, bad) => {
    for (const v of good) expect(() => assertName(rule, v)).not.toThrow();
    for (const v of bad) {
      const { field, message } = validationField(() => assertName(rule, v));
      expect(field).toBe(rule.field);
      // The requester sees Azure's rule next to the field.
      expect(message).toContain(rule.rule);
    }
  });

  it('validates retention days and names the field', () => {
    expect(validationField(() => validateOptions(options({ acrRetentionDays: 0 }))).field).toBe('acrRetentionDays');
    expect(validationField(() => validateOptions(options({ acrRetentionDays: 366 }))).field).toBe('acrRetentionDays');
    expect(validationField(() => validateOptions(options({ backupRetentionDays: 3 }))).field).toBe('backupRetentionDays');
    expect(() => validateOptions(options({ backupRetentionDays: 0 }))).not.toThrow();
    expect(() => validateOptions(options({ backupRetentionDays: 30, acrRetentionDays: 365 }))).not.toThrow();
    expect(validationField(() => validateOptions(options({ hopsworksSpObjectId: 'not-a-guid' }))).field).toBe('hopsworksSpObjectId');
  });
});

describe('SSH public keys', () => {
  it('accepts RSA >= 2048 and ED25519, with a fingerprint', () => {
    const rsa = parsePublicKey(openssh('rsa', 2048));
    expect(rsa).toMatchObject({ type: 'rsa', bits: 2048 });
    expect(rsa.fingerprint).toMatch(/^SHA256:/);
    expect(rsa.openssh.startsWith('ssh-rsa AAAA')).toBe(true);
    expect(parsePublicKey(openssh('ed25519'))).toMatchObject({ type: 'ed25519', bits: 256 });
  });

  it('rejects short RSA, ECDSA, private keys and garbage, quoting the rule', () => {
    for (const bad of [openssh('rsa', 1024), openssh('ec'), '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----', 'ssh-rsa notbase64', '']) {
      const { field, message } = validationField(() => parsePublicKey(bad));
      expect(field).toBe('sshPublicKey');
      expect(message).toContain('ssh-rsa with at least 2048 bits');
    }
    expect(validationField(() => parsePublicKey(openssh('rsa', 1024))).message).toContain('1024 bits');
  });

  it('a provided key is required in provided mode', () => {
    expect(validationField(() => validateOptions(options({ sshKeyMode: 'provided' }))).field).toBe('sshPublicKey');
    expect(() => validateOptions(options({ sshKeyMode: 'provided', sshPublicKey: openssh('rsa', 2048) }))).not.toThrow();
  });
});

describe('effective permissions', () => {
  it('matches wildcards case-insensitively', () => {
    expect(actionMatches('*', 'Microsoft.Storage/storageAccounts/write')).toBe(true);
    expect(actionMatches('Microsoft.Storage/*', 'microsoft.storage/storageAccounts/write')).toBe(true);
    expect(actionMatches('*/read', 'Microsoft.Compute/sshPublicKeys/read')).toBe(true);
    expect(actionMatches('*/read', 'Microsoft.Compute/sshPublicKeys/write')).toBe(false);
    expect(actionMatches('Microsoft.Storage/*/read', 'Microsoft.Storage/storageAccounts/blobServices/containers/read')).toBe(true);
    expect(actionMatches('Microsoft.Storage/storageAccounts/write', 'Microsoft.Storage/storageAccounts/writeX')).toBe(false);
  });

  it('subtracts notActions within a role only, then unions roles', () => {
    const contributor = { actions: ['*'], notActions: ['Microsoft.Authorization/*/Write', 'Microsoft.Authorization/*/Delete'] };
    expect(isAllowed([contributor], 'Microsoft.Storage/storageAccounts/write')).toBe(true);
    expect(isAllowed([contributor], 'Microsoft.Authorization/roleDefinitions/write')).toBe(false);
    const rbacAdmin = { actions: ['Microsoft.Authorization/roleAssignments/*'], notActions: [] };
    expect(isAllowed([contributor, rbacAdmin], 'Microsoft.Authorization/roleAssignments/write')).toBe(true);
    expect(missingActions([contributor, rbacAdmin], ['Microsoft.Authorization/roleDefinitions/write', 'Microsoft.Authorization/roleAssignments/write', 'Microsoft.Storage/storageAccounts/write'])).toEqual([
      'Microsoft.Authorization/roleDefinitions/write',
    ]);
  });

  it('derives what a plan needs from its steps', () => {
    const s = (kind: PlanStep['kind'], action: PlanStep['action'], properties: Record<string, unknown> = {}): PlanStep => ({ id: kind, kind, action, title: kind, properties, dependsOn: [] });
    const need = requiredActionsForPlan([
      s('registerProvider', 'create', { namespace: 'Microsoft.ContainerRegistry' }),
      s('registerProvider', 'reuse', { namespace: 'Microsoft.Network' }),
      s('sshPublicKey', 'create', { generateKeyPair: true }),
      s('storageAccount', 'reuse'),
      s('managedIdentity', 'delete'),
    ]);
    expect(need).toEqual(expect.arrayContaining(['Microsoft.ContainerRegistry/register/action', 'Microsoft.Compute/sshPublicKeys/generateKeyPair/action', 'Microsoft.ManagedIdentity/userAssignedIdentities/delete']));
    expect(need).not.toContain('Microsoft.Network/register/action');
    expect(need).not.toContain('Microsoft.Storage/storageAccounts/write');
  });
});

describe('role definitions from the guide', () => {
  it('copies the guide exactly', () => {
    expect(INSTANCE_ROLE_ACTIONS).toHaveLength(8);
    expect(INSTANCE_ROLE_DATA_ACTIONS).toHaveLength(4);
    expect(new Set(HOPSWORKS_ROLE_ACTIONS).size).toBe(35);
    expect(HOPSWORKS_ROLE_ACTIONS).toContain('Microsoft.Authorization/roleAssignments/read');
    expect(HOPSWORKS_ROLE_ACTIONS).not.toContain('Microsoft.Compute/virtualMachines/powerOff/action');
  });
});

describe('deterministic names', () => {
  it('gives the same v5-style GUID for the same scope, principal and role', () => {
    const a = roleAssignmentName('/subscriptions/s/resourceGroups/rg', 'p1', '/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/r1');
    const b = roleAssignmentName('/subscriptions/S/resourceGroups/RG', 'P1', '/providers/Microsoft.Authorization/roleDefinitions/R1');
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(deterministicGuid('x')).not.toBe(deterministicGuid('y'));
  });
});

describe('ARM errors', () => {
  it('reads the code of a failed ACR long-running operation from the message', () => {
    const info = armErrorInfo(new Error('The long-running operation has failed. RegistryNameNotAvailable. The registry name hopsworksecr is already in use.'));
    expect(info).toMatchObject({ code: 'RegistryNameNotAvailable', message: 'The registry name hopsworksecr is already in use.' });
  });

  it('reads RestError-like errors and names the action and scope to grant', () => {
    const err = Object.assign(new Error('denied'), {
      name: 'RestError',
      statusCode: 403,
      code: 'AuthorizationFailed',
      details: {
        error: {
          code: 'AuthorizationFailed',
          message: "The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.Storage/storageAccounts/write' over scope '/subscriptions/s/resourceGroups/rg' or the scope is invalid.",
        },
      },
    });
    const failure = stepFailure('Create storage account', err);
    expect(failure.code).toBe('AZURE');
    expect(failure.cause).toBe(err);
    const detail = failure.details?.error as { code: string; remediation: string };
    expect(detail.code).toBe('AuthorizationFailed');
    expect(detail.remediation).toContain('"Microsoft.Storage/storageAccounts/write" on /subscriptions/s/resourceGroups/rg');
    expect(remediationFor({ code: 'PrincipalNotFound', message: '' })).toMatch(/replicat/);
  });
});

describe('cost estimate', () => {
  it('charges the Premium registry per day and dates the estimate', () => {
    const steps: PlanStep[] = [
      { id: 'containerRegistry', kind: 'containerRegistry', action: 'create', title: '', properties: { name: 'hopsworksecr' }, dependsOn: [] },
      { id: 'storageAccount', kind: 'storageAccount', action: 'create', title: '', properties: { name: 'sa', sku: 'Standard_RAGRS' }, dependsOn: [] },
    ];
    const cost = estimateCost(steps);
    expect(cost.priceListDate).toBe(prices.priceListDate);
    expect(cost.monthlyTotal).toBeCloseTo(prices.containerRegistry.Premium.perDayUsd * prices.daysPerMonth, 1);
    expect(cost.lines.find((l) => l.item.includes('Storage'))?.note).toMatch(/GB/);
    expect(estimateCost([{ ...steps[0], action: 'reuse' }]).monthlyTotal).toBe(0);
  });
});
