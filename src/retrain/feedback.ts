import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DataError, type ImageDataset } from '../data/dataset.js';
import { DIR_CLASSES, loadDatasetDir } from '../data/idx-dir.js';
import { PIXELS } from '../model/infer.js';
import { type Stroke, safeParseStrokes } from '../preprocess/index.js';
import type { HwrDatabase } from '../store/database.js';
import { FEEDBACK_DB_FILE, FeedbackStore } from '../store/feedback-store.js';
import { DATABASE_URL_ENV } from '../store/postgres-database.js';

/**
 * `--feedback database`: the rows in the shared database (HWR_DATABASE_URL, the cluster's), opened by
 * the caller from the configuration its edge parsed.
 */
export const FEEDBACK_FROM_DATABASE = 'database';

async function readFromDatabase(model: string, db: HwrDatabase | undefined): Promise<Sample[]> {
  if (!db)
    throw new DataError(`--feedback ${FEEDBACK_FROM_DATABASE} needs ${DATABASE_URL_ENV} (a postgres:// URL)`);
  const rows = await db.feedback.rows(model);
  if (rows.length === 0) {
    const others = await db.feedback.models();
    throw new DataError(
      `no feedback for model "${model}" in ${db.location}` +
        (others.length ? ` (models with feedback: ${others.join(', ')})` : ''),
    );
  }
  return rows.map(sampleOfRow);
}

/** One stored correction, reduced to what training needs. */
interface Sample {
  readonly pixels: Uint8Array;
  readonly label: string;
  /** The pen strokes, when the correction was drawn as strokes (the stroke part learns from them). */
  readonly strokes?: Stroke[];
}

/**
 * A stored row as a sample: its strokes are kept when the row came as strokes and they still parse
 * as the server parsed them (a row whose raw input does not is used for the image CNN only).
 */
function sampleOfRow(r: { pixels: Uint8Array; label: string; inputKind: string; rawInput: unknown }): Sample {
  if (r.inputKind !== 'strokes') return { pixels: r.pixels, label: r.label };
  let raw: unknown = r.rawInput;
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch {
      return { pixels: r.pixels, label: r.label };
    }
  }
  const parsed = safeParseStrokes(raw);
  return parsed.success
    ? { pixels: r.pixels, label: r.label, strokes: parsed.data }
    : { pixels: r.pixels, label: r.label };
}

export interface FeedbackSummary {
  /** The database file or dataset folder read. */
  readonly source: string;
  readonly kind: 'sqlite' | 'folder' | 'postgres';
  /** sha256 of the samples used (pixels + label, in order), for metadata. */
  readonly sha256: string;
  /** Rows read for this model. */
  readonly rows: number;
  /** Dropped: same pixels and label as an earlier row. */
  readonly duplicates: number;
  /** Dropped: label not among the model's classes. */
  readonly outsideClasses: number;
  /** Same pixels stored with different labels (kept: each may be a real ambiguity). */
  readonly conflicting: number;
  readonly used: number;
  /** Of the used samples, those stored with their pen strokes. */
  readonly withStrokes: number;
  readonly perLabel: Record<string, number>;
}

export interface LoadedFeedback {
  /** The usable samples, labels as indices into the model's classes. */
  readonly data: ImageDataset;
  /** Per sample of `data`: its pen strokes, or undefined when it came as pixels or an image. */
  readonly strokes: readonly (Stroke[] | undefined)[];
  readonly summary: FeedbackSummary;
}

type FeedbackKind = FeedbackSummary['kind'];

/** The folder of the server's feedback database that `path` names (the file or its folder), if any. */
function feedbackDbDir(path: string, isDir: boolean): string | undefined {
  if (isDir) return existsSync(join(path, FEEDBACK_DB_FILE)) ? path : undefined;
  return basename(path) === FEEDBACK_DB_FILE ? dirname(path) : undefined;
}

/** The rows of `model` in the server's SQLite feedback database. */
function readFromSqlite(dbDir: string, model: string): Sample[] {
  // The store opens (and migrates) the database; WAL lets the server keep writing.
  const store = new FeedbackStore(dbDir);
  try {
    const rows = store.rows(model);
    if (rows.length === 0) {
      const others = store.models();
      throw new DataError(
        `no feedback for model "${model}" in ${join(dbDir, FEEDBACK_DB_FILE)}` +
          (others.length ? ` (models with feedback: ${others.join(', ')})` : ''),
      );
    }
    return rows.map(sampleOfRow);
  } finally {
    store.close();
  }
}

/** The samples of a dataset folder written by `hwr feedback export`. */
async function readFromFolder(path: string, source: string): Promise<Sample[]> {
  const ds = await loadDatasetDir(path);
  if (ds.rows !== 28 || ds.cols !== 28)
    throw new DataError(`${source}: images are ${ds.rows}x${ds.cols}, expected 28x28`);
  return Array.from({ length: ds.n }, (_, i) => ({
    pixels: ds.images.subarray(i * PIXELS, (i + 1) * PIXELS),
    label: ds.classes[ds.labels[i]],
  }));
}

/** What a path that is neither a feedback database nor an exported folder gets told. */
async function notFeedback(path: string, source: string, isDir: boolean): Promise<DataError> {
  if (!isDir) {
    // Not a feedback database by name: refuse rather than create an empty one beside it.
    const head = await readFile(path).then((b) => b.subarray(0, 16).toString('latin1'));
    if (head.startsWith('SQLite format 3'))
      return new DataError(
        `${source}: the feedback database must be named ${FEEDBACK_DB_FILE} (as hwr serve writes it)`,
      );
  }
  return new DataError(
    `${source} is neither a feedback database (${FEEDBACK_DB_FILE} or its folder) nor an exported dataset folder (hwr feedback export)`,
  );
}

