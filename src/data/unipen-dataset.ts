import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PreprocessError, RENDERER_VERSION, type Stroke, strokesToMnist } from '../preprocess/index.js';
import { augmentStrokes, DEFAULT_STROKE_AUGMENT } from '../preprocess/stroke-augment.js';
import { isDir } from '../util/fs.js';
import { mulberry32 } from '../util/random.js';
import {
  DataError,
  type DatasetLoader,
  type DatasetOptions,
  DIGIT_CLASSES,
  type ImageDataset,
  LETTER_CLASSES,
  subset,
} from './dataset.js';
import {
  fnv1a,
  isHeldOutWriter,
  parseUnipen,
  UNIPEN_FILES,
  type UnipenPart,
  type UnipenSample,
  unipenRenderOptions,
} from './unipen.js';

/** Which UNIPEN characters a dataset holds: letters fold upper and lower case into 26 classes. */
export type UnipenKind = 'letters' | 'digits';

const PARTS: Record<UnipenKind, readonly UnipenPart[]> = { letters: ['upper', 'lower'], digits: ['digits'] };
const CLASSES: Record<UnipenKind, readonly string[]> = { letters: LETTER_CLASSES, digits: DIGIT_CLASSES };

/** The project's root: two levels above this file, from src/data as from dist/data. */
const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The UNIPEN files the project carries (datasets/unipen, CC BY 4.0: see its README). */
export const UNIPEN_PROJECT_DIR = join(PROJECT_ROOT, 'datasets', 'unipen');

/**
 * Share of the training split's samples put at its end, from whole writers: with the trainer's
 * default `--validation-split 0.1` the validation tail holds only writers it never trains on
 * (except at most the one writer straddling the boundary).
 */
export const VALIDATION_WRITER_FRACTION = 0.1;

/** Bumped when the way samples are chosen, ordered or stored changes (the renderer has its own version). */
const LAYOUT_VERSION = 1;

export interface UnipenDatasetOptions {
  /** Folder with the UNIPEN .ndjson.gz files (names in UNIPEN_FILES). */
  readonly dir: string;
  readonly kind: UnipenKind;
  /** Drop samples flagged `suspect` (likely label noise). Default true. */
  readonly dropSuspect?: boolean;
  /** Where rendered arrays are cached; false turns the disk cache off. Default: unipenCacheDir(). */
  readonly cacheDir?: string | false;
  /**
   * Stroke-augmented copies of every training sample (augmentStrokes with its defaults, seeded per
   * sample), rendered beside the original. Each copy stays on its writer's side of the validation
   * boundary, so `--validation-split 0.1` still validates on writers never trained on. Default 0.
   */
  readonly strokeCopies?: number;
}

export interface UnipenSplitStats {
  readonly samples: number;
  readonly writers: number;
}

export interface UnipenDataset {
  readonly train: ImageDataset;
  readonly test: ImageDataset;
  readonly stats: {
    readonly train: UnipenSplitStats;
    /** The writer-disjoint tail of `train` (VALIDATION_WRITER_FRACTION of it, whole writers). */
    readonly validationTail: UnipenSplitStats;
    readonly test: UnipenSplitStats;
    readonly droppedSuspect: number;
    /** Samples the renderer refused (e.g. no extent): counted, not fatal. */
    readonly unrenderable: number;
  };
  /** True when the rendered arrays came from the disk cache. */
  readonly cacheHit: boolean;
  readonly cachePath?: string;
}

/** `<cacheRoot>/unipen` (HWR_CACHE_DIR at the CLI), else `.cache/unipen` under the repository. */
export function unipenCacheDir(cacheRoot?: string): string {
  return join(cacheRoot ?? join(PROJECT_ROOT, '.cache'), 'unipen');
}

/** Folds case and maps a UNIPEN label to its class index, or -1 when it is not of this kind. */
export function classIndex(kind: UnipenKind, label: string): number {
  return CLASSES[kind].indexOf(kind === 'letters' ? label.toLowerCase() : label);
}

