import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { strokesToMnist } from '../preprocess/index.js';
import { DataError, DIGIT_CLASSES, LETTER_CLASSES } from './dataset.js';
import { isHeldOutWriter } from './unipen.js';
import { buildUnipenDataset } from './unipen-dataset.js';
import { loadUnipenStrokes, strokeDatasetKind } from './unipen-strokes.js';

// Small slices of the real UNIPEN files (8 writers each, 3 of them held out, plus suspect samples).
const FIXTURES = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'letters');

describe('loadUnipenStrokes', () => {
  it.each(['digits', 'letters'] as const)('splits %s by writer: no writer on two sides', async (kind) => {
    const d = await loadUnipenStrokes(FIXTURES, kind);
    expect(d.classes).toEqual(kind === 'digits' ? DIGIT_CLASSES : LETTER_CLASSES);
    const writers = (xs: { writer: string }[]) => new Set(xs.map((s) => s.writer));
    const [train, val, test] = [writers(d.train), writers(d.validation), writers(d.test)];
    expect(train.size).toBeGreaterThan(0);
    expect(val.size).toBeGreaterThan(0);
    expect(test.size).toBeGreaterThan(0);
    for (const w of val) expect(train.has(w)).toBe(false);
    for (const w of test) expect(train.has(w) || val.has(w)).toBe(false);
    for (const w of test)
      expect(isHeldOutWriter(w.split('/')[0], w.split('/').slice(1).join('/'))).toBe(true);
    expect(d.droppedSuspect).toBeGreaterThan(0);
  });

  it('holds the drawings the image dataset renders, in the same test order, in inches', async () => {
    const strokes = await loadUnipenStrokes(FIXTURES, 'digits');
    const images = await buildUnipenDataset({ dir: FIXTURES, kind: 'digits', cacheDir: false });
    expect(strokes.test.length).toBe(images.test.n);
    expect(strokes.train.length + strokes.validation.length).toBe(images.train.n);
    expect(strokes.validation.length).toBe(images.stats.validationTail.samples);
    for (let i = 0; i < strokes.test.length; i++) {
      expect(
        Buffer.compare(
          strokesToMnist(strokes.test[i].strokes),
          images.test.images.subarray(i * 784, (i + 1) * 784),
        ),
      ).toBe(0);
      expect(strokes.test[i].label).toBe(images.test.labels[i]);
    }
    // The validation writers are the image split's tail: its last samples, in the same order.
    const tail = images.train.n - strokes.validation.length;
    for (let i = 0; i < strokes.validation.length; i++)
      expect(
        Buffer.compare(
          strokesToMnist(strokes.validation[i].strokes),
          images.train.images.subarray((tail + i) * 784, (tail + i + 1) * 784),
        ),
      ).toBe(0);
  });

  it('says which file is missing', async () => {
    await expect(loadUnipenStrokes('/nonexistent', 'digits')).rejects.toThrow(DataError);
    await expect(loadUnipenStrokes('/nonexistent', 'digits')).rejects.toThrow(/unipen-1a-digits/);
  });

  it('maps dataset names to kinds', () => {
    expect(strokeDatasetKind('unipen-digits')).toBe('digits');
    expect(strokeDatasetKind('letters')).toBe('letters');
    expect(strokeDatasetKind('mnist')).toBeUndefined();
  });
});
