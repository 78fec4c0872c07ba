import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import type { RenderOptions, Stroke } from '../preprocess/index.js';
import { DataError } from './dataset.js';

/** The UNIPEN file names (format: datasets/unipen/README.md). */
export const UNIPEN_FILES = {
  digits: 'unipen-1a-digits.ndjson.gz',
  upper: 'unipen-1b-upper.ndjson.gz',
  lower: 'unipen-1c-lower.ndjson.gz',
} as const;
export type UnipenPart = keyof typeof UNIPEN_FILES;

const Point = z.tuple([z.number().finite(), z.number().finite()]);
export const UnipenSample = z.object({
  id: z.string(),
  /** One character, case as written ("7", "a", "A"). */
  label: z.string().length(1),
  source: z.string().min(1),
  quality: z.string().optional(),
  writer: z.string().min(1),
  /** The shape looks misaligned with its label: likely label noise. */
  suspect: z.boolean(),
  /** Tablet resolution [x, y]; differs per axis for some contributors. */
  pointsPerInch: z.tuple([z.number().positive(), z.number().positive()]),
  /** Pen-down strokes, y down, tablet units. */
  strokes: z.array(z.array(Point)),
});
export type UnipenSample = z.infer<typeof UnipenSample>;

/** Share of writers (percent) kept out of all training: the writer-disjoint test set. */
export const HELD_OUT_PERCENT = 15;

/** FNV-1a, 32 bits: tiny, stable across platforms and versions, good enough to spread ids. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The writer-disjoint split used everywhere: a writer (within a contributing source) is either in
 * the held-out test set for good, or in train/validation. Nothing of a held-out writer is ever trained on.
 */
export function isHeldOutWriter(source: string, writer: string): boolean {
  return fnv1a(`${source}/${writer}`) % 100 < HELD_OUT_PERCENT;
}

/** Render options that put both axes in inches, so a tablet with unequal x/y resolution draws upright. */
export function unipenRenderOptions(sample: Pick<UnipenSample, 'pointsPerInch'>): RenderOptions {
  return { scale: [1 / sample.pointsPerInch[0], 1 / sample.pointsPerInch[1]] };
}

/** Parses gzip NDJSON (or plain NDJSON) UNIPEN text; `name` is for error messages. */
export function parseUnipen(bytes: Uint8Array, name: string): UnipenSample[] {
  let text: string;
  try {
    text = (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : Buffer.from(bytes)).toString('utf8');
  } catch (err) {
    throw new DataError(`${name}: cannot gunzip: ${(err as Error).message}`);
  }
  const out: UnipenSample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      throw new DataError(`${name}:${i + 1}: not JSON: ${(err as Error).message}`);
    }
    const r = UnipenSample.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new DataError(`${name}:${i + 1}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    out.push(r.data);
  }
  return out;
}

/** Reads one UNIPEN file (e.g. `join(dir, UNIPEN_FILES.digits)`). */
export async function readUnipenFile(path: string): Promise<UnipenSample[]> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new DataError(`cannot read UNIPEN file ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  return parseUnipen(bytes, path);
}

/** Reads one part (digits, upper, lower) from a directory holding the UNIPEN files. */
export function readUnipen(dir: string, part: UnipenPart): Promise<UnipenSample[]> {
  return readUnipenFile(join(dir, UNIPEN_FILES[part]));
}

/** Strokes with a type the preprocessing module accepts. */
export function sampleStrokes(sample: UnipenSample): Stroke[] {
  return sample.strokes as Stroke[];
}
