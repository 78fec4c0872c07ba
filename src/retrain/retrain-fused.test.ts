import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIGIT_CLASSES } from '../data/dataset.js';
import { loadUnipenStrokes } from '../data/unipen-strokes.js';
import { evaluateParts } from '../eval/fused.js';
import { disposeLoaded, type LoadedPart, loadModel, readMetadata } from '../model/io.js';
import { verifyModelDir } from '../model/verify.js';
import { type Stroke, strokesToMnist } from '../preprocess/index.js';
import { FeedbackStore } from '../store/feedback-store.js';
import { currentVersion } from '../store/store.js';
import { loadFeedback, splitHoldout } from './feedback.js';
import { partAnswers, renderDrawings } from './fused-answers.js';
import type { GateDecision } from './gate.js';
import { type RetrainOptions, retrain } from './retrain.js';
import { spread, strokePartOf } from './stroke-finetune.js';

// The shipped fused digits model (image CNN + stroke part) fine-tuned from corrections of a writer
// style it misreads: UNIPEN fixture digits written narrow and slanted, 100 stored with their strokes
// (as the page sends them) and 20 as pixels. Small replays, 300 test images, 300 validation-writer
// drawings (the project's UNIPEN copy), one epoch per part.

type Strokes = [number, number][][];
const slanted = (strokes: Strokes): Stroke[] => {
  const ymax = Math.max(...strokes.flat().map((p) => p[1]));
  return strokes.map((s) => s.map(([x, y]) => [x * 0.4 + 1.1 * (ymax - y), y] as const));
};
const fixture = (
  JSON.parse(readFileSync('test/fixtures/strokes/digits.json', 'utf8')) as {
    samples: { label: string; strokes: Strokes }[];
  }
).samples;
const TEST_LIMIT = 300;

let root: string;
const modelDir = () => join(root, 'models', 'digits');
const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

function options(out: string, over: Partial<RetrainOptions> = {}): RetrainOptions {
  return {
    base: modelDir(),
    feedback: join(root, 'data'),
    out: join(root, out),
    epochs: 1,
    replay: 300,
    strokeReplay: 200,
    testLimit: TEST_LIMIT,
    seed: 3,
    promote: true,
    // One drawing is 0.33 points of 300: a tolerance of one point lets the McNemar test judge.
    gate: { tolerance: 0.01 },
    ...over,
  };
}

