/**
 * Browser test of Letters mode: headless Chromium picks the letters model in the model select, draws
 * held-out UNIPEN letters on the pad with the mouse, reads the answer, offers the 26 letters as
 * corrections and stores one in SQLite under the letters model.
 *
 * Needs models/letters (or HWR_LETTERS_MODEL=<model dir>) and /usr/bin/chromium; skipped with the
 * reason otherwise. models/digits is served beside it when present, so the select really has a choice.
 */
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LETTER_CLASSES } from '../../src/data/dataset.js';
import type { RunningServer } from '../../src/serve/app.js';
import {
  CHROMIUM,
  drawFixture as draw,
  type Fixture,
  launchChromium,
  openPage as openPageWith,
  readableFixtures,
  startPageServer,
} from './page-harness.js';

const MODEL_DIR = process.env.HWR_LETTERS_MODEL ?? 'models/letters';
const DIGITS_DIR = process.env.HWR_DIGITS_MODEL ?? 'models/digits';

const missing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (run scripts/ensure-test-deps.sh)`
  : !existsSync(join(MODEL_DIR, 'metadata.json'))
    ? `no trained letters model at ${MODEL_DIR} yet (see docs/letters.md, or set HWR_LETTERS_MODEL)`
    : undefined;
if (missing) console.log(`letters browser test skipped: ${missing}`);

describe.skipIf(missing !== undefined)('draw-a-character page in Letters mode', () => {
  let tmp: string;
  let server: RunningServer;
  let browser: Browser;
  const pageErrors: string[] = [];
  /** Held-out letters the model reads right offline, distinct labels, so the page must too. */
  const chosen: Fixture[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'hwr-e2e-letters-'));
    cpSync(MODEL_DIR, join(tmp, 'models', 'letters'), { recursive: true });
    if (existsSync(join(DIGITS_DIR, 'metadata.json')))
      cpSync(DIGITS_DIR, join(tmp, 'models', 'digits'), { recursive: true });
    chosen.push(
      ...(await readableFixtures(join(tmp, 'models', 'letters'), 'test/fixtures/strokes/letters.json', 3)),
    );
    expect(chosen.length).toBe(3);

    server = await startPageServer(tmp);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.app.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const openPage = (options: { touch?: boolean; locale?: string } = {}): Promise<Page> =>
    openPageWith(browser, server.url, pageErrors, options);

  it('reads letters drawn with the mouse and stores a letter correction under the letters model', async () => {
    const page = await openPage();
    await page.getByTestId('model-select').selectOption('letters');
    expect(await page.getByTestId('model-select').inputValue()).toBe('letters');

    for (const f of chosen) {
      await page.getByTestId('clear').click();
      await draw(page, f);
      await page.getByTestId('predict').click();
      await expect
        .poll(() => page.getByTestId('prediction').textContent(), { timeout: 15_000 })
        .toBe(f.label);
      expect(await page.locator('#top li').count()).toBe(3);
      // "No, it was …" offers the letters model's other classes.
      expect(await page.getByTestId('feedback-label').allTextContents()).toEqual(
        LETTER_CLASSES.filter((c) => c !== f.label),
      );
    }

    const last = chosen[chosen.length - 1];
    const truth = last.label === 'q' ? 'g' : 'q';
    await page
      .getByTestId('feedback-label')
      .filter({ hasText: new RegExp(`^${truth}$`) })
      .click();
    await expect.poll(() => page.getByTestId('saved-text').textContent()).toContain(`Saved: “${truth}”`);

    const db = new Database(join(tmp, 'data', 'feedback.sqlite'), { readonly: true });
    const rows = db
      .prepare('SELECT model_name, label, predicted, input_kind FROM feedback ORDER BY id')
      .all();
    db.close();
    expect(rows).toEqual([
      { model_name: 'letters', label: truth, predicted: last.label, input_kind: 'strokes' },
    ]);
    expect(pageErrors).toEqual([]);
    await page.context().close();
  });
});
