// Serving a fused model (a root image CNN plus a stroke part, metadata `parts` and `fusion`): loading
// and refusing it, fusion at request time on both threads, the HTTP answer, hot reload and the store.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { range, subset } from '../data/dataset.js';
import { loadSplit } from '../data/datasets.js';
import { fuseLogLinear } from '../model/fusion.js';
import { PIXELS } from '../model/infer.js';
import { disposeLoaded, loadModel, METADATA_FILE } from '../model/io.js';
import { verifyModelDir } from '../model/verify.js';
import { strokesToMnist } from '../preprocess/index.js';
import { strokeFeatures } from '../preprocess/stroke-features.js';
import { ModelStore } from '../store/store.js';
import { InferenceThread } from './inference-thread.js';
import { Predictor } from './predictor.js';
import { buildTestApp, saveTestModel, TEST_STROKE_FEATURES } from './testing.js';

type Strokes = [number, number][][];
const fixture = JSON.parse(readFileSync('test/fixtures/strokes/digits.json', 'utf8')) as {
  samples: { label: string; strokes: Strokes }[];
};
const drawings = fixture.samples.slice(0, 12).map((s) => s.strokes);
const FUSION = { image: 1, strokes: 0.6 };

let root: string;
let fusedDir: string;
let plainDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-fused-'));
  const mnist = await loadSplit('mnist', 'test');
  fusedDir = join(root, 'fused');
  plainDir = join(root, 'plain');
  await saveTestModel(fusedDir, { trainOn: subset(mnist, range(0, 1000)), strokes: { fusion: FUSION } });
  await saveTestModel(plainDir);
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** What the parts answer for one drawing, computed straight from the saved networks. */
async function expectedParts(dir: string, strokes: Strokes) {
  const loaded = await loadModel(dir);
  const predictor = new Predictor(loaded);
  const image = predictor.predictNow(strokesToMnist(strokes), 1);
  const f = strokeFeatures(strokes, TEST_STROKE_FEATURES);
  const part = loaded.parts[0].model;
  const y = tf.tidy(
    () =>
      part.predict([
        tf.tensor3d(f.seq, [1, TEST_STROKE_FEATURES.points, f.channels]),
        tf.tensor2d(f.side, [1, f.side.length]),
      ]) as tf.Tensor,
  );
  const strokesProbs = y.dataSync() as Float32Array;
  y.dispose();
  predictor.close();
  return { image, strokes: strokesProbs };
}

/** The parts' answers with their fusion weights, as fuseLogLinear takes them. */
const weighted = (parts: { image: Float32Array; strokes: Float32Array }) => [
  { probs: parts.image, weight: FUSION.image },
  { probs: parts.strokes, weight: FUSION.strokes },
];

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i], 5);
}

describe('loading a fused model directory', () => {
  it('loads the CNN and every listed part, with the weights hashes checked', async () => {
    const loaded = await loadModel(fusedDir);
    expect(loaded.parts.map((p) => [p.name, p.spec.dir, p.spec.arch])).toEqual([
      ['strokes', 'strokes', 'test-conv1d'],
    ]);
    expect(loaded.parts[0].model.inputNames.sort()).toEqual(['seq', 'side']);
    expect(loaded.metadata.parts?.strokes.weights?.sha256).toMatch(/^[0-9a-f]{64}$/);
    disposeLoaded(loaded);
    expect((await loadModel(plainDir)).parts).toEqual([]);
    await expect(verifyModelDir(fusedDir)).resolves.toMatchObject({ fusion: { weights: FUSION } });
  });

  it('refuses a part whose weights do not match the metadata, or that is missing', async () => {
    const broken = join(root, 'broken-part');
    await saveTestModel(broken, { strokes: { fusion: FUSION } });
    const weights = join(broken, 'strokes', 'weights.bin');
    const bytes = await readFile(weights);
    bytes[10] ^= 0xff;
    await writeFile(weights, bytes);
    await expect(loadModel(broken)).rejects.toThrow(/strokes: weights sha256 does not match/);
    await expect(verifyModelDir(broken)).rejects.toThrow(/strokes: weights sha256 does not match/);
    await rm(join(broken, 'strokes'), { recursive: true });
    await expect(loadModel(broken)).rejects.toThrow(/cannot read .*strokes\/model\.json/);
  });

  it('refuses parts without fusion weights for the CNN and each part', async () => {
    const dir = join(root, 'no-fusion');
    await saveTestModel(dir, { strokes: { fusion: FUSION } });
    const meta = JSON.parse(await readFile(join(dir, METADATA_FILE), 'utf8'));
    meta.fusion.weights = { strokes: 1 };
    await writeFile(join(dir, METADATA_FILE), JSON.stringify(meta));
    await expect(loadModel(dir)).rejects.toThrow(/fusion has no weight for "image"/);
    delete meta.fusion;
    await writeFile(join(dir, METADATA_FILE), JSON.stringify(meta));
    await expect(loadModel(dir)).rejects.toThrow(/lists parts \(strokes\) but no fusion weights/);
  });
});

