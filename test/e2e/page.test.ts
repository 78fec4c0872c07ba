/**
 * Browser test of the draw-a-character page against the real server: headless Chromium
 * (/usr/bin/chromium, via playwright-core; scripts/ensure-test-deps.sh installs it) draws held-out
 * UNIPEN digits on the pad with the mouse, reads the answer, sends a correction and finds it in SQLite.
 *
 * Needs a trained digits model: models/digits, or HWR_DIGITS_MODEL=<model dir>. Without one (or
 * without chromium) the test is skipped and says why.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/serve/app.js';
import {
  CHROMIUM,
  drawFixture as draw,
  FIXTURE_BOX,
  type Fixture,
  horizontalOverflow,
  launchChromium,
  openPage as openPageWith,
  readableFixtures,
  startPageServer,
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
  let version: string;
  /** Held-out digits the model reads right offline, one per class, so the page must too. */
  const chosen: Fixture[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'hwr-e2e-'));
    cpSync(MODEL_DIR, join(tmp, 'models', 'digits'), { recursive: true });
    chosen.push(
      ...(await readableFixtures(join(tmp, 'models', 'digits'), 'test/fixtures/strokes/digits.json', 10)),
    );
    expect(chosen.length).toBeGreaterThanOrEqual(3);

    server = await startPageServer(tmp);
    version = JSON.parse(readFileSync(join(MODEL_DIR, 'metadata.json'), 'utf8')).version;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.app.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const openPage = (
    options: { touch?: boolean; locale?: string; viewport?: { width: number; height: number } } = {},
  ): Promise<Page> => openPageWith(browser, server.url, pageErrors, options);

  function dbRows() {
    const db = new Database(join(tmp, 'data', 'feedback.sqlite'), { readonly: true });
    try {
      return db
        .prepare('SELECT model_name, label, predicted, input_kind, raw_input FROM feedback ORDER BY id')
        .all() as {
        model_name: string;
        label: string;
        predicted: string;
        input_kind: string;
        raw_input: string;
      }[];
    } finally {
      db.close();
    }
  }

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

    // Counts and the served model are shown before any correction.
    expect(await page.getByTestId('counts').textContent()).toBe('No corrections yet for this model.');
    expect(await page.getByTestId('model-info').textContent()).toMatch(
      new RegExp(`^digits ${version}: test accuracy \\d+\\.\\d %, trained .+\\.$`),
    );

    // "No, it was ...": the chosen label is stored, echoed with an Undo that removes the row.
    const last = chosen[2];
    const truth = last.label === '0' ? '1' : '0';
    // The predicted label is not offered as a correction: "Right" says that.
    expect(await page.getByTestId('feedback-label').filter({ hasText: last.label }).count()).toBe(0);
    await page.getByTestId('feedback-label').filter({ hasText: truth }).click();
    await expect
      .poll(() => page.getByTestId('saved-text').textContent())
      .toBe(`Saved: “${truth}” (the model read “${last.label}”). The next retraining learns from it.`);
    expect(await page.getByTestId('predict').isDisabled()).toBe(true); // pad cleared for the next one
    await expect
      .poll(() => page.getByTestId('counts').textContent())
      .toBe('1 correction so far; the model was right 0.0 % of the time.');
    expect(dbRows()).toHaveLength(1);
    await page.getByTestId('undo').click();
    await expect.poll(() => page.locator('#status').textContent()).toBe('Undone: your answer was removed.');
    expect(await page.getByTestId('saved').isHidden()).toBe(true);
    expect(dbRows()).toHaveLength(0);
    await expect
      .poll(() => page.getByTestId('counts').textContent())
      .toBe('No corrections yet for this model.');

    // Draw it again and say the model was wrong; then another one it read right: "Right ✓".
    await draw(page, last);
    await page.getByTestId('predict').click();
    await expect
      .poll(() => page.getByTestId('prediction').textContent(), { timeout: 15_000 })
      .toBe(last.label);
    await page.getByTestId('feedback-label').filter({ hasText: truth }).click();
    await expect.poll(() => page.getByTestId('saved').isVisible()).toBe(true);
    await draw(page, chosen[0]);
    await page.getByTestId('predict').click();
    await expect
      .poll(() => page.getByTestId('prediction').textContent(), { timeout: 15_000 })
      .toBe(chosen[0].label);
    expect(await page.getByTestId('saved').isHidden()).toBe(true); // a new answer replaces the echo
    await page.getByTestId('feedback-right').click();
    await expect
      .poll(() => page.getByTestId('saved-text').textContent())
      .toBe(`Saved: “${chosen[0].label}”, the model was right.`);
    await expect
      .poll(() => page.getByTestId('counts').textContent())
      .toBe('2 corrections so far; the model was right 50.0 % of the time.');

    const rows = dbRows();
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ label: chosen[0].label, predicted: chosen[0].label });
    expect(rows[0]).toMatchObject({
      model_name: 'digits',
      label: truth,
      predicted: last.label,
      input_kind: 'strokes',
    });

    // The report link opens the model's stored evaluation report.
    const href = await page.getByTestId('report-link').getAttribute('href');
    expect(href).toBe('/api/models/digits/report');
    const report = await page.request.get(new URL(href!, server.url).toString());
    expect(report.status()).toBe(200);
    expect(await report.text()).toContain('<html');
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

  it('fits 320, 390 and 1280 px screens in both languages and scrolls the answer into view', async () => {
    for (const width of [320, 390, 1280])
      for (const locale of ['en-US', 'fr-FR']) {
        const where = `${width} px, ${locale}`;
        const page = await openPage({ locale, viewport: { width, height: 640 } });
        const before = await horizontalOverflow(page);
        expect(before.out, where).toEqual([]);
        expect(before.scrollWidth, where).toBeLessThanOrEqual(width);
        await draw(page, chosen[1]);
        await page.getByTestId('predict').click();
        await expect
          .poll(() => page.getByTestId('prediction').textContent(), { timeout: 15_000 })
          .toBe(chosen[1].label);
        const after = await horizontalOverflow(page);
        expect(after.out, where).toEqual([]);
        expect(after.scrollWidth, where).toBeLessThanOrEqual(width);
        // The answer and the "Right" button are on screen without scrolling by hand.
        for (const id of ['prediction', 'feedback-right'])
          await expect
            .poll(
              () =>
                page.getByTestId(id).evaluate((el) => {
                  const r = el.getBoundingClientRect();
                  return r.top >= 0 && r.bottom <= window.innerHeight;
                }),
              { timeout: 5_000 },
            )
            .toBe(true);
        // Buttons a thumb can hit: at least 44 px tall (WCAG 2.5.5).
        for (const id of ['predict', 'clear', 'feedback-right']) {
          const box = await page.getByTestId(id).boundingBox();
          expect(box?.height, `${id} at ${where}`).toBeGreaterThanOrEqual(44);
        }
        await page.context().close();
      }
    expect(pageErrors).toEqual([]);
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
    await page.getByTestId('feedback-right').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByTestId('saved-text').textContent()).toContain('the model was right');
    // Undo is the next stop after the echo, reachable without the mouse.
    await page.getByTestId('undo').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#status').textContent()).toContain('Undone');
    expect(pageErrors).toEqual([]);
    await page.context().close();
  });
});
