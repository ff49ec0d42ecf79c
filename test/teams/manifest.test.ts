/**
 * The Teams app manifest validates against Microsoft's JSON schema (shipped in @microsoft/app-manifest),
 * lists the bot's commands per scope, and the icons have the sizes Teams requires; the package script
 * produces an uploadable zip with the bot id filled in.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import AdmZip from 'adm-zip';
import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { COMMANDS } from '../../src/bot/cards';
import { parseCommand } from '../../src/dialogs/commands';
import { PLACEHOLDER_BOT_ID, buildTeamsManifest, packageTeamsApp } from '../../src/bot/teamsPackage';

const dir = join(__dirname, '../../manifest/teams');
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));

function schemaFor(url: string): object {
  const version = /\/teams\/(v1\.\d+)\/MicrosoftTeams\.schema\.json$/.exec(url)?.[1];
  if (!version) throw new Error(`unexpected $schema ${url}`);
  return JSON.parse(readFileSync(require.resolve(`@microsoft/app-manifest/build/json-schemas/teams/${version}/MicrosoftTeams.schema.json`), 'utf8'));
}

const compiled = new Map<string, ReturnType<Ajv['compile']>>();

function validate(m: object): string[] {
  const url = (m as { $schema: string }).$schema;
  let check = compiled.get(url);
  if (!check) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    check = ajv.compile(schemaFor(url));
    compiled.set(url, check);
  }
  return check(m) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

/** Width, height and RGBA pixels of a non-interlaced 8-bit RGBA PNG (what the icons are). */
function decodePng(buf: Buffer): { width: number; height: number; pixel(x: number, y: number): number[] } {
  expect(buf.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let off = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('ascii', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[9], data[12]]).toEqual([8, 6, 0]);
    }
    if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 4;
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let i = 0; i < stride; i++) {
      const x = raw[y * (stride + 1) + 1 + i];
      const a = i >= 4 ? out[y * stride + i - 4] : 0;
      const b = y > 0 ? out[(y - 1) * stride + i] : 0;
      const c = i >= 4 && y > 0 ? out[(y - 1) * stride + i - 4] : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][filter];
      out[y * stride + i] = (x + pred) & 0xff;
    }
  }
  return { width, height, pixel: (x, y) => [...out.subarray(y * stride + x * 4, y * stride + x * 4 + 4)] };
}

describe('Teams app manifest', () => {
  test('validates against the Teams JSON schema of its declared version (1.19 or later)', () => {
    expect(manifest.$schema).toMatch(/^https:\/\/developer\.microsoft\.com\/en-us\/json-schemas\/teams\/v1\.\d+\/MicrosoftTeams\.schema\.json$/);
    expect(Number(manifest.manifestVersion.split('.')[1])).toBeGreaterThanOrEqual(19);
    expect(manifest.$schema).toContain(`/v${manifest.manifestVersion}/`);
    expect(validate(manifest)).toEqual([]);
  });

  test('the schema check is real: a broken manifest fails', () => {
    const broken = { ...manifest, accentColor: 'green', bots: [{ ...manifest.bots[0], botId: 'not-a-guid', scopes: ['everywhere'] }] };
    expect(validate(broken).length).toBeGreaterThanOrEqual(3);
  });

  test('the bot is in personal, team and groupChat scopes with a command list for each; every command parses', () => {
    const bot = manifest.bots[0];
    expect(bot.botId).toBe(PLACEHOLDER_BOT_ID);
    expect([...bot.scopes].sort()).toEqual(['groupChat', 'personal', 'team']);
    const byScope = Object.fromEntries(bot.commandLists.map((l: { scopes: string[]; commands: { title: string }[] }) => [l.scopes.join(','), l.commands.map((c) => c.title)]));
    expect(Object.keys(byScope).sort()).toEqual(['groupChat', 'personal', 'team']);
    for (const titles of Object.values(byScope) as string[][]) {
      for (const t of titles) expect(parseCommand(t).name).not.toBe('unknown');
    }
    expect(byScope.team).toEqual(expect.arrayContaining(['setup', 'status', 'help', 'cancel', 'retry', 'teardown', 'admin channel']));
    expect(byScope.personal).not.toContain('admin channel');
    // The help card and the manifest describe the same commands.
    expect(COMMANDS.map((c) => c.command.split(' ')[0]).sort()).toEqual(['admin', 'cancel', 'help', 'retry', 'setup', 'status', 'teardown']);
  });

  test('icons: color.png 192x192, outline.png 32x32 white on transparent', () => {
    const color = decodePng(readFileSync(join(dir, manifest.icons.color)));
    expect([color.width, color.height]).toEqual([192, 192]);
    const outline = decodePng(readFileSync(join(dir, manifest.icons.outline)));
    expect([outline.width, outline.height]).toEqual([32, 32]);
    let transparent = 0;
    let white = 0;
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        const [r, g, b, a] = outline.pixel(x, y);
        if (a === 0) transparent++;
        else if (r === 255 && g === 255 && b === 255) white++;
        else throw new Error(`outline pixel ${x},${y} is neither transparent nor white: ${[r, g, b, a]}`);
      }
    }
    expect(transparent).toBeGreaterThan(0);
    expect(white).toBeGreaterThan(0);
  });

  test('manifest:package writes a zip with the manifest and icons at its root and the bot id filled in', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'teams-pkg-')), 'teams-app.zip');
    const { file } = packageTeamsApp({ outFile: out, botId: '11111111-2222-3333-4444-555555555555', botDomain: 'https://hopsworks-bot.azurewebsites.net/api/messages' });
    const zip = new AdmZip(file);
    expect(zip.getEntries().map((e) => e.entryName).sort()).toEqual(['color.png', 'manifest.json', 'outline.png']);
    const packed = JSON.parse(zip.readAsText('manifest.json'));
    expect(packed.bots[0].botId).toBe('11111111-2222-3333-4444-555555555555');
    expect(packed.validDomains).toEqual(['managed.hopsworks.ai', 'hopsworks-bot.azurewebsites.net']);
    expect(validate(packed)).toEqual([]);
    expect(zip.readFile('color.png')).toEqual(readFileSync(join(dir, 'color.png')));
  });

  test('a malformed MicrosoftAppId is refused with a message naming it', () => {
    expect(() => buildTeamsManifest({ botId: 'my-bot' })).toThrow('MicrosoftAppId must be a GUID');
  });
});