/** The one deterministic shuffle of the training samples. */
function shuffled<T>(items: T[], seed: number): T[] {
  const rand = mulberry32(seed);
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const writerKey = (s: UnipenSample) => `${s.source}/${s.writer}`;

/**
 * Orders the training samples: writers picked (in a fixed hash order) until they cover
 * VALIDATION_WRITER_FRACTION of the samples go last, each part shuffled once with a fixed seed, so
 * the trainer's validation tail is neither one source nor one writer, and mostly unseen writers.
 */
export function orderTraining(
  samples: UnipenSample[],
  copies = 0,
): {
  ordered: Drawing[];
  tailWriters: Set<string>;
} {
  const byWriter = new Map<string, number>();
  for (const s of samples) byWriter.set(writerKey(s), (byWriter.get(writerKey(s)) ?? 0) + 1);
  const writers = [...byWriter.keys()].sort(
    (a, b) => fnv1a(`val/${a}`) - fnv1a(`val/${b}`) || (a < b ? -1 : 1),
  );
  const target = Math.round(samples.length * VALIDATION_WRITER_FRACTION);
  const tailWriters = new Set<string>();
  let covered = 0;
  for (const w of writers) {
    if (covered >= target) break;
    tailWriters.add(w);
    covered += byWriter.get(w) ?? 0;
  }
  // Copy 0 is the sample as written; copies 1..n are stroke-augmented variants of it.
  const withCopies = (xs: UnipenSample[]): Drawing[] =>
    xs.flatMap((sample) => Array.from({ length: copies + 1 }, (_, copy) => ({ sample, copy })));
  const head = withCopies(samples.filter((s) => !tailWriters.has(writerKey(s))));
  const tail = withCopies(samples.filter((s) => tailWriters.has(writerKey(s))));
  return { ordered: [...shuffled(head, 1), ...shuffled(tail, 2)], tailWriters };
}

/** One drawing to render: a sample as written (copy 0) or its n-th stroke-augmented variant. */
export interface Drawing {
  readonly sample: UnipenSample;
  readonly copy: number;
}

function drawingPixels({ sample, copy }: Drawing): Uint8Array {
  const render = unipenRenderOptions(sample);
  if (copy === 0) return strokesToMnist(sample.strokes as Stroke[], render);
  const variant = augmentStrokes(
    sample.strokes as Stroke[],
    mulberry32(fnv1a(`${sample.id}/${copy}`)),
    DEFAULT_STROKE_AUGMENT,
    render,
  );
  return strokesToMnist(variant.strokes, variant.render);
}

interface Rendered {
  images: Uint8Array;
  labels: Uint8Array;
  n: number;
  unrenderable: number;
}

function render(kind: UnipenKind, drawings: readonly Drawing[]): Rendered {
  const images = new Uint8Array(drawings.length * 784);
  const labels = new Uint8Array(drawings.length);
  let n = 0;
  let unrenderable = 0;
  for (const d of drawings) {
    try {
      images.set(drawingPixels(d), n * 784);
    } catch (err) {
      if (!(err instanceof PreprocessError)) throw err;
      unrenderable++;
      continue;
    }
    labels[n++] = classIndex(kind, d.sample.label);
  }
  return { images: images.subarray(0, n * 784), labels: labels.subarray(0, n), n, unrenderable };
}

interface CacheHeader {
  readonly trainN: number;
  readonly testN: number;
  readonly stats: UnipenDataset['stats'];
}

/** Cache file: "HWRU" + uint32 header length + JSON header + train images, test images, train labels, test labels. */
async function readCache(path: string): Promise<{ header: CacheHeader; bytes: Uint8Array } | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch {
    return undefined;
  }
  if (bytes.length < 8 || Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== 'HWRU') return undefined;
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  try {
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + len)).toString('utf8')) as CacheHeader;
    const body = bytes.subarray(8 + len);
    if (body.length !== (header.trainN + header.testN) * 785) return undefined; // truncated: re-render
    return { header, bytes: body };
  } catch {
    return undefined;
  }
}

