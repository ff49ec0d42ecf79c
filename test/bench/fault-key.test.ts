import { faultKey } from '../../bench/setups';

// Setup i alone (rg-alone-00i) and setup i of the burst (rg-burst-00i) must draw the same faults: their
// requests get the same keys although every request names its own storage account, registry and role.
const slotOf = new Map([
  ['rg-alone-003', 3],
  ['rg-burst-003', 3],
  ['rg-burst-004', 4],
]);
const sub = '/subscriptions/00000000-0000-0000-0000-000000000001';

describe('concurrent setups bench: fault keys', () => {
  it('gives the same key to the same request of the same slot, whatever the resource names', () => {
    const alone = faultKey('PUT', `${sub}/resourceGroups/rg-alone-003/providers/Microsoft.Storage/storageAccounts/hopsworks1a2b3c4d/blobServices/default/containers/hopsworks-hw-1001`, slotOf);
    const burst = faultKey('PUT', `${sub}/resourcegroups/RG-BURST-003/providers/Microsoft.Storage/storageAccounts/hopsworks9f8e7d6c/blobServices/default/containers/hopsworks-hw-1042`, slotOf);
    expect(burst).toBe(alone);
    expect(alone).toBe('PUT slot3 microsoft.storage/storageaccounts/blobservices/containers');
  });

  it('tells slots, methods, resource types and actions apart', () => {
    const key = (method: string, rg: string, rest: string) => faultKey(method, `${sub}/resourceGroups/${rg}/providers/${rest}`, slotOf);
    const keys = [
      key('GET', 'rg-burst-003', 'Microsoft.ContainerRegistry/registries/hopsworksecr1'),
      key('GET', 'rg-burst-004', 'Microsoft.ContainerRegistry/registries/hopsworksecr2'),
      key('PUT', 'rg-burst-003', 'Microsoft.ContainerRegistry/registries/hopsworksecr1'),
      key('GET', 'rg-burst-003', 'Microsoft.ContainerRegistry/registries/hopsworksecr1/operationStatuses/registries-abc'),
      key('PUT', 'rg-burst-003', 'Microsoft.Compute/sshPublicKeys/hopsworksKey'),
      key('POST', 'rg-burst-003', 'Microsoft.Compute/sshPublicKeys/hopsworksKey/generateKeyPair'),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys[5]).toBe('POST slot3 microsoft.compute/sshpublickeys/generatekeypair');
  });

  it('keys requests outside the slotted resource groups by their whole path', () => {
    expect(faultKey('GET', `${sub}/providers/Microsoft.Storage`, slotOf)).toBe(`GET ${sub.toLowerCase()}/providers/microsoft.storage`);
    expect(faultKey('GET', `${sub}/resourceGroups/rg-other/providers/Microsoft.Storage/storageAccounts/x`, slotOf)).toBe(`GET ${sub.toLowerCase()}/resourcegroups/rg-other/providers/microsoft.storage/storageaccounts/x`);
  });
});
