/*
 * End-to-end harness: real processes (a bot, Microsoft 365 Agents Playground instances) driven through
 * the Playground's web UI in headless Chromium with playwright-core, the way a Teams user clicks.
 *
 * Robustness rules it enforces: every wait is a bounded wait for something visible (no fixed sleeps),
 * ports are chosen at runtime, every child runs in its own process group and is killed (TERM, then
 * KILL) on teardown, on test failure and on exit of the jest worker, and each run writes screenshots
 * and child logs to test-artifacts/e2e/<run>/ so a red run can be read afterwards.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { botBundle } from '../helpers/bot-bundle';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
const PLAYGROUND_CLI = path.join(REPO_ROOT, 'node_modules', '@microsoft', 'm365agentsplayground', 'cli.js');
const TSX_CLI = path.join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');

/** Generous but bounded: the machine running CI may be slow and shared. */
export const TIMEOUTS = {
  processStart: 60_000,
  ui: 20_000,
  botReply: 40_000,
  stop: 5_000,
};

// ---------------------------------------------------------------------------------------------------------------
// Ports, temp dirs, artifacts

/** A port that was free a moment ago (the OS picks it; the tiny race is acceptable for tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
}

/** test-artifacts/e2e/<name>-<timestamp>/, created fresh; the folder is gitignored. */
export function makeArtifactsDir(name: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = path.join(REPO_ROOT, 'test-artifacts', 'e2e', `${name}-${stamp}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Appends "+12.3s message" to <artifacts>/timeline.log: where a slow or failed run spent its time. */
export class Timeline {
  private readonly start = Date.now();
  private readonly file: string;

  constructor(artifactsDir: string) {
    this.file = path.join(artifactsDir, 'timeline.log');
  }

  note(message: string): void {
    fs.appendFileSync(this.file, `+${((Date.now() - this.start) / 1000).toFixed(1)}s ${message}\n`);
  }

  /** Runs `fn` and notes how long it took. */
  async time<T>(message: string, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      this.note(`${message} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

/** Last line of defence when jest kills the worker or a test throws before teardown: no orphans. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const proc of live) proc.killNow();
  });
  // Node runs no 'exit' handlers when a signal ends it; kill the children, then let the signal act.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const proc of live) proc.killNow();
      process.kill(process.pid, signal);
    });
  }
}

/** A child process in its own process group, with its output kept in memory and in a log file. */
export class ManagedProcess {
  readonly name: string;
  private readonly child: ChildProcess;
  private output = '';
  private readonly logStream: fs.WriteStream;
  private readonly exited: Promise<void>;
  private exitInfo: string | undefined;
  private waiters: (() => void)[] = [];

  constructor(name: string, command: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; logFile: string }) {
    installExitHook();
    this.name = name;
    this.logStream = fs.createWriteStream(opts.logFile);
    // detached: its own process group, so tsx's or npm's grandchildren die with it.
    this.child = spawn(command, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.output += text;
      if (this.output.length > 2_000_000) this.output = this.output.slice(-1_000_000);
      this.logStream.write(text);
      for (const w of this.waiters.splice(0)) w();
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitInfo = signal ? `signal ${signal}` : `status ${code}`;
        live.delete(this);
        for (const w of this.waiters.splice(0)) w();
        resolve();
      });
      this.child.on('error', (err) => {
        this.exitInfo = `spawn error: ${err.message}`;
        live.delete(this);
        for (const w of this.waiters.splice(0)) w();
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get log(): string {
    return this.output;
  }

  /** Resolves with the first match of `pattern` in the output; fails fast if the process exits first. */
  async waitForOutput(pattern: RegExp, timeoutMs = TIMEOUTS.processStart): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.output.match(pattern);
      if (match) return match;
      if (this.exitInfo) throw new Error(`${this.name} exited (${this.exitInfo}) before printing ${pattern}. Output:\n${this.tail()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms. Output:\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  tail(lines = 40): string {
    return this.output.split('\n').slice(-lines).join('\n');
  }

  killNow(): void {
    if (this.exitInfo || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /** TERM to the whole group, KILL after a grace period; always resolves. */
  async stop(): Promise<void> {
    if (!this.exitInfo && this.child.pid !== undefined) {
      try {
        process.kill(-this.child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => this.killNow(), TIMEOUTS.stop);
      await this.exited;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => this.logStream.end(resolve));
  }
}

/** Polls an HTTP URL until it answers 200, failing early if `proc` dies. */
export async function waitForHttpOk(url: string, proc: ManagedProcess, timeoutMs = TIMEOUTS.processStart): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc.hasExited) throw new Error(`${proc.name} exited before ${url} answered. Output:\n${proc.tail()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last}). ${proc.name} output:\n${proc.tail()}`);
}

export interface BotProcess {
  proc: ManagedProcess;
  port: number;
  /** What a Playground calls: http://127.0.0.1:PORT/api/messages. */
  messagesUrl: string;
}

/**
 * Starts the real bot the way `npm start` does (scripts/build.js, then the sandbox CA launcher running
 * plain Node on the build), with PORT chosen here, and waits for GET /readyz.
 */
export async function startRealBot(opts: { env: NodeJS.ProcessEnv; artifactsDir: string; cwd: string }): Promise<BotProcess> {
  const script = botBundle();
  // freePort() hands out a port that was free a moment ago; with other suites opening connections in
  // parallel another socket can take it first. The bot then stops at once saying so: try another port.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = new ManagedProcess('bot', process.execPath, [path.join(REPO_ROOT, 'scripts', 'with-sandbox-ca.js'), 'node', script], {
      cwd: opts.cwd,
      env: { ...cleanEnv(), ...opts.env, PORT: String(port) },
      logFile: path.join(opts.artifactsDir, attempt === 1 ? 'bot.log' : `bot-attempt${attempt}.log`),
    });
    try {
      await waitForHttpOk(`http://127.0.0.1:${port}/readyz`, proc);
      return { proc, port, messagesUrl: `http://127.0.0.1:${port}/api/messages` };
    } catch (err) {
      if (attempt >= 3 || !proc.hasExited || !/already in use/.test(proc.tail())) throw err;
    }
  }
}

/** Starts test/e2e/echo-bot.ts (the harness smoke test's bot). */
export async function startEchoBot(artifactsDir: string): Promise<BotProcess> {
  const port = await freePort();
  const proc = new ManagedProcess('echo-bot', process.execPath, [TSX_CLI, path.join(__dirname, 'echo-bot.ts')], {
    cwd: REPO_ROOT,
    env: { ...cleanEnv(), PORT: String(port) },
    logFile: path.join(artifactsDir, 'echo-bot.log'),
  });
  await proc.waitForOutput(/echo bot listening on \d+/);
  return { proc, port, messagesUrl: `http://127.0.0.1:${port}/api/messages` };
}

/** The parent's environment minus what would change a child's behaviour behind the test's back. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^(Microsoft|SLACK_|AZURE_|HOPSWORKS_|IDENTITY_|MSI_|BOT_DB_PATH$|PORT$|LOG_LEVEL$|SIM_|JEST_|NODE_OPTIONS$)/.test(key)) delete env[key];
  }
  return env;
}

export interface PlaygroundProcess {
  name: string;
  proc: ManagedProcess;
  port: number;
  url: string;
  /** The temp folder it runs in, holding its .m365agentsplayground.yml. */
  dir: string;
  /** Stops the process group and removes the temp folder. */
  stop(): Promise<void>;
}

