import { createHash } from 'node:crypto';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { type Stroke, strokesToMnist } from '../preprocess/index.js';
import { DataError, type ImageDataset, LETTER_CLASSES } from './dataset.js';
import { loadDataset } from './datasets.js';
import { useTempDir } from './test-helpers.js';
import {
  isHeldOutWriter,
  parseUnipen,
  UNIPEN_FILES,
  type UnipenSample,
  unipenRenderOptions,
} from './unipen.js';
import {
  buildUnipenDataset,
  classIndex,
  orderTraining,
  UNIPEN_PROJECT_DIR,
  unipenDir,
} from './unipen-dataset.js';

// Small slices of the real UNIPEN files (8 writers each, 3 of them held out, plus 3 suspect samples).
const FIXTURES = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'letters');
const tempDir = useTempDir();

async function fixtureSamples(part: keyof typeof UNIPEN_FILES): Promise<UnipenSample[]> {
  const file = join(FIXTURES, UNIPEN_FILES[part]);
  return parseUnipen(await readFile(file), file);
}

function imageAt(ds: ImageDataset, i: number): Uint8Array {
  return ds.images.subarray(i * 784, (i + 1) * 784);
}

function indexOfImage(ds: ImageDataset, image: Uint8Array): number {
  for (let i = 0; i < ds.n; i++) if (Buffer.compare(imageAt(ds, i), image) === 0) return i;
  return -1;
}

