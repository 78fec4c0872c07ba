import { PreprocessError } from './errors.js';
import { grayToMnist } from './mnist.js';
import type { GrayImage, Point, Stroke } from './types.js';

/** Caps on untrusted strokes (the server applies them to request bodies). Real characters use far less:
 * UNIPEN's largest sample has 7 strokes and 693 points. */
export const MAX_STROKES = 64;
export const MAX_POINTS = 5000;
/** Largest absolute coordinate accepted, in the caller's units. */
export const MAX_COORDINATE = 1e6;

/**
 * Pen diameter as a fraction of the drawing's longer side. Chosen by measurement so that UNIPEN
 * held-out digits rendered through strokesToMnist carry about as much ink as MNIST digits
 * (MNIST t10k: 103.9 full-ink pixels per image; 766 held-out non-suspect UNIPEN digits at 0.14: 104.1).
 */
export const DEFAULT_PEN_WIDTH = 0.14;
/** Longer side of the drawing's skeleton in raster pixels: 4x supersampling of the 20 px MNIST box. */
export const DEFAULT_RESOLUTION = 80;
/** Bump whenever strokes render to different pixels: caches of rendered training data key on it. */
export const RENDERER_VERSION = 1;

export interface RenderOptions {
  /** Multiplies x and y before anything else; a pair scales each axis separately (e.g. UNIPEN's
   * [1 / ppiX, 1 / ppiY] when a tablet's x and y resolutions differ). Default 1. */
  readonly scale?: number | readonly [number, number];
  /** Pen diameter as a fraction of the drawing's longer side. Default DEFAULT_PEN_WIDTH. */
  readonly penWidth?: number;
  /** Longer side of the drawing's skeleton in raster pixels. Default DEFAULT_RESOLUTION. */
  readonly resolution?: number;
  /** A drawing whose longer side (after `scale`) is at most this is "nothing drawn". Default 0: only a
   * drawing with no extent at all (a tap) is refused. The page passes a few canvas pixels. */
  readonly minExtent?: number;
}

export type StrokesResult = { success: true; data: Stroke[] } | { success: false; error: PreprocessError };

/** Checks untrusted input (e.g. a JSON body) is a list of strokes within the caps; errors as data. */
export function safeParseStrokes(input: unknown): StrokesResult {
  const fail = (message: string): StrokesResult => ({ success: false, error: new PreprocessError(message) });
  if (!Array.isArray(input))
    return fail('strokes must be an array of strokes, each an array of [x, y] points');
  if (input.length > MAX_STROKES) return fail(`too many strokes: ${input.length} (at most ${MAX_STROKES})`);
  let total = 0;
  const out: Stroke[] = [];
  for (let s = 0; s < input.length; s++) {
    const stroke: unknown = input[s];
    if (!Array.isArray(stroke)) return fail(`strokes[${s}] must be an array of [x, y] points`);
    total += stroke.length;
    if (total > MAX_POINTS) return fail(`too many points: more than ${MAX_POINTS} in all`);
    for (let p = 0; p < stroke.length; p++) {
      const point: unknown = stroke[p];
      if (
        !Array.isArray(point) ||
        point.length !== 2 ||
        typeof point[0] !== 'number' ||
        typeof point[1] !== 'number' ||
        !Number.isFinite(point[0]) ||
        !Number.isFinite(point[1])
      )
        return fail(`strokes[${s}][${p}] must be [x, y] with two finite numbers`);
      if (Math.abs(point[0]) > MAX_COORDINATE || Math.abs(point[1]) > MAX_COORDINATE)
        return fail(`strokes[${s}][${p}] is out of range (|x|, |y| <= ${MAX_COORDINATE})`);
    }
    out.push(stroke as Stroke);
  }
  return { success: true, data: out };
}

/** As safeParseStrokes, throwing the PreprocessError. */
export function parseStrokes(input: unknown): Stroke[] {
  const r = safeParseStrokes(input);
  if (!r.success) throw r.error;
  return r.data;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new PreprocessError(`${name} must be a positive number`);
  return value;
}

/**
 * Lowers dist2 to each pixel's squared distance from the segment (ax, ay)-(bx, by) wherever that
 * is less. Only pixels that can lie within `reach` are visited (the rest get no ink either way): on
 * each row, those within reach + 1 in x of the part of the segment within reach + 1 in y, a
 * conservative strip that skips most of the segment's bounding box on diagonals.
 */
