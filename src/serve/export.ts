import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeCsv } from '../data/csv.js';
import { DataError, type ImageDataset } from '../data/dataset.js';
import { DIR_CLASSES, writeDatasetDir } from '../data/idx-dir.js';
import { PIXELS } from '../model/infer.js';
import { FEEDBACK_DB_FILE, FeedbackStore } from '../store/feedback-store.js';

export type ExportFormat = 'idx' | 'csv';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['idx', 'csv'];
/** File name of a CSV export inside the output folder (classes.json beside it). */
export const CSV_FILE = 'feedback.csv';

export interface ExportOptions {
  readonly dataDir: string;
  readonly out: string;
  readonly model: string;
  readonly format: ExportFormat;
}

export interface ExportResult {
  /** What was written: the folder (idx) or the CSV file, both loadable with `--train PATH`. */
  readonly path: string;
  readonly samples: number;
  readonly classes: readonly string[];
  readonly perLabel: Record<string, number>;
  /** Rows whose label is not a class of the model's latest version (its classes changed). */
  readonly skipped: number;
}

/**
 * Writes the feedback samples of one model as a dataset the loaders read: an IDX folder
 * (images, labels, classes.json) or a CSV file with classes.json beside it. Labels are indices into the
 * class list of the most recent model version that received feedback.
 */
export async function exportFeedback(options: ExportOptions): Promise<ExportResult> {
  const dbPath = join(options.dataDir, FEEDBACK_DB_FILE);
  if (!existsSync(dbPath))
    throw new DataError(
      `no feedback database at ${dbPath} (hwr serve --data-dir ${options.dataDir} creates it)`,
    );
  const store = new FeedbackStore(options.dataDir);
  let rows: ReturnType<FeedbackStore['rows']>;
  let classes: string[] | undefined;
  try {
    rows = store.rows(options.model);
    classes = store.classes(options.model);
    if (rows.length === 0 || !classes) {
      const others = store.models();
      throw new DataError(
        `no feedback for model "${options.model}" in ${dbPath}` +
          (others.length ? ` (models with feedback: ${others.join(', ')})` : ''),
      );
    }
  } finally {
    store.close();
  }
  const index = new Map(classes.map((c, i) => [c, i]));
  const kept = rows.filter((r) => index.has(r.label));
  if (kept.length === 0)
    throw new DataError(`no feedback for model "${options.model}" has a current class label`);
  const images = new Uint8Array(kept.length * PIXELS);
  const labels = new Uint8Array(kept.length);
  const perLabel: Record<string, number> = {};
  kept.forEach((r, i) => {
    images.set(r.pixels, i * PIXELS);
    labels[i] = index.get(r.label) as number;
    perLabel[r.label] = (perLabel[r.label] ?? 0) + 1;
  });
  const ds: ImageDataset = {
    images,
    labels,
    n: kept.length,
    rows: 28,
    cols: 28,
    classes,
    sources: [{ path: dbPath, sha256: '' }],
  };
  let path = options.out;
  if (options.format === 'idx') {
    await writeDatasetDir(options.out, ds);
  } else {
    await mkdir(options.out, { recursive: true });
    path = join(options.out, CSV_FILE);
    await writeCsv(path, images, labels);
    const tmp = join(options.out, `${DIR_CLASSES}.tmp-${process.pid}`);
    await writeFile(tmp, `${JSON.stringify({ classes })}\n`);
    await rename(tmp, join(options.out, DIR_CLASSES));
  }
  return { path, samples: kept.length, classes, perLabel, skipped: rows.length - kept.length };
}