async function writeCache(path: string, header: CacheHeader, parts: Uint8Array[]): Promise<void> {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(8);
  head.write('HWRU', 0, 'latin1');
  head.writeUInt32LE(json.length, 4);
  await mkdir(dirname(path), { recursive: true });
  // Atomic: a concurrent or interrupted writer never leaves a half file under the final name.
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, Buffer.concat([head, json, ...parts]));
  await rename(tmp, path);
}

/**
 * Reads the UNIPEN files of `kind`, renders every sample through strokesToMnist (the page's own
 * preprocessing) with per-axis inch scaling, and splits by writer: test = isHeldOutWriter writers,
 * train = everyone else (ordered by orderTraining). Rendered arrays are cached on disk, keyed by the
 * files' sha256, the renderer version and these options.
 */
export async function buildUnipenDataset(options: UnipenDatasetOptions): Promise<UnipenDataset> {
  const { dir, kind } = options;
  const dropSuspect = options.dropSuspect ?? true;
  const strokeCopies = options.strokeCopies ?? 0;
  if (!Number.isInteger(strokeCopies) || strokeCopies < 0 || strokeCopies > 20) {
    throw new DataError(`stroke copies must be an integer from 0 to 20, got ${strokeCopies}`);
  }
  const files = PARTS[kind].map((p) => join(dir, UNIPEN_FILES[p]));
  const contents: Uint8Array[] = [];
  for (const f of files) {
    try {
      contents.push(await readFile(f));
    } catch (err) {
      throw new DataError(
        `UNIPEN ${kind}: cannot read ${f} (${(err as NodeJS.ErrnoException).code ?? err}); ` +
          'pass --data-dir with the UNIPEN .ndjson.gz files or set HWR_DATA_DIR (with a unipen/ folder)',
      );
    }
  }
  const sources = files.map((path, i) => ({
    path,
    sha256: createHash('sha256').update(contents[i]).digest('hex'),
  }));
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        kind,
        dropSuspect,
        // Only when on, so turning the option on left the existing caches' keys unchanged.
        ...(strokeCopies > 0 ? { strokeCopies, augment: DEFAULT_STROKE_AUGMENT } : {}),
        RENDERER_VERSION,
        LAYOUT_VERSION,
        sha: sources.map((s) => s.sha256),
      }),
    )
    .digest('hex')
    .slice(0, 24);
  const cacheDir = options.cacheDir === undefined ? unipenCacheDir() : options.cacheDir;
  const cachePath = cacheDir === false ? undefined : join(cacheDir, `${kind}-${key}.bin`);
  const classes = CLASSES[kind];
  const make = (images: Uint8Array, labels: Uint8Array, n: number): ImageDataset => ({
    images,
    labels,
    n,
    rows: 28,
    cols: 28,
    classes,
    sources,
  });

  if (cachePath) {
    const cached = await readCache(cachePath);
    if (cached) {
      const { header, bytes } = cached;
      const a = header.trainN * 784;
      const b = a + header.testN * 784;
      return {
        train: make(bytes.slice(0, a), bytes.slice(b, b + header.trainN), header.trainN),
        test: make(bytes.slice(a, b), bytes.slice(b + header.trainN), header.testN),
        stats: header.stats,
        cacheHit: true,
        cachePath,
      };
    }
  }

  const all = contents.flatMap((bytes, i) => parseUnipen(bytes, files[i]));
  let droppedSuspect = 0;
  const kept = all.filter((s) => {
    if (classIndex(kind, s.label) < 0) {
      throw new DataError(`${s.id}: label '${s.label}' is not one of the ${kind} classes`);
    }
    if (dropSuspect && s.suspect) {
      droppedSuspect++;
      return false;
    }
    return true;
  });
  const testSamples = kept.filter((s) => isHeldOutWriter(s.source, s.writer));
  const { ordered, tailWriters } = orderTraining(
    kept.filter((s) => !isHeldOutWriter(s.source, s.writer)),
    strokeCopies,
  );
  const train = render(kind, ordered);
  const test = render(
    kind,
    testSamples.map((sample) => ({ sample, copy: 0 })),
  );
  const writers = (xs: readonly UnipenSample[]) => new Set(xs.map(writerKey)).size;
  const stats: UnipenDataset['stats'] = {
    train: { samples: train.n, writers: writers(ordered.map((d) => d.sample)) },
    validationTail: {
      samples: ordered.filter((d) => tailWriters.has(writerKey(d.sample))).length,
      writers: tailWriters.size,
    },
    test: { samples: test.n, writers: writers(testSamples) },
    droppedSuspect,
    unrenderable: train.unrenderable + test.unrenderable,
  };
  if (cachePath) {
    await writeCache(cachePath, { trainN: train.n, testN: test.n, stats }, [
      train.images,
      test.images,
      train.labels,
      test.labels,
    ]);
  }
  return {
    train: make(train.images, train.labels, train.n),
    test: make(test.images, test.labels, test.n),
    stats,
    cacheHit: false,
    cachePath,
  };
}

