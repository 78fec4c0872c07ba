/**
 * Ink of a real image (scan, phone photo, screenshot, canvas export) as an ink-high float raster,
 * with everything that is not writing taken out:
 * 1. the paper: a smooth background surface fitted to the whole image (background.ts), so uneven
 *    light and gradients are subtracted; the polarity is the side (darker or lighter than the paper)
 *    with more ink mass beyond the noise, i.e. the minority side;
 * 2. a global Otsu threshold on that ink signal gives the ink mask;
 * 3. ruled lines, grid lines and frames are removed from the mask (lines.ts);
 * 4. specks (components under SPECK_SHARE of the largest) are dropped.
 * The kept ink keeps its grey levels (anti-aliased edges), as MNIST digits have them.
 */
import { localBackground, otsuThreshold, pixelNoise } from './background.js';
import { type Component, dilate, labelComponents } from './components.js';
import { findLinePixels } from './lines.js';
import type { RgbaImage } from './types.js';

/** A connected piece of ink smaller than this share of the largest piece is a speck. */
const SPECK_SHARE = 0.08;
/** The ink threshold is at least this many noise sigmas above the paper. */
const MIN_SIGMAS = 5;
/** The paper window is the shorter side over this (wider than any stroke, narrower than most shadows). */
const WINDOW_DIVISOR = 5;
/** Images with a shorter side under this many pixels get one paper level instead of a local one. */
const MIN_LOCAL_SIDE = 48;
/** Faint ink joins a stroke when connected to it and at most this far (px) from it. */
const FRINGE = 3;
/** Faint ink (lines, stroke edges) starts this many noise sigmas above the paper. */
const FAINT_SIGMAS = 4;
/** Ink threshold floor on the 0..255 scale (clean synthetic images have no noise at all). */
const MIN_THRESHOLD = 8;

export interface InkMap {
  readonly width: number;
  readonly height: number;
  /** Ink-high, 0..255 (not stretched). */
  readonly ink: Float64Array;
  /** Connected pieces of the kept ink (labels in `labels`), left to right by their left edge. */
  readonly components: Component[];
  readonly labels: Int32Array;
}

/** Luminance with alpha: transparent pixels are unusable for the paper fit and carry no ink. */
function luminance(image: RgbaImage): { lum: Float64Array; alpha: Float64Array; usable: Uint8Array } {
  const n = image.width * image.height;
  const { data } = image;
  const lum = new Float64Array(n);
  const alpha = new Float64Array(n);
  const usable = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const p = i * 4;
    lum[i] = 0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2];
    alpha[i] = data[p + 3] / 255;
    usable[i] = data[p + 3] >= 128 ? 1 : 0;
  }
  return { lum, alpha, usable };
}

/**
 * Ink signal (ink-high, paper at 0) and the pixel noise sigma. The paper is the local closing (for
 * dark ink) or opening (for light ink) over a window of a fifth of the shorter side, so shadow edges
 * and uneven light are followed.
 */
function inkSignal(image: RgbaImage): { signal: Float64Array; sigma: number } {
  const { width, height } = image;
  const { lum, alpha, usable } = luminance(image);
  const paperLevel = paperMode(lum, usable);
  // Transparent pixels take the paper level, so they neither are ink nor hide it.
  for (let i = 0; i < lum.length; i++) lum[i] = alpha[i] * lum[i] + (1 - alpha[i]) * paperLevel;
  const sigma = pixelNoise(lum, width);
  const darkInk = isDarkInk(lum, width, height, paperLevel, MIN_SIGMAS * Math.max(sigma, 1));
  // Small scans (a digit filling 8x8 .. 32x32) have no shadows, and strokes as wide as any window
  // that fits: their paper is one level.
  const window = Math.max(5, Math.round(Math.min(width, height) / WINDOW_DIVISOR)) | 1;
  const paper =
    Math.min(width, height) < MIN_LOCAL_SIDE
      ? new Float64Array(lum.length).fill(paperLevel)
      : localBackground(lum, width, height, window, darkInk);
  const signal = new Float64Array(lum.length);
  // Light is multiplicative: dark ink in a shadow keeps its contrast ratio to the paper, not its difference.
  for (let i = 0; i < lum.length; i++)
    signal[i] = Math.max(
      0,
      darkInk ? (255 * (paper[i] - lum[i])) / Math.max(paper[i], 32) : lum[i] - paper[i],
    );
  return { signal, sigma };
}

/** Box-average downscale by an integer factor (for the polarity decision, which needs no detail). */
function shrinkBy(
  lum: Float64Array,
  width: number,
  height: number,
  f: number,
): { small: Float64Array; w: number; h: number } {
  const w = Math.floor(width / f);
  const h = Math.floor(height / f);
  const small = new Float64Array(w * h);
  for (let y = 0; y < h * f; y++)
    for (let x = 0; x < w * f; x++)
      small[Math.floor(y / f) * w + Math.floor(x / f)] += lum[y * width + x] / (f * f);
  return { small, w, h };
}

/**
 * Polarity: strokes stand out of the local paper on one side only. Dark mass is what the closing
 * (paper model for dark ink) lies above pixels darker than the paper level; light mass what pixels
 * brighter than it rise above the opening. Paper enclosed by dark strokes (a 4's loop) rises above the
 * opening too, but is not brighter than the paper level; a gradient or shadow is followed by both.
 * Decided on a copy shrunk to about 256 px, which keeps strokes and halves the cost.
 */
