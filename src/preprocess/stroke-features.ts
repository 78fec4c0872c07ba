/**
 * Pen strokes → the fixed-size input of a stroke net: the trajectory the 28x28 image throws away
 * (drawing order, direction, pen lifts) as a sequence of evenly spaced points, plus a few per-drawing
 * numbers the image's box normalisation loses (aspect ratio, stroke count, relative stroke lengths).
 * Pure TypeScript (no DOM, no TF, no Node APIs): training, the server and the page run this same code.
 */
import { PreprocessError } from './errors.js';
import { safeParseStrokes } from './strokes.js';
import type { Stroke } from './types.js';

/** Bump whenever the same strokes give other numbers: a model records the version it was trained on. */
export const STROKE_FEATURES_VERSION = 1;
/** Per point: x, y, dx, dy, direction cos, direction sin, pen-up. */
export const STROKE_CHANNELS = 7;
/** Per drawing: log aspect, stroke count, 3 relative stroke lengths, share of the path in the air, log ink length. */
export const STROKE_SIDE_FEATURES = 7;
/** Strokes after the third are summed into nothing: 3 relative lengths cover every digit and letter form. */
const LENGTH_SLOTS = 3;

/** Only the fields of StrokeFeatureSpec (src/model/metadata.ts) this module needs; kept structural so
 * preprocess does not import model. */
export interface StrokeFeatureSpecLike {
  readonly version: number;
  readonly points: number;
}

export interface StrokeFeatureOptions {
  /** Multiplies x and y first; a pair scales each axis (UNIPEN's [1 / ppiX, 1 / ppiY]). Default 1. */
  readonly scale?: number | readonly [number, number];
}

export interface StrokeFeatures {
  /** spec.points x channels, row-major. */
  readonly seq: Float32Array;
  readonly channels: number;
  /** STROKE_SIDE_FEATURES numbers. */
  readonly side: Float32Array;
}

/** One piece of the whole pen path: ink (pen down) or a jump between strokes (pen up). */
interface Segment {
  readonly ax: number;
  readonly ay: number;
  readonly bx: number;
  readonly by: number;
  readonly len: number;
  readonly air: boolean;
}

function checkSpec(spec: StrokeFeatureSpecLike): void {
  if (spec.version !== STROKE_FEATURES_VERSION)
    throw new PreprocessError(
      `stroke features version ${spec.version} is not supported (this build computes version ${STROKE_FEATURES_VERSION})`,
    );
  if (!Number.isInteger(spec.points) || spec.points < 8 || spec.points > 1024)
    throw new PreprocessError(
      `stroke features: points must be an integer from 8 to 1024, got ${spec.points}`,
    );
}

/** Points translated to the box's top-left and scaled so the longer side is 1 (aspect kept); centred. */
function normalise(
  strokes: readonly Stroke[],
  options: StrokeFeatureOptions,
): { strokes: [number, number][][]; width: number; height: number } {
  const [sx, sy] =
    typeof options.scale === 'number' || options.scale === undefined
      ? [options.scale ?? 1, options.scale ?? 1]
      : options.scale;
  if (!(sx > 0 && sy > 0 && Number.isFinite(sx) && Number.isFinite(sy)))
    throw new PreprocessError('stroke features: scale must be positive');
  const kept = strokes.filter((s) => s.length > 0);
  if (kept.length === 0) throw new PreprocessError('nothing drawn');
  let minX = Number.POSITIVE_INFINITY;
  let minY = Number.POSITIVE_INFINITY;
  let maxX = Number.NEGATIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  for (const s of kept)
    for (const [x, y] of s) {
      minX = Math.min(minX, x * sx);
      maxX = Math.max(maxX, x * sx);
      minY = Math.min(minY, y * sy);
      maxY = Math.max(maxY, y * sy);
    }
  const width = maxX - minX;
  const height = maxY - minY;
  const extent = Math.max(width, height);
  // A tap (no extent) stays a point at the centre instead of dividing by zero.
  const k = extent > 0 ? 1 / extent : 0;
  const cx = (minX + maxX) / 2;
  const cy = (minY + maxY) / 2;
  return {
    strokes: kept.map((s) => s.map(([x, y]): [number, number] => [(x * sx - cx) * k, (y * sy - cy) * k])),
    width: width * k,
    height: height * k,
  };
}

/** The whole pen path in drawing order: each stroke's segments, with an air segment before each next stroke. */
function segments(strokes: readonly (readonly [number, number])[][]): Segment[] {
  const out: Segment[] = [];
  const push = (a: readonly [number, number], b: readonly [number, number], air: boolean) =>
    out.push({ ax: a[0], ay: a[1], bx: b[0], by: b[1], len: Math.hypot(b[0] - a[0], b[1] - a[1]), air });
  for (let s = 0; s < strokes.length; s++) {
    const pts = strokes[s];
    if (s > 0) push(strokes[s - 1][strokes[s - 1].length - 1], pts[0], true);
    // A one-point stroke (a dot) is a zero-length ink segment, so the path still visits it as ink.
    if (pts.length === 1) push(pts[0], pts[0], false);
    for (let i = 1; i < pts.length; i++) push(pts[i - 1], pts[i], false);
  }
  return out;
}

/**
 * Resamples the path to `n` points at even arc length (pen-up jumps count as distance, so where a lift
 * happens is kept). Writes x, y and the pen-up flag: 1 for a point in the air or the first point after
 * a lift shorter than one step, so every stroke boundary is marked.
 */