describe('fusion at request time', () => {
  it('fuses the CNN and the stroke part for strokes, and uses the CNN alone for pixels', async () => {
    const predictor = new Predictor(await loadModel(fusedDir));
    // The stroke part runs through its compiled plan; its answer is model.predict's (expectedParts).
    expect(predictor.fusedParts).toEqual(['strokes']);
    const strokes = drawings[0];
    const want = await expectedParts(fusedDir, strokes);
    const answer = await predictor.classify({ pixels: strokesToMnist(strokes), strokes });
    expectClose(answer.parts?.image ?? [], want.image);
    expectClose(answer.parts?.strokes ?? [], want.strokes);
    expectClose(answer.probs, fuseLogLinear(weighted(want), 10));
    const pixelsOnly = await predictor.classify({ pixels: strokesToMnist(strokes) });
    expect(pixelsOnly.parts).toBeUndefined();
    expectClose(pixelsOnly.probs, want.image);
    predictor.close();
  });

  it('batches strokes and pixels inputs in one pass, on this thread and on the inference thread', async () => {
    const inputs = drawings.map((strokes, i) =>
      i % 3 === 2 ? { pixels: strokesToMnist(strokes) } : { pixels: strokesToMnist(strokes), strokes },
    );
    const single = new Predictor(await loadModel(fusedDir));
    const want = inputs.map((input) => single.answerNow([input])[0]);
    single.close();
    const thread = InferenceThread.start();
    for (const offload of [false, true]) {
      const batched = new Predictor(await loadModel(fusedDir), { maxBatch: 4, maxWaitMs: 0, maxInFlight: 2 });
      if (offload) await batched.useThread(thread, `fused#${offload}`);
      expect(batched.offloaded).toBe(offload);
      const got = await Promise.all(inputs.map((input) => batched.classify(input)));
      got.forEach((answer, i) => {
        expectClose(answer.probs, want[i].probs);
        expect(Object.keys(answer.parts ?? {})).toEqual(Object.keys(want[i].parts ?? {}));
        for (const [name, probs] of Object.entries(want[i].parts ?? {}))
          expectClose(answer.parts?.[name] ?? [], probs);
      });
      batched.close();
    }
    await thread.close();
  });
});

