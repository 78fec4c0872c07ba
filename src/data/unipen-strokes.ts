import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Point, Stroke } from '../preprocess/index.js';
import { DataError, type DataSource, DIGIT_CLASSES, LETTER_CLASSES } from './dataset.js';
import { isHeldOutWriter, parseUnipen, UNIPEN_FILES, type UnipenSample } from './unipen.js';
import { classIndex, orderTraining, type UnipenKind } from './unipen-dataset.js';

/** One pen drawing with its class: strokes in inches (each axis divided by its tablet resolution). */
export interface StrokeSample {
  readonly strokes: Stroke[];
  readonly label: number;
  /** `source/writer`: the unit of every split. */
  readonly writer: string;
  readonly id: string;
}

/**
 * UNIPEN drawings split exactly as the image datasets split them (src/data/unipen-dataset.ts):
 * `test` = the held-out writers (isHeldOutWriter, the committed fixtures' writers among them),
 * `validation` = the writers orderTraining puts in the training split's tail (the image trainer's
 * `--validation-split 0.1` validates on them, so the image models never trained on them either),
 * `train` = everyone else. No writer is on two sides.
 */
export interface UnipenStrokeSplits {
  readonly name: string;
  readonly kind: UnipenKind;
  readonly classes: readonly string[];
  readonly train: StrokeSample[];
  readonly validation: StrokeSample[];
  readonly test: StrokeSample[];
  readonly sources: DataSource[];
  readonly droppedSuspect: number;
}

const PARTS = { letters: ['upper', 'lower'], digits: ['digits'] } as const;

function inInches(sample: UnipenSample): Stroke[] {
  const [px, py] = sample.pointsPerInch;
  return sample.strokes.map((s) => s.map(([x, y]): Point => [x / px, y / py]));
}

/** Reads the UNIPEN files of `kind` from `dir` and splits them by writer (see UnipenStrokeSplits). */
export async function loadUnipenStrokes(
  dir: string,
  kind: UnipenKind,
  options: { dropSuspect?: boolean } = {},
): Promise<UnipenStrokeSplits> {
  const dropSuspect = options.dropSuspect ?? true;
  const files = PARTS[kind].map((p) => join(dir, UNIPEN_FILES[p]));
  const all: UnipenSample[] = [];
  const sources: DataSource[] = [];
  for (const f of files) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(f);
    } catch (err) {
      throw new DataError(
        `UNIPEN ${kind}: cannot read ${f} (${(err as NodeJS.ErrnoException).code ?? err}); ` +
          'pass --data-dir with the UNIPEN .ndjson.gz files or set HWR_DATA_DIR (with a unipen/ folder)',
      );
    }
    sources.push({ path: f, sha256: createHash('sha256').update(bytes).digest('hex') });
    all.push(...parseUnipen(bytes, f));
  }
  let droppedSuspect = 0;
  const kept = all.filter((s) => {
    if (classIndex(kind, s.label) < 0)
      throw new DataError(`${s.id}: label '${s.label}' is not one of the ${kind} classes`);
    if (dropSuspect && s.suspect) droppedSuspect++;
    return !(dropSuspect && s.suspect) && s.strokes.some((st) => st.length > 0);
  });
  const toSample = (s: UnipenSample): StrokeSample => ({
    strokes: inInches(s),
    label: classIndex(kind, s.label),
    writer: `${s.source}/${s.writer}`,
    id: s.id,
  });
  const { ordered, tailWriters } = orderTraining(kept.filter((s) => !isHeldOutWriter(s.source, s.writer)));
  const inTail = (s: UnipenSample) => tailWriters.has(`${s.source}/${s.writer}`);
  return {
    name: kind === 'letters' ? 'letters' : 'unipen-digits',
    kind,
    classes: kind === 'letters' ? LETTER_CLASSES : DIGIT_CLASSES,
    train: ordered.filter((d) => !inTail(d.sample)).map((d) => toSample(d.sample)),
    validation: ordered.filter((d) => inTail(d.sample)).map((d) => toSample(d.sample)),
    test: kept.filter((s) => isHeldOutWriter(s.source, s.writer)).map(toSample),
    sources,
    droppedSuspect,
  };
}

/** `letters` / `unipen-digits` (the image datasets' names) to the UNIPEN kind, or undefined. */
export function strokeDatasetKind(name: string): UnipenKind | undefined {
  if (name === 'letters') return 'letters';
  if (name === 'unipen-digits') return 'digits';
  return undefined;
}