function resamplePath(segs: readonly Segment[], n: number, seq: Float32Array): void {
  const total = segs.reduce((a, s) => a + s.len, 0);
  let j = 0; // current segment
  let start = 0; // arc length at the start of segment j
  let prevSeg = 0;
  for (let i = 0; i < n; i++) {
    const t = n > 1 ? (total * i) / (n - 1) : 0;
    while (j < segs.length - 1 && start + segs[j].len < t) {
      start += segs[j].len;
      j++;
    }
    const s = segs[j];
    const f = s.len > 0 ? Math.min(1, Math.max(0, (t - start) / s.len)) : 0;
    let lifted = s.air && f > 0 && f < 1;
    for (let k = prevSeg + 1; k <= j && i > 0; k++) if (segs[k].air || segs[k - 1].air) lifted = true;
    prevSeg = j;
    const o = i * STROKE_CHANNELS;
    seq[o] = s.ax + (s.bx - s.ax) * f;
    seq[o + 1] = s.ay + (s.by - s.ay) * f;
    seq[o + 6] = lifted ? 1 : 0;
  }
}

/** dx, dy (scaled so a 64-point sample's steps are O(1)) and the unit direction, from x and y. */
function fillMotion(seq: Float32Array, n: number): void {
  const k = n / 6.4;
  for (let i = 0; i < n; i++) {
    const o = i * STROKE_CHANNELS;
    // Forward difference; the last point repeats the previous motion.
    const a = i < n - 1 ? o : o - STROKE_CHANNELS;
    const dx = n > 1 ? seq[a + STROKE_CHANNELS] - seq[a] : 0;
    const dy = n > 1 ? seq[a + STROKE_CHANNELS + 1] - seq[a + 1] : 0;
    const len = Math.hypot(dx, dy);
    seq[o + 2] = dx * k;
    seq[o + 3] = dy * k;
    seq[o + 4] = len > 1e-9 ? dx / len : 0;
    seq[o + 5] = len > 1e-9 ? dy / len : 0;
  }
}

function sideFeatures(
  segs: readonly Segment[],
  strokeCount: number,
  width: number,
  height: number,
): Float32Array {
  const side = new Float32Array(STROKE_SIDE_FEATURES);
  // Aspect with a floor of 1 % of the box, so a vertical "1" gives a large finite number, not infinity.
  side[0] = Math.max(-3, Math.min(3, Math.log((height + 0.01) / (width + 0.01))));
  side[1] = Math.min(strokeCount, 12) / 3;
  const inkPerStroke: number[] = [];
  let ink = 0;
  let air = 0;
  for (const s of segs) {
    if (s.air) {
      air += s.len;
      inkPerStroke.push(0);
    } else {
      if (inkPerStroke.length === 0) inkPerStroke.push(0);
      inkPerStroke[inkPerStroke.length - 1] += s.len;
      ink += s.len;
    }
  }
  for (let i = 0; i < LENGTH_SLOTS && i < inkPerStroke.length; i++)
    side[2 + i] = ink > 0 ? inkPerStroke[i] / ink : 0;
  side[5] = ink + air > 0 ? air / (ink + air) : 0;
  // Ink length in units of the box's longer side: a "1" is ~1, an "8" or a "w" 3-5.
  side[6] = Math.log1p(ink);
  return side;
}

/**
 * The features of one drawing (see the module comment). Untrusted strokes are checked as the renderer
 * checks them (caps, finite numbers); empty input is "nothing drawn". Any accepted input gives finite
 * numbers: a single point, a straight line, coordinates near the caps.
 */
export function strokeFeatures(
  strokes: readonly Stroke[],
  spec: StrokeFeatureSpecLike,
  options: StrokeFeatureOptions = {},
): StrokeFeatures {
  checkSpec(spec);
  const parsed = safeParseStrokes(strokes);
  if (!parsed.success) throw parsed.error;
  const norm = normalise(parsed.data, options);
  const segs = segments(norm.strokes);
  const seq = new Float32Array(spec.points * STROKE_CHANNELS);
  resamplePath(segs, spec.points, seq);
  fillMotion(seq, spec.points);
  return {
    seq,
    channels: STROKE_CHANNELS,
    side: sideFeatures(segs, norm.strokes.length, norm.width, norm.height),
  };
}

export interface StrokeFeatureBatch {
  /** n x points x channels, row-major. */
  readonly seq: Float32Array;
  /** n x STROKE_SIDE_FEATURES. */
  readonly side: Float32Array;
  readonly n: number;
  readonly points: number;
  readonly channels: number;
}

/** strokeFeatures of many drawings into two contiguous arrays (the nets' `seq` and `side` inputs). */
export function strokeFeatureBatch(
  drawings: readonly (readonly Stroke[])[],
  spec: StrokeFeatureSpecLike,
  options: StrokeFeatureOptions | readonly StrokeFeatureOptions[] = {},
): StrokeFeatureBatch {
  checkSpec(spec);
  const n = drawings.length;
  const per = spec.points * STROKE_CHANNELS;
  const seq = new Float32Array(n * per);
  const side = new Float32Array(n * STROKE_SIDE_FEATURES);
  for (let i = 0; i < n; i++) {
    const opts = Array.isArray(options) ? (options as readonly StrokeFeatureOptions[])[i] : options;
    const f = strokeFeatures(drawings[i], spec, opts as StrokeFeatureOptions);
    seq.set(f.seq, i * per);
    side.set(f.side, i * STROKE_SIDE_FEATURES);
  }
  return { seq, side, n, points: spec.points, channels: STROKE_CHANNELS };
}