/** --data-dir, else `<dataRoot>/unipen` (HWR_DATA_DIR), else the copy the project carries (datasets/unipen). */
export function unipenDir(options: Pick<DatasetOptions, 'dataDir' | 'dataRoot'>): string {
  if (options.dataDir) return options.dataDir;
  const root = options.dataRoot;
  if (root && isDir(join(root, 'unipen'))) return join(root, 'unipen');
  if (isDir(UNIPEN_PROJECT_DIR)) return UNIPEN_PROJECT_DIR;
  throw new DataError(
    `UNIPEN data not found: pass --data-dir with ${Object.values(UNIPEN_FILES).join(', ')} ` +
      '(or set HWR_DATA_DIR to a folder holding unipen/)',
  );
}

/**
 * A DatasetLoader for registerDataset. Both splits come from one build (loadDataset asks for train,
 * then test), so the files are read and rendered — or the cache read — once per process.
 */
const builds = new Map<string, Promise<UnipenDataset>>();

function cachedBuild(kind: UnipenKind, options: DatasetOptions): Promise<UnipenDataset> {
  const dir = unipenDir(options);
  const dropSuspect = !options.keepSuspect;
  const strokeCopies = options.strokeCopies ?? 0;
  const cacheDir = unipenCacheDir(options.cacheRoot);
  const id = `${kind}\u0000${dir}\u0000${dropSuspect}\u0000${strokeCopies}\u0000${cacheDir}`;
  let build = builds.get(id);
  if (!build) {
    build = buildUnipenDataset({ dir, kind, dropSuspect, strokeCopies, cacheDir });
    builds.set(id, build);
    build.catch(() => builds.delete(id));
  }
  return build;
}

/**
 * The training split without its validation tail: the writers the stroke part validates on and the
 * fusion weights are fitted on. A dataset that mixes rendered pen drawings into an image CNN's
 * training (mnist+unipen-digits) takes these, so that the tail writers stay unseen by both parts.
 */
export async function unipenTrainingHead(kind: UnipenKind, options: DatasetOptions): Promise<ImageDataset> {
  const built = await cachedBuild(kind, options);
  const headSize = built.train.n - built.stats.validationTail.samples;
  return subset(
    built.train,
    Array.from({ length: headSize }, (_, i) => i),
  );
}

export function unipenLoader(kind: UnipenKind): DatasetLoader {
  return async (split, options) => {
    if (options.train || options.test) {
      throw new DataError(
        `dataset '${unipenDatasetName(kind)}' reads UNIPEN files: use --data-dir, not --train/--test`,
      );
    }
    return (await cachedBuild(kind, options))[split];
  };
}

export function unipenDatasetName(kind: UnipenKind): string {
  return kind === 'letters' ? 'letters' : 'unipen-digits';
}
