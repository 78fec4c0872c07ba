import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as Hwr from './index.js';

// The library as a notebook gets it: tslab compiles each cell to CommonJS and runs `require('hwr')`,
// which resolves through package.json `exports` to dist/api/index.js (the build). Here the package
// requires itself by name (Node's self-reference), which goes through the same `exports`.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const hwr = createRequire(join(root, 'package.json'))('hwr') as typeof Hwr;

let out: string;
let trained: Hwr.TrainedModel;
let published: Hwr.Published;
let progress = '';
let data: Hwr.DatasetSplits;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'hwr-api-'));
  await hwr.initBackend();
  data = hwr.shrink(await hwr.loadDataset('mnist'), { train: 1200, test: 400 });
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => {
    progress += chunk.toString();
  });
  trained = await hwr.trainModel({ arch: 'paper', data, epochs: 1, name: 'digits', progress: stream });
  published = await hwr.publishModel(trained.model, trained.metadata, join(out, 'digits'), data.test, {
    weights: 'float16',
  });
});

afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe('hwr public API (loaded with require, as tslab does)', () => {
  it('is the build named by package.json exports and has no top-level await in its graph', async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
    expect(pkg.exports['.'].default).toBe('./dist/api/index.js');
    expect(existsSync(join(root, pkg.types))).toBe(true);
    expect(hwr.VERSION).toBe(pkg.version);
    expect(hwr.ARCH_NAMES).toContain('paper');
  });

  it('loads and shrinks a dataset', () => {
    expect(data.train.n).toBe(1200);
    expect(data.test.n).toBe(400);
    expect(data.train.classes).toEqual(hwr.DIGIT_CLASSES);
    expect(() => hwr.head(data.train, 0)).toThrow(/positive integer/);
  });

  it("builds the published CNN with Keras' parameter count", () => {
    const text = hwr.modelSummary(hwr.buildModel('paper', 10), 'paper');
    expect(text).toMatch(/Total params: 995,060/);
  });

  it('trains with the recipe, printing one line per epoch', () => {
    expect(trained.interrupted).toBe(false);
    expect(trained.metadata.training.history).toHaveLength(1);
    expect(progress).toMatch(/^epoch 1\/1: loss [\d.]+ acc [\d.]+% \| val loss/m);
  });

  it('publishes a model the loader and server read back, with its accuracy and report', async () => {
    // 1 epoch of `paper` on 1,080 images: far above chance (10 %) on 400 unseen test images.
    expect(published.evaluation.accuracy).toBeGreaterThan(0.6);
    const loaded = await hwr.loadModel(join(out, 'digits'));
    expect(loaded.metadata.testAccuracy).toBe(published.evaluation.accuracy);
    expect(loaded.metadata.weights?.dtype).toBe('float16');
    expect(existsSync(join(out, 'digits', 'report.html'))).toBe(true);
    expect(hwr.summarize(published.evaluation)).toMatch(/^accuracy {3}\d+\.\d\d%/m);
  });

  it('renders the report plots and tables for inline display', async () => {
    const e = published.evaluation;
    for (const svg of [
      await hwr.plots.learningCurves(trained.metadata.training.history),
      await hwr.plots.confusion(e),
      await hwr.plots.roc(e),
      await hwr.plots.perClass(e),
    ])
      expect(svg).toMatch(/^<svg[^>]*>.*<\/svg>$/s);
    const png = await hwr.toPng(await hwr.plots.confusion(e));
    expect(Buffer.from(png.subarray(1, 4)).toString()).toBe('PNG');
    expect(hwr.perClassHtml(e).match(/<tr><th>\d<\/th>/g)).toHaveLength(10);
    const mistakes = Math.min(24, Math.round((1 - e.accuracy) * e.n));
    expect(hwr.mistakesHtml(e).match(/<img src="data:image\/png;base64,/g)).toHaveLength(mistakes);
  });
});
