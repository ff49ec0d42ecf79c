/**
 * `npm run manifest:package`: builds the Teams app package (manifest.json + color.png + outline.png at
 * the zip root) from manifest/teams, with the bot's app id filled in from MicrosoftAppId.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import AdmZip from 'adm-zip';

/** The bot id in the checked-in manifest: a documented placeholder replaced when packaging. */
export const PLACEHOLDER_BOT_ID = '00000000-0000-0000-0000-000000000000';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TeamsPackageOptions {
  /** Folder with manifest.json and the icons; default manifest/teams. */
  manifestDir?: string;
  /** Default dist/teams-app.zip. */
  outFile?: string;
  /** MicrosoftAppId of the bot registration. */
  botId?: string;
  /** Teams app id (TEAMS_APP_ID), when an organisation keeps its own. */
  teamsAppId?: string;
  /** Host name of the bot's endpoint (BOT_DOMAIN), added to validDomains. */
  botDomain?: string;
}

type Manifest = Record<string, unknown> & { id: string; bots: { botId: string }[]; validDomains?: string[] };

function requireGuid(name: string, value: string): string {
  if (!GUID.test(value)) throw new Error(`${name} must be a GUID like 00000000-0000-0000-0000-000000000000 (got "${value}").`);
  return value.toLowerCase();
}

/** The manifest as it goes into the package. */
export function buildTeamsManifest(opts: TeamsPackageOptions = {}): Manifest {
  const dir = resolve(opts.manifestDir ?? join(__dirname, '../../manifest/teams'));
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  if (opts.botId) manifest.bots[0].botId = requireGuid('MicrosoftAppId', opts.botId.trim());
  if (opts.teamsAppId) manifest.id = requireGuid('TEAMS_APP_ID', opts.teamsAppId.trim());
  if (opts.botDomain) {
    const host = opts.botDomain.trim().replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    manifest.validDomains = [...new Set([...(manifest.validDomains ?? []), host])];
  }
  return manifest;
}

/** Writes the upload zip and returns its path and manifest. */
export function packageTeamsApp(opts: TeamsPackageOptions = {}): { file: string; manifest: Manifest } {
  const dir = resolve(opts.manifestDir ?? join(__dirname, '../../manifest/teams'));
  const manifest = buildTeamsManifest({ ...opts, manifestDir: dir });
  const zip = new AdmZip();
  zip.addFile('manifest.json', Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8'));
  const icons = manifest.icons as { color: string; outline: string };
  zip.addFile(icons.color, readFileSync(join(dir, icons.color)));
  zip.addFile(icons.outline, readFileSync(join(dir, icons.outline)));
  const file = resolve(opts.outFile ?? 'dist/teams-app.zip');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, zip.toBuffer());
  return { file, manifest };
}

if (require.main === module) {
  try {
    const { file, manifest } = packageTeamsApp({
      botId: process.env.MicrosoftAppId || undefined,
      teamsAppId: process.env.TEAMS_APP_ID || undefined,
      botDomain: process.env.BOT_DOMAIN || undefined,
      outFile: process.argv[2],
    });
    const botId = manifest.bots[0].botId;
    console.log(`Wrote ${file} (bot ${botId}${botId === PLACEHOLDER_BOT_ID ? ': placeholder, set MicrosoftAppId' : ''}).`);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
