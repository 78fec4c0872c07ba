import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DataError, type DataSource } from './dataset.js';

/** IDX magic numbers: two zero bytes, type code (0x08 = unsigned byte), number of dimensions. */
export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;
/** Our models take 28x28 inputs; any other size is a wrong file, not something to resize silently. */
export const IMAGE_ROWS = 28;
export const IMAGE_COLS = 28;

export interface RawFile {
  /** Decompressed content. */
  readonly bytes: Uint8Array;
  readonly source: DataSource;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Reads a file, gunzips it when its content is gzip (by magic, whatever its name), and hashes the file as stored. */
export async function readDataFile(path: string): Promise<RawFile> {
  let stored: Buffer;
  try {
    stored = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError(
      code === 'ENOENT' ? `${path}: file not found` : `${path}: cannot read (${(err as Error).message})`,
    );
  }
  const sha256 = createHash('sha256').update(stored).digest('hex');
  let content: Buffer = stored;
  if (isGzip(stored)) {
    try {
      content = gunzipSync(stored);
    } catch (err) {
      throw new DataError(`${path}: corrupt or truncated gzip data (${(err as Error).message})`);
    }
  }
  // A plain Uint8Array view: Buffer's slice() shares memory, a trap for code that expects a copy.
  const bytes = new Uint8Array(content.buffer, content.byteOffset, content.byteLength);
  return { bytes, source: { path, sha256 } };
}

function looksLikeText(bytes: Uint8Array): boolean {
  for (let i = 0; i < Math.min(bytes.length, 64); i++) {
    const b = bytes[i];
    if (b !== 0x0a && b !== 0x0d && b !== 0x09 && (b < 0x20 || b > 0x7e)) return false;
  }
  return true;
}

function magicText(magic: number): string {
  return `0x${magic.toString(16).padStart(8, '0')}`;
}

function readU32(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offset, false);
}

export interface IdxImages {
  readonly n: number;
  readonly rows: number;
  readonly cols: number;
  /** n * rows * cols bytes; a view into the file's bytes (no copy). */
  readonly data: Uint8Array;
}

/** Parses an IDX3 unsigned-byte image file; `file` names it in errors. */
export function parseIdxImages(bytes: Uint8Array, file: string): IdxImages {
  if (bytes.length < 16) throw new DataError(`${file}: truncated IDX image file (${bytes.length} bytes)`);
  const magic = readU32(bytes, 0);
  if (magic !== IDX_IMAGES_MAGIC) {
    throw new DataError(
      `${file}: not an IDX image file (magic ${magicText(magic)}, expected ${magicText(IDX_IMAGES_MAGIC)}: ` +
        `unsigned bytes, 3 dimensions)${looksLikeText(bytes) ? '; it looks like text: CSV files must be named *.csv' : ''}`,
    );
  }
  const n = readU32(bytes, 4);
  const rows = readU32(bytes, 8);
  const cols = readU32(bytes, 12);
  if (rows !== IMAGE_ROWS || cols !== IMAGE_COLS) {
    throw new DataError(`${file}: images are ${rows}x${cols}, expected ${IMAGE_ROWS}x${IMAGE_COLS}`);
  }
  const expected = 16 + n * rows * cols;
  if (bytes.length < expected) {
    throw new DataError(
      `${file}: truncated: header says ${n} images (${expected} bytes), file has ${bytes.length} bytes`,
    );
  }
  if (bytes.length > expected) {
    throw new DataError(
      `${file}: ${bytes.length - expected} unexpected trailing bytes after ${n} images of ${rows}x${cols}`,
    );
  }
  return { n, rows, cols, data: bytes.subarray(16, expected) };
}

/** Parses an IDX1 unsigned-byte label file; `file` names it in errors. */
export function parseIdxLabels(bytes: Uint8Array, file: string): Uint8Array {
  if (bytes.length < 8) throw new DataError(`${file}: truncated IDX label file (${bytes.length} bytes)`);
  const magic = readU32(bytes, 0);
  if (magic !== IDX_LABELS_MAGIC) {
    throw new DataError(
      `${file}: not an IDX label file (magic ${magicText(magic)}, expected ${magicText(IDX_LABELS_MAGIC)}: ` +
        'unsigned bytes, 1 dimension)',
    );
  }
  const n = readU32(bytes, 4);
  if (bytes.length < 8 + n) {
    throw new DataError(
      `${file}: truncated: header says ${n} labels (${8 + n} bytes), file has ${bytes.length} bytes`,
    );
  }
  if (bytes.length > 8 + n) {
    throw new DataError(`${file}: ${bytes.length - 8 - n} unexpected trailing bytes after ${n} labels`);
  }
  return bytes.subarray(8, 8 + n);
}

export interface LabelMapping {
  /** Added to every stored label to get the class index (EMNIST letters: -1, since they are stored 1..26). */
  readonly offset?: number;
  /** Number of classes; any label outside [0, numClasses) after the offset is an error. */
  readonly numClasses: number;
}