/**
 * Starts one Microsoft 365 Agents Playground for `configFile` (a .m365agentsplayground.yml), in a fresh
 * temp folder, because the Playground reads its identity from the folder it starts in.
 */
export async function startPlayground(opts: {
  name: string;
  configFile: string;
  bot: BotProcess;
  artifactsDir: string;
  /** Reuse a port (to stand in for a stopped Playground the bot already knows by its serviceUrl). */
  port?: number;
}): Promise<PlaygroundProcess> {
  const dir = makeTempDir(`playground-${opts.name}`);
  fs.copyFileSync(opts.configFile, path.join(dir, '.m365agentsplayground.yml'));
  const port = opts.port ?? (await freePort());
  const proc = new ManagedProcess(
    `playground-${opts.name}`,
    process.execPath,
    [PLAYGROUND_CLI, 'start', '-e', opts.bot.messagesUrl, '-c', 'msteams', '--dt', '-p', String(port)],
    {
      cwd: dir,
      // No browser of its own: Chromium is driven by the test.
      env: { ...cleanEnv(), TEAMSAPPTESTER_BROWSER: 'none', M365_AGENTS_PLAYGROUND_LOGFILE: path.join(opts.artifactsDir, `playground-${opts.name}.ui.log`) },
      logFile: path.join(opts.artifactsDir, `playground-${opts.name}.log`),
    },
  );
  // It falls back to a random port when ours was taken meanwhile, and prints the one it uses.
  const match = await proc.waitForOutput(/Listening on (\d+)/);
  const actual = Number(match[1]);
  if (opts.port !== undefined && actual !== opts.port) {
    await proc.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`playground-${opts.name} needed port ${opts.port} but it was taken; it listened on ${actual}`);
  }
  const stop = async () => {
    await proc.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { name: opts.name, proc, port: actual, url: `http://localhost:${actual}/`, dir, stop };
}

