/**
 * Browser test of the admin view (/admin) against the real server and a real `hwr retrain` child:
 * sign in with the token, read the feedback tables, start a retrain on a small feedback set, follow
 * its log while it runs to the gate's verdict, roll back and promote from the versions table, and
 * roll back again to the first version, served.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { range, subset } from '../../src/data/dataset.js';
import { loadSplit } from '../../src/data/datasets.js';
import { PIXELS } from '../../src/model/infer.js';
import type { RunningServer } from '../../src/serve/app.js';
import { saveTestModel } from '../../src/serve/testing.js';
import { ModelStore } from '../../src/store/store.js';
import { CHROMIUM, launchChromium, startPageServer } from './page-harness.js';

const TOKEN = 'admin-view-test-token-0123456789';
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (run scripts/ensure-test-deps.sh)`;
if (missing) console.log(`admin browser test skipped: ${missing}`);

describe.skipIf(missing !== undefined)('admin view', () => {
  let tmp: string;
  let server: RunningServer;
  let browser: Browser;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'hwr-e2e-admin-'));
    const train = await loadSplit('mnist', 'train');
    // A store with two versions (v0001 current), the base trained for a few seconds on 3000 digits.
    await saveTestModel(join(tmp, 'models', 'digits'), {
      trainOn: subset(train, range(0, 3000)),
      version: 'base',
    });
    await saveTestModel(join(tmp, 'second'), {
      trainOn: subset(train, range(3000, 4000)),
      version: 'second',
    });
    const store = new ModelStore(join(tmp, 'models'));
    await store.add('digits', join(tmp, 'second'));
    // Followed: a promote or rollback swaps the served version while the page is open.
    server = await startPageServer(tmp, { admin: { token: TOKEN }, watch: true, watchDebounceMs: 50 });
    // A small feedback set: 60 MNIST test digits with their true labels (the model errs on some).
    const test = await loadSplit('mnist', 'test');
    for (let i = 0; i < 60; i++) {
      const res = await fetch(`${server.url}/api/feedback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          pixels: Array.from(test.images.subarray(i * PIXELS, (i + 1) * PIXELS)),
          label: String(test.labels[i]),
        }),
      });
      expect(res.status).toBe(201);
    }
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.app.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('signs in, shows the feedback, retrains to a gate verdict, rolls back and promotes', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    await page.goto(`${server.url}/admin`);
    await page.getByTestId('token').fill('wrong-token-but-long-enough');
    await page.getByTestId('signin').click();
    await expect.poll(() => page.getByTestId('admin-status').textContent()).toMatch(/wrong token/);
    await page.getByTestId('token').fill(TOKEN);
    await page.getByTestId('signin').click();
    await page.locator('body[data-ready="true"]').waitFor();
    // The token is kept for the tab only, and never in the address.
    expect(page.url()).toBe(`${server.url}/admin`);
    expect(await page.evaluate(() => sessionStorage.getItem('hwr.adminToken'))).toBe(TOKEN);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);

    const stats = await (await fetch(`${server.url}/api/feedback/stats?model=digits`)).json();
    expect(await page.getByTestId('feedback-summary').textContent()).toBe(
      `60 corrections; the model was right on ${stats.correct} of 60 (${((stats.correct / 60) * 100).toFixed(1)} %).`,
    );
    expect(await page.locator('#by-label tbody tr').count()).toBe(Object.keys(stats.byLabel).length);
    expect(await page.locator('#confusions tbody tr').count()).toBe(stats.confusions.length);
    await expect.poll(() => page.locator('#versions').getAttribute('data-current')).toBe('v0001');

    // Retrain: small, so the test stays under a few minutes on 2 shared cores.
    await page.locator('input[name="epochs"]').fill('1');
    await page.locator('input[name="replay"]').fill('500');
    await page.locator('input[name="testLimit"]').fill('1000');
    await page.getByTestId('retrain').click();
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state')).toBe('running');
    // Progress: the child's log lines appear while the job still runs, not only at its end.
    let linesWhileRunning = 0;
    await expect
      .poll(
        async () => {
          const [state, log] = await page.evaluate(() => [
            document.getElementById('job-state')?.dataset.state ?? '',
            document.getElementById('job-log')?.textContent ?? '',
          ]);
          if (state === 'running')
            linesWhileRunning = Math.max(linesWhileRunning, log.split('\n').filter(Boolean).length);
          return state;
        },
        { timeout: 300_000, interval: 500 },
      )
      .toMatch(/^(promoted|rejected)$/);
    expect(linesWhileRunning).toBeGreaterThan(0);
    // The child's log, as the page followed it (its last lines name the gate's checks).
    expect((await page.getByTestId('job-log').textContent())?.split('\n').length).toBeGreaterThan(3);
    const verdict = await page.getByTestId('gate-verdict').textContent();
    expect(verdict).toMatch(/^Gate (passed|refused the candidate)$/);
    const checks = await page.locator('#gate-checks li').allTextContents();
    expect(checks.length).toBeGreaterThan(0);
    expect(checks.join(' ')).toMatch(/\d/); // the gate's numbers, not just a word
    const state = await page.getByTestId('job-state').getAttribute('data-state');
    console.log(`admin view retrain: ${state}; ${verdict}: ${checks.join(' | ')}`);
    const current = state === 'promoted' ? 'v0003' : 'v0001';
    await expect.poll(() => page.locator('#versions').getAttribute('data-current')).toBe(current);

    // Roll back, then promote the version we left: the server serves each in turn.
    const served = async () =>
      ((await (await fetch(`${server.url}/api/models`)).json()) as { models: { version: string }[] })
        .models[0].version;
    await page.getByTestId('rollback').click();
    const previous = state === 'promoted' ? 'v0001' : null;
    if (previous) {
      await expect.poll(() => page.locator('#versions').getAttribute('data-current')).toBe(previous);
      await expect.poll(served, { timeout: 20_000 }).toBe(previous);
      await page.getByTestId(`promote-${current}`).click();
    } else {
      // v0001 was adopted first: nothing to roll back to; the page says so.
      await expect.poll(() => page.getByTestId('admin-status').textContent()).toMatch(/^Error: /);
      await page.getByTestId('promote-v0002').click();
    }
    const target = previous ? current : 'v0002';
    await expect.poll(() => page.locator('#versions').getAttribute('data-current')).toBe(target);
    await expect.poll(served, { timeout: 20_000 }).toBe(target);
    expect(await page.getByTestId('history').textContent()).toContain(`promote ${target}`);
    // And a rollback that lands: back to v0001, served again.
    await page.getByTestId('rollback').click();
    await expect.poll(() => page.locator('#versions').getAttribute('data-current')).toBe('v0001');
    await expect.poll(served, { timeout: 20_000 }).toBe('v0001');
    expect(await page.getByTestId('history').textContent()).toContain(`rollback v0001 (from ${target})`);
    expect(pageErrors).toEqual([]);
    await context.close();
  }, 400_000);
});