/** Returns class indices (a new array when an offset applies), checking every label is in range. */
export function mapLabels(
  raw: Uint8Array,
  mapping: LabelMapping,
  file: string,
  lineBase?: number,
): Uint8Array {
  const offset = mapping.offset ?? 0;
  const labels = offset === 0 ? raw : new Uint8Array(raw.length);
  const lo = -offset;
  const hi = mapping.numClasses - 1 - offset;
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i];
    if (v < lo || v > hi) {
      const where = lineBase === undefined ? `label #${i}` : `line ${lineBase + i}`;
      throw new DataError(
        `${file}: ${where} is ${v}, outside ${lo}..${hi} (${mapping.numClasses} classes for this dataset)`,
      );
    }
    if (offset !== 0) labels[i] = v + offset;
  }
  return labels;
}

/** Transposes every rows x cols image in place order into a new buffer (EMNIST stores images column-major). */
export function transposeImages(data: Uint8Array, rows: number, cols: number): Uint8Array {
  const out = new Uint8Array(data.length);
  const size = rows * cols;
  for (let base = 0; base < data.length; base += size) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out[base + c * rows + r] = data[base + r * cols + c];
    }
  }
  return out;
}

export interface LoadedImages {
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  readonly n: number;
  readonly rows: number;
  readonly cols: number;
  readonly sources: readonly DataSource[];
}

export interface IdxPairOptions extends LabelMapping {
  /** Transpose each image (EMNIST files hold them transposed). */
  readonly transpose?: boolean;
}

/** Loads an IDX image file and its label file, checking they agree. */
export async function loadIdxPair(
  imagesPath: string,
  labelsPath: string,
  options: IdxPairOptions,
): Promise<LoadedImages> {
  // Both reads run at once, but a failure is reported for the images file first, whichever rejects
  // first: the same bad input always gets the same message.
  const [imgRead, lblRead] = await Promise.allSettled([readDataFile(imagesPath), readDataFile(labelsPath)]);
  if (imgRead.status === 'rejected') throw imgRead.reason;
  if (lblRead.status === 'rejected') throw lblRead.reason;
  const imgFile = imgRead.value;
  const lblFile = lblRead.value;
  const img = parseIdxImages(imgFile.bytes, imagesPath);
  const rawLabels = parseIdxLabels(lblFile.bytes, labelsPath);
  if (rawLabels.length !== img.n) {
    throw new DataError(
      `${imagesPath} has ${img.n} images but ${labelsPath} has ${rawLabels.length} labels; ` +
        'they must be the same split',
    );
  }
  const labels = mapLabels(rawLabels, options, labelsPath);
  const images = options.transpose ? transposeImages(img.data, img.rows, img.cols) : img.data;
  return {
    images,
    labels,
    n: img.n,
    rows: img.rows,
    cols: img.cols,
    sources: [imgFile.source, lblFile.source],
  };
}

/**
 * The label file that goes with an image file by the usual naming:
 * `train-images-idx3-ubyte` → `train-labels-idx1-ubyte`, `train-images.idx3-ubyte` → `train-labels.idx1-ubyte`,
 * `emnist-letters-test-images-idx3-ubyte.gz` → `emnist-letters-test-labels-idx1-ubyte.gz`.
 */
export function labelsPathFor(imagesPath: string): string | undefined {
  const name = basename(imagesPath);
  const swapped = name.replace(/images/g, 'labels').replace(/idx3/g, 'idx1');
  return swapped === name ? undefined : `${dirname(imagesPath)}/${swapped}`;
}

function header(magic: number, dims: readonly number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, false);
  for (let i = 0; i < dims.length; i++) view.setUint32(4 + 4 * i, dims[i], false);
  return out;
}

export interface IdxWriteOptions {
  /** Gzip the file; defaults to true when the path ends in `.gz`. */
  readonly gzip?: boolean;
}

async function writeAtomic(
  path: string,
  parts: readonly Uint8Array[],
  options: IdxWriteOptions,
): Promise<void> {
  const joined = Buffer.concat(parts);
  const gzip = options.gzip ?? path.endsWith('.gz');
  await mkdir(dirname(path), { recursive: true });
  // Write then rename so a reader never sees a half-written file.
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, gzip ? gzipSync(joined) : joined);
  await rename(tmp, path);
}

/** Writes n images of rows x cols unsigned bytes as an IDX3 file. */
export async function writeIdxImages(
  path: string,
  images: Uint8Array,
  n: number,
  rows: number,
  cols: number,
  options: IdxWriteOptions = {},
): Promise<void> {
  if (images.length !== n * rows * cols) {
    throw new DataError(`writeIdxImages: ${images.length} bytes given for ${n} images of ${rows}x${cols}`);
  }
  await writeAtomic(path, [header(IDX_IMAGES_MAGIC, [n, rows, cols]), images], options);
}

/** Writes labels (unsigned bytes) as an IDX1 file. */
export async function writeIdxLabels(
  path: string,
  labels: Uint8Array,
  options: IdxWriteOptions = {},
): Promise<void> {
  await writeAtomic(path, [header(IDX_LABELS_MAGIC, [labels.length]), labels], options);
}
