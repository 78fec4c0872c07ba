/**
 * Browser test of Letters mode: headless Chromium picks the letters model in the model select, draws
 * held-out UNIPEN letters on the pad with the mouse, reads the answer, offers the 26 letters as
 * corrections and stores one in SQLite under the letters model.
 *
 * Needs models/letters (or HWR_LETTERS_MODEL=<model dir>) and /usr/bin/chromium; skipped with the
 * reason otherwise. models/digits is served beside it when present, so the select really has a choice.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LETTER_CLASSES } from '../../src/data/dataset.js';
import { initBackend } from '../../src/engine/backend.js';
import { argmaxRows, predictProbs } from '../../src/model/infer.js';
import { loadModel } from '../../src/model/io.js';
import { type Stroke, strokesToMnist } from '../../src/preprocess/index.js';
import { type RunningServer, startServer } from '../../src/serve/app.js';

const CHROMIUM = '/usr/bin/chromium';
const MODEL_DIR = process.env.HWR_LETTERS_MODEL ?? 'models/letters';
const DIGITS_DIR = process.env.HWR_DIGITS_MODEL ?? 'models/digits';
const FIXTURE_BOX = 280; // fixture strokes live in a 280-unit square (200 drawing + 40 margin each side)

const missing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing (run scripts/ensure-chromium.sh)`
  : !existsSync(join(MODEL_DIR, 'metadata.json'))
    ? `no trained letters model at ${MODEL_DIR} yet (see docs/letters.md, or set HWR_LETTERS_MODEL)`
    : undefined;
if (missing) console.log(`letters browser test skipped: ${missing}`);

interface Fixture {
  id: string;
  label: string;
  strokes: number[][][];
}

describe.skipIf(missing !== undefined)('draw-a-character page in Letters mode', () => {
  let tmp: string;
  let server: RunningServer;
  let browser: Browser;
  const pageErrors: string[] = [];
  /** Held-out letters the model reads right offline, distinct labels, so the page must too. */
  const chosen: Fixture[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'hwr-e2e-letters-'));
    const webDir = join(tmp, 'web');
    await build({
      configFile: resolve('vite.config.ts'),
      logLevel: 'warn',
      build: { outDir: webDir, emptyOutDir: true, sourcemap: false },
    });
    cpSync(MODEL_DIR, join(tmp, 'models', 'letters'), { recursive: true });
    if (existsSync(join(DIGITS_DIR, 'metadata.json')))
      cpSync(DIGITS_DIR, join(tmp, 'models', 'digits'), { recursive: true });

    await initBackend();
    const loaded = await loadModel(join(tmp, 'models', 'letters'));
    const fixtures: Fixture[] = JSON.parse(
      readFileSync('test/fixtures/strokes/letters.json', 'utf8'),
    ).samples;
    for (const f of fixtures) {
      if (chosen.length >= 3 || chosen.some((c) => c.label === f.label)) continue;
      const probs = predictProbs(
        loaded.model,
        strokesToMnist(f.strokes as unknown as Stroke[]),
        1,
        loaded.metadata.normalization,
      );
      const best = argmaxRows(probs, loaded.metadata.classes.length)[0];
      if (loaded.metadata.classes[best] === f.label && probs[best] > 0.9) chosen.push(f);
    }
    loaded.model.dispose();
    expect(chosen.length).toBe(3);

    server = await startServer({
      port: 0,
      modelsDir: join(tmp, 'models'),
      dataDir: join(tmp, 'data'),
      webDir,
      watch: false,
      waitForModels: true,
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.app.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function openPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 390, height: 700 }, locale: 'en-US' });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
    });
    await page.goto(server.url);
    await page.locator('body[data-ready="true"]').waitFor();
    return page;
  }

  async function draw(page: Page, f: Fixture): Promise<void> {
    const box = await page.getByTestId('pad').boundingBox();
    if (!box) throw new Error('pad is not visible');
    const k = box.width / FIXTURE_BOX;
    for (const stroke of f.strokes) {
      const [x0, y0] = stroke[0];
      await page.mouse.move(box.x + x0 * k, box.y + y0 * k);
      await page.mouse.down();
      for (const [x, y] of stroke.slice(1)) await page.mouse.move(box.x + x * k, box.y + y * k);
      await page.mouse.up();
    }
  }

  it('reads letters drawn with the mouse and stores a letter correction under the letters model', async () => {
    const page = await openPage();
    await page.getByTestId('model-select').selectOption('letters');
    expect(await page.getByTestId('model-select').inputValue()).toBe('letters');
    // The correction buttons are the letters model's classes.
    expect(await page.getByTestId('feedback-label').allTextContents()).toEqual(LETTER_CLASSES);

    for (const f of chosen) {
      await page.getByTestId('clear').click();
      await draw(page, f);
      await page.getByTestId('predict').click();
      await expect
        .poll(() => page.getByTestId('prediction').textContent(), { timeout: 15_000 })
        .toBe(f.label);
      expect(await page.locator('#top li').count()).toBe(3);
    }

    const last = chosen[chosen.length - 1];
    const truth = last.label === 'q' ? 'g' : 'q';
    await page
      .getByTestId('feedback-label')
      .filter({ hasText: new RegExp(`^${truth}$`) })
      .click();
    await page.getByTestId('feedback-submit').click();
    await expect.poll(() => page.locator('#status').textContent()).toContain('Thank you');

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