async function readSamples(
  source: string,
  model: string,
  database: HwrDatabase | undefined,
): Promise<{ kind: FeedbackKind; path: string; samples: Sample[] }> {
  if (source === FEEDBACK_FROM_DATABASE)
    return {
      kind: 'postgres',
      path: FEEDBACK_FROM_DATABASE,
      samples: await readFromDatabase(model, database),
    };
  const path = resolve(source);
  if (!existsSync(path))
    throw new DataError(
      `no feedback at ${source} (a feedback.sqlite, its folder, or an exported dataset folder)`,
    );
  const isDir = statSync(path).isDirectory();
  const dbDir = feedbackDbDir(path, isDir);
  if (dbDir)
    return { kind: 'sqlite', path: join(dbDir, FEEDBACK_DB_FILE), samples: readFromSqlite(dbDir, model) };
  if (isDir && existsSync(join(path, DIR_CLASSES)))
    return { kind: 'folder', path, samples: await readFromFolder(path, source) };
  throw await notFeedback(path, source, isDir);
}

/**
 * The samples worth training on: exact duplicates (same 28x28 bytes and label) and labels outside
 * the model's classes dropped, with the counts of each and of pixels stored with several labels.
 */
function usableSamples(samples: readonly Sample[], index: ReadonlyMap<string, number>) {
  const seen = new Set<string>();
  const labelsByPixels = new Map<string, Set<string>>();
  const kept: Sample[] = [];
  let duplicates = 0;
  let outsideClasses = 0;
  for (const s of samples) {
    if (!index.has(s.label)) {
      outsideClasses++;
      continue;
    }
    const pixelKey = createHash('sha1').update(s.pixels).digest('hex');
    const key = `${pixelKey}:${s.label}`;
    if (seen.has(key)) {
      duplicates++;
      continue;
    }
    seen.add(key);
    const labels = labelsByPixels.get(pixelKey) ?? new Set<string>();
    labels.add(s.label);
    labelsByPixels.set(pixelKey, labels);
    kept.push(s);
  }
  const conflicting = [...labelsByPixels.values()].filter((l) => l.size > 1).length;
  return { kept, duplicates, outsideClasses, conflicting };
}

/** The kept samples as one image dataset, with the per-label counts and the sha256 of its content. */
function packSamples(kept: readonly Sample[], index: ReadonlyMap<string, number>) {
  const images = new Uint8Array(kept.length * PIXELS);
  const labels = new Uint8Array(kept.length);
  const perLabel: Record<string, number> = {};
  const hash = createHash('sha256');
  kept.forEach((s, i) => {
    images.set(s.pixels, i * PIXELS);
    labels[i] = index.get(s.label) as number;
    perLabel[s.label] = (perLabel[s.label] ?? 0) + 1;
    hash.update(s.pixels).update(s.label);
  });
  return { images, labels, perLabel, sha256: hash.digest('hex') };
}

/**
 * Reads the corrections stored for `model` (from the server's SQLite file or an exported folder),
 * drops exact duplicates (same 28x28 bytes and label) and labels the model does not know.
 */
export async function loadFeedback(
  source: string,
  model: string,
  classes: readonly string[],
  database?: HwrDatabase,
): Promise<LoadedFeedback> {
  const { kind, path, samples } = await readSamples(source, model, database);
  const index = new Map(classes.map((c, i) => [c, i]));
  const { kept, duplicates, outsideClasses, conflicting } = usableSamples(samples, index);
  if (kept.length === 0)
    throw new DataError(
      `${source}: none of the ${samples.length} feedback rows of "${model}" is usable (labels outside [${classes.join(' ')}] or empty)`,
    );
  const { images, labels, perLabel, sha256 } = packSamples(kept, index);
  return {
    data: { images, labels, n: kept.length, rows: 28, cols: 28, classes, sources: [{ path, sha256 }] },
    strokes: kept.map((s) => s.strokes),
    summary: {
      source: path,
      kind,
      sha256,
      rows: samples.length,
      duplicates,
      outsideClasses,
      conflicting,
      used: kept.length,
      withStrokes: kept.filter((s) => s.strokes).length,
      perLabel,
    },
  };
}

/** Position of a sample in [0, 1), from its bytes: stable however much feedback arrives later. */
function unitHash(pixels: Uint8Array, label: number): number {
  const h = createHash('sha256').update(pixels).update(Uint8Array.of(label)).digest();
  return h.readUInt32BE(0) / 2 ** 32;
}

/**
 * Deterministic hold-out: a sample goes to the validation share when its content hash falls below
 * `fraction`, so the same sample lands on the same side in every retrain (no leak between rounds).
 * Both sides get at least one sample when there are two or more.
 */
export function splitHoldout(ds: ImageDataset, fraction: number): { train: number[]; holdout: number[] } {
  const u = Array.from({ length: ds.n }, (_, i) =>
    unitHash(ds.images.subarray(i * PIXELS, (i + 1) * PIXELS), ds.labels[i]),
  );
  const holdout: number[] = [];
  const train: number[] = [];
  for (let i = 0; i < ds.n; i++) (u[i] < fraction ? holdout : train).push(i);
  if (ds.n >= 2 && fraction > 0 && holdout.length === 0) {
    const lowest = train.reduce((best, i) => (u[i] < u[best] ? i : best), train[0]);
    train.splice(train.indexOf(lowest), 1);
    holdout.push(lowest);
  }
  if (ds.n >= 2 && train.length === 0) {
    const highest = holdout.reduce((best, i) => (u[i] > u[best] ? i : best), holdout[0]);
    holdout.splice(holdout.indexOf(highest), 1);
    train.push(highest);
  }
  return { train, holdout };
}
