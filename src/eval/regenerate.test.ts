import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { range, subset } from '../data/dataset.js';
import { loadSplit } from '../data/datasets.js';
import { initBackend } from '../engine/backend.js';
import type { LoadedModel } from '../model/io.js';
import { evaluateModel } from './evaluate.js';
import { regenerateReport, writeRegenerated } from './regenerate.js';
import { REPORT_FILES, writeReport } from './report.js';
import { quickModel } from './testing.js';

let loaded: LoadedModel;
let original: { json: string; html: string };

const mistakeImages = (html: string) =>
  [...html.matchAll(/<figure class="mistake"><img src="([^"]+)"/g)].map((m) => m[1]);
const read = (name: string) => readFile(join(loaded.dir, name), 'utf8');

beforeAll(async () => {
  await initBackend({ threads: 1 });
  loaded = await quickModel({ train: subset(await loadSplit('mnist', 'train'), range(0, 600)), epochs: 2 });
  // Published as publishModel does: the whole MNIST test split, the report beside the model.
  const result = evaluateModel(loaded, await loadSplit('mnist', 'test'), { datasetName: 'mnist test' });
  await writeReport(result, loaded.dir, { metadata: loaded.metadata });
  original = { json: await read(REPORT_FILES.json), html: await read(REPORT_FILES.html) };
}, 120_000);

afterAll(async () => {
  await rm(join(loaded.dir, '..'), { recursive: true, force: true });
});

describe('regenerateReport', () => {
  it('rebuilds the report from its stored figures: report.json unchanged, the same mistake pictures', async () => {
    const regenerated = await regenerateReport(loaded.dir);
    expect(regenerated.differences).toEqual([]);
    expect(regenerated.n).toBe(10_000);
    // The charts are drawn again (a stored SVG is not reused), the figures are the stored ones.
    await writeFile(join(loaded.dir, REPORT_FILES.html), 'old');
    await writeRegenerated(loaded.dir, regenerated);
    expect(await read(REPORT_FILES.json)).toBe(original.json);
    const html = await read(REPORT_FILES.html);
    expect(html).toContain('<h2>Confusion matrix</h2>');
    expect(mistakeImages(html)).toHaveLength(24);
    // The pictures come from the split at the stored indices, and are the ones the evaluation kept.
    expect(mistakeImages(html)).toEqual(mistakeImages(original.html));
    expect(html).toContain(`${(JSON.parse(original.json).accuracy * 100).toFixed(2)}`);
  });

  it('refuses a report of another version, of a partial split, or whose mistakes are not that split', async () => {
    const stored = JSON.parse(original.json);
    const tryWith = async (report: object) => {
      await writeFile(join(loaded.dir, REPORT_FILES.json), JSON.stringify(report));
      return regenerateReport(loaded.dir).catch((e: Error) => e.message);
    };
    try {
      expect(await tryWith({ ...stored, model: { ...stored.model, version: '9.9.9' } })).toMatch(
        /holds version 0\.0\.1, its report measured 9\.9\.9/,
      );
      expect(await tryWith({ ...stored, dataset: { ...stored.dataset, name: 'mnist test[0:300]' } })).toMatch(
        /not a whole "<dataset> test"/,
      );
      const [first, ...rest] = stored.mistakes;
      expect(
        await tryWith({ ...stored, mistakes: [{ ...first, label: (first.label + 1) % 10 }, ...rest] }),
      ).toMatch(new RegExp(`mistake #${first.index}: the split's label is ${first.label}`));
      expect(await tryWith({ ...stored, n: 300 })).toMatch(/is not the data the report measured/);
    } finally {
      await writeFile(join(loaded.dir, REPORT_FILES.json), original.json);
    }
    const regenerated = await regenerateReport(loaded.dir);
    await expect(writeRegenerated(loaded.dir, { ...regenerated, differences: ['logLoss'] })).rejects.toThrow(
      /logLoss of the rebuilt report.json differ from the stored one; nothing written/,
    );
  });
});
