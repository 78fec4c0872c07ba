/**
 * A line of handwriting → one MNIST-form image per character, left to right. The ink (ink.ts) is cut
 * into connected pieces; pieces of one broken character (a 5's flag, a dot) are merged when one of
 * them is short and they overlap horizontally; a piece wide enough to hold touching characters is
 * also tried split at the columns with the least ink, and the classifier picks the reading (readLine).
 */
import type { Box, Component } from './components.js';
import { PreprocessError } from './errors.js';
import { extractInk, type InkMap } from './ink.js';
import { checkRgba, inkToMnist } from './mnist.js';
import type { RgbaImage } from './types.js';

/** A piece shorter than this share of the line height may be part of a broken character. */
const PART_HEIGHT = 0.7;
/** Merged pieces must overlap horizontally by this share of the narrower one. */
const MERGE_OVERLAP = 0.4;
/** A merged character is at most this wide, in line heights. */
const MAX_MERGED_WIDTH = 1.1;
/** Narrowest character considered when splitting a piece, in line heights (a piece is tried in up to width / this parts). */
const MIN_CHAR_WIDTH = 0.45;
/** A character wider than this (in line heights) is unlikely: each line height beyond costs WIDE_PENALTY nats. */
const MAX_CHAR_WIDTH = 1;
const WIDE_PENALTY = 3;
/** Most characters one piece is split into. */
const MAX_PARTS = 4;

export interface CharacterCrop {
  /** Where the character is in the image (pixels, inclusive-exclusive: x..x+width). */
  readonly box: { x: number; y: number; width: number; height: number };
  /** 28x28 ink-high bytes in MNIST form. */
  readonly pixels: Uint8Array;
}

interface Group {
  ids: Set<number>;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  /** Column range of the pieces' pixels this group owns (a split keeps only its columns). */
  cx0: number;
  cx1: number;
}

const fromComponent = (c: Component): Group => ({
  ids: new Set([c.id]),
  x0: c.x0,
  x1: c.x1,
  y0: c.y0,
  y1: c.y1,
  cx0: c.x0,
  cx1: c.x1,
});

/** Height of the line's characters: median height of the pieces with at least 30 % of the largest's area. */
function lineHeight(components: readonly Component[]): number {
  const largest = components.reduce((m, c) => Math.max(m, c.area), 0);
  const heights = components
    .filter((c) => c.area >= 0.3 * largest)
    .map((c) => c.y1 - c.y0 + 1)
    .sort((a, b) => a - b);
  return heights[heights.length >> 1] ?? 1;
}

function shouldMerge(a: Group, b: Group, height: number): boolean {
  const short = Math.min(a.y1 - a.y0, b.y1 - b.y0) + 1 < PART_HEIGHT * height;
  const overlap = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0) + 1;
  const narrower = Math.min(a.x1 - a.x0, b.x1 - b.x0) + 1;
  const width = Math.max(a.x1, b.x1) - Math.min(a.x0, b.x0) + 1;
  return short && overlap >= MERGE_OVERLAP * narrower && width <= MAX_MERGED_WIDTH * height;
}

function merge(a: Group, b: Group): Group {
  return {
    ids: new Set([...a.ids, ...b.ids]),
    x0: Math.min(a.x0, b.x0),
    x1: Math.max(a.x1, b.x1),
    y0: Math.min(a.y0, b.y0),
    y1: Math.max(a.y1, b.y1),
    cx0: Math.min(a.cx0, b.cx0),
    cx1: Math.max(a.cx1, b.cx1),
  };
}

/** Merges broken pieces, scanning left to right (each piece against the group before it). */
function mergePieces(components: readonly Component[], height: number): Group[] {
  const groups: Group[] = [];
  for (const c of components) {
    const g = fromComponent(c);
    const target = groups.findIndex((prev) => shouldMerge(prev, g, height));
    if (target >= 0) groups[target] = merge(groups[target], g);
    else groups.push(g);
  }
  return groups;
}

/** Ink per column of the group's own pixels. */
function columnInk(map: InkMap, g: Group): Float64Array {
  const cols = new Float64Array(g.x1 - g.x0 + 1);
  for (let y = g.y0; y <= g.y1; y++)
    for (let x = g.x0; x <= g.x1; x++) if (g.ids.has(map.labels[y * map.width + x])) cols[x - g.x0]++;
  return cols;
}

/** The group cut at `cuts` (column offsets within it). */
function cutAt(g: Group, cuts: readonly number[], w: number): Group[] {
  const edges = [0, ...cuts, w];
  return edges.slice(1).map((end, k) => ({
    ...g,
    x0: g.x0 + edges[k],
    x1: g.x0 + end - 1,
    cx0: g.x0 + edges[k],
    cx1: g.x0 + end - 1,
  }));
}

/**
 * Ways to split a group into `parts`: each cut at the column of least ink within half a character of
 * its even position; for two parts, also at the next two least-inked columns (touching characters
 * rarely meet in the middle), so the classifier can choose.
 */
function splits(map: InkMap, g: Group, parts: number): Group[][] {
  const cols = columnInk(map, g);
  const w = cols.length;
  const reach = Math.max(1, Math.round(w / parts / 2));
  const window = (centre: number) => {
    const xs: number[] = [];
    for (let x = Math.max(2, centre - reach); x <= Math.min(w - 3, centre + reach); x++) xs.push(x);
    return xs.sort((a, b) => cols[a] - cols[b] || Math.abs(a - centre) - Math.abs(b - centre));
  };
  if (parts === 2) {
    const picked: number[] = [];
    for (const x of window(Math.round(w / 2)))
      if (picked.length < 3 && picked.every((p) => Math.abs(p - x) > 2)) picked.push(x);
    return picked.map((x) => cutAt(g, [x], w));
  }
  const cuts: number[] = [];
  for (let k = 1; k < parts; k++) {
    const best = window(Math.round((k * w) / parts))[0];
    if (best !== undefined) cuts.push(best);
  }
  return cuts.length === parts - 1 ? [cutAt(g, cuts, w)] : [];
}

