/**
 * Shared pieces of the page's browser tests: build the page, pick held-out fixture drawings the model
 * reads right offline, launch Debian's chromium, open the page and draw fixture strokes on the pad.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { initBackend } from '../../src/engine/backend.js';
import { predictProbs } from '../../src/model/infer.js';
import { loadModel } from '../../src/model/io.js';
import { type Stroke, strokesToMnist } from '../../src/preprocess/index.js';
import { type RunningServer, type StartOptions, startServer } from '../../src/serve/app.js';
import { argmaxRows } from '../../src/util/argmax.js';

export const CHROMIUM = '/usr/bin/chromium';
/** Fixture strokes live in a 280-unit square (200 drawing + 40 margin each side). */
export const FIXTURE_BOX = 280;

export interface Fixture {
  id: string;
  label: string;
  strokes: number[][][];
}

/**
 * The browser tests' server: the page built into `<tmp>/web`, the models of `<tmp>/models`, the
 * feedback database in `<tmp>/data`, no folder watcher, models loaded, on a free port.
 * `options` override any of these.
 */
export async function startPageServer(tmp: string, options: StartOptions = {}): Promise<RunningServer> {
  await buildWebPage(join(tmp, 'web'));
  return startServer({ ...pageServerOptions(tmp), ...options });
}

/** The options startPageServer starts with (the page already built into `<tmp>/web`), e.g. to restart it. */
export function pageServerOptions(tmp: string): StartOptions {
  return {
    port: 0,
    modelsDir: join(tmp, 'models'),
    dataDir: join(tmp, 'data'),
    webDir: join(tmp, 'web'),
    watch: false,
    waitForModels: true,
  };
}

/** Builds the page with the project's Vite config into `outDir`. */
export async function buildWebPage(outDir: string): Promise<void> {
  await build({
    configFile: resolve('vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true, sourcemap: false },
  });
}

/**
 * Up to `limit` fixtures with distinct labels that the model in `modelDir` reads right offline with
 * p > 0.9, so the page must read them right too.
 */
export async function readableFixtures(
  modelDir: string,
  fixtureFile: string,
  limit: number,
): Promise<Fixture[]> {
  await initBackend();
  const loaded = await loadModel(modelDir);
  const fixtures: Fixture[] = JSON.parse(readFileSync(fixtureFile, 'utf8')).samples;
  const chosen: Fixture[] = [];
  for (const f of fixtures) {
    if (chosen.length >= limit || chosen.some((c) => c.label === f.label)) continue;
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
  return chosen;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** Opens the page on a phone-sized viewport; page errors and console errors go to `errors`. */
export async function openPage(
  browser: Browser,
  url: string,
  errors: string[],
  options: { touch?: boolean; locale?: string; viewport?: { width: number; height: number } } = {},
): Promise<Page> {
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 390, height: 700 },
    hasTouch: options.touch ?? false,
    locale: options.locale ?? 'en-US',
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  await page.locator('body[data-ready="true"]').waitFor();
  return page;
}

/**
 * What sticks out sideways: the page's scroll width beyond the viewport, and every visible element
 * whose right edge passes it (an element cut off by an overflow: hidden parent counts too).
 */
export function horizontalOverflow(
  page: Page,
): Promise<{ scrollWidth: number; width: number; out: string[] }> {
  return page.evaluate(() => {
    const width = window.innerWidth;
    const out: string[] = [];
    for (const el of document.body.querySelectorAll<HTMLElement>('*')) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > width + 0.5)
        out.push(`${el.tagName.toLowerCase()}#${el.id || el.className}: right ${r.right.toFixed(0)}`);
    }
    return { scrollWidth: document.documentElement.scrollWidth, width, out };
  });
}

/** Draws a fixture's strokes on the pad with the mouse, scaled to the pad's size. */
export async function drawFixture(page: Page, f: Fixture): Promise<void> {
  // The page scrolls the answer into view on a phone: bring the pad back first (mouse events only
  // reach what is inside the viewport).
  await page.getByTestId('pad').scrollIntoViewIfNeeded();
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
