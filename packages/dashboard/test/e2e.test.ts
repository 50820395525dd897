/**
 * The dashboard end to end: the real server (SQLite) serving the real Vite build, driven in Debian's
 * chromium by playwright-core. Walks what a new workspace owner does, and takes a screenshot of each page
 * (written to docs/screenshots/, linked from the README, when UPDATE_SCREENSHOTS=1).
 *
 * Chromium: /usr/bin/chromium (`apt-get install -y chromium`; .ci/run installs it), or AVAILSYNC_CHROMIUM.
 * Missing on a developer machine, the suite is skipped with a loud message; in CI (CI=true) it fails.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createAvailsync, listen, loadConfig, silentLogger } from '@availsync/server';
import { planCommand } from '@availsync/testkit';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { startReceiver } from './receiver.js';

const CHROMIUM = process.env.AVAILSYNC_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const here = dirname(fileURLToPath(import.meta.url));
const dashboardRoot = join(here, '..');
// The README's screenshots are refreshed with UPDATE_SCREENSHOTS=1; otherwise they go to a temporary
// directory, so running the tests leaves the work tree as it was.
const UPDATE_SHOTS = process.env.UPDATE_SCREENSHOTS === '1';
const README_SHOTS = join(here, '..', '..', '..', 'docs', 'screenshots');
let SHOTS = README_SHOTS;

if (!HAVE_CHROMIUM) {
  const msg = `*** ${CHROMIUM} not found: the dashboard end-to-end suite is SKIPPED. Install it with: apt-get install -y chromium ***`;
  if (process.env.CI) throw new Error(`${msg} (CI requires it)`);
  console.warn(`\n${msg}\n`);
}

const EMAIL = `owner-${Date.now()}@example.com`;
const PASSWORD = 'correct horse battery';

let tmp: string;
let server: Awaited<ReturnType<typeof listen>>;
let instance: Awaited<ReturnType<typeof createAvailsync>>;
let base: string;

// The real server on SQLite, serving a fresh build of the dashboard (built once, into a temp folder).
before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'availsync-e2e-'));
  const outDir = join(tmp, 'dashboard');
  const vite = join(dirname(createRequire(import.meta.url).resolve('vite/package.json')), 'bin', 'vite.js');
  execFileSync(process.execPath, [vite, 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: dashboardRoot,
    stdio: 'inherit',
  });
  const config = {
    ...loadConfig({}),
    port: 0,
    dataDir: join(tmp, 'data'),
    defaultPlan: 'team' as const,
    logLevel: 'silent' as const,
    // The webhooks page delivers to a receiver on this machine.
    webhookAllowPrivate: true,
  };
  instance = await createAvailsync({ config, logger: silentLogger, dashboardDir: outDir, sweeper: false });
  server = await listen(instance, 0, '127.0.0.1');
  base = server.url;
});

after(async () => {
  await server?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the server serves the dashboard', () => {
  test('the server serves the SPA beside the API', async () => {
    const index = await fetch(`${base}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await index.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, 'index.html references a script');
    const js = await fetch(`${base}${asset}`);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    const deep = await fetch(`${base}/some/page`);
    assert.equal(deep.status, 200);
    assert.match(await deep.text(), /<div id="root">/);
    const api404 = await fetch(`${base}/v1/nope`);
    assert.equal(api404.status, 404);
    assert.equal(((await api404.json()) as any).error, 'not_found');
    assert.equal((await fetch(`${base}/assets/missing.js`)).status, 404);
    // No way out of the build folder, however the path is spelled.
    for (const path of ['/%2e%2e/%2e%2e/package.json', '/..%2f..%2fpackage.json', '/assets/..%2f..%2f..%2fpackage.json']) {
      const res = await fetch(`${base}${path}`);
      assert.notEqual(res.status, 200, path);
      assert.doesNotMatch(await res.text(), /"name": "@availsync/, path);
    }
    assert.equal(((await (await fetch(`${base}/health`)).json()) as any).status, 'ok');
  });
});

describe('dashboard in a real browser', { skip: !HAVE_CHROMIUM }, () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const keys: Record<string, string> = {};
  // Script errors, React warnings and CSP violations; the API's 4xx answers the tests provoke are expected.
  const pageErrors: string[] = [];

  const agentCall = async (key: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const shot = async (name: string) => {
    await page.waitForTimeout(150); // let the last fetch paint; screenshots only, nothing is timed
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };
  /**
   * Wait until the page shows `what` (a filtered table replaces its rows when its fetch lands, which may be
   * after the first matching row was already there). A wait for a state, like Playwright's retrying
   * assertions; nothing is timed.
   */
  const eventually = async (what: string, check: () => Promise<boolean>) => {
    for (let i = 0; i < 100; i++) {
      if (await check()) return;
      await page.waitForTimeout(50);
    }
    assert.fail(`the page never showed: ${what}`);
  };
  const nav = async (label: string) => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: label }).waitFor();
  };

  before(async () => {
    SHOTS = UPDATE_SHOTS ? README_SHOTS : mkdtempSync(join(tmpdir(), 'availsync-shots-'));
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) pageErrors.push(msg.text());
    });
    page.setDefaultTimeout(15_000);
  });

  after(async () => {
    await browser?.close();
    if (!UPDATE_SHOTS) rmSync(SHOTS, { recursive: true, force: true });
  });

  test('sign up, then the empty overview says what to do next', async () => {
    await page.goto(base);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot('sign-in');
    await page.getByRole('link', { name: 'Create a workspace' }).click();
    await page.getByLabel('Workspace name').fill('Acme');
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel(/^Password/).fill('short');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    // The browser's own validation keeps a too-short password from being sent; a real one goes through.
    await page.getByLabel(/^Password/).fill(PASSWORD);
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.getByText('No agents yet').waitFor();
    await shot('overview-empty');
  });

  test('create agents; the key is shown once and copied', async () => {
    await nav('Agents');
    await page.getByText('No agents yet').waitFor();
    for (const name of ['claude-laptop', 'nightly-cron']) {
      const form = page.getByRole('form', { name: 'Create an agent' });
      await form.getByLabel('Name').fill(name);
      if (name === 'nightly-cron') await form.getByLabel('Type').selectOption('scheduler');
      await form.getByRole('button', { name: 'Create agent' }).click();
      const panel = page.getByRole('region', { name: 'New API key' });
      await panel.getByText(`API key for ${name}`).waitFor();
      const key = (await panel.getByTestId('api-key').textContent()) ?? '';
      assert.match(key, /^avs_live_/);
      await panel.getByRole('button', { name: 'Copy key' }).click();
      await panel.getByRole('button', { name: 'Copied' }).waitFor();
      assert.equal(await page.evaluate('navigator.clipboard.readText()'), key);
      keys[name] = key;
      const me = await agentCall(key, 'GET', '/v1/agent');
      assert.equal(me.status, 200);
      if (name === 'claude-laptop') {
        // The snippets follow setup's defaults: Claude Code's remote MCP (user scope), copied as shown.
        const snippet = panel.getByTestId('snippet');
        await panel.getByRole('tab', { name: 'Claude Code', exact: true }).click();
        const shown = (await snippet.textContent()) ?? '';
        assert.equal(
          shown,
          `claude mcp add --transport http availsync ${base}/mcp \\\n  --header "Authorization: Bearer ${key}" --scope user`,
        );
        await panel.getByRole('button', { name: 'Copy Claude Code' }).click();
        await panel.locator('.snippet').getByRole('button', { name: 'Copied' }).waitFor();
        assert.equal(await page.evaluate('navigator.clipboard.readText()'), shown);
        // The hook snippet names $AVAILSYNC_API_KEY, never the key; the agent is in enforce mode, so it fails closed.
        await panel.getByRole('tab', { name: 'Claude Code hook' }).click();
        const hook = JSON.parse(((await snippet.textContent()) ?? '').replace(/^\/\/.*\n/, ''));
        assert.equal(hook.hooks.PreToolUse[0].hooks[0].url, `${base}/v1/hooks/claude-code`);
        assert.equal(hook.hooks.PreToolUse[0].hooks[0].onFailure, 'block');
        // The caption says the policy is the mode's at the time, and when to copy it again.
        const caption = (await panel.getByTestId('snippet-caption').textContent()) ?? '';
        assert.match(caption, /fails closed .*because the agent is in enforce mode now\./);
        assert.match(caption, /after switching the agent or its workspace between observe and enforce, copy it again or re-run setup/);
        assert.equal(JSON.stringify(hook).includes(key), false);
        await panel.getByRole('tab', { name: 'Windsurf' }).click();
        assert.match((await snippet.textContent()) ?? '', /"serverUrl": "http:\/\/[^"]+\/mcp"/);
      }
      if (name === 'claude-laptop') await shot('agents-new-key');
      await panel.getByRole('button', { name: 'I have stored the key' }).click();
    }
    await page.locator('tr[data-agent="nightly-cron"]').waitFor();
  });

  test('runs started and skipped through the API show on Claims and Overview', async () => {
    const a = keys['claude-laptop']!;
    const b = keys['nightly-cron']!;
    const started = await agentCall(a, 'POST', '/v1/work/run/start', {
      resource: 'repo:acme/api',
      reason: 'refactor auth',
      duration_minutes: 45,
    });
    assert.equal(started.body.action, 'proceed');
    const ws = await agentCall(a, 'POST', '/v1/work/run/working-set', {
      claim_id: started.body.claim.id,
      paths: ['src/auth/', 'package.json'],
    });
    assert.equal(ws.status, 200);
    const skipped = await agentCall(b, 'POST', '/v1/work/run/start', { resource: 'repo:acme/api', reason: 'nightly deps bump' });
    assert.equal(skipped.body.action, 'skip_run');
    const docs = await agentCall(b, 'POST', '/v1/work/run/start', { resource: 'project:docs-site', reason: 'rebuild docs' });
    assert.equal(docs.body.action, 'proceed');
    const done = await agentCall(b, 'POST', '/v1/work/run/finish', { claim_id: docs.body.claim.id, outcome: 'finished' });
    assert.equal(done.body.action, 'finished');
    await agentCall(b, 'POST', '/v1/work/run/start', { resource: 'project:docs-site', reason: 'second pass', duration_minutes: 20 });

    await nav('Claims');
    const active = page.getByTestId('active-claims');
    await active.getByText('repo:acme/api').waitFor();
    await active.getByText('src/auth/').waitFor();
    await active
      .getByText(/\d+m \d\ds left/)
      .first()
      .waitFor();
    const recent = page.getByTestId('recent-claims');
    await recent.getByRole('cell', { name: 'finished' }).waitFor();
    await page.locator('.tl-bar').first().waitFor();
    await shot('claims');

    await nav('Overview');
    const summary = page.getByTestId('value-summary');
    await summary.locator('.stat', { hasText: 'Runs skipped' }).locator('.stat-n', { hasText: '1' }).waitFor();
    await summary.locator('.stat', { hasText: 'Active claims' }).locator('.stat-n', { hasText: '2' }).waitFor();
    await page.getByRole('img', { name: 'Claims started and skipped per day' }).waitFor();
    await page.locator('.hbars li', { hasText: 'repo:acme/api' }).waitFor();
    await shot('overview');
  });

  test('an admin releases a claim from the Claims page', async () => {
    await nav('Claims');
    const row = page.getByTestId('active-claims').getByRole('row', { name: /project:docs-site/ });
    await row.getByRole('button', { name: 'Release' }).click();
    await row.getByRole('button', { name: 'Yes, release' }).click();
    await page.getByTestId('active-claims').getByText('project:docs-site').waitFor({ state: 'detached' });
  });

  test('test connection, setup test, then rotate a key: the old one stops working', async () => {
    await nav('Agents');
    const row = page.locator('tr[data-agent="claude-laptop"]');
    await row.getByRole('button', { name: 'Manage' }).click();
    const detail = page.locator('.detail-row');
    await detail.getByRole('button', { name: 'Test connection' }).click();
    await detail.getByLabel('Connection checks').getByText('Ready').waitFor();
    await detail.getByRole('button', { name: 'Run setup test' }).click();
    await detail
      .getByLabel('Setup test steps')
      .getByText(/passed/)
      .waitFor();
    await detail.getByLabel('Mode').selectOption('observe');
    await detail.getByLabel('Priority').fill('250');
    await detail.getByRole('button', { name: 'Save' }).click();
    await row.getByRole('cell', { name: '250' }).waitFor();
    await shot('agent-detail');

    await detail.getByRole('button', { name: 'Rotate key' }).click();
    await detail.getByRole('button', { name: 'Yes, rotate' }).click();
    const panel = page.getByRole('region', { name: 'New API key' });
    await panel.getByText('The previous key has stopped working').waitFor();
    const fresh = (await panel.getByTestId('api-key').textContent()) ?? '';
    assert.match(fresh, /^avs_live_/);
    assert.notEqual(fresh, keys['claude-laptop']);
    assert.equal((await agentCall(keys['claude-laptop']!, 'GET', '/v1/agent')).status, 401);
    assert.equal((await agentCall(fresh, 'GET', '/v1/agent')).status, 200);
    keys['claude-laptop'] = fresh;
  });

  test('change a rule, see validation errors in words, and find the audit entry', async () => {
    await nav('Rules');
    const defaults = page.getByRole('form', { name: 'Defaults' });
    await defaults.getByLabel('Default claim (minutes)').fill('45');
    await defaults.getByRole('button', { name: 'Save rules' }).click();
    await page.getByRole('status').getByText('Rules saved.').waitFor();
    const dep = page.getByRole('form', { name: 'Add a dependency' });
    await dep.getByLabel('Resource').fill('repo:acme/api');
    await dep.getByLabel(/Depends on/).fill('repo:acme/api');
    await dep.getByRole('button', { name: 'Add dependency' }).click();
    await page.getByRole('alert').waitFor();
    assert.match((await page.getByRole('alert').textContent()) ?? '', /depend/i);
    await dep.getByLabel(/Depends on/).fill('repo:acme/schema');
    await dep.getByRole('button', { name: 'Add dependency' }).click();
    await page.getByRole('status').getByText('Dependency added.').waitFor();
    await page.getByRole('cell', { name: 'repo:acme/schema' }).waitFor();
    await shot('rules');
    // Remove and add back: the list is replaced as a whole on each change.
    await page
      .getByRole('row', { name: /repo:acme\/schema/ })
      .getByRole('button', { name: 'Remove' })
      .click();
    await page.getByRole('status').getByText('Dependency removed.').waitFor();
    await page.getByText('No dependencies').waitFor();
    await dep.getByLabel('Resource').fill('repo:acme/api');
    await dep.getByLabel(/Depends on/).fill('repo:acme/schema');
    await dep.getByRole('button', { name: 'Add dependency' }).click();
    await page.getByRole('cell', { name: 'repo:acme/schema' }).waitFor();

    await nav('Audit');
    await page.getByRole('form', { name: 'Filters' }).getByLabel('Event').fill('rules.updated');
    await page.getByRole('form', { name: 'Filters' }).getByRole('button', { name: 'Apply' }).click();
    const audit = page.getByTestId('audit');
    await audit.getByRole('cell', { name: 'rules.updated' }).first().waitFor();
    await eventually('the header and the four rule changes only', async () => (await audit.getByRole('row').count()) === 5);
    await page.getByRole('form', { name: 'Filters' }).getByRole('button', { name: 'Clear' }).click();
    await audit.getByRole('cell', { name: 'agent.key_rotated' }).waitFor();
    await shot('audit');
  });

  test('activity and holds pages', async () => {
    await nav('Activity');
    const activity = page.getByTestId('activity');
    await activity.getByRole('cell', { name: 'skip_run' }).first().waitFor();
    await page.getByRole('form', { name: 'Filters' }).getByLabel('Type').selectOption('setup_test');
    await page.getByRole('form', { name: 'Filters' }).getByRole('button', { name: 'Apply' }).click();
    await activity.getByRole('cell', { name: 'setup_test' }).first().waitFor();
    await eventually('setup_test rows only', async () => (await activity.getByRole('cell', { name: 'work', exact: true }).count()) === 0);
    await page.getByRole('form', { name: 'Filters' }).getByRole('button', { name: 'Clear' }).click();
    await activity.getByRole('cell', { name: 'skip_run' }).first().waitFor();
    await shot('activity');

    await nav('Holds');
    const form = page.getByRole('form', { name: 'Create a hold' });
    await form.getByLabel('Resource').fill('release:prod');
    await form.getByLabel('Reason').fill('v2.4 release window');
    await form.getByRole('button', { name: 'Create hold' }).click();
    await page.getByRole('cell', { name: 'v2.4 release window' }).waitFor();
    await page.locator('.tl-bar').first().waitFor();
    // The same window again conflicts: the API's words are shown.
    await form.getByRole('button', { name: 'Create hold' }).click();
    await page.getByRole('alert').waitFor();
    await shot('holds');
    await form.getByLabel('Resource').fill('calendar:alice');
    await form.getByLabel('Reason').fill('1:1');
    await form.getByRole('button', { name: 'Create hold' }).click();
    const row = page.getByRole('row', { name: /calendar:alice/ });
    await row.getByRole('button', { name: 'Release' }).click();
    await row.waitFor({ state: 'detached' });
    await page.getByRole('cell', { name: 'v2.4 release window' }).waitFor();
  });

  test('hitting a plan limit shows the message', async () => {
    const out: string[] = [];
    const code = await planCommand(['set', EMAIL, 'free'], instance.store, Date.now(), {
      out: (l) => out.push(l),
      err: (l) => out.push(l),
    });
    assert.equal(code, 0, out.join('\n'));
    await nav('Agents');
    const form = page.getByRole('form', { name: 'Create an agent' });
    await form.getByLabel('Name').fill('third-agent');
    await form.getByRole('button', { name: 'Create agent' }).click();
    await page.getByRole('region', { name: 'New API key' }).getByText('API key for third-agent').waitFor();
    await page.getByRole('button', { name: 'I have stored the key' }).click();
    await form.getByLabel('Name').fill('fourth-agent');
    await form.getByRole('button', { name: 'Create agent' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const text = (await alert.textContent()) ?? '';
    assert.match(text, /agents: 3 of 3 on the free plan/);
    await shot('agents-plan-limit');

    await nav('Plan');
    await page.getByRole('heading', { name: 'Current plan: free' }).waitFor();
    await page.locator('.meter', { hasText: 'Agents' }).getByText('3 / 3').waitFor();
    await shot('plan');
  });

  test('webhooks: add one (the secret shown once and copied), send a test, see the delivery log, disable', async () => {
    const { url, got, close } = await startReceiver();
    try {
      await nav('Webhooks');
      const form = page.getByRole('form', { name: 'Add an endpoint' });
      await form.getByLabel('URL').fill(url);
      await form.getByRole('button', { name: 'Add webhook' }).click();
      const panel = page.getByRole('region', { name: 'Signing secret' });
      const secret = (await panel.getByTestId('webhook-secret').textContent()) ?? '';
      assert.match(secret, /^whsec_/);
      await panel.getByRole('button', { name: 'Copy secret' }).click();
      await panel.getByRole('button', { name: 'Copied' }).waitFor();
      assert.equal(await page.evaluate('navigator.clipboard.readText()'), secret);
      await panel.getByRole('button', { name: 'Done' }).click();
      const row = page.locator(`tr[data-webhook="${url}"]`);
      await row.getByRole('button', { name: 'Send test' }).click();
      await row.getByText('Test delivered (200)').waitFor();
      assert.equal(got.length, 1);
      const { t, v1 } = Object.fromEntries(got[0]!.signature.split(',').map((kv) => kv.split('='))) as { t: string; v1: string };
      assert.equal(createHmac('sha256', secret).update(`${t}.${got[0]!.body}`).digest('hex'), v1);
      await row.getByRole('button', { name: 'Delivery log' }).click();
      await page
        .getByTestId('webhook-deliveries')
        .getByRole('cell', { name: /webhook\.test/ })
        .waitFor();
      await shot('webhooks');
      await row.getByRole('button', { name: 'Disable' }).click();
      await row.getByText('disabled').waitFor();
    } finally {
      await close();
    }
  });

  test('invite a viewer: the link is shown once, accepted in another browser, and the viewer sees a read-only workspace', async () => {
    const viewerEmail = `viewer-${Date.now()}@example.com`;
    await nav('Members');
    await page
      .getByTestId('members')
      .getByRole('row', { name: new RegExp(EMAIL) })
      .waitFor();
    const form = page.getByRole('form', { name: 'Invite someone' });
    await form.getByLabel('Email').fill(viewerEmail);
    await form.getByLabel('Role').selectOption('viewer');
    await form.getByRole('button', { name: 'Create invite' }).click();
    const panel = page.getByRole('region', { name: 'Invite link' });
    await panel.getByText(`Invite link for ${viewerEmail} (viewer)`).waitFor();
    const link = (await panel.getByTestId('invite-url').textContent()) ?? '';
    assert.match(link, new RegExp(`^${base}/#/invite\\?token=avs_inv_`));
    await panel.getByRole('button', { name: 'Copy link' }).click();
    await panel.getByRole('button', { name: 'Copied' }).waitFor();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), link);
    await page.getByTestId('invites').getByRole('cell', { name: viewerEmail }).waitFor();
    await shot('members');
    await panel.getByRole('button', { name: 'Done' }).click();

    // Someone else, in a browser of their own, follows the link and chooses a password.
    const other = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const guest = await other.newPage();
    guest.on('pageerror', (err) => pageErrors.push(`viewer: ${err.message}`));
    guest.setDefaultTimeout(15_000);
    try {
      await guest.goto(link);
      await guest.getByRole('heading', { name: 'Join a workspace' }).waitFor();
      assert.ok(!guest.url().includes('avs_inv_'), 'the token is dropped from the address bar once read');
      await guest.getByLabel(/^Password/).fill('viewer password 123');
      await guest.getByRole('button', { name: 'Accept the invite' }).click();
      await guest.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
      assert.match(guest.url(), /#\/w\/org_[a-z0-9]+\/overview$/, 'the URL names the workspace');
      await guest.locator('.role-badge', { hasText: 'viewer' }).waitFor();
      const guestNav = async (label: string) => {
        await guest.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
        await guest.getByRole('heading', { level: 1, name: label }).waitFor();
      };
      // Read-only: agents listed but no create form; test connection, but no rotate or delete.
      await guestNav('Agents');
      await guest.locator('tr[data-agent="claude-laptop"]').waitFor();
      await guest.getByText('Your role can see the agents').waitFor();
      assert.equal(await guest.getByRole('form', { name: 'Create an agent' }).count(), 0);
      await guest.locator('tr[data-agent="claude-laptop"]').getByRole('button', { name: 'Manage' }).click();
      await guest.locator('.detail-row').getByRole('button', { name: 'Test connection' }).waitFor();
      assert.equal(await guest.locator('.detail-row').getByRole('button', { name: 'Rotate key' }).count(), 0);
      await guestNav('Claims');
      await guest.getByTestId('active-claims').getByText('repo:acme/api').waitFor();
      assert.equal(await guest.getByTestId('active-claims').getByRole('button', { name: 'Release' }).count(), 0);
      await guestNav('Holds');
      assert.equal(await guest.getByRole('form', { name: 'Create a hold' }).count(), 0);
      await guestNav('Rules');
      await guest.getByText(/you can read the rules/).waitFor();
      assert.ok(await guest.getByRole('button', { name: 'Save rules' }).isDisabled());
      await guestNav('Members');
      assert.equal(await guest.getByRole('form', { name: 'Invite someone' }).count(), 0);
      await guest
        .getByTestId('members')
        .getByRole('row', { name: new RegExp(viewerEmail) })
        .getByText('(you)')
        .waitFor();
      await guest.screenshot({ path: join(SHOTS, 'members-viewer.png'), fullPage: true });
      await guestNav('Account');
      await guest.getByTestId('sessions').getByText('this session').waitFor();
      // The API agrees with the page: a viewer cannot create an agent.
      const refused = await guest.evaluate(
        async (org) => {
          const csrf = ((await (await fetch('/v1/session')).json()) as { csrf_token: string }).csrf_token;
          const res = await fetch(`/v1/orgs/${org}/agents`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
            body: JSON.stringify({ name: 'sneaky' }),
          });
          return res.status;
        },
        /#\/w\/([^/]+)/.exec(guest.url())?.[1],
      );
      assert.equal(refused, 403);
    } finally {
      await other.close();
    }

    // Back as the owner: the viewer is a member now, and their role can be changed.
    await nav('Overview');
    await nav('Members');
    const row = page.getByTestId('members').getByRole('row', { name: new RegExp(viewerEmail) });
    await row.getByLabel(`Role of ${viewerEmail}`).selectOption('member');
    await eventually('the new role', async () => (await row.getByLabel(`Role of ${viewerEmail}`).inputValue()) === 'member');
    await nav('Audit');
    await page.getByTestId('audit').getByRole('cell', { name: 'member.joined' }).first().waitFor();
  });

  test('a narrow window still shows every page', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await nav('Overview');
    await page.getByTestId('value-summary').waitFor();
    await shot('overview-narrow');
    // The snippets scroll inside themselves: a long command never widens the page.
    await nav('Agents');
    await page.locator('tr[data-agent="claude-laptop"]').getByRole('button', { name: 'Manage' }).click();
    const snippet = page.locator('.detail-row').getByTestId('snippet');
    await snippet.waitFor();
    const box = await snippet.boundingBox();
    assert.ok(box && box.width <= 390, JSON.stringify(box));
    // The teams pages fit too, and wide tables scroll inside their cards: nothing wider than the window.
    for (const label of ['Claims', 'Audit', 'Members', 'Account']) {
      await nav(label);
      await page.locator('main table').first().waitFor();
      const wide = (await page.evaluate('document.documentElement.scrollWidth')) as number;
      const culprits = await page.evaluate(
        "[...document.querySelectorAll('main *, aside *')].filter((e) => e.getBoundingClientRect().right > 391).slice(0, 5).map((e) => e.tagName + '.' + e.className).join(', ')",
      );
      assert.ok(wide <= 390, `${label} is ${wide} px wide: ${culprits}`);
      await shot(`${label.toLowerCase()}-narrow`);
    }
    await page.setViewportSize({ width: 1360, height: 900 });
  });

  test('session expiry returns to sign-in with a message; sign in and out again', async () => {
    await context.clearCookies();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Claims', exact: true }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByText('Your session has expired. Sign in again.').waitFor();
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password').fill('wrong password!');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1 }).filter({ hasNotText: 'Sign in' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You are signed out.').waitFor();
    const session = await page.evaluate(async () => (await fetch('/v1/session')).status);
    assert.equal(session, 401);
  });

  test('no script errors or blocked resources on any page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