/** Ink of the group (its pieces plus the faint fringe around them, within its columns) as a float raster. */
function groupInk(
  map: InkMap,
  g: Group,
): { ink: Float64Array; x0: number; y0: number; w: number; h: number } {
  const pad = 2;
  const x0 = Math.max(0, g.cx0 - pad);
  const x1 = Math.min(map.width - 1, g.cx1 + pad);
  const y0 = Math.max(0, g.y0 - pad);
  const y1 = Math.min(map.height - 1, g.y1 + pad);
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  const ink = new Float64Array(w * h);
  const owned = (x: number, y: number) =>
    x >= g.cx0 && x <= g.cx1 && y >= 0 && y < map.height && g.ids.has(map.labels[y * map.width + x]);
  for (let y = y0; y <= y1; y++)
    for (let x = x0; x <= x1; x++) {
      const label = map.labels[y * map.width + x];
      let mine = owned(x, y);
      // Fringe pixels (no label) go with the group whose piece is within the pad.
      if (!mine && label === 0)
        for (let dy = -pad; dy <= pad && !mine; dy++)
          for (let dx = -pad; dx <= pad && !mine; dx++) mine = owned(x + dx, y + dy);
      if (mine) ink[(y - y0) * w + (x - x0)] = map.ink[y * map.width + x];
    }
  return { ink, x0, y0, w, h };
}

function toBox(g: Group): CharacterCrop['box'] {
  return { x: g.cx0, y: g.y0, width: g.cx1 - g.cx0 + 1, height: g.y1 - g.y0 + 1 };
}

/** Groups of a line of ink, left to right, after merging broken pieces (no splitting). */
function mergedGroups(map: InkMap): { groups: Group[]; height: number } {
  if (map.components.length === 0) return { groups: [], height: 0 };
  const height = lineHeight(map.components);
  const groups = mergePieces(map.components, height).sort((a, b) => a.x0 + a.x1 - (b.x0 + b.x1));
  return { groups, height };
}

/** The crops of `parts` (undefined when one of them is too small to be a character). */
function crops(map: InkMap, parts: readonly Group[]): CharacterCrop[] | undefined {
  const out: CharacterCrop[] = [];
  for (const g of parts) {
    const { ink, w, h } = groupInk(map, g);
    try {
      out.push({ box: toBox(g), pixels: inkToMnist(ink, w, h) });
    } catch (err) {
      // A sliver left by a split is not a character; anything else is a real error.
      if (!(err instanceof PreprocessError)) throw err;
      return undefined;
    }
  }
  return out;
}

/**
 * Ways to read one group: whole, or split into 2..MAX_PARTS characters at the columns of least ink,
 * as many as its width allows (touching characters make one piece wider than a character).
 */
function options(map: InkMap, g: Group, height: number): CharacterCrop[][] {
  const width = g.x1 - g.x0 + 1;
  const most = Math.max(1, Math.min(MAX_PARTS, Math.round(width / (MIN_CHAR_WIDTH * height))));
  const out: CharacterCrop[][] = [];
  for (let k = 1; k <= most; k++) {
    for (const parts of k === 1 ? [[g]] : splits(map, g, k)) {
      const c = crops(map, parts);
      if (c) out.push(c);
    }
  }
  return out;
}

/** Class probabilities of each crop (the model's forward pass, given by the caller). */
export type Classify = (pixels: readonly Uint8Array[]) => Promise<Float32Array[]> | Float32Array[];

export interface ReadCharacter extends CharacterCrop {
  readonly probs: Float32Array;
}

const best = (p: Float32Array): number => p.reduce((m, v) => (v > m ? v : m), 0);

/**
 * Reads a line of handwriting: every group's ways of being cut (whole, split in 2, 3...) are
 * classified, and the one whose characters are jointly most probable (sum of log max-probabilities)
 * wins. The classifier decides what the ink widths alone cannot: a wide 0 or a touching "41".
 */
export async function readLine(image: RgbaImage, classify: Classify): Promise<ReadCharacter[]> {
  checkRgba(image);
  const map = extractInk(image);
  const { groups, height } = mergedGroups(map);
  const perGroup = groups.map((g) => options(map, g, height)).filter((o) => o.length > 0);
  const flat = perGroup.flat(2);
  if (flat.length === 0) throw new PreprocessError('nothing drawn');
  const probs = await classify(flat.map((c) => c.pixels));
  const out: ReadCharacter[] = [];
  let at = 0;
  for (const choices of perGroup) {
    let chosen: ReadCharacter[] = [];
    let score = Number.NEGATIVE_INFINITY;
    for (const option of choices) {
      const read = option.map((c, k) => ({ ...c, probs: probs[at + k] }));
      at += option.length;
      const s = read.reduce(
        (sum, c) =>
          sum +
          Math.log(Math.max(best(c.probs), 1e-9)) -
          WIDE_PENALTY * Math.max(0, c.box.width / height - MAX_CHAR_WIDTH),
        0,
      );
      if (s > score) {
        score = s;
        chosen = read;
      }
    }
    out.push(...chosen);
  }
  return out;
}

export type { Box };