function segmentDistances(
  dist2: Float64Array,
  width: number,
  height: number,
  [ax, ay, bx, by]: readonly [number, number, number, number],
  reach: number,
): void {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - reach));
  const x1 = Math.min(width - 1, Math.ceil(Math.max(ax, bx) + reach));
  const y0 = Math.max(0, Math.floor(Math.min(ay, by) - reach));
  const y1 = Math.min(height - 1, Math.ceil(Math.max(ay, by) + reach));
  const band = reach + 1;
  for (let py = y0; py <= y1; py++) {
    const cy = py + 0.5;
    let lo = x0;
    let hi = x1;
    if (dy !== 0) {
      const ta = Math.max(0, Math.min((cy - band - ay) / dy, (cy + band - ay) / dy));
      const tb = Math.min(1, Math.max((cy - band - ay) / dy, (cy + band - ay) / dy));
      if (ta > tb) continue;
      const xa = ax + ta * dx;
      const xb = ax + tb * dx;
      lo = Math.max(x0, Math.floor(Math.min(xa, xb) - band));
      hi = Math.min(x1, Math.ceil(Math.max(xa, xb) + band));
    }
    for (let px = lo; px <= hi; px++) {
      const cx = px + 0.5;
      // The projection clamped to the segment; the division only where it lands inside (the same
      // t as clamping the quotient: num <= 0 gives <= 0, num >= len2 gives >= 1).
      const num = len2 > 0 ? (cx - ax) * dx + (cy - ay) * dy : 0;
      const t = num <= 0 ? 0 : num >= len2 ? 1 : num / len2;
      const ex = cx - ax - t * dx;
      const ey = cy - ay - t * dy;
      const d2 = ex * ex + ey * ey;
      const j = py * width + px;
      if (d2 < dist2[j]) dist2[j] = d2;
    }
  }
}

/**
 * Draws strokes as a grayscale raster (ink high): round caps and joins, a pen whose width is a fixed
 * fraction of the drawing's size (the pen the user had does not matter, every drawing comes out with
 * MNIST-like strokes), anti-aliased by exact distance-to-segment coverage with a 1-pixel ramp.
 * The raster is the drawing's bounding box plus the pen and a 1-pixel margin.
 */
export function renderStrokes(strokes: readonly Stroke[], options: RenderOptions = {}): GrayImage {
  const parsed = parseStrokes(strokes);
  const [sx, sy] =
    typeof options.scale === 'number' || options.scale === undefined
      ? [options.scale ?? 1, options.scale ?? 1]
      : options.scale;
  positive('scale', sx);
  positive('scale', sy);
  const penWidth = positive('penWidth', options.penWidth ?? DEFAULT_PEN_WIDTH);
  const resolution = positive('resolution', options.resolution ?? DEFAULT_RESOLUTION);
  if (resolution > 1024) throw new PreprocessError('resolution must be at most 1024');
  const minExtent = options.minExtent ?? 0;

  let minX = Number.POSITIVE_INFINITY;
  let minY = Number.POSITIVE_INFINITY;
  let maxX = Number.NEGATIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  for (const stroke of parsed) {
    for (const [x, y] of stroke) {
      minX = Math.min(minX, x * sx);
      maxX = Math.max(maxX, x * sx);
      minY = Math.min(minY, y * sy);
      maxY = Math.max(maxY, y * sy);
    }
  }
  const extent = Math.max(maxX - minX, maxY - minY);
  if (!(extent > minExtent)) throw new PreprocessError('nothing drawn');

  const k = resolution / extent;
  const radius = (penWidth * resolution) / 2;
  const pad = Math.ceil(radius) + 1;
  const width = Math.ceil((maxX - minX) * k) + 2 * pad + 1;
  const height = Math.ceil((maxY - minY) * k) + 2 * pad + 1;
  // Squared distance from each pixel centre to the nearest pen centreline; coverage follows from its
  // root (taken once per pixel: the root of the least square is the least root, bit for bit).
  const dist2 = new Float64Array(width * height).fill(Number.POSITIVE_INFINITY);
  const reach = radius + 0.5;
  for (const stroke of parsed) {
    const pts: Point[] = stroke.map(([x, y]) => [(x * sx - minX) * k + pad, (y * sy - minY) * k + pad]);
    for (let i = 0; i < pts.length; i++) {
      // A one-point stroke is a dot: a zero-length segment.
      const [ax, ay] = pts[i];
      const [bx, by] = pts[Math.min(i + 1, pts.length - 1)];
      if (i > 0 && i === pts.length - 1) break;
      segmentDistances(dist2, width, height, [ax, ay, bx, by], reach);
    }
  }
  const data = new Uint8Array(width * height);
  // Pixels farther than reach + 1 (most of the raster) get no ink without a square root.
  const far2 = (reach + 1) * (reach + 1);
  for (let j = 0; j < data.length; j++) {
    if (dist2[j] > far2) continue;
    const coverage = radius + 0.5 - Math.sqrt(dist2[j]);
    data[j] = coverage >= 1 ? 255 : coverage <= 0 ? 0 : Math.round(coverage * 255);
  }
  return { width, height, data };
}

/** Strokes → 784 bytes in MNIST form (renderStrokes, then grayToMnist). */
export function strokesToMnist(strokes: readonly Stroke[], options: RenderOptions = {}): Uint8Array {
  return grayToMnist(renderStrokes(strokes, options));
}

/** Bounding box of the strokes' points, or undefined when there are none. */
export function strokesBounds(
  strokes: readonly Stroke[],
): { minX: number; minY: number; maxX: number; maxY: number } | undefined {
  let b: { minX: number; minY: number; maxX: number; maxY: number } | undefined;
  for (const s of strokes)
    for (const [x, y] of s) {
      if (!b) b = { minX: x, minY: y, maxX: x, maxY: y };
      else {
        b.minX = Math.min(b.minX, x);
        b.minY = Math.min(b.minY, y);
        b.maxX = Math.max(b.maxX, x);
        b.maxY = Math.max(b.maxY, y);
      }
    }
  return b;
}
