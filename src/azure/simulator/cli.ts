/*
 * Runs the ARM simulator standalone and prints one JSON line with its endpoints, e.g. for tests that run
 * the bot as a child process in live mode against it:
 *
 *   node scripts/with-sandbox-ca.js tsx src/azure/simulator/cli.ts --time-scale 0.01 --state data/sim.json
 *
 * Options: --port N, --identity-port N, --host H, --time-scale X, --state FILE, --ca-dir DIR,
 * --propagation-ms N, --tenant-id ID, --identity-header S, --faults JSON, --throttle JSON, --inline-lro-ms N,
 * --unregistered NS1,NS2 (namespaces left NotRegistered; pass '' for none).
 * SIGINT/SIGTERM close it (flushing the state file) and exit 0.
 */
import { ArmSimulatorOptions, startArmSimulator } from './index';

function parseArgs(argv: string[]): ArmSimulatorOptions {
  const opts: ArmSimulatorOptions = {};
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n)) throw new Error(`${name} needs a number, got ${String(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--port': opts.port = num(a, v); i++; break;
      case '--identity-port': opts.identityPort = num(a, v); i++; break;
      case '--host': opts.host = v; i++; break;
      case '--time-scale': opts.timeScale = num(a, v); i++; break;
      case '--state': opts.statePath = v; i++; break;
      case '--ca-dir': opts.caDir = v; i++; break;
      case '--propagation-ms': opts.propagationDelayMs = num(a, v); i++; break;
      case '--tenant-id': opts.tenantId = v; i++; break;
      case '--identity-header': opts.identityHeader = v; i++; break;
      case '--inline-lro-ms': opts.inlineLroMaxMs = num(a, v); i++; break;
      case '--faults': opts.faults = JSON.parse(v ?? '{}') as ArmSimulatorOptions['faults']; i++; break;
      case '--throttle': opts.throttle = JSON.parse(v ?? '{}') as ArmSimulatorOptions['throttle']; i++; break;
      case '--unregistered': opts.unregisteredProviders = (v ?? '').split(',').filter(Boolean); i++; break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  return opts;
}

async function main(): Promise<void> {
  let options: ArmSimulatorOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`arm-simulator: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const sim = await startArmSimulator(options);
  // Handlers first, then the line that says it is up: a SIGTERM sent as soon as the line is read must find them.
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    void sim.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stdout.write(
    JSON.stringify({
      armEndpoint: sim.armEndpoint,
      identityEndpoint: sim.identityEndpoint,
      identityHeader: sim.identityHeader,
      tenantId: sim.tenantId,
      subscriptionId: sim.subscriptionId,
      botPrincipalId: sim.botPrincipalId,
      botClientId: sim.botClientId,
      caCertPath: sim.caCertPath,
    }) + '\n',
  );
}

void main();
