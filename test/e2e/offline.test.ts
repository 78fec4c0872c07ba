/**
 * Browser test of in-browser inference (issue 18, item 5): headless Chromium draws fixture digits with
 * the mouse while the server answers, then with the server stopped; the page answers on the device
 * (TF.js, the served model's files) with the server's label and probabilities within 1e-3. A
 * correction made while the server is away is queued in IndexedDB and arrives, once, after the server
 * is back (checked through GET /api/feedback/stats); one the server stored but whose answer was lost is
 * sent again under its Idempotency-Key and stored once. In private mode no drawing leaves the page.
 *
 * Needs models/digits (or HWR_DIGITS_MODEL) and /usr/bin/chromium; skipped with the reason otherwise.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/serve/app.js';
import {
  CHROMIUM,
  drawFixture,
  type Fixture,
  launchChromium,
  openPage,
  pageServerOptions,
  startPageServer,
} from './page-harness.js';

const MODEL_DIR = process.env.HWR_DIGITS_MODEL ?? 'models/digits';
const FIXTURE = 'test/fixtures/strokes/digits.json';
/** How many drawings are compared (distinct labels, the fixture's first of each). */
const DRAWINGS = 4;

const missing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (run scripts/ensure-test-deps.sh)`
  : !existsSync(join(MODEL_DIR, 'metadata.json'))
    ? `no digits model at ${MODEL_DIR}`
    : undefined;
if (missing) console.log(`offline browser test skipped: ${missing}`);

interface Shown {
  label: string;
  top: { label: string; p: number }[];
  parts: string | null;
}

/** The answer as the page shows it; the bars (<meter>) hold the unrounded probabilities. */
async function shown(page: Page): Promise<Shown> {
  return page.evaluate(() => ({
    label: document.getElementById('prediction')?.textContent ?? '',
    top: [...document.querySelectorAll('#top li')].map((li) => ({
      label: li.querySelector('.top-label')?.textContent ?? '',
      p: (li.querySelector('meter') as HTMLMeterElement).value,
    })),
    parts: document.getElementById('parts')?.hidden
      ? null
      : (document.getElementById('parts')?.textContent ?? null),
  }));
}

/** Draws and predicts; returns the milliseconds from the Predict click to the answer on the page. */
async function predictDrawing(page: Page, f: Fixture): Promise<number> {
  await page.getByTestId('clear').click();
  await drawFixture(page, f);
  const t0 = Date.now();
  await page.getByTestId('predict').click();
  await page.waitForFunction(() => document.getElementById('prediction')?.textContent !== '', undefined, {
    timeout: 30_000,
    polling: 'raf',
  });
  return Date.now() - t0;
}

describe.skipIf(missing !== undefined)('the page without the server', () => {
  let tmp: string;
  let server: RunningServer;
  let browser: Browser;
  const fixtures: Fixture[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'hwr-e2e-offline-'));
    cpSync(MODEL_DIR, join(tmp, 'models', 'digits'), { recursive: true });
    server = await startPageServer(tmp);
    browser = await launchChromium();
    for (const f of JSON.parse(readFileSync(FIXTURE, 'utf8')).samples as Fixture[])
      if (fixtures.length < DRAWINGS && !fixtures.some((c) => c.label === f.label)) fixtures.push(f);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.app.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('answers on the device as the server did once it is stopped, and sends a correction made meanwhile when it is back', async () => {
    const errors: string[] = [];
    const page = await openPage(browser, server.url, errors);
    const files: string[] = [];
    const wasm: string[] = [];
    page.on('response', (r) => {
      if (r.url().includes('/files/') && r.ok()) files.push(new URL(r.url()).pathname);
      if (r.url().endsWith('.wasm') && r.ok()) wasm.push(new URL(r.url()).pathname);
    });
    const fromServer: Shown[] = [];
    for (const f of fixtures) {
      await predictDrawing(page, f);
      expect(await page.getByTestId('where').isVisible()).toBe(false);
      fromServer.push(await shown(page));
    }
    // After the first answer the model is loaded onto the device in the background: the CNN, the
    // stroke part and the metadata.
    await expect.poll(() => files.length, { timeout: 30_000 }).toBe(5);
    expect(files.sort()).toEqual(
      ['metadata.json', 'model.json', 'strokes/model.json', 'strokes/weights.bin', 'weights.bin'].map(
        (f) => `/api/models/digits/files/${f}`,
      ),
    );

    // The WebAssembly backend started (the page's CSP allows it): one .wasm build was fetched.
    expect(wasm).toHaveLength(1);
    const port = server.port;
    await server.app.close();
    const took: number[] = [];
    let maxDiff = 0;
    for (const [i, f] of fixtures.entries()) {
      took.push(await predictDrawing(page, f));
      expect(await page.getByTestId('where').textContent()).toBe(
        'The server cannot be reached: computed on this device.',
      );
      const device = await shown(page);
      const want = fromServer[i];
      expect(device.label, f.id).toBe(want.label);
      expect(device.top.map((t) => t.label)).toEqual(want.top.map((t) => t.label));
      for (const [k, t] of device.top.entries()) {
        const diff = Math.abs(t.p - want.top[k].p);
        maxDiff = Math.max(maxDiff, diff);
        expect(diff, f.id).toBeLessThan(1e-3);
      }
      expect(device.parts).toBe(want.parts);
    }
    console.log(
      `offline: ${fixtures.length} drawings answered on the device with the server's labels (${fromServer.map((s) => s.label).join(' ')}); largest top-3 probability difference ${maxDiff.toExponential(2)}; Predict click to answer on the device ${took.join(', ')} ms`,
    );

    // A correction while the server is away: queued on the device, echoed as such.
    const last = await shown(page);
    const wrong = fixtures.find((f) => f.label !== last.label)?.label ?? '0';
    await page.locator(`[data-testid="feedback-label"][data-label="${wrong}"]`).click();
    await expect.poll(() => page.getByTestId('saved-text').textContent()).toContain('Saved on this device');

    server = await startServer({ ...pageServerOptions(tmp), port });
    const stats = async () => (await fetch(`${server.url}/api/feedback/stats?model=digits`)).json();
    expect((await stats()).total).toBe(0);
    // The browser's `online` event sends the queue (so does the next answered request, below).
    await page.evaluate(() => window.dispatchEvent(new Event('online')));
    await expect
      .poll(() => page.locator('#status').textContent(), { timeout: 15_000 })
      .toBe('1 correction made offline was sent to the server.');
    const after = await stats();
    expect(after.total).toBe(1);
    expect(after.confusions).toEqual([{ label: wrong, predicted: last.label, count: 1 }]);
    // Sent once: another answered request finds the queue empty.
    await predictDrawing(page, fixtures[1]);
    await page.waitForTimeout(500);
    expect((await stats()).total).toBe(1);
    // The network drops POST /api/feedback: "Right" is queued; the next answered request sends it.
    await page.route('**/api/feedback', (route) => route.abort('internetdisconnected'));
    const right = (await shown(page)).label;
    await page.getByTestId('feedback-right').click();
    await expect.poll(() => page.getByTestId('saved-text').textContent()).toContain('Saved on this device');
    await page.unroute('**/api/feedback');
    await predictDrawing(page, fixtures[2]);
    await expect.poll(async () => (await stats()).total, { timeout: 15_000 }).toBe(2);
    expect((await stats()).byLabel[right]).toMatchObject({ correct: 1 });
    const unexpected = errors.filter((e) => !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(e));
    expect(unexpected).toEqual([]);
    await page.context().close();
  }, 120_000);

  it('stores a correction once when the server stored it and its answer was lost', async () => {
    const errors: string[] = [];
    const page = await openPage(browser, server.url, errors);
    const stats = async () => (await fetch(`${server.url}/api/feedback/stats?model=digits`)).json();
    const before = (await stats()).total;
    await predictDrawing(page, fixtures[0]);
    const predicted = (await shown(page)).label;
    // The first POST reaches the server, which stores the row; the connection then drops before the
    // answer gets back, so the page queues the correction, as it must not lose it.
    const posts: { key: string | undefined; status: number | 'lost' }[] = [];
    await page.route('**/api/feedback', async (route) => {
      const answer = await route.fetch();
      posts.push({ key: route.request().headers()['idempotency-key'], status: 'lost' });
      expect(answer.status()).toBe(201);
      await route.abort('connectionreset');
    });
    await page.getByTestId('feedback-right').click();
    await expect.poll(() => page.getByTestId('saved-text').textContent()).toContain('Saved on this device');
    expect((await stats()).total).toBe(before + 1);
    await page.unroute('**/api/feedback');
    page.on('response', (r) => {
      if (r.url().endsWith('/api/feedback') && r.request().method() === 'POST')
        posts.push({ key: r.request().headers()['idempotency-key'], status: r.status() });
    });
    // The next answered request sends the queue: the same key, answered 200 with the stored row.
    await predictDrawing(page, fixtures[1]);
    await expect
      .poll(() => page.locator('#status').textContent(), { timeout: 15_000 })
      .toBe('1 correction made offline was sent to the server.');
    expect(posts.map((p) => p.status)).toEqual(['lost', 200]);
    expect(posts[0].key).toMatch(/^"[0-9a-f-]{36}"$/);
    expect(posts[1].key).toBe(posts[0].key);
    const after = await stats();
    expect(after.total).toBe(before + 1);
    expect(after.byLabel[predicted].count).toBeGreaterThanOrEqual(1);
    console.log(
      `offline: a correction whose answer was lost was sent twice under ${posts[0].key} and stored once`,
    );
    const unexpected = errors.filter((e) => !/ERR_CONNECTION_RESET|Failed to load resource/.test(e));
    expect(unexpected).toEqual([]);
    await page.context().close();
  }, 90_000);

  it('in private mode computes on the device and sends no drawing, and remembers the switch', async () => {
    const errors: string[] = [];
    const page = await openPage(browser, server.url, errors);
    await page.getByTestId('private').check();
    const sent: Request[] = [];
    page.on('request', (r) => {
      if (r.method() !== 'GET') sent.push(r);
    });
    const took: number[] = [];
    for (const f of fixtures) {
      took.push(await predictDrawing(page, f));
      expect(await page.getByTestId('where').textContent()).toBe(
        'Computed on this device: nothing was sent.',
      );
      expect(await page.getByTestId('private-note').isVisible()).toBe(true);
      expect(await page.getByTestId('feedback-right').isVisible()).toBe(false);
    }
    expect(sent.map((r) => `${r.method()} ${r.url()}`)).toEqual([]);
    console.log(
      `private: Predict click to answer on the device ${took.join(', ')} ms (the first loads TF.js and the model)`,
    );
    await page.reload();
    await page.locator('body[data-ready="true"]').waitFor();
    expect(await page.getByTestId('private').isChecked()).toBe(true);
    await page.getByTestId('private').uncheck();
    await predictDrawing(page, fixtures[0]);
    expect(await page.getByTestId('where').isVisible()).toBe(false);
    expect(await page.getByTestId('feedback-right').isVisible()).toBe(true);
    // Turned on with the server's answer on screen: its correction step goes too.
    await page.getByTestId('private').check();
    expect(await page.getByTestId('feedback-right').isVisible()).toBe(false);
    expect(await page.getByTestId('private-note').isVisible()).toBe(true);
    expect(errors).toEqual([]);
    await page.context().close();
  }, 90_000);
});
