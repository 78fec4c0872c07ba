import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PreprocessError, type Stroke } from './index.js';
import { resampleStroke } from './stroke-augment.js';
import {
  STROKE_CHANNELS,
  STROKE_FEATURES_VERSION,
  STROKE_SIDE_FEATURES,
  strokeFeatureBatch,
  strokeFeatures,
} from './stroke-features.js';

interface Fixture {
  label: string;
  strokes: number[][][];
}
const load = (name: string): Fixture[] =>
  JSON.parse(readFileSync(`test/fixtures/strokes/${name}.json`, 'utf8')).samples;
const digits = load('digits');
const letters = load('letters');
const asStrokes = (s: number[][][]) => s as unknown as Stroke[];
const SPEC = { version: STROKE_FEATURES_VERSION, points: 64 };

const penUps = (seq: Float32Array) => {
  let n = 0;
  for (let i = 0; i < seq.length / STROKE_CHANNELS; i++) n += seq[i * STROKE_CHANNELS + 6];
  return n;
};
const maxAbsDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('strokeFeatures on the UNIPEN fixtures', () => {
  it('gives finite features of the documented size, inside the unit box, for every sample', () => {
    for (const s of [...digits, ...letters]) {
      const f = strokeFeatures(asStrokes(s.strokes), SPEC);
      expect(f.seq.length).toBe(64 * STROKE_CHANNELS);
      expect(f.side.length).toBe(STROKE_SIDE_FEATURES);
      expect(f.seq.every(Number.isFinite) && f.side.every(Number.isFinite)).toBe(true);
      let far = 0;
      for (let i = 0; i < 64; i++) far = Math.max(far, Math.abs(f.seq[i * 7]), Math.abs(f.seq[i * 7 + 1]));
      expect(far).toBeLessThanOrEqual(0.5 + 1e-6);
    }
  });

  it('marks at least one pen-up point per stroke boundary, and none for one-stroke drawings', () => {
    let multi = 0;
    for (const s of [...digits, ...letters]) {
      const f = strokeFeatures(asStrokes(s.strokes), SPEC);
      const boundaries = s.strokes.filter((x) => x.length > 0).length - 1;
      if (boundaries === 0) expect(penUps(f.seq)).toBe(0);
      else {
        multi++;
        expect(penUps(f.seq)).toBeGreaterThanOrEqual(boundaries);
      }
      expect(f.side[1]).toBeCloseTo(Math.min(boundaries + 1, 12) / 3, 6);
    }
    expect(multi).toBeGreaterThan(100); // the fixtures do exercise pen lifts
  });

  it('keeps the aspect ratio: ones are tall, and relative stroke lengths sum to 1 for up to 3 strokes', () => {
    const ones = digits.filter((s) => s.label === '1').map((s) => strokeFeatures(asStrokes(s.strokes), SPEC));
    const zeros = digits
      .filter((s) => s.label === '0')
      .map((s) => strokeFeatures(asStrokes(s.strokes), SPEC));
    const mean = (fs: { side: Float32Array }[]) => fs.reduce((a, f) => a + f.side[0], 0) / fs.length;
    expect(ones.filter((f) => f.side[0] > 0).length / ones.length).toBeGreaterThan(0.8); // some have a base line
    expect(mean(ones)).toBeGreaterThan(mean(zeros) + 0.5);
    for (const s of digits.filter((x) => x.strokes.length <= 3)) {
      const f = strokeFeatures(asStrokes(s.strokes), SPEC);
      expect(f.side[2] + f.side[3] + f.side[4]).toBeCloseTo(1, 4);
    }
  });

  it('does not depend on position, size or units (only on the shape)', () => {
    for (const s of digits.slice(0, 50)) {
      const a = strokeFeatures(asStrokes(s.strokes), SPEC);
      const moved = s.strokes.map((st) => st.map(([x, y]) => [x * 7.3 + 5000, y * 7.3 - 200]));
      const b = strokeFeatures(asStrokes(moved), SPEC);
      expect(maxAbsDiff(a.seq, b.seq)).toBeLessThan(1e-3);
      expect(maxAbsDiff(a.side, b.side)).toBeLessThan(1e-4);
    }
  });

  it('scales each axis before normalising when asked (tablets with unequal x/y resolution)', () => {
    const s = asStrokes(digits[3].strokes);
    const stretched = s.map((st) => st.map(([x, y]) => [x * 2, y] as const));
    const a = strokeFeatures(s, SPEC);
    const b = strokeFeatures(stretched, SPEC, { scale: [0.5, 1] });
    expect(maxAbsDiff(a.seq, b.seq)).toBeLessThan(1e-4);
  });

  it('gives nearly the same sequence for a coarse and a dense sampling of the same drawing', () => {
    let worst = 0;
    for (const s of digits.slice(0, 100)) {
      const dense = asStrokes(s.strokes).map((st) => resampleStroke(st, 1));
      const coarse = asStrokes(s.strokes).map((st) => resampleStroke(st, 12));
      const a = strokeFeatures(dense, SPEC).seq;
      const b = strokeFeatures(coarse, SPEC).seq;
      let d = 0;
      for (let i = 0; i < 64; i++)
        d = Math.max(d, Math.hypot(a[i * 7] - b[i * 7], a[i * 7 + 1] - b[i * 7 + 1]));
      worst = Math.max(worst, d);
    }
    // A 12-unit step on a 200-unit drawing cuts corners by a few percent of the box, no more.
    expect(worst).toBeLessThan(0.12);
  });
});

