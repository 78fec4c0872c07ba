/**
 * Browser test of the draw-a-character page against the real server: headless Chromium
 * (/usr/bin/chromium, via playwright-core; scripts/ensure-test-deps.sh installs it) draws held-out
 * UNIPEN digits on the pad with the mouse, reads the answer, sends a correction and finds it in SQLite.
 *
 * Needs a trained digits model: models/digits, or HWR_DIGITS_MODEL=<model dir>. Without one (or
 * without chromium) the test is skipped and says why.
 */
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/serve/app.js';
import {
  buildWebPage,
  CHROMIUM,
  drawFixture as draw,
  FIXTURE_BOX,
  type Fixture,
  launchChromium,
  openPage as openPageWith,
  readableFixtures,
} from './page-harness.js';

const MODEL_DIR = process.env.HWR_DIGITS_MODEL ?? 'models/digits';

const missing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (run scripts/ensure-test-deps.sh)`
  : !existsSync(join(MODEL_DIR, 'metadata.json'))
    ? `no trained digits model at ${MODEL_DIR} yet (ship models/digits or set HWR_DIGITS_MODEL)`
    : undefined;
if (missing) console.log(`browser test skipped: ${missing}`);

describe.skipIf(missing !== undefined)('draw-a-character page', () => {
  let tmp: string;
  let server: RunningServer;
  let browser: Browser;
  const pageErrors: string[] = [];
  /** Held-out digits the model reads right offline, one per class, so the page must too. */
  const chosen: Fixture[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'hwr-e2e-'));
    const webDir = join(tmp, 'web');
    await buildWebPage(webDir);
    cpSync(MODEL_DIR, join(tmp, 'models', 'digits'), { recursive: true });
    chosen.push(
      ...(await readableFixtures(join(tmp, 'models', 'digits'), 'test/fixtures/strokes/digits.json', 10)),
    );
    expect(chosen.length).toBeGreaterThanOrEqual(3);

    server = await startServer({
      port: 0,
      modelsDir: join(tmp, 'models'),
      dataDir: join(tmp, 'data'),
      webDir,
      watch: false,
      waitForModels: true,
    });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.app.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const openPage = (options: { touch?: boolean; locale?: string } = {}): Promise<Page> =>
    openPageWith(browser, server.url, pageErrors, options);

  it('reads digits drawn with the mouse and stores the chosen label in SQLite', async () => {
    const page = await openPage();
    await expect(page.getByTestId('model-select').inputValue()).resolves.toBe('digits');
    expect(await page.getByTestId('predict').isDisabled()).toBe(true);

    for (const f of chosen.slice(0, 3)) {
      await page.getByTestId('clear').click();
      await draw(page, f);
      await page.getByTestId('predict').click();
      await expect
        .poll(() => page.getByTestId('prediction').textContent(), { timeout: 15_000 })
        .toBe(f.label);
      // Top-3 bars and the 28x28 the model saw.
      expect(await page.locator('#top li').count()).toBe(3);
      expect(await page.locator('#seen').evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(28);
    }

    // The user says it was another digit: the correction is what gets stored.
    const last = chosen[2];
    const truth = last.label === '0' ? '1' : '0';
    await page.getByTestId('feedback-label').filter({ hasText: truth }).click();
    await page.getByTestId('feedback-submit').click();
    await expect.poll(() => page.locator('#status').textContent()).toContain('Thank you');
    expect(await page.getByTestId('predict').isDisabled()).toBe(true); // pad cleared

    const db = new Database(join(tmp, 'data', 'feedback.sqlite'), { readonly: true });
    const rows = db
      .prepare('SELECT model_name, label, predicted, input_kind, raw_input FROM feedback ORDER BY id')
      .all() as {
      model_name: string;
      label: string;
      predicted: string;
      input_kind: string;
      raw_input: string;
    }[];
    db.close();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      model_name: 'digits',
      label: truth,
      predicted: last.label,
      input_kind: 'strokes',
    });
    // The stored strokes are the drawing itself: same strokes, same points, in pad pixels.
    const stored = JSON.parse(rows[0].raw_input) as number[][][];
    expect(stored.length).toBe(last.strokes.length);
    const box = await page.getByTestId('pad').boundingBox();
    const k = box!.width / FIXTURE_BOX;
    stored.forEach((s, i) => {
      expect(s.length).toBe(last.strokes[i].length);
      expect(Math.abs(s[0][0] - last.strokes[i][0][0] * k)).toBeLessThan(1);
      expect(Math.abs(s[0][1] - last.strokes[i][0][1] * k)).toBeLessThan(1);
    });
    expect(pageErrors).toEqual([]);
    await page.context().close();
  });

  it('draws with touch without scrolling the page, and speaks French', async () => {
    const page = await openPage({ touch: true, locale: 'fr-FR' });
    expect(await page.getByTestId('predict').textContent()).toContain('Reconnaître');
    // Make the page scrollable, then drag a finger over the pad: the page must not move.
    await page.evaluate(() => {
      document
        .querySelector('footer')!
        .append(...Array.from({ length: 80 }, () => document.createElement('br')));
    });
    const box = (await page.getByTestId('pad').boundingBox())!;
    const cdp = await page.context().newCDPSession(page);
    const at = (x: number, y: number) => [{ x: box.x + x, y: box.y + y, id: 1 }];
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: at(box.width * 0.5, 20) });
    for (let i = 1; i <= 20; i++)
      await cdp.send('Input.dispatchTouchEvent', {
        type: 'touchMove',
        touchPoints: at(box.width * 0.5, 20 + (i * (box.height - 40)) / 20),
      });
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
    expect(await page.evaluate(() => window.scrollY)).toBe(0);
    expect(await page.getByTestId('predict').isDisabled()).toBe(false);
    await page.getByTestId('predict').click();
    await expect
      .poll(() => page.getByTestId('prediction').textContent(), { timeout: 15_000 })
      .toMatch(/^\d$/);

    // Toggle to English and back; Clear empties the pad.
    await page.getByTestId('lang-toggle').click();
    expect(await page.getByTestId('predict').textContent()).toContain('Predict');
    await page.getByTestId('clear').click();
    expect(await page.getByTestId('predict').isDisabled()).toBe(true);
    expect(await page.locator('#result').isHidden()).toBe(true);
    // Phone width: nothing sticks out sideways.
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    expect(pageErrors).toEqual([]);
    await page.context().close();
  });

  it('is usable from the keyboard', async () => {
    const page = await openPage();
    await draw(page, chosen[0]);
    // Tab order: pad, then Predict; Enter activates it.
    await page.getByTestId('pad').focus();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.testid)).toBe('predict');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => page.getByTestId('prediction').textContent(), { timeout: 15_000 })
      .toBe(chosen[0].label);
    const label = page.getByTestId('feedback-label').filter({ hasText: chosen[0].label });
    expect(await label.getAttribute('aria-pressed')).toBe('true');
    await page.getByTestId('feedback-submit').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#status').textContent()).toContain('Thank you');
    expect(pageErrors).toEqual([]);
    await page.context().close();
  });
});