describe('HTTP with a fused model', () => {
  it('answers strokes with the fused top-k and each part, pixels with the CNN, and lists the parts', async () => {
    const models = join(root, 'served');
    await saveTestModel(join(models, 'digits'), { strokes: { fusion: FUSION } });
    const hwr = await buildTestApp(root, { modelsDir: models });
    try {
      const strokes = drawings[1];
      const res = await hwr.app.inject({
        method: 'POST',
        url: '/api/predict',
        payload: { strokes, topK: 3 },
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      const want = await expectedParts(join(models, 'digits'), strokes);
      const fused = fuseLogLinear(weighted(want), 10);
      const best = (p: Float32Array) => String(p.indexOf(Math.max(...p)));
      expect(body.label).toBe(best(fused));
      expect(body.confidence).toBeCloseTo(Math.max(...fused), 5);
      expect(Object.keys(body.parts)).toEqual(['image', 'strokes']);
      expect(body.parts.image.label).toBe(best(want.image));
      expect(body.parts.strokes.label).toBe(best(want.strokes));
      expect(body.parts.strokes.top).toHaveLength(3);
      const pixels = await hwr.app.inject({
        method: 'POST',
        url: '/api/predict',
        payload: { pixels: Array.from(strokesToMnist(strokes)) },
      });
      expect(pixels.json().parts).toBeUndefined();
      expect(pixels.json().label).toBe(best(want.image));
      const batch = await hwr.app.inject({
        method: 'POST',
        url: '/api/predict/batch',
        payload: { inputs: [{ strokes }, { pixels: Array.from(new Uint8Array(PIXELS)) }] },
      });
      expect(batch.json().results[0].label).toBe(body.label);
      expect(batch.json().results[0].parts.strokes.label).toBe(body.parts.strokes.label);
      expect(batch.json().results[1].parts).toBeUndefined();
      const { models: listed } = (await hwr.app.inject('/api/models')).json();
      expect(listed[0].parts.map((p: { name: string; inputs: string[] }) => [p.name, p.inputs])).toEqual([
        ['image', ['image', 'pixels', 'strokes']],
        ['strokes', ['strokes']],
      ]);
      expect(listed[0].fusion).toMatchObject({ method: 'log-linear', weights: FUSION });
    } finally {
      await hwr.app.close();
    }
  });
});

describe('hot reload and the store', () => {
  it('swaps the CNN and the stroke part together: every answer is one version', async () => {
    const models = join(root, 'reload');
    const mnist = await loadSplit('mnist', 'test');
    await saveTestModel(join(models, 'digits'), { version: 'v1', strokes: { fusion: FUSION, seed: 3 } });
    const staged = join(root, 'staged-v2');
    await saveTestModel(staged, {
      version: 'v2',
      trainOn: subset(mnist, range(0, 500)),
      strokes: { fusion: FUSION, seed: 11 },
    });
    const strokes = drawings[2];
    const want = {
      v1: await expectedParts(join(models, 'digits'), strokes),
      v2: await expectedParts(staged, strokes),
    };
    const hwr = await buildTestApp(root, {
      modelsDir: models,
      watch: true,
      watchDebounceMs: 50,
      inferenceThread: true,
    });
    try {
      const seen = new Set<string>();
      let stop = false;
      let checked = 0;
      const load = (async () => {
        while (!stop) {
          const res = await hwr.app.inject({ method: 'POST', url: '/api/predict', payload: { strokes } });
          expect(res.statusCode).toBe(200);
          const body = res.json();
          const v = want[body.model.version as 'v1' | 'v2'];
          seen.add(body.model.version);
          for (const part of ['image', 'strokes'] as const) {
            const probs = v[part];
            expect(body.parts[part].confidence).toBeCloseTo(Math.max(...probs), 5);
          }
          checked++;
          await new Promise((r) => setImmediate(r));
        }
      })();
      await rename(join(models, 'digits'), join(models, '.digits.old'));
      await rename(staged, join(models, 'digits'));
      const end = Date.now() + 15_000;
      while (!seen.has('v2') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      const after = checked;
      while (checked < after + 5) await new Promise((r) => setTimeout(r, 10));
      stop = true;
      await load;
      expect([...seen].sort()).toEqual(['v1', 'v2']);
    } finally {
      await hwr.app.close();
    }
  }, 60_000);

  it('copies the part into the store, and refuses a version with a broken part', async () => {
    await mkdir(join(root, 'store'));
    const store = new ModelStore(join(root, 'store'));
    const added = await store.add('digits', fusedDir);
    const loaded = await loadModel(added.dir);
    expect(loaded.parts.map((p) => p.name)).toEqual(['strokes']);
    disposeLoaded(loaded);
    const broken = join(root, 'broken-for-store');
    await saveTestModel(broken, { strokes: { fusion: FUSION } });
    await writeFile(join(broken, 'strokes', 'weights.bin'), new Uint8Array(8));
    await expect(store.add('digits', broken)).rejects.toThrow(/strokes: weights are 8 bytes/);
    const entry = await store.inspect('digits');
    expect(entry.current).toBe('v0001');
    expect(entry.versions.map((v) => v.version)).toEqual(['v0001']);
  });
});
