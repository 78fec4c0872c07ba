import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../util/random.js';
import { DEFAULT_PEN_WIDTH, type Point, type Stroke, strokesToMnist } from './index.js';
import {
  augmentStrokes,
  augmentTrajectory,
  DEFAULT_STROKE_AUGMENT,
  NO_STROKE_AUGMENT,
  resampleStroke,
  type StrokeAugmentOptions,
} from './stroke-augment.js';

interface FixtureSample {
  label: string;
  strokes: Stroke[];
}
const letters: FixtureSample[] = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'strokes', 'letters.json'), 'utf8'),
).samples;

const dist = (a: Point, b: Point) => Math.hypot(a[0] - b[0], a[1] - b[1]);
const only = (o: Partial<StrokeAugmentOptions>): StrokeAugmentOptions => ({ ...NO_STROKE_AUGMENT, ...o });

function cosine(a: Uint8Array, b: Uint8Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

const ink = (img: Uint8Array) => img.reduce((s, v) => s + v, 0);

describe('augmentStrokes', () => {
  const sample = letters[0].strokes;

  it('is the identity (after per-axis scaling) with no augmentation', () => {
    const r = augmentStrokes(sample, mulberry32(1), NO_STROKE_AUGMENT, { scale: [0.5, 2] });
    expect(r.strokes).toHaveLength(sample.length);
    r.strokes.forEach((s, i) => {
      s.forEach(([x, y], j) => {
        expect(x).toBeCloseTo(sample[i][j][0] * 0.5, 9);
        expect(y).toBeCloseTo(sample[i][j][1] * 2, 9);
      });
    });
    expect(r.render).toEqual({ scale: 1, penWidth: DEFAULT_PEN_WIDTH });
    expect(strokesToMnist(r.strokes, r.render)).toEqual(strokesToMnist(sample, { scale: [0.5, 2] }));
  });

  it('is deterministic per seed and differs across seeds', () => {
    const a = augmentStrokes(sample, mulberry32(7));
    const b = augmentStrokes(sample, mulberry32(7));
    const c = augmentStrokes(sample, mulberry32(8));
    expect(a).toEqual(b);
    expect(a.strokes).not.toEqual(c.strokes);
  });

  it('rotation keeps every distance and turns within the bound', () => {
    const line: Stroke[] = [
      [
        [0, 0],
        [100, 0],
        [100, 50],
      ],
    ];
    for (let seed = 0; seed < 20; seed++) {
      const [s] = augmentStrokes(line, mulberry32(seed), only({ rotate: 15 })).strokes;
      expect(dist(s[0], s[1])).toBeCloseTo(100, 9);
      expect(dist(s[1], s[2])).toBeCloseTo(50, 9);
      const angle = (Math.atan2(s[1][1] - s[0][1], s[1][0] - s[0][0]) * 180) / Math.PI;
      expect(Math.abs(angle)).toBeLessThanOrEqual(15);
    }
  });

  it('scales the axes separately within ±scale', () => {
    const box: Stroke[] = [
      [
        [0, 0],
        [100, 0],
        [100, 100],
      ],
    ];
    const ratios = new Set<string>();
    for (let seed = 0; seed < 20; seed++) {
      const [s] = augmentStrokes(box, mulberry32(seed), only({ scale: 0.2 })).strokes;
      const w = s[1][0] - s[0][0];
      const h = s[2][1] - s[1][1];
      expect(w).toBeGreaterThanOrEqual(80);
      expect(w).toBeLessThanOrEqual(120);
      expect(h).toBeGreaterThanOrEqual(80);
      expect(h).toBeLessThanOrEqual(120);
      ratios.add((w / h).toFixed(3));
    }
    expect(ratios.size).toBeGreaterThan(10);
  });

  it('varies the pen width within its range, and a wider pen inks more', () => {
    const widths: number[] = [];
    for (let seed = 0; seed < 30; seed++) {
      widths.push(
        augmentStrokes(sample, mulberry32(seed), only({ penWidth: [0.5, 2] })).render.penWidth ?? 0,
      );
    }
    expect(Math.min(...widths)).toBeGreaterThanOrEqual(0.5 * DEFAULT_PEN_WIDTH);
    expect(Math.max(...widths)).toBeLessThanOrEqual(2 * DEFAULT_PEN_WIDTH);
    expect(Math.max(...widths) - Math.min(...widths)).toBeGreaterThan(0.5 * DEFAULT_PEN_WIDTH);
    const thin = strokesToMnist(sample, { penWidth: 0.5 * DEFAULT_PEN_WIDTH });
    const thick = strokesToMnist(sample, { penWidth: 2 * DEFAULT_PEN_WIDTH });
    expect(ink(thick)).toBeGreaterThan(ink(thin) * 1.5);
  });

  it('jitters points by about jitter × extent', () => {
    const flat = sample.flat();
    const xs = flat.map((p) => p[0]);
    const ys = flat.map((p) => p[1]);
    const extent = Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
    const r = augmentStrokes(sample, mulberry32(3), only({ jitter: 0.02 }));
    const moved = r.strokes.flat().map((p, i) => dist(p, flat[i]));
    const rms = Math.sqrt(moved.reduce((s, d) => s + d * d, 0) / moved.length);
    // E[d²] = 2σ² for a 2-D Gaussian.
    expect(rms / (Math.SQRT2 * 0.02 * extent)).toBeGreaterThan(0.7);
    expect(rms / (Math.SQRT2 * 0.02 * extent)).toBeLessThan(1.3);
  });

  it('refuses nonsense options', () => {
    expect(() => augmentStrokes(sample, Math.random, only({ scale: 1 }))).toThrow(RangeError);
    expect(() => augmentStrokes(sample, Math.random, only({ rotate: -1 }))).toThrow(/rotate/);
    expect(() => augmentStrokes(sample, Math.random, only({ penWidth: [0, 1] }))).toThrow(/penWidth/);
    expect(() => augmentStrokes(sample, Math.random, only({ resample: [0.1, 0.05] }))).toThrow(/resample/);
  });

  it('keeps real letters recognisable: variants render, differ, and stay close to the original', () => {
    const rand = mulberry32(11);
    const sims: number[] = [];
    for (const s of letters.slice(0, 40)) {
      const original = strokesToMnist(s.strokes);
      const v = augmentStrokes(s.strokes, rand, DEFAULT_STROKE_AUGMENT);
      const img = strokesToMnist(v.strokes, v.render);
      expect(img).not.toEqual(original);
      sims.push(cosine(img, original));
    }
    const mean = sims.reduce((a, b) => a + b, 0) / sims.length;
    // Same letter, moved a little: clearly similar, clearly not identical.
    expect(mean).toBeGreaterThan(0.6);
    expect(mean).toBeLessThan(0.98);
  });
});

describe('resampleStroke', () => {
  it('puts points at equal arc-length steps, keeping both ends', () => {
    const out = resampleStroke(
      [
        [0, 0],
        [10, 0],
      ],
      1,
    );
    expect(out).toHaveLength(11);
    out.forEach(([x, y], i) => {
      expect(x).toBeCloseTo(i, 9);
      expect(y).toBe(0);
    });
  });

  it('follows corners and never steps further than asked', () => {
    const poly: Point[] = [
      [0, 0],
      [3.5, 0],
      [3.5, 2.2],
      [0, 2.2],
    ];
    const out = resampleStroke(poly, 0.5);
    expect(out[0]).toEqual([0, 0]);
    expect(out[out.length - 1]).toEqual([0, 2.2]);
    for (let i = 1; i < out.length; i++) expect(dist(out[i], out[i - 1])).toBeLessThanOrEqual(0.5 + 1e-9);
    // Total length 9.2 → 18 full steps + the end point + the start.
    expect(out).toHaveLength(20);
  });

  it('leaves dots and non-positive steps alone', () => {
    expect(resampleStroke([[1, 2]], 1)).toEqual([[1, 2]]);
    const s: Point[] = [
      [0, 0],
      [5, 5],
    ];
    expect(resampleStroke(s, 0)).toEqual(s);
  });
});

describe('augmentTrajectory', () => {
  const none = {
    affine: NO_STROKE_AUGMENT,
    coarse: 0,
    coarseMax: 6,
    quantize: 0,
    quantizeCells: [24, 60] as const,
    reorder: 0,
    reverse: 0,
  };

  it('is deterministic for a seed and keeps every drawing finite and non-empty', () => {
    for (const s of letters.slice(0, 200)) {
      const a = augmentTrajectory(s.strokes, mulberry32(7));
      expect(augmentTrajectory(s.strokes, mulberry32(7))).toEqual(a);
      expect(a.length).toBe(s.strokes.length);
      expect(
        a.every((st) => st.length > 0 && st.every(([x, y]) => Number.isFinite(x) && Number.isFinite(y))),
      ).toBe(true);
    }
  });

  it('with every variation off returns the drawing as written', () => {
    const s = letters[5].strokes;
    expect(augmentTrajectory(s, mulberry32(1), none)).toEqual(s.map((st) => st.map(([x, y]) => [x, y])));
  });

  it('coarse sampling keeps every k-th point and both ends of each stroke', () => {
    const s = letters.find((x) => x.strokes[0].length > 20)?.strokes as Stroke[];
    const out = augmentTrajectory(s, mulberry32(3), { ...none, coarse: 1, coarseMax: 4 });
    for (let i = 0; i < s.length; i++) {
      expect(out[i].length).toBeLessThan(s[i].length);
      expect(out[i].length).toBeGreaterThanOrEqual(Math.ceil(s[i].length / 4));
      expect(out[i][0]).toEqual(s[i][0]);
      expect(out[i].at(-1)).toEqual(s[i].at(-1));
    }
  });

  it('snaps to a grid, reorders strokes and reverses one, keeping the same points', () => {
    // Three finely sampled strokes (a pen tablet's density): every x distinct before snapping.
    const s: Stroke[] = [0, 1, 2].map((k) =>
      Array.from({ length: 100 }, (_, i): Point => [k * 40 + i * 0.37, 50 + 30 * Math.sin(i / 9 + k)]),
    );
    const grid = augmentTrajectory(s, mulberry32(2), { ...none, quantize: 1 });
    const xs = new Set(grid.flat().map(([x]) => x));
    expect(xs.size).toBeLessThan(new Set(s.flat().map(([x]) => x)).size);
    const key = (st: readonly Point[]) => JSON.stringify([...st].map((p) => [...p]).sort());
    let changedOrder = false;
    for (let seed = 0; seed < 20; seed++) {
      const r = augmentTrajectory(s, mulberry32(seed), { ...none, reorder: 1, reverse: 1 });
      expect(r.map(key).sort()).toEqual(s.map(key).sort());
      if (JSON.stringify(r) !== JSON.stringify(s)) changedOrder = true;
    }
    expect(changedOrder).toBe(true);
  });
});