// ---------------------------------------------------------------------------------------------------------------
// Browser

const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

export function findChromium(): string {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH=${fromEnv} does not exist`);
    return fromEnv;
  }
  const found = CHROMIUM_CANDIDATES.find((p) => fs.existsSync(p));
  if (!found) {
    throw new Error(
      `The end-to-end test needs Chromium and found none of ${CHROMIUM_CANDIDATES.join(', ')}. ` +
        'Install it (Debian/Ubuntu: apt-get install -y chromium) or set CHROMIUM_PATH.',
    );
  }
  return found;
}

/** Headless Chromium with a throw-away profile (playwright gives each launch a fresh user data dir). */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: findChromium(),
    headless: true,
    timeout: TIMEOUTS.processStart,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
}

// ---------------------------------------------------------------------------------------------------------------
// One Playground tab, driven like a user

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One user's Playground tab. Locators are the accessible roles and labels the Playground renders. */
export class PlaygroundUser {
  readonly page: Page;
  readonly name: string;
  private readonly context: BrowserContext;
  private readonly artifactsDir: string;
  private readonly botName: string;
  private shots = 0;
  private readonly consoleLines: string[] = [];
  /** The conversation last opened, so a wait can re-open it. */
  private current: string | undefined;

  private constructor(name: string, context: BrowserContext, page: Page, artifactsDir: string, botName: string) {
    this.name = name;
    this.context = context;
    this.page = page;
    this.artifactsDir = artifactsDir;
    this.botName = botName;
    page.setDefaultTimeout(TIMEOUTS.ui);
    page.on('console', (m) => this.consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => this.consoleLines.push(`[pageerror] ${e.message}`));
  }

  /** Opens `playground` in its own browser context (own cookies and storage, like a second person). */
  static async open(browser: Browser, playground: PlaygroundProcess, artifactsDir: string, botName: string): Promise<PlaygroundUser> {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    // The web UI also asks CDNs for fonts and animations; offline, those requests can hang until DNS
    // gives up and hold the page's load event for half a minute. Only local traffic is part of the test.
    await context.route(
      (url) => !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname),
      (route) => route.abort('internetdisconnected'),
    );
    const page = await context.newPage();
    const user = new PlaygroundUser(playground.name, context, page, artifactsDir, botName);
    await page.goto(playground.url, { timeout: TIMEOUTS.processStart });
    await page.getByRole('treeitem', { name: 'Personal Chat' }).waitFor();
    return user;
  }

  /**
   * The conversation pane (messages and composer): the side of the window that holds the composer and
   * not the conversation list, so a list preview or the log panel never satisfies a wait.
   */
  get pane(): Locator {
    return this.page.locator(
      "xpath=//div[@role='region' and @aria-label='Chat and Teams Channel']/ancestor::div[.//*[@role='textbox']][1]/div[.//*[@role='textbox']]",
    );
  }

  /** 'Personal Chat', the group chat's name, or 'Team name - Channel name'. */
  async openConversation(label: string): Promise<void> {
    await this.page.getByRole('treeitem', { name: label, exact: true }).click();
    await this.pane.getByRole('textbox').first().waitFor();
    this.current = label;
  }

  /**
   * Waits for `loc`; when it has not shown after half the time, re-opens the current conversation once and
   * waits again. The Playground sometimes logs a bot reply (201 in its log panel) in a channel thread without
   * drawing it until the conversation is opened again; the bot is not at fault then.
   */
  private async waitVisible(loc: Locator, timeout: number): Promise<void> {
    const first = Math.floor(timeout / 2);
    try {
      await loc.waitFor({ state: 'visible', timeout: first });
      return;
    } catch (err) {
      if (this.current === undefined) throw err;
    }
    const label = this.current;
    const away = label === 'Personal Chat' ? this.page.getByRole('treeitem').nth(1) : this.page.getByRole('treeitem', { name: 'Personal Chat', exact: true });
    await away.click();
    await this.openConversation(label);
    await loc.waitFor({ state: 'visible', timeout: timeout - first });
  }

  /** Types into the chat composer and presses Enter (personal and group chat). */
  async sendMessage(text: string): Promise<void> {
    const box = this.pane.getByRole('textbox').last();
    await box.click();
    await this.page.keyboard.type(text);
    await this.page.keyboard.press('Enter');
    await this.waitForComposerEmpty(box);
  }

  /** Starts a new channel post that @mentions the bot, picked from the mention menu as in Teams. */
  async postMentioningBot(text: string): Promise<void> {
    const box = this.pane.getByRole('textbox').first();
    await box.click();
    await this.page.keyboard.type('@');
    // The item's accessible name repeats the avatar's label, so match on its visible text.
    await this.page.getByRole('menuitem').filter({ hasText: this.botName }).first().click();
    await this.page.keyboard.type(` ${text}`);
    await this.pane.getByRole('button', { name: 'Post', exact: true }).click();
    await this.waitForComposerEmpty(box);
  }

  /**
   * Posts with an @mention (as `postMentioningBot`) and waits for the bot's answer, `reply` (a locator from
   * `card(...).root` or `text(...)`). The Playground's web UI drops a reply to a channel post that reaches
   * it before it has added the post itself: its console says "Saga error Error: Invalid conversation id
   * <channel>;messageid=<post>" and the reply is never drawn, although the log panel shows the bot's 201
   * (seen twice in about thirty runs, with the echo bot too). Only then is the post made once more; a bot
   * that does not answer still fails the wait.
   */
  async postMentioningBotAndWait(text: string, reply: Locator, timeout = TIMEOUTS.botReply): Promise<void> {
    const droppedBefore = this.droppedReplies();
    await this.postMentioningBot(text);
    const watchUntil = Date.now() + timeout / 2;
    while (Date.now() < watchUntil) {
      if (await reply.isVisible()) return;
      if (this.droppedReplies() > droppedBefore) {
        this.consoleLines.push(`[harness] the Playground dropped the reply to "${text}" (saga error above); posting it again`);
        await this.postMentioningBot(text);
        break;
      }
      await this.page.waitForTimeout(250);
    }
    await this.waitVisible(reply, Math.max(1_000, watchUntil + timeout / 2 - Date.now()));
  }

  /** How often the Playground's UI has logged dropping a reply to a channel post (see `postMentioningBotAndWait`). */
  private droppedReplies(): number {
    return this.consoleLines.filter((l) => l.includes('Invalid conversation id') && l.includes(';messageid=')).length;
  }

  private async waitForComposerEmpty(box: Locator): Promise<void> {
    await this.page.waitForFunction((el) => (el?.textContent ?? '').trim() === '', await box.elementHandle(), { timeout: TIMEOUTS.ui });
  }

  /** The most recent element of the conversation pane showing `text` (a substring, or a RegExp). */
  text(text: string | RegExp): Locator {
    return this.pane.getByText(typeof text === 'string' ? new RegExp(escapeRegExp(text)) : text).last();
  }

  /** Waits until `text` (a substring, or a RegExp) is visible in the conversation pane. */
  async waitForText(text: string | RegExp, timeout = TIMEOUTS.botReply): Promise<Locator> {
    const loc = this.text(text);
    await this.waitVisible(loc, timeout);
    return loc;
  }

  /** The most recent Adaptive Card in the pane whose text contains every one of `texts`. */
  card(...texts: (string | RegExp)[]): Card {
    let loc = this.pane.locator('.ac-adaptiveCard');
    for (const t of texts) loc = loc.filter({ hasText: t });
    return new Card(this, loc.last());
  }

  async waitForCard(texts: string | RegExp | (string | RegExp)[], timeout = TIMEOUTS.botReply): Promise<Card> {
    const card = this.card(...(Array.isArray(texts) ? texts : [texts]));
    await this.waitVisible(card.root, timeout);
    return card;
  }

  /**
   * Screenshot into the artifacts folder, numbered so they read in order: the window as the user sees
   * it, or with `card` the whole card (the conversation pane scrolls, so a long card is cut off in the window).
   */
  async screenshot(label: string, card?: Card): Promise<string> {
    this.shots += 1;
    const file = path.join(this.artifactsDir, `${this.name}-${String(this.shots).padStart(2, '0')}-${label.replace(/[^a-z0-9-]+/gi, '_')}.png`);
    // Evidence, not an assertion: a card the bot has just updated in place may be gone by now, so a
    // failed shot is noted in the browser log and the window is shot instead.
    try {
      if (card) await card.root.screenshot({ path: file, timeout: 5_000 });
      else await this.page.screenshot({ path: file, timeout: TIMEOUTS.ui });
    } catch (err) {
      this.consoleLines.push(`[harness] screenshot ${label} of the card failed (${(err as Error).message.split('\n')[0]}); window shot instead`);
      await this.page.screenshot({ path: file, timeout: TIMEOUTS.ui }).catch(() => undefined);
    }
    return file;
  }

  async close(): Promise<void> {
    fs.writeFileSync(path.join(this.artifactsDir, `${this.name}-browser-console.log`), this.consoleLines.join('\n'));
    await this.context.close();
  }
}

/** One rendered Adaptive Card; inputs are found by their visible label, buttons by their title. */
export class Card {
  constructor(
    private readonly user: PlaygroundUser,
    readonly root: Locator,
  ) {}

  async text(): Promise<string> {
    return (await this.root.innerText()).replace(/\s+\n/g, '\n');
  }

  /** The value of a FactSet fact, found by its title. */
  async fact(title: string): Promise<string> {
    const text = await this.root.innerText();
    // innerText puts blank lines between blocks; a value is the first non-blank line after its label.
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    const i = lines.findIndex((l) => l === title || l === `${title}:`);
    if (i < 0 || i + 1 >= lines.length) throw new Error(`No fact "${title}" on the card:\n${text}`);
    return lines[i + 1];
  }

  input(label: string | RegExp): Locator {
    return this.root.getByLabel(label);
  }

  async fill(label: string | RegExp, value: string): Promise<void> {
    const input = this.input(label);
    await input.fill(value);
  }

  /** Picks `option` in an Input.ChoiceSet, compact (combobox) or expanded (radio buttons). */
  async choose(label: string | RegExp, option: string | RegExp): Promise<void> {
    const combo = this.root.getByRole('combobox', { name: label });
    if ((await combo.count()) > 0) {
      await combo.click();
      await this.user.page.getByRole('option', { name: option }).click();
      return;
    }
    await this.root.getByRole('radio', { name: option }).check();
  }

  async setToggle(label: string | RegExp, on: boolean): Promise<void> {
    await this.root.getByRole('checkbox', { name: label }).setChecked(on);
  }

  /** Clicks an action button (Action.Execute / Action.Submit) by its title. */
  async click(title: string | RegExp): Promise<void> {
    await this.root.getByRole('button', { name: title, exact: typeof title === 'string' }).click();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Teardown

/** LIFO cleanup that runs every step even when earlier ones fail; `run` never throws. */
export class Cleanup {
  private readonly steps: { name: string; fn: () => Promise<void> | void }[] = [];
  readonly errors: string[] = [];

  add(name: string, fn: () => Promise<void> | void): void {
    this.steps.push({ name, fn });
  }

  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.fn();
      } catch (err) {
        this.errors.push(`${step.name}: ${(err as Error).message}`);
      }
    }
  }
}

/**
 * Runs `fn`; on failure, screenshots every open Playground tab (so the artifacts show what the user
 * saw at that moment) and rethrows with the step's name.
 */
export async function step<T>(name: string, users: PlaygroundUser[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    for (const u of users) {
      await u.screenshot(`FAILED-${name}`).catch(() => undefined);
    }
    const e = err as Error;
    e.message = `[${name}] ${e.message}`;
    throw e;
  }
}