describe('strokeFeatures on degenerate and bad input', () => {
  it('gives finite features for a single point, a dot stroke, a zero-size box and a straight line', () => {
    const cases: Stroke[][] = [
      [[[5, 5]]],
      [
        [[3, 3]],
        [
          [3, 3],
          [3, 3],
        ],
      ],
      [
        [
          [0, 0],
          [0, 100],
        ],
      ],
      [
        [
          [0, 0],
          [100, 0],
        ],
        [[50, 50]],
      ],
      [
        [
          [999_999, -999_999],
          [999_999.5, -999_999.25],
        ],
      ],
      [[], [[1, 2]], []],
    ];
    for (const c of cases) {
      const f = strokeFeatures(c, SPEC);
      expect(f.seq.every(Number.isFinite) && f.side.every(Number.isFinite)).toBe(true);
    }
    // A tap sits at the centre with no motion.
    const tap = strokeFeatures([[[5, 5]]], SPEC);
    expect(tap.seq.every((v) => v === 0)).toBe(true);
  });

  it('refuses empty drawings, bad points, a wrong version and a bad point count with a PreprocessError', () => {
    expect(() => strokeFeatures([], SPEC)).toThrow(/nothing drawn/);
    expect(() => strokeFeatures([[]], SPEC)).toThrow(PreprocessError);
    expect(() => strokeFeatures([[[Number.NaN, 1]]] as unknown as Stroke[], SPEC)).toThrow(PreprocessError);
    expect(() => strokeFeatures([[[1e9, 1]]], SPEC)).toThrow(/out of range/);
    expect(() => strokeFeatures([[[1, 1]]], { version: 99, points: 64 })).toThrow(/version 99/);
    expect(() => strokeFeatures([[[1, 1]]], { version: 1, points: 3 })).toThrow(/points/);
  });
});

describe('strokeFeatureBatch', () => {
  it('packs the same numbers as one call per drawing, with per-drawing options', () => {
    const some = digits.slice(0, 20).map((s) => asStrokes(s.strokes));
    const opts = some.map((_, i) => ({ scale: i % 2 ? 1 : ([1, 2] as const) }));
    const batch = strokeFeatureBatch(some, { version: 1, points: 32 }, opts);
    expect(batch.n).toBe(20);
    expect(batch.seq.length).toBe(20 * 32 * STROKE_CHANNELS);
    for (let i = 0; i < 20; i++) {
      const f = strokeFeatures(some[i], { version: 1, points: 32 }, opts[i]);
      expect(batch.seq.subarray(i * 32 * 7, (i + 1) * 32 * 7)).toEqual(f.seq);
      expect(batch.side.subarray(i * 7, (i + 1) * 7)).toEqual(f.side);
    }
  });
});
