/**
 * Stroke-level augmentation: varies a drawing *before* it is rendered, which image warps cannot do —
 * the pen width (rendered strokes keep crisp edges at any width), the aspect ratio before the 20 px box
 * normalisation, a wobbly hand (point jitter) and the sampling density of the pen (resampling).
 * Pure TypeScript on the preprocess types, so the rendering stays strokesToMnist's.
 */
import { DEFAULT_PEN_WIDTH, type Point, type RenderOptions, type Stroke } from './index.js';

export interface StrokeAugmentOptions {
  /** Max rotation in degrees (uniform in ±). */
  readonly rotate: number;
  /** Max relative change of each axis' scale, drawn separately per axis (uniform in 1 ± scale). */
  readonly scale: number;
  /** Max horizontal shear factor (uniform in ±): slanted handwriting. */
  readonly shear: number;
  /** Std-dev of per-point Gaussian jitter, as a fraction of the drawing's longer side. */
  readonly jitter: number;
  /** Pen width multiplier range [min, max] (uniform), applied to the render's penWidth. */
  readonly penWidth: readonly [number, number];
  /** Resampling step as a fraction of the longer side, [min, max] (uniform); [0, 0] keeps the points. */
  readonly resample: readonly [number, number];
}

/** Moderate defaults: every variation stays well inside what real writers produce. */
export const DEFAULT_STROKE_AUGMENT: StrokeAugmentOptions = {
  rotate: 8,
  scale: 0.12,
  shear: 0.25,
  jitter: 0.006,
  penWidth: [0.75, 1.35],
  resample: [0.01, 0.04],
};

export const NO_STROKE_AUGMENT: StrokeAugmentOptions = {
  rotate: 0,
  scale: 0,
  shear: 0,
  jitter: 0,
  penWidth: [1, 1],
  resample: [0, 0],
};

export interface AugmentedDrawing {
  readonly strokes: Stroke[];
  /** Render options to draw the result with (already scaled; pen width varied). */
  readonly render: RenderOptions;
}

function check(opts: StrokeAugmentOptions): void {
  const bad = (what: string) => {
    throw new RangeError(`stroke augmentation: ${what}`);
  };
  for (const k of ['rotate', 'scale', 'shear', 'jitter'] as const) {
    if (!Number.isFinite(opts[k]) || opts[k] < 0) bad(`${k} must be a finite number >= 0`);
  }
  if (opts.scale >= 1) bad('scale must be < 1 (an axis would flip or vanish)');
  const [p0, p1] = opts.penWidth;
  if (!(p0 > 0 && p1 >= p0 && Number.isFinite(p1))) bad('penWidth must be [min, max] with 0 < min <= max');
  const [r0, r1] = opts.resample;
  if (!(r0 >= 0 && r1 >= r0 && Number.isFinite(r1))) bad('resample must be [min, max] with 0 <= min <= max');
}

