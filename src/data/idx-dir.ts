import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError, type DataSource, type ImageDataset } from './dataset.js';
import { loadIdxPair, writeIdxImages, writeIdxLabels } from './idx.js';

/**
 * A dataset folder as `hwr feedback export` writes it: `images-idx3-ubyte[.gz]`, `labels-idx1-ubyte[.gz]`
 * (upright, 0-based labels) and `classes.json` (`{ "classes": ["a", "b", ...] }`, or a bare array).
 */
export const DIR_IMAGES = 'images-idx3-ubyte';
export const DIR_LABELS = 'labels-idx1-ubyte';
export const DIR_CLASSES = 'classes.json';

export interface DirWriteOptions {
  /** Gzip the IDX files (names get `.gz`); default false. */
  readonly gzip?: boolean;
}

/** Writes a dataset folder readable by `loadDatasetDir` (and by `--train DIR --test DIR`). */
export async function writeDatasetDir(
  dir: string,
  ds: ImageDataset,
  options: DirWriteOptions = {},
): Promise<void> {
  const ext = options.gzip ? '.gz' : '';
  await mkdir(dir, { recursive: true });
  await writeIdxImages(join(dir, DIR_IMAGES + ext), ds.images, ds.n, ds.rows, ds.cols, {
    gzip: !!options.gzip,
  });
  await writeIdxLabels(join(dir, DIR_LABELS + ext), ds.labels, { gzip: !!options.gzip });
  const tmp = join(dir, `${DIR_CLASSES}.tmp-${process.pid}`);
  await writeFile(tmp, `${JSON.stringify({ classes: ds.classes })}\n`);
  await rename(tmp, join(dir, DIR_CLASSES));
}

/** Reads `classes.json` (object with `classes` or a bare array of non-empty strings). */
export async function readClassesJson(path: string): Promise<{ classes: string[]; source: DataSource }> {
  let parsed: unknown;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DataError(`${path}: cannot read classes (${(err as Error).message})`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { classes?: unknown } | null)?.classes;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    list.length > 256 ||
    !list.every((c) => typeof c === 'string' && c.length > 0)
  ) {
    throw new DataError(`${path}: expected {"classes": ["...", ...]} with 1..256 non-empty strings`);
  }
  if (new Set(list).size !== list.length) throw new DataError(`${path}: duplicate class names`);
  return {
    classes: list as string[],
    source: { path, sha256: createHash('sha256').update(text).digest('hex') },
  };
}

function pick(dir: string, name: string): string | undefined {
  return [join(dir, name), join(dir, `${name}.gz`)].find((p) => existsSync(p));
}

export async function loadDatasetDir(dir: string): Promise<ImageDataset> {
  const images = pick(dir, DIR_IMAGES);
  const labels = pick(dir, DIR_LABELS);
  const classesPath = join(dir, DIR_CLASSES);
  if (!images || !labels || !existsSync(classesPath)) {
    throw new DataError(
      `${dir}: not a dataset folder: expected ${DIR_IMAGES}(.gz), ${DIR_LABELS}(.gz) and ${DIR_CLASSES}`,
    );
  }
  const { classes, source } = await readClassesJson(classesPath);
  const loaded = await loadIdxPair(images, labels, { numClasses: classes.length });
  return { ...loaded, classes, sources: [...loaded.sources, source] };
}
