/**
 * Ruled lines, squared paper and frames: straight bands of ink that cross (nearly) the whole image,
 * found along a few slopes (a photo of a sheet is rarely level) and taken out of the ink mask, except
 * where a stroke crosses them (ink right above and below the band is kept, so a digit written across a
 * line is not cut in two). A band counts as a line only when it cannot be part of the writing: it runs
 * well past the writing's extent, or there are several parallel ones that the writing does not touch
 * (a frame, ruled lines above and below). The bar of a tightly cropped 7 spans the image too, but
 * fails both tests.
 */
import { type Component, labelComponents } from './components.js';

/** A row (at the best slope) is a line core when its ink covers this share of the image width. */
const CORE_COVERAGE = 0.8;
/** Neighbouring rows with this coverage belong to the same band (anti-aliasing, slope). */
const EDGE_COVERAGE = 0.4;
/**
 * Slopes tried, as tangents: -6..6 degrees by a quarter degree. A line half a degree off the slope
 * tried drifts 2 px over a 218 px page and left its ends in the ink as strokes (squared paper).
 */
const STEP_DEGREES = 0.25;
const STEPS = Math.round(6 / STEP_DEGREES);
const SLOPES = Array.from({ length: 2 * STEPS + 1 }, (_, i) =>
  Math.tan(((i - STEPS) * STEP_DEGREES * Math.PI) / 180),
);
/** Images wider than this are sampled every width / this columns when choosing the lines' slope. */
const SLOPE_SAMPLE_WIDTH = 256;
/** A band thicker than this share of the image height (or 3 px) is a blob, not a line. */
const MAX_THICKNESS = 0.08;
/** Lines must run past the writing: the writing spans at most this share of the line's length. */
const MAX_WRITING_EXTENT = 0.6;

/**
 * Rows either side of a band that go with it: the anti-aliased edge of a line wanders in and out of
 * the band's rows along its length, and those pieces were left as strokes.
 */
const BAND_PAD = 1;

interface Band {
  readonly rMin: number;
  readonly rMax: number;
}

interface Bands {
  readonly slope: number;
  readonly offset: number;
  readonly bands: Band[];
}

/** Row index (at `slope`, shifted by `offset`) through pixel (x, y). */
const rowOf = (x: number, y: number, slope: number, offset: number): number =>
  Math.round(y - x * slope) + offset;

/** Ink per row of `mask` at slope `k`, counting the columns x0, x0 + step, ... (row = y + shift[x] + offset). */
function rowCounts(
  mask: Uint8Array,
  width: number,
  height: number,
  k: number,
  step: number,
  offset: number,
): Int32Array {
  const shift = columnShifts(width)[k];
  const counts = new Int32Array(height + 2 * offset);
  for (let y = 0; y < height; y++) {
    const base = y * width;
    const r = y + offset;
    for (let x = 0; x < width; x += step) if (mask[base + x]) counts[r + shift[x]]++;
  }
  return counts;
}

/** Per slope, the row shift of each column (rowOf without the y and the offset), cached by width. */
const shiftCache = new Map<number, Int32Array[]>();
function columnShifts(width: number): Int32Array[] {
  let s = shiftCache.get(width);
  if (!s) {
    s = SLOPES.map((slope) => Int32Array.from({ length: width }, (_, x) => Math.round(-x * slope)));
    if (shiftCache.size > 8) shiftCache.clear();
    shiftCache.set(width, s);
  }
  return s;
}

/**
 * Near-horizontal bands of `mask` at the slope where the fullest row is fullest (whole degrees, then
 * quarter degrees around the best). The slope is chosen on every width / SLOPE_SAMPLE_WIDTH-th column
 * of a wide image (a line crosses all of them; a 1024 px photo's mask of paper noise cost 0.9 s over
 * all 49 slopes on every column), the bands are found on every column at that slope.
 */
function findBands(mask: Uint8Array, width: number, height: number): Bands {
  const offset = Math.ceil(width * Math.abs(SLOPES[0])) + 1;
  const rows = height + 2 * offset;
  const step = Math.max(1, Math.floor(width / SLOPE_SAMPLE_WIDTH));
  let best = 0;
  let bestK = STEPS;
  const tryK = (k: number) => {
    for (const v of rowCounts(mask, width, height, k, step, offset))
      if (v > best || (v === best && Math.abs(k - STEPS) < Math.abs(bestK - STEPS))) {
        best = v;
        bestK = k;
      }
  };
  // Whole degrees first, then the quarter degrees around the best of them.
  const per = Math.round(1 / STEP_DEGREES);
  for (let k = 0; k < SLOPES.length; k += per) tryK(k);
  const coarse = bestK;
  for (let k = Math.max(0, coarse - per + 1); k <= Math.min(SLOPES.length - 1, coarse + per - 1); k++)
    if (k !== coarse) tryK(k);
  const c = rowCounts(mask, width, height, bestK, 1, offset);
  const bands: Band[] = [];
  const maxThick = Math.max(3, MAX_THICKNESS * height);
  for (let r = 0; r < rows; r++) {
    if (c[r] < CORE_COVERAGE * width) continue;
    let rMin = r;
    let rMax = r;
    while (rMin > 0 && c[rMin - 1] >= EDGE_COVERAGE * width) rMin--;
    while (rMax + 1 < rows && c[rMax + 1] >= EDGE_COVERAGE * width) rMax++;
    if (rMax - rMin + 1 <= maxThick) bands.push({ rMin, rMax });
    r = rMax;
  }
  return { slope: SLOPES[bestK], offset, bands };
}