/** Standard normal from a uniform source (Box-Muller). */
function gaussian(rand: () => number): number {
  const u = 1 - rand(); // (0, 1]: log stays finite
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** Points at equal arc-length steps along a stroke, first and last point kept. */
export function resampleStroke(stroke: readonly Point[], step: number): Point[] {
  if (stroke.length < 2 || !(step > 0)) return stroke.slice();
  const out: Point[] = [stroke[0]];
  let carried = 0; // arc length since the last emitted point
  for (let i = 1; i < stroke.length; i++) {
    const [ax, ay] = stroke[i - 1];
    const [bx, by] = stroke[i];
    const len = Math.hypot(bx - ax, by - ay);
    let t = step - carried;
    while (t <= len) {
      out.push([ax + ((bx - ax) * t) / len, ay + ((by - ay) * t) / len]);
      t += step;
    }
    carried = len - (t - step);
  }
  const last = stroke[stroke.length - 1];
  const prev = out[out.length - 1];
  if (prev[0] !== last[0] || prev[1] !== last[1]) out.push(last);
  return out;
}

/**
 * One random variant of a drawing. `render` are the options the original would be drawn with (its
 * per-axis `scale` is applied to the points first, so the affine acts on the true shape).
 */
export function augmentStrokes(
  strokes: readonly Stroke[],
  rand: () => number,
  opts: StrokeAugmentOptions = DEFAULT_STROKE_AUGMENT,
  render: RenderOptions = {},
): AugmentedDrawing {
  check(opts);
  const [sx, sy] =
    typeof render.scale === 'number' || render.scale === undefined
      ? [render.scale ?? 1, render.scale ?? 1]
      : render.scale;
  const u = () => rand() * 2 - 1;
  const theta = (u() * opts.rotate * Math.PI) / 180;
  const kx = 1 + u() * opts.scale;
  const ky = 1 + u() * opts.scale;
  const sh = u() * opts.shear;
  const penScale = opts.penWidth[0] + rand() * (opts.penWidth[1] - opts.penWidth[0]);
  const stepFraction = opts.resample[0] + rand() * (opts.resample[1] - opts.resample[0]);
  // M = R(theta) · Shear(sh) · diag(kx, ky), on points already in the caller's true units.
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const m00 = cos * kx;
  const m01 = (cos * sh - sin) * ky;
  const m10 = sin * kx;
  const m11 = (sin * sh + cos) * ky;
  let out: Point[][] = strokes.map((s) =>
    s.map(([x, y]): Point => {
      const px = x * sx;
      const py = y * sy;
      return [m00 * px + m01 * py, m10 * px + m11 * py];
    }),
  );
  let minX = Number.POSITIVE_INFINITY;
  let minY = Number.POSITIVE_INFINITY;
  let maxX = Number.NEGATIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  for (const s of out)
    for (const [x, y] of s) {
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
    }
  const extent = Math.max(maxX - minX, maxY - minY);
  if (extent > 0) {
    if (stepFraction > 0) out = out.map((s) => resampleStroke(s, stepFraction * extent));
    if (opts.jitter > 0) {
      const sigma = opts.jitter * extent;
      out = out.map((s) =>
        s.map(([x, y]): Point => [x + sigma * gaussian(rand), y + sigma * gaussian(rand)]),
      );
    }
  }
  return {
    strokes: out,
    render: { ...render, scale: 1, penWidth: (render.penWidth ?? DEFAULT_PEN_WIDTH) * penScale },
  };
}

/** Variation of a pen trajectory for a stroke net (no rendering: pen width plays no part). */
export interface TrajectoryAugmentOptions {
  /** The shape: rotation, per-axis scale, shear, jitter (pen width and resample are ignored). */
  readonly affine: StrokeAugmentOptions;
  /** Probability of keeping only every k-th point (k uniform in 2..coarseMax, ends kept): a coarse
   * tablet or a fast pen, where points lie far apart and curves become chords. */
  readonly coarse: number;
  readonly coarseMax: number;
  /** Probability of snapping points to a grid of 1/quantizeCells of the drawing: a mouse on a small canvas. */
  readonly quantize: number;
  readonly quantizeCells: readonly [number, number];
  /** Probability of drawing the strokes in another order (multi-stroke drawings only). */
  readonly reorder: number;
  /** Probability of drawing one stroke backwards (bars of 7, t, f go either way). */
  readonly reverse: number;
}

export const DEFAULT_TRAJECTORY_AUGMENT: TrajectoryAugmentOptions = {
  affine: { ...DEFAULT_STROKE_AUGMENT, rotate: 10, scale: 0.15, shear: 0.3, jitter: 0.004, resample: [0, 0] },
  coarse: 0.35,
  coarseMax: 6,
  quantize: 0.15,
  quantizeCells: [24, 60],
  reorder: 0.1,
  reverse: 0.1,
};

/** Every k-th point of a stroke, its first and last kept. */
function everyKth(stroke: readonly Point[], k: number): Point[] {
  if (stroke.length <= 2) return stroke.slice();
  const out: Point[] = [];
  for (let i = 0; i < stroke.length; i += k) out.push(stroke[i]);
  if (out[out.length - 1] !== stroke[stroke.length - 1]) out.push(stroke[stroke.length - 1]);
  return out;
}

function extentOf(strokes: readonly Stroke[]): number {
  let minX = Number.POSITIVE_INFINITY;
  let minY = Number.POSITIVE_INFINITY;
  let maxX = Number.NEGATIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  for (const s of strokes)
    for (const [x, y] of s) {
      minX = Math.min(minX, x);
      maxX = Math.max(maxX, x);
      minY = Math.min(minY, y);
      maxY = Math.max(maxY, y);
    }
  return Math.max(maxX - minX, maxY - minY, 0);
}

/**
 * One random variant of a pen trajectory: an affine change of shape with jitter (augmentStrokes), then
 * with their probabilities a coarser sampling, a mouse-like grid, another stroke order, a reversed
 * stroke. Deterministic for a given `rand`.
 */
export function augmentTrajectory(
  strokes: readonly Stroke[],
  rand: () => number,
  opts: TrajectoryAugmentOptions = DEFAULT_TRAJECTORY_AUGMENT,
): Stroke[] {
  let out: Point[][] = augmentStrokes(strokes, rand, opts.affine).strokes.map((s) => s.slice());
  if (rand() < opts.coarse) {
    const k = 2 + Math.floor(rand() * (opts.coarseMax - 1));
    out = out.map((s) => everyKth(s, k));
  }
  if (rand() < opts.quantize) {
    const [c0, c1] = opts.quantizeCells;
    const cell = extentOf(out) / (c0 + rand() * (c1 - c0));
    if (cell > 0)
      out = out.map((s) =>
        s.map(([x, y]): Point => [Math.round(x / cell) * cell, Math.round(y / cell) * cell]),
      );
  }
  if (out.length > 1 && rand() < opts.reorder) {
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
  }
  if (rand() < opts.reverse) {
    const i = Math.floor(rand() * out.length);
    out[i] = out[i].slice().reverse();
  }
  return out;
}
