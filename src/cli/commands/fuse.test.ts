import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { range, subset } from '../../data/dataset.js';
import { loadSplit } from '../../data/datasets.js';
import { initBackend } from '../../engine/backend.js';
import { quickModel } from '../../eval/testing.js';
import { ModelMetadata } from '../../model/metadata.js';
import { buildProgram } from '../main.js';

// hwr train --arch strokes-conv, hwr fuse, hwr evaluate / compare on strokes, in process: a real image
// model (MNIST slice), a real stroke part trained on the UNIPEN slices in test/fixtures/letters.
const UNIPEN = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'letters');
let tmp: string;
let image: string;
let part: string;
let fused: string;

async function run(...args: string[]): Promise<string> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  await buildProgram()
    .exitOverride()
    .parseAsync(['node', 'hwr', ...args]);
  vi.restoreAllMocks();
  return out;
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 1 });
  tmp = await mkdtemp(join(tmpdir(), 'hwr-cli-fuse-'));
  image = join(tmp, 'image');
  part = join(tmp, 'part');
  fused = join(tmp, 'fused');
  await quickModel({
    train: subset(await loadSplit('mnist', 'train'), range(0, 600)),
    epochs: 2,
    dir: image,
  });
  await run(
    ...['train', '--arch', 'strokes-conv', '--dataset', 'unipen-digits', '--data-dir', UNIPEN],
    ...['--epochs', '4', '--batch-size', '8', '--points', '32', '--out', part],
  );
}, 120_000);

afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('hwr fuse', () => {
  it('writes a fused model: the image files byte for byte, the part in strokes/, fitted weights and figures', async () => {
    const out = await run(
      ...['fuse', '--model', image, '--part', part, '--dataset', 'unipen-digits'],
      ...['--data-dir', UNIPEN, '--out', fused],
    );
    expect(out).toMatch(/validation\s+\d+/);
    expect(out).toMatch(/fixture\s+600/);
    for (const f of ['model.json', 'weights.bin'])
      expect(Buffer.compare(readFileSync(join(fused, f)), readFileSync(join(image, f)))).toBe(0);
    const meta = ModelMetadata.parse(JSON.parse(readFileSync(join(fused, 'metadata.json'), 'utf8')));
    const strokes = meta.parts?.strokes;
    expect(strokes).toMatchObject({
      dir: 'strokes',
      input: 'strokes',
      arch: 'strokes-conv',
      features: { points: 32 },
    });
    expect(readFileSync(join(fused, 'strokes', 'weights.bin')).byteLength).toBe(strokes?.weights?.bytes);
    const fusion = meta.fusion;
    expect(fusion?.weights.image).toBeCloseTo(1 - (fusion?.weights.strokes ?? 0), 6);
    expect(Object.keys(fusion?.accuracy ?? {})).toEqual(['validation', 'test', 'fixture']);
    expect(fusion?.samples?.fixture).toBe(600);
    // The grid holds both parts alone (weights 0 and 1): the fitted fusion is at least as good as either on validation.
    const v = fusion?.accuracy?.validation ?? 0;
    expect(v).toBeGreaterThanOrEqual(fusion?.partAccuracy?.image.validation ?? 1);
    expect(v).toBeGreaterThanOrEqual(fusion?.partAccuracy?.strokes.validation ?? 1);
    expect(strokes?.testAccuracy).toBe(fusion?.partAccuracy?.strokes.test);
  });

  it('refuses a part whose classes differ from the model', async () => {
    const letters = join(tmp, 'letters-image');
    const train = subset(await loadSplit('mnist', 'train'), range(0, 100));
    await quickModel({ train: { ...train, classes: 'abcdefghij'.split('') }, epochs: 0, dir: letters });
    await expect(
      run(
        'fuse',
        '--model',
        letters,
        '--part',
        part,
        '--dataset',
        'unipen-digits',
        '--data-dir',
        UNIPEN,
        '--out',
        join(tmp, 'x'),
      ),
    ).rejects.toThrow(/classes/);
  });
});

describe('hwr evaluate / compare on a pen-stroke dataset', () => {
  it('reports each part and the fusion, agreeing with the figures fuse recorded', async () => {
    const out = await run('evaluate', '--model', fused, '--dataset', 'unipen-digits', '--data-dir', UNIPEN);
    const meta = ModelMetadata.parse(JSON.parse(readFileSync(join(fused, 'metadata.json'), 'utf8')));
    const pct = (x: number | undefined) => `${((x ?? 0) * 100).toFixed(2)}%`;
    expect(out).toContain(`image part    ${pct(meta.fusion?.partAccuracy?.image.test)}`);
    expect(out).toContain(`stroke part   ${pct(meta.fusion?.partAccuracy?.strokes.test)}`);
    expect(out).toContain(`fused         ${pct(meta.fusion?.accuracy?.test)}`);
  });

  it('compares the answers to strokes of a plain and a fused model with McNemar', async () => {
    const out = await run(
      'compare',
      '--model',
      image,
      '--model',
      fused,
      '--dataset',
      'unipen-digits',
      '--data-dir',
      UNIPEN,
    );
    expect(out).toMatch(/answers to strokes: McNemar p = [\d.e-]+ on \d+ drawings/);
  });
});
