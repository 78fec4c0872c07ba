import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataError, DIGIT_CLASSES, range, subset } from '../data/dataset.js';
import { mnistSlice, useTempDir } from '../data/test-helpers.js';
import { PIXELS } from '../model/infer.js';
import { exportFeedback } from '../serve/export.js';
import { FEEDBACK_DB_FILE, FeedbackStore } from '../store/feedback-store.js';
import { SqliteDatabase } from '../store/sqlite-database.js';
import { FEEDBACK_FROM_DATABASE, loadFeedback, splitHoldout } from './feedback.js';

const tempDir = useTempDir();

async function seededDb(dir: string) {
  const mnist = await mnistSlice(20);
  const store = new FeedbackStore(dir);
  const add = (i: number, label: string, model = 'digits') =>
    store.add({
      pixels: mnist.images.subarray(i * PIXELS, (i + 1) * PIXELS),
      inputKind: 'pixels',
      rawInput: null,
      label,
      modelName: model,
      modelVersion: 'v1',
      classes: model === 'digits' ? DIGIT_CLASSES : ['a', 'b'],
    });
  for (let i = 0; i < 20; i++) add(i, String(mnist.labels[i]));
  add(0, String(mnist.labels[0])); // exact duplicate
  add(1, String(mnist.labels[1])); // exact duplicate
  add(2, String((mnist.labels[2] + 1) % 10)); // same drawing, another label: kept, counted
  add(3, 'a', 'letters'); // another model's feedback
  store.close();
  return mnist;
}

describe('loadFeedback', () => {
  it('reads the server database, drops duplicates and labels outside the classes', async () => {
    const dir = await tempDir();
    const mnist = await seededDb(dir);
    // A model that only knows 0-4: the other digits are outside its classes.
    const classes = ['0', '1', '2', '3', '4'];
    const { data, summary } = await loadFeedback(dir, 'digits', classes);
    const inRange = Array.from(mnist.labels).filter((y) => y < 5).length;
    const extraInRange = (mnist.labels[0] < 5 ? 1 : 0) + (mnist.labels[1] < 5 ? 1 : 0);
    expect(summary.rows).toBe(23);
    expect(summary.duplicates).toBe(extraInRange);
    expect(summary.used).toBe(inRange + ((mnist.labels[2] + 1) % 10 < 5 ? 1 : 0));
    expect(summary.outsideClasses).toBe(23 - summary.used - summary.duplicates);
    expect(data.n).toBe(summary.used);
    expect(data.classes).toEqual(classes);
    expect(Math.max(...data.labels)).toBeLessThan(5);
    expect(summary.kind).toBe('sqlite');

    // The database file itself works too, and the full class list keeps the conflicting pair.
    const all = await loadFeedback(join(dir, FEEDBACK_DB_FILE), 'digits', DIGIT_CLASSES);
    expect(all.summary).toMatchObject({ used: 21, duplicates: 2, outsideClasses: 0, conflicting: 1 });
  });

  it('--feedback database reads the rows of the database the caller opened, and names the variable without one', async () => {
    const dir = await tempDir();
    await seededDb(dir);
    // The SQLite implementation of the storage interface stands for PostgreSQL's: same HwrDatabase calls.
    const db = SqliteDatabase.open(dir);
    try {
      const { summary } = await loadFeedback(FEEDBACK_FROM_DATABASE, 'digits', DIGIT_CLASSES, db);
      expect(summary).toMatchObject({ kind: 'postgres', rows: 23, used: 21, duplicates: 2 });
      await expect(loadFeedback(FEEDBACK_FROM_DATABASE, 'nobody', DIGIT_CLASSES, db)).rejects.toThrow(
        /no feedback for model "nobody".*models with feedback: /,
      );
    } finally {
      await db.close();
    }
    await expect(loadFeedback(FEEDBACK_FROM_DATABASE, 'digits', DIGIT_CLASSES)).rejects.toThrow(
      /needs HWR_DATABASE_URL/,
    );
  });

  it('keeps the pen strokes of corrections drawn as strokes, aligned with the samples', async () => {
    const dir = await tempDir();
    const drawing = [
      [
        [10, 10],
        [40, 80],
      ],
      [
        [5, 40],
        [50, 40],
      ],
    ];
    const store = new FeedbackStore(dir);
    const add = (inputKind: 'pixels' | 'strokes', rawInput: unknown, label: string, fill: number) =>
      store.add({
        pixels: new Uint8Array(PIXELS).fill(fill),
        inputKind,
        rawInput,
        label,
        modelName: 'digits',
        modelVersion: 'v1',
        classes: DIGIT_CLASSES,
      });
    add('pixels', null, '1', 1);
    add('strokes', drawing, '4', 2);
    add('strokes', 'not strokes', '7', 3); // a raw input that does not parse: used for the CNN only
    store.close();
    const fb = await loadFeedback(dir, 'digits', DIGIT_CLASSES);
    expect(fb.summary).toMatchObject({ used: 3, withStrokes: 1 });
    expect(Array.from(fb.data.labels)).toEqual([1, 4, 7]);
    expect(fb.strokes).toEqual([undefined, drawing, undefined]);
  });

  it('reads an exported dataset folder the same way', async () => {
    const dir = await tempDir();
    await seededDb(dir);
    const out = join(dir, 'export');
    await exportFeedback({ dataDir: dir, out, model: 'digits', format: 'idx' });
    const fromDb = await loadFeedback(dir, 'digits', DIGIT_CLASSES);
    const fromFolder = await loadFeedback(out, 'digits', DIGIT_CLASSES);
    expect(fromFolder.summary.kind).toBe('folder');
    expect(fromFolder.summary.sha256).toBe(fromDb.summary.sha256);
    expect(fromFolder.data.labels).toEqual(fromDb.data.labels);
  });

  it('says clearly what is wrong with a bad source', async () => {
    const dir = await tempDir();
    await expect(loadFeedback(join(dir, 'nope'), 'digits', DIGIT_CLASSES)).rejects.toThrow(/no feedback at/);
    await expect(loadFeedback(dir, 'digits', DIGIT_CLASSES)).rejects.toThrow(/neither a feedback database/);
    await writeFile(join(dir, 'other.db'), 'SQLite format 3\0');
    await expect(loadFeedback(join(dir, 'other.db'), 'digits', DIGIT_CLASSES)).rejects.toThrow(
      /must be named feedback.sqlite/,
    );
    await seededDb(dir);
    await expect(loadFeedback(dir, 'fashion', DIGIT_CLASSES)).rejects.toThrow(
      /models with feedback: digits, letters/,
    );
    await expect(loadFeedback(dir, 'letters', DIGIT_CLASSES)).rejects.toThrow(DataError);
  });
});

describe('splitHoldout', () => {
  it('is deterministic, near the fraction, and stable when more feedback arrives', async () => {
    const ds = await mnistSlice(400);
    const a = splitHoldout(ds, 0.2);
    expect(splitHoldout(ds, 0.2)).toEqual(a);
    expect(a.train.length + a.holdout.length).toBe(400);
    expect(a.holdout.length).toBeGreaterThan(50);
    expect(a.holdout.length).toBeLessThan(110);
    // The first 300 samples land on the same side whether or not the last 100 exist.
    const part = splitHoldout(subset(ds, range(0, 300)), 0.2);
    expect(part.holdout).toEqual(a.holdout.filter((i) => i < 300));
    // Two samples: one each side, whatever the hashes.
    const two = splitHoldout(subset(ds, [0, 1]), 0.2);
    expect([two.train.length, two.holdout.length]).toEqual([1, 1]);
  });
});
