/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The dashboard as a newcomer finds it (issue 19's papercuts), in Debian's chromium: no console error at
 * all (not even a failed resource) signed out or on any page signed in, a favicon, every column of the
 * wide tables reachable at 390 px and at desktop width, chart labels of a readable size, a claims timeline
 * that ends at now with labels that do not overlap, a header as tall as its content, agents named in the
 * audit details.
 *
 * The workspace is set up through the API (sign-up, agents, runs, a key rotation), then its session cookie
 * is handed to the browser. Chromium: /usr/bin/chromium or AVAILSYNC_CHROMIUM; see e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createAvailsync, listen, loadConfig, silentLogger } from '@availsync/server';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

const CHROMIUM = process.env.AVAILSYNC_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM && process.env.CI) throw new Error(`${CHROMIUM} not found (CI requires it): apt-get install -y chromium`);
const dashboardRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

const PAGES = ['Overview', 'Agents', 'Claims', 'Holds', 'Activity', 'Audit', 'Rules', 'Members', 'Plan', 'Account'];
const DESKTOP = { width: 1360, height: 900 };
const PHONE = { width: 390, height: 844 };

let tmp: string;
let server: Awaited<ReturnType<typeof listen>>;
let base: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'availsync-e2e-layout-'));
  const outDir = join(tmp, 'dashboard');
  const vite = join(dirname(createRequire(import.meta.url).resolve('vite/package.json')), 'bin', 'vite.js');
  execFileSync(process.execPath, [vite, 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: dashboardRoot,
    stdio: 'inherit',
  });
  const config = { ...loadConfig({}), port: 0, dataDir: join(tmp, 'data'), defaultPlan: 'team' as const, logLevel: 'silent' as const };
  const instance = await createAvailsync({ config, logger: silentLogger, dashboardDir: outDir, sweeper: false });
  server = await listen(instance, 0, '127.0.0.1');
  base = server.url;
});

after(async () => {
  await server?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Res {
  status: number;
  body: any;
  headers: Headers;
}
async function call(method: string, path: string, opts: { headers?: Record<string, string>; body?: unknown } = {}): Promise<Res> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(opts.body ? { 'Content-Type': 'application/json' } : {}), ...opts.headers },
    ...(opts.body ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {}, headers: res.headers };
}

