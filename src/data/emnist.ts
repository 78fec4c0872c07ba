import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadCsv } from './csv.js';
import { DataError, DIGIT_CLASSES, type ImageDataset, LETTER_CLASSES } from './dataset.js';
import { type LabelMapping, loadIdxPair } from './idx.js';

export type EmnistVariant = 'letters' | 'digits';
export type EmnistSplit = 'train' | 'test';

interface VariantSpec {
  readonly classes: readonly string[];
  /** EMNIST letters are labelled 1..26 (0 is unused "N/A"); we use 0..25. */
  readonly offset: number;
}

export const EMNIST_VARIANTS: Readonly<Record<EmnistVariant, VariantSpec>> = {
  letters: { classes: LETTER_CLASSES, offset: -1 },
  digits: { classes: DIGIT_CLASSES, offset: 0 },
};

/** Official file names of one EMNIST split (IDX as in gzip.zip, and the Kaggle CSV variant). */
export function emnistFileNames(variant: EmnistVariant, split: EmnistSplit) {
  const stem = `emnist-${variant}-${split}`;
  return {
    images: `${stem}-images-idx3-ubyte`,
    labels: `${stem}-labels-idx1-ubyte`,
    csv: `${stem}.csv`,
  };
}

function mapping(variant: EmnistVariant): LabelMapping {
  const spec = EMNIST_VARIANTS[variant];
  return { numClasses: spec.classes.length, offset: spec.offset };
}

function firstExisting(paths: readonly string[]): string | undefined {
  return paths.find((p) => existsSync(p));
}

/**
 * Loads an EMNIST split from `dataDir` (or its `gzip/` subfolder, as the official archive unpacks):
 * IDX files (raw or .gz) first, else the Kaggle CSV. Images come back upright, labels 0-based.
 */
export async function loadEmnistSplit(
  dataDir: string,
  variant: EmnistVariant,
  split: EmnistSplit,
): Promise<ImageDataset> {
  const names = emnistFileNames(variant, split);
  const dirs = [dataDir, join(dataDir, 'gzip')];
  const withGz = (name: string) => dirs.flatMap((d) => [join(d, name), join(d, `${name}.gz`)]);
  const images = firstExisting(withGz(names.images));
  const labels = firstExisting(withGz(names.labels));
  if (images && labels) return loadEmnistIdx(images, labels, variant);
  const csv = firstExisting(withGz(names.csv));
  if (csv) return loadEmnistCsv(csv, variant);
  throw new DataError(
    `emnist-${variant} ${split} split not found in ${dataDir} (nor ${join(dataDir, 'gzip')}): expected ` +
      `${names.images}(.gz) with ${names.labels}(.gz), or ${names.csv}. ` +
      'Download the official gzip.zip (https://www.nist.gov/itl/products-and-services/emnist-dataset) ' +
      'or the Kaggle "emnist" CSV files, and pass --data-dir.',
  );
}

export async function loadEmnistIdx(
  imagesPath: string,
  labelsPath: string,
  variant: EmnistVariant,
): Promise<ImageDataset> {
  const loaded = await loadIdxPair(imagesPath, labelsPath, { ...mapping(variant), transpose: true });
  return { ...loaded, classes: EMNIST_VARIANTS[variant].classes };
}

export async function loadEmnistCsv(path: string, variant: EmnistVariant): Promise<ImageDataset> {
  const loaded = await loadCsv(path, { ...mapping(variant), transpose: true });
  return { ...loaded, classes: EMNIST_VARIANTS[variant].classes };
}
