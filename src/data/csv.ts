import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DataError } from './dataset.js';
import {
  IMAGE_COLS,
  IMAGE_ROWS,
  type LabelMapping,
  type LoadedImages,
  readDataFile,
  transposeImages,
} from './idx.js';

const PIXELS = IMAGE_ROWS * IMAGE_COLS;
const COLUMNS = PIXELS + 1;
const NL = 0x0a;
const CR = 0x0d;
const COMMA = 0x2c;
const ZERO = 0x30;
const NINE = 0x39;

function isBlank(b: number): boolean {
  return b === 0x20 || b === 0x09;
}

/** The field that starts at `start`, for error messages (trimmed, at most 20 characters). */
function fieldText(bytes: Uint8Array, start: number, lineEnd: number): string {
  let end = start;
  while (end < lineEnd && bytes[end] !== COMMA) end++;
  const text = Buffer.from(bytes.subarray(start, Math.min(end, start + 20)))
    .toString('utf8')
    .trim();
  return end - start > 20 ? `${text}...` : text;
}

/**
 * Parses MNIST-style CSV (Kaggle "mnist-in-csv", EMNIST CSV): one image per line, the label first, then
 * 784 pixel values 0..255; an optional header line (`label,1x1,...`) is skipped. Numeric data, so a
 * byte-level scan beats a general CSV parser: it validates as it goes, reports line and column, and
 * parses 60k rows in well under a second.
 */
export function parseCsvImages(bytes: Uint8Array, file: string, mapping: LabelMapping): LoadedImages {
  if (bytes.length > 0 && bytes[bytes.length - 1] !== NL) {
    const terminated = new Uint8Array(bytes.length + 1);
    terminated.set(bytes);
    terminated[bytes.length] = NL;
    bytes = terminated;
  }
  let maxRows = 1;
  for (let i = bytes.indexOf(NL); i !== -1; i = bytes.indexOf(NL, i + 1)) maxRows++;
  const images = new Uint8Array(maxRows * PIXELS);
  const labels = new Uint8Array(maxRows);
  const offset = mapping.offset ?? 0;
  const labelLo = -offset;
  const labelHi = mapping.numClasses - 1 - offset;

  let n = 0;
  let lineNo = 0;
  let sawContent = false;
  const len = bytes.length;
  for (let i = 0; i < len; ) {
    lineNo++;
    let end = bytes.indexOf(NL, i);
    if (end === -1) end = len;
    let lineEnd = end;
    if (lineEnd > i && bytes[lineEnd - 1] === CR) lineEnd--;
    const lineStart = i;
    i = end + 1;

    let first = lineStart;
    while (first < lineEnd && isBlank(bytes[first])) first++;
    if (first === lineEnd) continue; // blank line

    if (!sawContent) {
      sawContent = true;
      const c = bytes[first];
      if (c < ZERO || c > NINE) {
        // Header line: check its width so a wrong layout fails here, not on every row.
        let cols = 1;
        for (let p = first; p < lineEnd; p++) if (bytes[p] === COMMA) cols++;
        if (cols !== COLUMNS) {
          throw new DataError(
            `${file}: line ${lineNo}: header has ${cols} columns, expected ${COLUMNS} (label + ${PIXELS} pixels)`,
          );
        }
        continue;
      }
    }

    const base = n * PIXELS;
    let col = 0;
    let p = lineStart;
    for (;;) {
      // Hot loop (47M values for MNIST train). No bounds checks: every line ends in \n (ensured above),
      // which stops both the blank and the digit loops.
      const fieldStart = p;
      let c = bytes[p];
      while (c === 0x20 || c === 0x09) c = bytes[++p];
      const digitsStart = p;
      let v = 0;
      while (c >= ZERO && c <= NINE) {
        v = v * 10 + c - ZERO;
        c = bytes[++p];
      }
      while (c === 0x20 || c === 0x09) c = bytes[++p];
      if (p === digitsStart || (p < lineEnd && c !== COMMA)) {
        const text = fieldText(bytes, fieldStart, lineEnd);
        throw new DataError(
          `${file}: line ${lineNo}, column ${col + 1}: ` +
            `${text === '' ? 'empty value' : `'${text}' is not a whole number`}` +
            (col === 0 ? ' (label)' : ' (pixel, expected 0..255)'),
        );
      }
      if (col === 0) {
        if (v < labelLo || v > labelHi) {
          throw new DataError(
            `${file}: line ${lineNo}, column 1: label ${v} outside ${labelLo}..${labelHi} ` +
              `(${mapping.numClasses} classes for this dataset)`,
          );
        }
        labels[n] = v + offset;
      } else if (col < COLUMNS) {
        if (v > 255) {
          throw new DataError(`${file}: line ${lineNo}, column ${col + 1}: pixel value ${v} outside 0..255`);
        }
        images[base + col - 1] = v;
      }
      col++;
      if (p >= lineEnd) break;
      p++; // the comma
    }
    if (col !== COLUMNS) {
      throw new DataError(
        `${file}: line ${lineNo}: ${col} columns, expected ${COLUMNS} (label + ${PIXELS} pixels of a ` +
          `${IMAGE_ROWS}x${IMAGE_COLS} image)`,
      );
    }
    n++;
  }
  if (n === 0) throw new DataError(`${file}: no data rows`);
  return {
    images: images.subarray(0, n * PIXELS),
    labels: labels.subarray(0, n),
    n,
    rows: IMAGE_ROWS,
    cols: IMAGE_COLS,
    sources: [],
  };
}

export interface CsvLoadOptions extends LabelMapping {
  /** Transpose each image (EMNIST CSV files hold them transposed, like the IDX files). */
  readonly transpose?: boolean;
}

/** Loads an MNIST-style CSV file (plain or gzip, detected by magic). */
export async function loadCsv(path: string, options: CsvLoadOptions): Promise<LoadedImages> {
  const file = await readDataFile(path);
  const parsed = parseCsvImages(file.bytes, path, options);
  const images = options.transpose ? transposeImages(parsed.images, IMAGE_ROWS, IMAGE_COLS) : parsed.images;
  return { ...parsed, images, sources: [file.source] };
}

export interface CsvWriteOptions {
  /** Write the Kaggle header line `label,1x1,1x2,...,28x28` (default true). */
  readonly header?: boolean;
  /** Gzip the file; defaults to true when the path ends in `.gz`. */
  readonly gzip?: boolean;
  /** Added to each label on output (EMNIST letters are stored 1..26: +1). */
  readonly labelOffset?: number;
}

/** Writes images (n x 784, row-major) and labels as MNIST-style CSV. */
export async function writeCsv(
  path: string,
  images: Uint8Array,
  labels: Uint8Array,
  options: CsvWriteOptions = {},
): Promise<void> {
  const n = labels.length;
  if (images.length !== n * PIXELS) {
    throw new DataError(`writeCsv: ${images.length} image bytes for ${n} labels (expected ${n * PIXELS})`);
  }
  const lines: string[] = [];
  if (options.header ?? true) {
    const names = ['label'];
    for (let r = 1; r <= IMAGE_ROWS; r++) for (let c = 1; c <= IMAGE_COLS; c++) names.push(`${r}x${c}`);
    lines.push(names.join(','));
  }
  const offset = options.labelOffset ?? 0;
  for (let i = 0; i < n; i++) {
    lines.push(`${labels[i] + offset},${images.subarray(i * PIXELS, (i + 1) * PIXELS).join(',')}`);
  }
  const text = Buffer.from(`${lines.join('\n')}\n`);
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, (options.gzip ?? path.endsWith('.gz')) ? gzipSync(text) : text);
  await rename(tmp, path);
}