describe('the server answers a signed-out browser without errors', () => {
  test('/favicon.ico and /favicon.svg are served', async () => {
    const ico = await fetch(`${base}/favicon.ico`);
    assert.equal(ico.status, 200);
    assert.equal(ico.headers.get('content-type'), 'image/x-icon');
    const bytes = new Uint8Array(await ico.arrayBuffer());
    assert.deepEqual([...bytes.slice(0, 4)], [0, 0, 1, 0], 'an ICO header');
    const svg = await fetch(`${base}/favicon.svg`);
    assert.equal(svg.status, 200);
    assert.match(await svg.text(), /^<svg /);
  });

  test('GET /v1/auth/status is 200 signed in or not; GET /v1/session keeps its 401', async () => {
    assert.deepEqual((await call('GET', '/v1/auth/status')).body, { signed_in: false });
    const unknown = { cookie: 'availsync_session=not-a-session' };
    assert.deepEqual((await call('GET', '/v1/auth/status', { headers: unknown })).body, { signed_in: false });
    const signup = await call('POST', '/v1/auth/signup', {
      body: { email: `status-${Date.now()}@example.com`, password: 'correct horse battery', workspace_name: 'Status' },
    });
    assert.equal(signup.status, 201);
    const cookie = (signup.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const signedIn = await call('GET', '/v1/auth/status', { headers: { cookie } });
    assert.equal(signedIn.status, 200);
    assert.deepEqual(signedIn.body, { signed_in: true });
    await call('POST', '/v1/auth/logout', { headers: { cookie, 'x-csrf-token': signup.body.csrf_token } });
    assert.deepEqual((await call('GET', '/v1/auth/status', { headers: { cookie } })).body, { signed_in: false });
    const session = await call('GET', '/v1/session', { headers: { cookie } });
    assert.equal(session.status, 401);
    assert.equal(session.body.error, 'unauthorized');
  });
});

describe('the dashboard at 390 px and at desktop width', { skip: !HAVE_CHROMIUM }, () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let cookie = '';
  let orgId = '';
  let agentId = '';
  /** Every console error, failed resources included: none is expected in this suite. */
  const consoleErrors: string[] = [];

  const watch = (p: Page, who: string) => {
    p.on('pageerror', (err) => consoleErrors.push(`${who}: ${err.message}`));
    p.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(`${who}: ${msg.text()} (${msg.location().url})`);
    });
    p.on('response', (res) => {
      if (res.status() >= 400) consoleErrors.push(`${who}: ${res.status()} ${res.url()}`);
    });
  };
  const settled = async (p: Page) => {
    for (let i = 0; i < 200; i++) {
      if ((await p.locator('main .placeholder', { hasText: 'Loading' }).count()) === 0) return;
      await p.waitForTimeout(50);
    }
    assert.fail('the page kept loading');
  };
  const nav = async (label: string) => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
    await page.getByRole('heading', { level: 1, name: label }).waitFor();
    await settled(page);
  };

  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update'],
    });
    // The workspace: two agents, two runs on one resource (one finished), a key rotated.
    const signup = await call('POST', '/v1/auth/signup', {
      body: { email: `layout-${Date.now()}@example.com`, password: 'correct horse battery', workspace_name: 'Layout' },
    });
    assert.equal(signup.status, 201);
    cookie = (signup.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    orgId = signup.body.workspace.id;
    const asOwner = { cookie, 'x-csrf-token': signup.body.csrf_token };
    const keys: string[] = [];
    for (const name of ['claude-laptop-with-a-long-name', 'nightly-cron']) {
      const made = await call('POST', `/v1/orgs/${orgId}/agents`, { headers: asOwner, body: { name } });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      keys.push(made.body.api_key);
      if (!agentId) agentId = made.body.agent.id;
    }
    const agent = (i: number) => ({ authorization: `Bearer ${keys[i]}` });
    const first = await call('POST', '/v1/work/run/start', {
      headers: agent(1),
      body: { resource: 'repo:acme/api', reason: 'nightly deps bump', duration_minutes: 10 },
    });
    await call('POST', '/v1/work/run/finish', { headers: agent(1), body: { claim_id: first.body.claim.id, outcome: 'finished' } });
    const second = await call('POST', '/v1/work/run/start', {
      headers: agent(0),
      body: { resource: 'repo:acme/api', reason: 'refactor the authentication middleware', duration_minutes: 45 },
    });
    assert.equal(second.body.action, 'proceed');
    await call('POST', '/v1/work/run/working-set', {
      headers: agent(0),
      body: { claim_id: second.body.claim.id, paths: ['src/auth/middleware/session-cookie.ts', 'package.json'] },
    });
    const rotated = await call('POST', `/v1/orgs/${orgId}/agents/${agentId}/rotate-key`, { headers: asOwner });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
  });

  after(async () => {
    await browser?.close();
  });

  test('a signed-out load logs no console error, failed resources included, and the favicon loads', async () => {
    const fresh = await browser.newContext({ viewport: PHONE });
    const p = await fresh.newPage();
    watch(p, 'signed out');
    try {
      await p.goto(base);
      await p.getByRole('heading', { name: 'Sign in' }).waitFor();
      const icon = await p.evaluate(async () => (await fetch('/favicon.ico')).status);
      assert.equal(icon, 200);
      await p.goto(`${base}/#/signup`);
      await p.getByRole('button', { name: 'Create workspace' }).waitFor();
      assert.deepEqual(consoleErrors, []);
    } finally {
      await fresh.close();
    }
  });

  test('signed in: every page, at both widths, without a console error', async () => {
    context = await browser.newContext({ viewport: DESKTOP });
    const [name, value] = cookie.split('=');
    await context.addCookies([{ name: name ?? '', value: value ?? '', url: base }]);
    page = await context.newPage();
    watch(page, 'signed in');
    page.setDefaultTimeout(15_000);
    await page.goto(`${base}/#/w/${orgId}/overview`);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    for (const size of [DESKTOP, PHONE]) {
      await page.setViewportSize(size);
      for (const label of PAGES) await nav(label);
    }
    assert.deepEqual(consoleErrors, []);
  });

  /**
   * Each cell of `columns` (1-based) of the table: inside the window, or inside a box that scrolls sideways,
   * shows that it does (the edge shadow: a gradient background) and brings the cell into view when scrolled.
   */
  const reachable = async (selector: string, columns: number[], what: string) => {
    const problems = (await page.evaluate(
      ({ selector, columns }) => {
        const table = document.querySelector(selector);
        if (!table) return [`no table ${selector}`];
        const out: string[] = [];
        // No helper functions in here: the test runner's transform would name them with a helper the page lacks.
        const rows = [...table.querySelectorAll('tr')].filter((r) => !r.classList.contains('detail-row')).slice(0, 6);
        for (const row of rows) {
          for (const n of columns) {
            const cell = row.children[n - 1];
            if (!cell) continue;
            const before = cell.getBoundingClientRect();
            if (before.left >= 0 && before.right <= window.innerWidth + 0.5) continue;
            let box: HTMLElement | null = null;
            for (let e = cell.parentElement; e && !box; e = e.parentElement) {
              const s = getComputedStyle(e);
              if ((s.overflowX === 'auto' || s.overflowX === 'scroll') && e.scrollWidth > e.clientWidth) box = e;
            }
            const label = `${(row as HTMLTableRowElement).rowIndex}:${n} "${(cell.textContent ?? '').trim().slice(0, 20)}"`;
            if (!box) {
              out.push(`${label} is off-screen and nothing scrolls to it`);
              continue;
            }
            if (!/gradient/.test(getComputedStyle(box).backgroundImage)) out.push(`${label}: its scroll box shows no affordance`);
            // Scrolled to its column, the cell shows whole (or, wider than the box, fills it).
            box.scrollLeft += before.left - box.getBoundingClientRect().left - box.clientLeft;
            const after = cell.getBoundingClientRect();
            const fits = after.right <= window.innerWidth + 0.5 || after.width > box.clientWidth;
            if (after.left < -0.5 || !fits) out.push(`${label} stays off-screen when scrolled`);
            box.scrollLeft = 0;
          }
        }
        return out;
      },
      { selector, columns },
    )) as string[];
    assert.deepEqual(problems, [], what);
  };

  for (const [size, label] of [
    [PHONE, '390 px'],
    [DESKTOP, 'desktop'],
  ] as const) {
    test(`${label}: Time left, Release, Manage, Actor and Details can be reached`, async () => {
      await page.setViewportSize(size);
      await nav('Claims');
      await page.getByTestId('active-claims').getByRole('button', { name: 'Release' }).waitFor();
      await reachable('[data-testid="active-claims"]', [5, 6], 'Claims: Time left, Release');
      await nav('Agents');
      await page.getByRole('button', { name: 'Manage' }).first().waitFor();
      await reachable('table.agents', [8], 'Agents: Manage');
      await nav('Audit');
      await page.getByTestId('audit').getByRole('cell', { name: 'agent.key_rotated' }).waitFor();
      await reachable('[data-testid="audit"]', [3, 5], 'Audit: Actor, Details');
      // Nothing else widens the page itself.
      assert.ok(((await page.evaluate('document.documentElement.scrollWidth')) as number) <= size.width);
    });

    test(`${label}: chart and timeline labels are at least 11 px and do not overlap`, async () => {
      await page.setViewportSize(size);
      await nav('Overview');
      await page.locator('.chart text').first().waitFor();
      const sizes = (await page.evaluate(() =>
        [...document.querySelectorAll<SVGTextElement>('.chart text')].map((t) => {
          // A stretched SVG scales its text unevenly: the smaller of the two scales is what the eye gets.
          const m = t.getScreenCTM();
          const scale = m ? Math.min(Math.abs(m.a), Math.abs(m.d)) : 1;
          return Number.parseFloat(getComputedStyle(t).fontSize) * scale;
        }),
      )) as number[];
      assert.ok(sizes.length > 0);
      assert.ok(Math.min(...sizes) >= 11, `chart label sizes on screen: ${sizes.join(', ')}`);
      const boxes = await page.locator('.chart text').evaluateAll((ts) => ts.map((t) => t.getBoundingClientRect().toJSON()));
      for (let i = 1; i < boxes.length; i++) {
        const [a, b] = [boxes[i - 1], boxes[i]];
        if (Math.abs(a.top - b.top) < 1) assert.ok(a.right <= b.left, `chart labels ${i - 1} and ${i} overlap`);
      }

      await nav('Claims');
      await page.locator('.tl-bar').first().waitFor();
      const axis = (await page.evaluate(() =>
        [...document.querySelectorAll<HTMLElement>('.tl-axis span')]
          .filter((s) => s.offsetParent !== null)
          .map((s) => ({
            text: s.textContent,
            size: Number.parseFloat(getComputedStyle(s).fontSize),
            ...s.getBoundingClientRect().toJSON(),
          })),
      )) as { text: string; size: number; left: number; right: number }[];
      assert.ok(axis.length >= 3, JSON.stringify(axis));
      for (const s of axis) assert.ok(s.size >= 11, `${s.text}: ${s.size} px`);
      for (let i = 1; i < axis.length; i++) {
        assert.ok(axis[i - 1]!.right + 4 <= axis[i]!.left, `timeline labels overlap: ${JSON.stringify(axis)}`);
      }
    });
  }

  test('the "last 24 hours" timeline ends at now', async () => {
    await nav('Claims');
    const timeline = page.locator('.timeline');
    await timeline.locator('.tl-bar').first().waitFor();
    const { from, to, clock } = await timeline.evaluate((el) => ({
      from: Number(el.getAttribute('data-from')),
      to: Number(el.getAttribute('data-to')),
      clock: Date.now(),
    }));
    assert.equal(to - from, 24 * 3_600_000);
    // `now` is the page's clock, read at its last tick (every 15 s): never ahead of the browser's.
    assert.ok(to <= clock && clock - to <= 16_000, `the window ends ${to - clock} ms from now`);
    assert.equal(await timeline.locator('.tl-axis span').last().textContent(), 'now');
    assert.equal(await timeline.locator('.tl-future').count(), 0, 'no future in the last 24 hours');
    const [track, line] = await Promise.all([
      timeline.locator('.tl-track').first().boundingBox(),
      timeline.locator('.tl-now').first().boundingBox(),
    ]);
    assert.ok(track && line && Math.abs(line.x + line.width - (track.x + track.width)) <= 1, 'the now line is the right edge');
  });

  test('a short page at 390 px: the header is as tall as its content', async () => {
    // A window taller than the page's content: the extra height must go to the page, not the header.
    await page.setViewportSize({ width: 390, height: 2400 });
    await nav('Plan');
    // The sign-out row is pushed to the header's bottom (margin-top: auto): a stretched header shows as
    // empty space above it, more than the header's own gap.
    const { gap, space, side } = await page.evaluate(() => {
      const aside = document.querySelector('aside.side') as HTMLElement;
      const nav = aside.querySelector('nav') as HTMLElement;
      const who = aside.querySelector('.who') as HTMLElement;
      return {
        gap: Number.parseFloat(getComputedStyle(aside).rowGap),
        space: who.getBoundingClientRect().top - nav.getBoundingClientRect().bottom,
        side: aside.getBoundingClientRect().height,
      };
    });
    assert.ok(space <= gap + 1, `${space} px of empty header above the sign-out row (gap ${gap} px, header ${side} px)`);
  });

  test('Audit details name the agent, not its id', async () => {
    await page.setViewportSize(DESKTOP);
    await nav('Audit');
    const row = page.getByTestId('audit').getByRole('row', { name: /agent\.key_rotated/ });
    const details = (await row.locator('td.details').textContent()) ?? '';
    assert.match(details, /agent: claude-laptop-with-a-long-name/);
    assert.doesNotMatch(details, new RegExp(agentId));
  });

  test('still no console error after all that', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
