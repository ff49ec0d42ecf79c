#!/usr/bin/env node
/*
 * Ensures the local sandbox CA exists (.sandbox/ca.pem + ca-key.pem), then runs the rest of argv with
 * NODE_EXTRA_CA_CERTS pointing at it. Node reads NODE_EXTRA_CA_CERTS only at process start, so the
 * simulator's HTTPS certificate can only be trusted by a process launched this way.
 *
 *   node scripts/with-sandbox-ca.js node dist/bot.js
 *   node scripts/with-sandbox-ca.js npx jest test/simulator
 *   node scripts/with-sandbox-ca.js --unless-live node dist/bot.js   (npm start: no sandbox CA against real Azure)
 *
 * The CA directory is SANDBOX_CA_DIR or ./.sandbox. When required as a module it exports ensureSandboxCa.
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');
const { setInterval, clearInterval } = require('node:timers');

const CA_COMMON_NAME = 'Hopsworks setup bot sandbox CA';
const CA_VALIDITY_YEARS = 10;

function defaultCaDir() {
  return path.resolve(process.env.SANDBOX_CA_DIR || path.join(process.cwd(), '.sandbox'));
}

/** True when both files parse, belong together and the certificate is valid for at least another day. */
function caIsUsable(certPem, keyPem) {
  const forge = require('node-forge');
  try {
    const cert = forge.pki.certificateFromPem(certPem);
    const key = forge.pki.privateKeyFromPem(keyPem);
    const pub = cert.publicKey;
    if (pub.n.compareTo(key.n) !== 0 || pub.e.compareTo(key.e) !== 0) return false;
    const tomorrow = new Date(Date.now() + 24 * 3600 * 1000);
    return cert.validity.notBefore <= new Date() && cert.validity.notAfter > tomorrow;
  } catch {
    return false;
  }
}

function createCa() {
  const forge = require('node-forge');
  // Node's keygen is native and fast; node-forge builds the X.509 certificate.
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const key = forge.pki.privateKeyFromPem(keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = '01' + crypto.randomBytes(15).toString('hex');
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(now.getTime());
  cert.validity.notAfter.setFullYear(now.getFullYear() + CA_VALIDITY_YEARS);
  const subject = [{ name: 'commonName', value: CA_COMMON_NAME }, { name: 'organizationName', value: 'Sandbox (local only)' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

function writeAtomic(file, content, mode) {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, content, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

/**
 * Returns { dir, certPath, keyPath, certPem, keyPem }, creating or replacing the CA when it is missing,
 * corrupt, mismatched or about to expire.
 */
function ensureSandboxCa(dir) {
  const caDir = path.resolve(dir || defaultCaDir());
  const certPath = path.join(caDir, 'ca.pem');
  const keyPath = path.join(caDir, 'ca-key.pem');
  fs.mkdirSync(caDir, { recursive: true, mode: 0o700 });
  const read = () => {
    try {
      return { certPem: fs.readFileSync(certPath, 'utf8'), keyPem: fs.readFileSync(keyPath, 'utf8') };
    } catch {
      return undefined;
    }
  };
  let existing = read();
  if (!existing || !caIsUsable(existing.certPem, existing.keyPem)) {
    const fresh = createCa();
    // Key first: a reader that sees the new certificate must also find its key.
    writeAtomic(keyPath, fresh.keyPem, 0o600);
    writeAtomic(certPath, fresh.certPem, 0o644);
    existing = read() || fresh;
  } else {
    const mode = fs.statSync(keyPath).mode & 0o777;
    if (mode !== 0o600) fs.chmodSync(keyPath, 0o600);
  }
  return { dir: caDir, certPath, keyPath, certPem: existing.certPem, keyPem: existing.keyPem };
}

/** Finds a command in ./node_modules/.bin first, then leaves it to PATH (`node` is process.execPath). */
function resolveCommand(cmd) {
  // `node` is this very Node (npm start: `... node dist/bot.js`), whatever PATH holds.
  if (cmd === 'node') return process.execPath;
  if (cmd.includes('/') || cmd.includes(path.sep)) return cmd;
  const local = path.join(process.cwd(), 'node_modules', '.bin', cmd);
  if (fs.existsSync(local)) return local;
  const beside = path.join(__dirname, '..', 'node_modules', '.bin', cmd);
  if (fs.existsSync(beside)) return beside;
  return cmd;
}

/**
 * True when the bot will talk to real Azure (same rule as src/bot/config.ts, reading .env like the bot):
 * then `npm start` must not make Node trust a locally generated CA.
 */
function azureIsLive() {
  let fileEnv = {};
  const envFile = path.join(process.cwd(), '.env');
  if (fs.existsSync(envFile)) {
    try {
      fileEnv = require('node:util').parseEnv(fs.readFileSync(envFile, 'utf8'));
    } catch {
      fileEnv = {};
    }
  }
  const get = (name) => (process.env[name] !== undefined ? process.env[name] : fileEnv[name]) || '';
  const mode = get('AZURE_MODE').trim();
  if (mode) return mode === 'live';
  return get('AZURE_SUBSCRIPTION_ID').trim() !== '';
}

function main(argv) {
  let args = argv.slice(2);
  if (args[0] === '--unless-live') {
    args = args.slice(1);
    if (azureIsLive()) {
      run(args, { ...process.env });
      return;
    }
  }
  const ca = ensureSandboxCa();
  if (args.length === 0) {
    process.stdout.write(`${ca.certPath}\n`);
    return;
  }
  run(args, { ...process.env, NODE_EXTRA_CA_CERTS: ca.certPath, SANDBOX_CA_DIR: ca.dir });
}

function run(args, env) {
  const binDir = path.join(process.cwd(), 'node_modules', '.bin');
  env.PATH = env.PATH ? `${binDir}${path.delimiter}${env.PATH}` : binDir;
  const child = spawn(resolveCommand(args[0]), args.slice(1), { stdio: 'inherit', env });
  const forward = (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, () => forward(s));
  // npm runs `npm start` through `sh -c`, and on SIGTERM (a process manager stopping it) npm signals only that
  // shell, which dies without passing the signal on (dash does not exec the command it runs). Left alone, the
  // bot would run on, orphaned, holding its port and database. So the parent's death counts as SIGTERM too.
  const parent = process.ppid;
  const orphanWatch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(orphanWatch);
    forward('SIGTERM');
  }, 200);
  orphanWatch.unref();
  child.on('error', (err) => {
    process.stderr.write(`with-sandbox-ca: cannot run ${args[0]}: ${err.message}\n`);
    process.exit(127);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      for (const s of signals) process.removeAllListeners(s);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code === null ? 1 : code);
  });
}

module.exports = { ensureSandboxCa, caIsUsable };

if (require.main === module) main(process.argv);