/** Pixels of the mask in the bands, minus the runs where a stroke continues on both sides. */
function bandPixels(mask: Uint8Array, width: number, height: number, found: Bands): Uint8Array {
  const line = new Uint8Array(mask.length);
  const inBand = new Uint8Array(height + 2 * found.offset + 1);
  for (const b of found.bands) inBand.fill(1, Math.max(0, b.rMin - BAND_PAD), b.rMax + 1 + BAND_PAD);
  if (found.bands.length === 0) return line;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      if (!mask[p]) continue;
      if (inBand[rowOf(x, y, found.slope, found.offset)]) line[p] = 1;
    }
  const strokeAt = (x: number, y: number): boolean => {
    if (y < 0 || y >= height) return false;
    for (let nx = Math.max(0, x - 1); nx <= Math.min(width - 1, x + 1); nx++)
      if (mask[y * width + nx] && !line[y * width + nx]) return true;
    return false;
  };
  const keep: number[] = [];
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      if (!line[y * width + x]) continue;
      let end = y;
      while (end + 1 < height && line[(end + 1) * width + x]) end++;
      if (strokeAt(x, y - 1) && strokeAt(x, end + 1)) for (let k = y; k <= end; k++) keep.push(k * width + x);
      y = end;
    }
  }
  for (const p of keep) line[p] = 0;
  return line;
}

function transpose(src: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[x * height + y] = src[y * width + x];
  return out;
}

interface Extent {
  readonly x0: number;
  readonly x1: number;
  readonly y0: number;
  readonly y1: number;
}

/**
 * A piece that touches the image's edge and is this many times longer than wide is the end of a line
 * that leaves the image (a tilted grid line covers too little of any row to be found as a band).
 */
const EDGE_LINE_ELONGATION = 10;

/** Whether a piece is the end of a line leaving the image rather than writing. */
function isEdgeLine(c: Component, width: number, height: number): boolean {
  const w = c.x1 - c.x0 + 1;
  const h = c.y1 - c.y0 + 1;
  const atEdge = c.x0 === 0 || c.y0 === 0 || c.x1 === width - 1 || c.y1 === height - 1;
  return atEdge && Math.max(w, h) >= EDGE_LINE_ELONGATION * Math.min(w, h);
}

/** Bounding box of the writing left after removing the candidate lines (specks and line ends ignored). */
function writingExtent(mask: Uint8Array, width: number, height: number): Extent | undefined {
  const { components } = labelComponents(mask, width, height);
  const largest = components.reduce((m, c) => Math.max(m, c.area), 0);
  const kept = components.filter((c) => c.area >= 0.05 * largest && !isEdgeLine(c, width, height));
  if (kept.length === 0) return undefined;
  return {
    x0: Math.min(...kept.map((c) => c.x0)),
    x1: Math.max(...kept.map((c) => c.x1)),
    y0: Math.min(...kept.map((c) => c.y0)),
    y1: Math.max(...kept.map((c) => c.y1)),
  };
}

/** Whether the bands of one orientation are lines rather than strokes of the writing (see the file comment). */
function areLines(found: Bands, width: number, writing: Extent): boolean {
  if (found.bands.length === 0) return false;
  if (writing.x1 - writing.x0 + 1 <= MAX_WRITING_EXTENT * width) return true;
  if (found.bands.length < 2) return false;
  // Several parallel bands, none touching the writing: rows of the band at the writing's ends.
  return found.bands.every((b) => {
    const ends = [writing.x0, writing.x1].map((x) => Math.round(x * found.slope) - found.offset);
    const top = Math.min(...ends) + b.rMin;
    const bottom = Math.max(...ends) + b.rMax;
    return bottom < writing.y0 - 1 || top > writing.y1 + 1;
  });
}

/**
 * The mask pixels that belong to ruled lines, grid lines or frames (1 = line). Crossing strokes are
 * left to the writing.
 */
export function findLinePixels(mask: Uint8Array, width: number, height: number): Uint8Array {
  const horizontal = findBands(mask, width, height);
  const maskT = transpose(mask, width, height);
  const vertical = findBands(maskT, height, width);
  const hLine = bandPixels(mask, width, height, horizontal);
  const vLine = transpose(bandPixels(maskT, height, width, vertical), height, width);
  const rest = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) rest[i] = mask[i] && !hLine[i] && !vLine[i] ? 1 : 0;
  const writing = writingExtent(rest, width, height);
  const out = new Uint8Array(mask.length);
  if (!writing) return out;
  const useH = areLines(horizontal, width, writing);
  const writingT = { x0: writing.y0, x1: writing.y1, y0: writing.x0, y1: writing.x1 };
  const useV = areLines(vertical, height, writingT);
  for (let i = 0; i < mask.length; i++) out[i] = (useH && hLine[i]) || (useV && vLine[i]) ? 1 : 0;
  return out;
}