beforeAll(async () => {
  process.env.HWR_THREADS = '1';
  root = await mkdtemp(join(tmpdir(), 'hwr-retrain-fused-'));
  await cp('models/digits', modelDir(), { recursive: true });
  const store = new FeedbackStore(join(root, 'data'));
  fixture
    .filter((_, i) => i % 5 === 0)
    .forEach((s, i) => {
      const strokes = slanted(s.strokes);
      const asStrokes = i % 6 !== 0; // 100 drawn as strokes, 20 sent as pixels
      store.add({
        pixels: strokesToMnist(strokes),
        inputKind: asStrokes ? 'strokes' : 'pixels',
        rawInput: asStrokes ? strokes : Array.from(strokesToMnist(strokes)),
        label: s.label,
        modelName: 'digits',
        modelVersion: 'shipped',
        classes: DIGIT_CLASSES,
      });
    });
  store.close();
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('retrain of a fused model', () => {
  it('a rejected candidate leaves the served model untouched', async () => {
    const before = await sha256(join(modelDir(), 'strokes', 'weights.bin'));
    const shippedVersion = (await readMetadata(modelDir())).version;
    // A gain of more than 100 points on the held-out feedback is impossible: the gate must reject.
    const r = await retrain(options('rejected', { gate: { tolerance: 0.01, minFeedbackGain: 1 } }));
    expect(r.gate?.passed).toBe(false);
    expect(r.promoted).toBeUndefined();
    expect(r.gate?.checks.find((c) => c.startsWith('FAIL'))).toMatch(/held-out feedback/);
    // Still the plain directory as shipped: no store was made, no file changed.
    expect(currentVersion(modelDir())).toBeNull();
    expect(existsSync(join(modelDir(), 'v0001'))).toBe(false);
    expect(await sha256(join(modelDir(), 'strokes', 'weights.bin'))).toBe(before);
    expect((await readMetadata(modelDir())).version).toBe(shippedVersion);
  }, 120_000);

  it('fine-tunes both parts on the corrections, gates on the fused answers, promotes a verified version', async () => {
    const result = await retrain(options('promoted'));
    const gate = result.gate as GateDecision;
    console.log([...gate.notes, ...gate.checks].join('\n'));
    expect(gate.passed).toBe(true);
    expect(result.promoted).toBe('v0002');
    const base = await loadModel(join(modelDir(), 'v0001'));
    const cand = await loadModel(join(modelDir(), 'v0002'));
    try {
      // The promoted directory verifies, and its metadata records the hashes of both parts' files.
      await verifyModelDir(cand.dir);
      const meta = cand.metadata;
      expect(meta.weights?.sha256).toBe(await sha256(join(cand.dir, 'weights.bin')));
      expect(meta.parts?.strokes.weights?.sha256).toBe(
        await sha256(join(cand.dir, 'strokes', 'weights.bin')),
      );
      // Both parts changed; the fusion weights are the base's.
      expect(meta.weights?.sha256).not.toBe(base.metadata.weights?.sha256);
      expect(meta.parts?.strokes.weights?.sha256).not.toBe(base.metadata.parts?.strokes.weights?.sha256);
      expect(meta.fusion?.weights).toEqual(base.metadata.fusion?.weights);
      expect(meta.parentVersion).toBe('v0001');

      // Seeded: the rejected run (same settings, same base) trained the very same stroke part.
      const rejected = await readMetadata(join(root, 'rejected'));
      expect(rejected.parts?.strokes.weights?.sha256).toBe(meta.parts?.strokes.weights?.sha256);

      // The stroke part learnt the corrections it was trained on.
      const fb = await loadFeedback(join(root, 'data'), 'digits', DIGIT_CLASSES);
      const split = splitHoldout(fb.data, 0.2);
      const trainSet = renderDrawings(
        split.train.flatMap((i) =>
          fb.strokes[i] ? [{ strokes: fb.strokes[i], label: fb.data.labels[i] }] : [],
        ),
      );
      const weights = meta.fusion?.weights as { image: number; strokes: number };
      const acc = (v: boolean[]) => v.filter(Boolean).length / v.length;
      const strokesOn = (m: typeof base) =>
        acc(partAnswers(m, strokePartOf(m.parts) as LoadedPart, trainSet, weights).strokes);
      console.log(
        `stroke part on its ${trainSet.labels.length} training corrections: ${strokesOn(base)} -> ${strokesOn(cand)}`,
      );
      expect(strokesOn(cand)).toBeGreaterThan(strokesOn(base));

      // The gate's figures are the fused answers, as `hwr evaluate` computes them on the same drawings.
      const data = await loadUnipenStrokes('datasets/unipen', 'digits');
      const set = {
        name: 'validation',
        drawings: spread(data.validation, TEST_LIMIT).map((s) => s.strokes),
        labels: Uint8Array.from(spread(data.validation, TEST_LIMIT), (s) => s.label),
      };
      const [b, c] = [await evaluateParts(base, set), await evaluateParts(cand, set)];
      const [validation, heldOut] = gate.fused?.sets ?? [];
      expect(validation.base).toEqual({ image: b.image, strokes: b.strokes, fused: b.fused });
      expect(validation.candidate).toEqual({ image: c.image, strokes: c.strokes, fused: c.fused });
      expect(gate.fused?.validation).toMatchObject({ baseAccuracy: b.fused, candidateAccuracy: c.fused });
      // Held-out feedback as served: the stroke corrections answered fused, the pixel ones by the CNN.
      const heldOutStrokes = split.holdout.filter((i) => fb.strokes[i]).length;
      expect(heldOut.samples).toBe(heldOutStrokes);
      expect(gate.feedback.samples).toBe(split.holdout.length);
      expect(heldOutStrokes).toBeLessThan(split.holdout.length);
      expect(meta.fusion?.accuracy?.validation).toBe(c.fused);
    } finally {
      disposeLoaded(base);
      disposeLoaded(cand);
    }
  }, 120_000);
});