function isDarkInk(
  lum: Float64Array,
  width: number,
  height: number,
  paperLevel: number,
  noise: number,
): boolean {
  const f = Math.max(1, Math.floor(Math.min(width, height) / 128));
  const { small, w, h } = f > 1 ? shrinkBy(lum, width, height, f) : { small: lum, w: width, h: height };
  if (Math.min(w, h) < MIN_LOCAL_SIDE) {
    let dark = 0;
    let light = 0;
    for (const v of small) {
      if (v < paperLevel - noise) dark += paperLevel - noise - v;
      else if (v > paperLevel + noise) light += v - paperLevel - noise;
    }
    return dark >= light;
  }
  const window = Math.max(5, Math.round(Math.min(w, h) / WINDOW_DIVISOR)) | 1;
  const closed = localBackground(small, w, h, window, true);
  const opened = localBackground(small, w, h, window, false);
  let dark = 0;
  let light = 0;
  for (let i = 0; i < small.length; i++) {
    if (small[i] < paperLevel - noise) dark += Math.max(0, closed[i] - small[i] - noise);
    else if (small[i] > paperLevel + noise) light += Math.max(0, small[i] - opened[i] - noise);
  }
  return dark >= light;
}

/**
 * The paper level: the median of the fullest of 32 luminance bins of the opaque pixels. The paper is
 * the most common level even when a digit fills a small scan and its anti-aliased edges make the
 * median a grey.
 */
function paperMode(lum: Float64Array, usable: Uint8Array): number {
  const bins: number[][] = Array.from({ length: 32 }, () => []);
  const step = Math.max(1, Math.floor(lum.length / 20000));
  for (let i = 0; i < lum.length; i += step)
    if (usable[i]) bins[Math.min(31, Math.floor(lum[i] / 8))].push(lum[i]);
  const fullest = bins.reduce((a, b) => (b.length > a.length ? b : a)).sort((a, b) => a - b);
  return fullest.length ? fullest[fullest.length >> 1] : 255;
}

/** Mostly transparent images (a canvas export) carry their ink in the alpha channel. */
function isAlphaInk(image: RgbaImage): boolean {
  let transparent = 0;
  const n = image.width * image.height;
  for (let i = 0; i < n; i++) if (image.data[i * 4 + 3] < 128) transparent++;
  return transparent * 2 >= n;
}

/** Keeps the components of `mask` that are not specks; returns the kept mask's labelling. */
function dropSpecks(
  mask: Uint8Array,
  width: number,
  height: number,
): { labels: Int32Array; kept: Component[] } {
  const { labels, components } = labelComponents(mask, width, height);
  const largest = components.reduce((m, c) => Math.max(m, c.area), 0);
  const kept = components.filter((c) => c.area >= SPECK_SHARE * largest);
  const keep = new Set(kept.map((c) => c.id));
  for (let i = 0; i < labels.length; i++) if (labels[i] && !keep.has(labels[i])) labels[i] = 0;
  return { labels, kept };
}

/** Separates the writing from the paper, lines and specks (see the file comment). Checks nothing: callers validate sizes. */
export function extractInk(image: RgbaImage): InkMap {
  const { width, height } = image;
  const n = width * height;
  let signal: Float64Array;
  let threshold: number;
  let floor = 0;
  let sigma = 0;
  if (isAlphaInk(image)) {
    signal = new Float64Array(n);
    for (let i = 0; i < n; i++) signal[i] = image.data[i * 4 + 3];
    threshold = 127.5;
  } else {
    const found = inkSignal(image);
    signal = found.signal;
    sigma = found.sigma;
    floor = 3 * sigma;
    threshold = Math.max(otsuThreshold(signal), MIN_SIGMAS * found.sigma, MIN_THRESHOLD);
  }
  // Faint ink: above the noise, far below the threshold. Printed lines are searched for in it (they are
  // often fainter than the writing), and it is what the strokes grow into (hysteresis) below.
  const faint = new Uint8Array(n);
  const faintT = Math.max(FAINT_SIGMAS * sigma, MIN_THRESHOLD / 2);
  for (let i = 0; i < n; i++) faint[i] = signal[i] > faintT ? 1 : 0;
  const lines = findLinePixels(faint, width, height);
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) mask[i] = signal[i] > threshold && !lines[i] ? 1 : 0;
  const strokes = dropSpecks(mask, width, height).labels;
  // Hysteresis: faint ink connected to a kept stroke is ink too (anti-aliased edges, blur, a light
  // pen stroke), except next to a removed line.
  // Only near the strokes: an undetected faint line (lit unevenly, so not 80 % covered) would be
  // pulled in whole through its connection.
  const lineNear = dilate(lines, width, height, 1);
  const strokeMask = new Uint8Array(n);
  for (let i = 0; i < n; i++) strokeMask[i] = strokes[i] ? 1 : 0;
  const near = dilate(strokeMask, width, height, FRINGE);
  for (let i = 0; i < n; i++) faint[i] = strokes[i] || (faint[i] && near[i] && !lineNear[i]) ? 1 : 0;
  const grown = labelComponents(faint, width, height);
  const keep = new Set<number>();
  for (let i = 0; i < n; i++) if (strokes[i]) keep.add(grown.labels[i]);
  const ink = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (keep.has(grown.labels[i])) ink[i] = Math.max(0, signal[i] - floor);
    else grown.labels[i] = 0;
  }
  const components = grown.components.filter((c) => keep.has(c.id)).sort((a, b) => a.x0 - b.x0);
  return { width, height, ink, labels: grown.labels, components };
}
