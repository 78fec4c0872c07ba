import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { range, subset } from '../data/dataset.js';
import { loadSplit } from '../data/datasets.js';
import { initBackend } from '../engine/backend.js';
import { type EvalResult, evaluateModel } from './evaluate.js';
import { mistakeImageDataUrl, REPORT_FILES, writeReport } from './report.js';
import { quickModel } from './testing.js';

let result: EvalResult;
let outDir: string;
let metadata: Awaited<ReturnType<typeof quickModel>>['metadata'];

beforeAll(async () => {
  await initBackend();
  const train = subset(await loadSplit('mnist', 'train'), range(0, 500));
  const test = subset(await loadSplit('mnist', 'test'), range(0, 300));
  const loaded = await quickModel({ train, epochs: 2 });
  metadata = loaded.metadata;
  result = evaluateModel(loaded, test, { datasetName: 'mnist test[0:300]' });
  outDir = join(await mkdtemp(join(tmpdir(), 'hwr-report-')), 'report');
  await writeReport(result, outDir, { metadata });
});

describe('writeReport', () => {
  it('writes report.json with metrics, metadata and history', async () => {
    const json = JSON.parse(await readFile(join(outDir, REPORT_FILES.json), 'utf8'));
    expect(json.format).toBe('hwr-report/1');
    expect(json.accuracy).toBe(result.accuracy);
    expect(json.confusion).toEqual(result.confusion);
    expect(json.perClass).toHaveLength(10);
    expect(json.macro.auc).toBeCloseTo(result.macro.auc as number, 12);
    expect(json.roc[0].fpr[0]).toBe(0);
    expect(json.roc[0].thresholds[0]).toBeNull(); // +Infinity has no JSON form
    expect(json.metadata.name).toBe(metadata.name);
    expect(json.history).toHaveLength(2);
    expect(json.history[1].valAcc).toBe(metadata.training.history[1].valAcc);
    expect(json.mistakes[0]).not.toHaveProperty('pixels');
    expect(json).not.toHaveProperty('predictions');
  });

  it('writes the three plots as PNGs with drawn content', async () => {
    for (const name of [REPORT_FILES.learningCurves, REPORT_FILES.confusion, REPORT_FILES.roc]) {
      const png = PNG.sync.read(await readFile(join(outDir, name)));
      expect(png.width).toBeGreaterThan(300);
      // Not a blank canvas: a fair share of pixels are not white.
      let ink = 0;
      for (let i = 0; i < png.data.length; i += 4) if (png.data[i] < 200) ink++;
      expect(ink / (png.width * png.height)).toBeGreaterThan(0.005);
    }
  });

  it('writes one self-contained HTML file', async () => {
    const html = await readFile(join(outDir, REPORT_FILES.html), 'utf8');
    expect(html.match(/<svg/g)?.length).toBe(4);
    // No external resources: every src is a data: URL, no link/script tags, no http(s) URL outside xmlns.
    expect(html).not.toMatch(/<script|<link/);
    const srcs = [...html.matchAll(/\bsrc="([^"]*)"/g)].map((m) => m[1]);
    expect(srcs.length).toBe(result.mistakes.length);
    for (const s of srcs) expect(s.startsWith('data:image/png;base64,')).toBe(true);
    const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]);
    expect(urls.filter((u) => !u.startsWith('http://www.w3.org/'))).toEqual([]);
    expect(html).toContain("default-src 'none'");
    expect(html).toContain(`${(result.accuracy * 100).toFixed(2)}%`);
  });

  it('escapes class labels and model names', async () => {
    const evil = { ...result, model: { ...result.model, name: '<img src=x onerror=alert(1)>' } };
    const dir = await mkdtemp(join(tmpdir(), 'hwr-report-esc-'));
    await writeReport(evil, dir, { history: [] });
    const html = await readFile(join(dir, REPORT_FILES.html), 'utf8');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('no training history recorded');
  });
});

describe('mistakeImageDataUrl', () => {
  it('encodes a 28x28 image as a PNG with ink dark on white', () => {
    const pixels = new Uint8Array(784);
    pixels[0] = 255; // full ink at the top-left corner
    const url = mistakeImageDataUrl(pixels);
    const png = PNG.sync.read(Buffer.from(url.split(',')[1], 'base64'));
    expect([png.width, png.height]).toEqual([28, 28]);
    expect(png.data[0]).toBe(0);
    expect(png.data[4]).toBe(255);
  });
});