function labelCounts(labels: ArrayLike<number>, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

describe('letters from UNIPEN', () => {
  it('folds case into 26 classes and splits by held-out writer', async () => {
    const samples = [...(await fixtureSamples('upper')), ...(await fixtureSamples('lower'))].filter(
      (s) => !s.suspect,
    );
    const ds = await buildUnipenDataset({ dir: FIXTURES, kind: 'letters', cacheDir: false });
    expect(ds.train.classes).toEqual(LETTER_CLASSES);
    expect(classIndex('letters', 'A')).toBe(0);
    expect(classIndex('letters', 'a')).toBe(0);
    expect(classIndex('letters', 'Z')).toBe(25);
    expect(classIndex('letters', '7')).toBe(-1);

    const heldOut = samples.filter((s) => isHeldOutWriter(s.source, s.writer));
    const rest = samples.filter((s) => !isHeldOutWriter(s.source, s.writer));
    expect(heldOut.length).toBeGreaterThan(0);
    expect(ds.test.n).toBe(heldOut.length);
    expect(ds.train.n).toBe(rest.length);
    const expectedCounts = (xs: UnipenSample[]) =>
      labelCounts(
        xs.map((s) => LETTER_CLASSES.indexOf(s.label.toLowerCase())),
        26,
      );
    expect(labelCounts(ds.test.labels, 26)).toEqual(expectedCounts(heldOut));
    expect(labelCounts(ds.train.labels, 26)).toEqual(expectedCounts(rest));
    // Both cases occur in the fixture, under one class each.
    expect(samples.some((s) => s.label === s.label.toUpperCase())).toBe(true);
    expect(samples.some((s) => s.label === s.label.toLowerCase())).toBe(true);

    // Every held-out sample is in test with its folded label, and none of them is in train.
    for (const s of heldOut) {
      const image = strokesToMnist(s.strokes as Stroke[], unipenRenderOptions(s));
      const i = indexOfImage(ds.test, image);
      expect(i).toBeGreaterThanOrEqual(0);
      expect(ds.test.labels[i]).toBe(LETTER_CLASSES.indexOf(s.label.toLowerCase()));
      expect(indexOfImage(ds.train, image)).toBe(-1);
    }
    expect(ds.stats.test.writers).toBe(new Set(heldOut.map((s) => `${s.source}/${s.writer}`)).size);
    expect(ds.stats.droppedSuspect).toBe(6);
  });

  it('scales each axis by its own points-per-inch', async () => {
    const aga = (await fixtureSamples('upper')).filter(
      (s) => s.pointsPerInch[0] !== s.pointsPerInch[1] && !s.suspect,
    );
    expect(aga.length).toBeGreaterThan(0);
    const ds = await buildUnipenDataset({ dir: FIXTURES, kind: 'letters', cacheDir: false });
    let differs = 0;
    for (const s of aga) {
      const split = isHeldOutWriter(s.source, s.writer) ? ds.test : ds.train;
      const perAxis = strokesToMnist(s.strokes as Stroke[], {
        scale: [1 / s.pointsPerInch[0], 1 / s.pointsPerInch[1]],
      });
      expect(indexOfImage(split, perAxis)).toBeGreaterThanOrEqual(0);
      const uniform = strokesToMnist(s.strokes as Stroke[]);
      if (Buffer.compare(uniform, perAxis) !== 0) differs++;
    }
    // The x/y resolutions differ by 14 %: most shapes render visibly differently when ignored.
    expect(differs).toBeGreaterThan(aga.length / 2);
  });

  it('keeps suspect samples when asked', async () => {
    const kept = await buildUnipenDataset({
      dir: FIXTURES,
      kind: 'letters',
      dropSuspect: false,
      cacheDir: false,
    });
    const dropped = await buildUnipenDataset({ dir: FIXTURES, kind: 'letters', cacheDir: false });
    expect(kept.train.n + kept.test.n).toBe(dropped.train.n + dropped.test.n + 6);
    expect(kept.stats.droppedSuspect).toBe(0);
  });

  it('puts whole writers at the end of the training data for the validation tail', async () => {
    const samples = (await fixtureSamples('lower')).filter(
      (s) => !s.suspect && !isHeldOutWriter(s.source, s.writer),
    );
    const ordered = orderTraining(samples).ordered.map((d) => d.sample);
    const { tailWriters } = orderTraining(samples);
    expect(ordered).toHaveLength(samples.length);
    const key = (s: UnipenSample) => `${s.source}/${s.writer}`;
    const tailStart = ordered.findIndex((s) => tailWriters.has(key(s)));
    expect(tailStart).toBeGreaterThan(0);
    // Nothing of a tail writer before the tail, nothing else inside it.
    expect(ordered.slice(0, tailStart).every((s) => !tailWriters.has(key(s)))).toBe(true);
    expect(ordered.slice(tailStart).every((s) => tailWriters.has(key(s)))).toBe(true);
    expect(ordered.length - tailStart).toBeGreaterThanOrEqual(Math.round(samples.length * 0.1));
    // Deterministic, and shuffled (the fixture file is grouped by writer).
    expect(orderTraining(samples).ordered.map((d) => d.sample.id)).toEqual(ordered.map((s) => s.id));
    const head = ordered.slice(0, tailStart);
    const switches = head.filter((s, i) => i > 0 && key(s) !== key(head[i - 1])).length;
    expect(switches).toBeGreaterThan(head.length / 3);
  });

  it('adds stroke-augmented copies on their writer side of the validation boundary', async () => {
    const plain = await buildUnipenDataset({ dir: FIXTURES, kind: 'letters', cacheDir: false });
    const aug = await buildUnipenDataset({
      dir: FIXTURES,
      kind: 'letters',
      cacheDir: false,
      strokeCopies: 2,
    });
    // Every training drawing three times (as written + 2 variants), the validation tail too; test untouched.
    expect(aug.train.n).toBe(3 * plain.train.n);
    expect(aug.stats.validationTail.samples).toBe(3 * plain.stats.validationTail.samples);
    expect(Buffer.compare(aug.test.images, plain.test.images)).toBe(0);
    const count = (labels: Uint8Array) => {
      const c = new Array(26).fill(0);
      for (const l of labels) c[l]++;
      return c;
    };
    expect(count(aug.train.labels)).toEqual(count(plain.train.labels).map((x) => 3 * x));
    // The variants differ from the originals: fewer exact duplicate images than drawings.
    const images = new Set<string>();
    for (let i = 0; i < aug.train.n; i++) {
      images.add(Buffer.from(aug.train.images.subarray(i * 784, (i + 1) * 784)).toString('base64'));
    }
    expect(images.size).toBeGreaterThan(2.9 * plain.train.n);
    // Reproducible: same options, same pixels.
    const again = await buildUnipenDataset({
      dir: FIXTURES,
      kind: 'letters',
      cacheDir: false,
      strokeCopies: 2,
    });
    expect(Buffer.compare(again.train.images, aug.train.images)).toBe(0);
    await expect(
      buildUnipenDataset({ dir: FIXTURES, kind: 'letters', cacheDir: false, strokeCopies: -1 }),
    ).rejects.toThrow(/stroke copies/);
  });

  it('caches the rendered arrays and reads them back on the second load', async () => {
    const cacheDir = await tempDir();
    const first = await buildUnipenDataset({ dir: FIXTURES, kind: 'letters', cacheDir });
    expect(first.cacheHit).toBe(false);
    expect(first.cachePath?.startsWith(cacheDir)).toBe(true);
    const second = await buildUnipenDataset({ dir: FIXTURES, kind: 'letters', cacheDir });
    expect(second.cacheHit).toBe(true);
    expect(second.cachePath).toBe(first.cachePath);
    for (const split of ['train', 'test'] as const) {
      expect(second[split].n).toBe(first[split].n);
      expect(Buffer.compare(second[split].images, first[split].images)).toBe(0);
      expect(Buffer.compare(second[split].labels, first[split].labels)).toBe(0);
      expect(second[split].sources).toEqual(first[split].sources);
    }
    expect(second.stats).toEqual(first.stats);
    // Other options key a different file; a truncated cache is re-rendered, not trusted.
    const keep = await buildUnipenDataset({ dir: FIXTURES, kind: 'letters', cacheDir, dropSuspect: false });
    expect(keep.cacheHit).toBe(false);
    expect(keep.cachePath).not.toBe(first.cachePath);
    await truncate(first.cachePath as string, 100);
    const third = await buildUnipenDataset({ dir: FIXTURES, kind: 'letters', cacheDir });
    expect(third.cacheHit).toBe(false);
    expect(Buffer.compare(third.train.images, first.train.images)).toBe(0);
  });

  it('keys the cache on the source files', async () => {
    const cacheDir = await tempDir();
    const dir = await tempDir();
    for (const part of ['upper', 'lower'] as const) {
      await writeFile(join(dir, UNIPEN_FILES[part]), await readFile(join(FIXTURES, UNIPEN_FILES[part])));
    }
    const a = await buildUnipenDataset({ dir, kind: 'letters', cacheDir });
    const lower = (await fixtureSamples('lower')).slice(0, 20);
    await writeFile(join(dir, UNIPEN_FILES.lower), lower.map((s) => JSON.stringify(s)).join('\n'));
    const b = await buildUnipenDataset({ dir, kind: 'letters', cacheDir });
    expect(b.cacheHit).toBe(false);
    expect(b.train.n + b.test.n).toBeLessThan(a.train.n + a.test.n);
  });
});

describe('registered datasets', () => {
  // The rendered-data cache of each test in a folder of its own (HWR_CACHE_DIR at the CLI).
  let fixtures: { dataDir: string; cacheRoot: string };
  beforeEach(async () => {
    fixtures = { dataDir: FIXTURES, cacheRoot: await tempDir() };
  });

  it("loads 'letters' and 'unipen-digits' through loadDataset with --data-dir", async () => {
    const letters = await loadDataset('letters', fixtures);
    expect(letters.train.classes).toHaveLength(26);
    expect(letters.train.n).toBeGreaterThan(letters.test.n);
    expect(letters.test.n).toBeGreaterThan(0);
    const digits = await loadDataset('unipen-digits', fixtures);
    expect(digits.train.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const samples = (await fixtureSamples('digits')).filter((s) => !s.suspect);
    expect(digits.train.n + digits.test.n).toBe(samples.length);
  });

  it("'mnist+unipen-digits' trains on MNIST and the pen digits outside the validation tail, tests on MNIST", async () => {
    const joined = await loadDataset('mnist+unipen-digits', fixtures);
    const mnist = await loadDataset('mnist');
    const unipen = await loadDataset('unipen-digits', fixtures);
    const built = await buildUnipenDataset({
      dir: FIXTURES,
      kind: 'digits',
      dropSuspect: true,
      strokeCopies: 0,
    });
    const tail = built.stats.validationTail.samples;
    const head = unipen.train.n - tail;
    expect(tail).toBeGreaterThan(0);
    expect(joined.test.n).toBe(mnist.test.n);
    expect(Buffer.compare(joined.test.images, mnist.test.images)).toBe(0);
    expect(joined.train.n).toBe(mnist.train.n + head);
    const sum = (a: number[], b: number[]) => a.map((x, i) => x + b[i]);
    expect(labelCounts(joined.train.labels, 10)).toEqual(
      sum(labelCounts(mnist.train.labels, 10), labelCounts(unipen.train.labels.subarray(0, head), 10)),
    );
    // The UNIPEN training drawings are in, with their labels, spread over the whole set; the validation
    // tail's writers (the fusion weights are fitted on them) and the held-out ones are not.
    const positions = [];
    for (let i = 0; i < head; i++) {
      const j = indexOfImage(joined.train, imageAt(unipen.train, i));
      expect(j).toBeGreaterThanOrEqual(0);
      expect(joined.train.labels[j]).toBe(unipen.train.labels[i]);
      positions.push(j);
    }
    expect(Math.max(...positions) - Math.min(...positions)).toBeGreaterThan(joined.train.n / 2);
    for (let i = head; i < unipen.train.n; i++)
      expect(indexOfImage(joined.train, imageAt(unipen.train, i))).toBe(-1);
    for (let i = 0; i < unipen.test.n; i++)
      expect(indexOfImage(joined.train, imageAt(unipen.test, i))).toBe(-1);
    expect(joined.train.sources.length).toBe(mnist.train.sources.length + unipen.train.sources.length);
  });

  it('keepSuspect (HWR_UNIPEN_SUSPECT=keep) keeps flagged samples', async () => {
    const kept = await loadDataset('unipen-digits', { ...fixtures, keepSuspect: true });
    expect(kept.train.n + kept.test.n).toBe((await fixtureSamples('digits')).length);
  });

  it('reads the copy the project carries (datasets/unipen) when no --data-dir or HWR_DATA_DIR is given', async () => {
    expect(unipenDir({})).toBe(UNIPEN_PROJECT_DIR);
    // The carried files are the ones datasets/unipen/README.md lists (name and md5).
    const readme = await readFile(join(UNIPEN_PROJECT_DIR, 'README.md'), 'utf8');
    for (const name of Object.values(UNIPEN_FILES)) {
      const md5 = createHash('md5')
        .update(await readFile(join(UNIPEN_PROJECT_DIR, name)))
        .digest('hex');
      expect(readme).toContain(`| ${name} | `);
      expect(readme).toContain(` | ${md5} | `);
    }
    const digits = await loadDataset('unipen-digits', { cacheRoot: fixtures.cacheRoot });
    expect(digits.train.sources.map((s) => s.path)).toEqual([join(UNIPEN_PROJECT_DIR, UNIPEN_FILES.digits)]);
    // 8679 samples in the file (README), minus the ones flagged suspect, split by writer.
    expect(digits.train.n + digits.test.n).toBeGreaterThan(8000);
    expect(digits.train.n + digits.test.n).toBeLessThanOrEqual(8679);
    expect(digits.test.n).toBeGreaterThan(500);
  });

  it('names the missing file in a DataError', async () => {
    const dir = await tempDir();
    const err = await loadDataset('letters', { dataDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toContain(UNIPEN_FILES.upper);
    expect((err as Error).message).toContain('--data-dir');
  });
});
