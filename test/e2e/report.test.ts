/**
 * Browser test of the evaluation report: a small model trained for a few seconds on a 500-image
 * MNIST slice (its real model.fit history feeds the learning curves) is evaluated, the report is
 * written, and report.html is opened from disk in headless Chromium with every non-file request
 * aborted and recorded: none may be attempted. The four plots must render with drawn marks and the
 * gallery images must decode.
 *
 * Needs /usr/bin/chromium (scripts/ensure-test-deps.sh installs it); skipped with a message without it.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { range, subset } from '../../src/data/dataset.js';
import { loadSplit } from '../../src/data/datasets.js';
import { initBackend } from '../../src/engine/backend.js';
import { type EvalResult, evaluateModel } from '../../src/eval/evaluate.js';
import { REPORT_FILES, writeReport } from '../../src/eval/report.js';
import { quickModel } from '../../src/eval/testing.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (run scripts/ensure-test-deps.sh)`;
if (missing) console.log(`report browser test skipped: ${missing}`);

interface PlotInfo {
  id: string;
  svgs: number;
  marks: number;
  width: number;
}

describe.skipIf(missing !== undefined)('report.html in a browser', () => {
  let browser: Browser;
  let result: EvalResult;
  let htmlPath: string;

  beforeAll(async () => {
    await initBackend();
    const slice = subset(await loadSplit('mnist', 'train'), range(0, 500));
    const train = subset(slice, range(0, 400));
    const test = subset(slice, range(400, 500));
    const loaded = await quickModel({ train, epochs: 3 });
    expect(loaded.history).toHaveLength(3);
    result = evaluateModel(loaded, test, { datasetName: 'mnist train[400:500]' });
    const out = join(await mkdtemp(join(tmpdir(), 'hwr-report-e2e-')), 'report');
    await writeReport(result, out, { metadata: loaded.metadata });
    htmlPath = join(out, REPORT_FILES.html);
    console.log(`report: ${htmlPath}`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('renders the four plots and the gallery offline, fetching nothing', async () => {
    const context = await browser.newContext();
    const attempted: string[] = [];
    await context.route(
      (url) => url.protocol !== 'file:',
      (route) => {
        attempted.push(route.request().url());
        return route.abort();
      },
    );
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(pathToFileURL(htmlPath).href, { waitUntil: 'load' });

    const plots: PlotInfo[] = await page.evaluate(() =>
      ['learning-curves', 'confusion-matrix', 'roc', 'per-class-chart'].map((id) => {
        const fig = document.getElementById(id);
        const svg = fig?.querySelector('svg');
        // Vega puts each mark set in a <g class="mark-TYPE">; count the drawn items inside them.
        const marks = svg
          ? [
              ...svg.querySelectorAll(
                'g.mark-line.role-mark path, g.mark-rect.role-mark path, g.mark-symbol.role-mark path, g.mark-text.role-mark text',
              ),
            ].length
          : 0;
        return {
          id,
          svgs: fig?.querySelectorAll('svg').length ?? 0,
          marks,
          width: svg?.getBoundingClientRect().width ?? 0,
        };
      }),
    );
    for (const p of plots) {
      expect(p.svgs, p.id).toBe(1);
      expect(p.marks, p.id).toBeGreaterThan(0);
      expect(p.width, p.id).toBeGreaterThan(100);
    }

    // Learning curves: 2 panels x (train, validation) lines, one point per epoch and series.
    const curves = await page.evaluate(() => {
      const svg = document.querySelector('#learning-curves svg');
      return {
        lines: svg?.querySelectorAll('g.mark-line.role-mark path').length ?? 0,
        points: svg?.querySelectorAll('g.mark-symbol.role-mark path').length ?? 0,
      };
    });
    expect(curves.lines).toBe(4);
    expect(curves.points).toBe(12); // 3 epochs x 4 series

    // Confusion matrix: one rect per cell; ROC: one line per class present (+ the chance diagonal).
    const k = result.classes.length;
    const cells = await page.locator('#confusion-matrix svg g.mark-rect.role-mark path').count();
    expect(cells).toBe(k * k);
    const rocLines = await page.locator('#roc svg g.mark-line.role-mark path').count();
    expect(rocLines).toBe(result.roc.filter((r) => r !== null).length + 1);

    // Gallery: every mistake shown (up to 24), each image decoded at 28x28.
    const images = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLImageElement>('#gallery img')].map((img) => ({
        complete: img.complete,
        w: img.naturalWidth,
        h: img.naturalHeight,
        alt: img.alt,
      })),
    );
    expect(result.mistakes.length).toBeGreaterThan(0);
    expect(images).toHaveLength(result.mistakes.length);
    for (const img of images) expect(img).toMatchObject({ complete: true, w: 28, h: 28 });
    const first = result.mistakes[0];
    expect(images[0].alt).toBe(
      `sample ${first.index}: true ${result.classes[first.label]}, predicted ${result.classes[first.predicted]}`,
    );

    // Per-class table: one row per class plus macro and weighted averages.
    expect(await page.locator('#per-class tbody tr').count()).toBe(k);
    expect(await page.locator('#per-class tfoot tr').count()).toBe(2);

    expect(attempted).toEqual([]);
    expect(errors).toEqual([]);

    // Control: the route does see an external request when a page makes one.
    const control = join(tmpdir(), `hwr-report-control-${process.pid}.html`);
    await writeFile(control, '<!doctype html><img src="http://192.0.2.1/x.png"><p>control</p>');
    await page.goto(pathToFileURL(control).href, { waitUntil: 'load' });
    expect(attempted).toEqual(['http://192.0.2.1/x.png']);
    await context.close();
  });
});
