import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import forge from 'node-forge';

/** The sandbox CA on disk; `certPath` is what NODE_EXTRA_CA_CERTS must point at. */
export interface SandboxCa {
  dir: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

interface Launcher {
  ensureSandboxCa(dir?: string): SandboxCa;
}

// One implementation of the CA lives in the launcher (plain JS, it must run before the bot). It is looked
// for in the project folder above this module, at most four levels up (src/azure/simulator, or dist/ for
// the built bot, wherever the process was started from), then under the working directory.
function loadLauncher(): Launcher {
  const candidates: string[] = [];
  for (let dir = __dirname, up = 0; up <= 4; dir = path.dirname(dir), up++) {
    candidates.push(path.join(dir, 'scripts', 'with-sandbox-ca.js'));
    if (path.dirname(dir) === dir) break;
  }
  candidates.push(path.resolve(process.cwd(), 'scripts/with-sandbox-ca.js'));
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`scripts/with-sandbox-ca.js not found (looked in ${candidates.join(', ')})`);
  return require(found) as Launcher;
}

/** Creates the CA under `dir` (default SANDBOX_CA_DIR or ./.sandbox) unless a usable one exists. */
export function ensureSandboxCa(dir?: string): SandboxCa {
  return loadLauncher().ensureSandboxCa(dir ?? process.env.SANDBOX_CA_DIR);
}

/** A fresh server certificate for localhost, 127.0.0.1 and ::1, signed by the sandbox CA. */
export function issueServerCertificate(ca: SandboxCa, hostnames: string[] = []): { cert: string; key: string } {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const key = forge.pki.privateKeyFromPem(keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = '02' + crypto.randomBytes(15).toString('hex');
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now + 365 * 24 * 60 * 60 * 1000);
  cert.setSubject([{ name: 'commonName', value: 'localhost' }]);
  cert.setIssuer(caCert.subject.attributes);
  const dns = Array.from(new Set(['localhost', ...hostnames.filter((h) => !isIp(h))]));
  const altNames = [
    ...dns.map((value) => ({ type: 2, value })),
    { type: 7, ip: '127.0.0.1' },
    { type: 7, ip: '::1' },
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

function isIp(host: string): boolean {
  return /^[0-9.]+$/.test(host) || host.includes(':');
}
