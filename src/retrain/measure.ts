// Measures the feedback loop on a real model without touching it:
//   HWR_THREADS=1 npx tsx src/retrain/measure.ts [models/digits] [--replay 3000] [--test-limit N]
//     [--input pixels|strokes] [--stroke-replay 2000]
// Copies the model (never changed) into a temp folder, stores the "slanted writer" corrections (UNIPEN fixture digits
// of 3/4 of the writers, narrow and slanted) as feedback (as pixels, or as the strokes the page sends),
// runs retrain --promote, and prints the accuracy on the other writers' digits (slanted and upright)
// before and after, plus the gate: the image CNN alone, and for a fused model the answer to strokes.

import { readFileSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DIGIT_CLASSES, type ImageDataset } from '../data/dataset.js';
import { initBackend } from '../engine/backend.js';
import { evaluateParts } from '../eval/fused.js';
import { evaluateModel } from '../eval/index.js';
import { disposeLoaded, loadModel } from '../model/io.js';
import { strokesToMnist } from '../preprocess/index.js';
import { FeedbackStore } from '../store/feedback-store.js';
import { retrain } from './retrain.js';

type Strokes = [number, number][][];
interface Sample {
  label: string;
  writer: string;
  strokes: Strokes;
}

const slanted = (strokes: Strokes): Strokes => {
  const ymax = Math.max(...strokes.flat().map((p) => p[1]));
  return strokes.map((s) => s.map(([x, y]) => [x * 0.5 + 0.8 * (ymax - y), y] as [number, number]));
};

function rasterise(samples: readonly Sample[], style: (s: Strokes) => Strokes): ImageDataset {
  const images = new Uint8Array(samples.length * 784);
  const labels = new Uint8Array(samples.length);
  samples.forEach((s, i) => {
    images.set(strokesToMnist(style(s.strokes)), i * 784);
    labels[i] = Number(s.label);
  });
  return { images, labels, n: samples.length, rows: 28, cols: 28, classes: DIGIT_CLASSES, sources: [] };
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    replay: { type: 'string', default: '3000' },
    'test-limit': { type: 'string' },
    input: { type: 'string', default: 'pixels' },
    'stroke-replay': { type: 'string', default: '2000' },
  },
});
const asStrokes = values.input === 'strokes';
const source = positionals[0] ?? 'models/digits';
await initBackend();
const fixture = new URL('../../test/fixtures/strokes/digits.json', import.meta.url);
const samples = (JSON.parse(readFileSync(fixture, 'utf8')) as { samples: Sample[] }).samples;
const writers = [...new Set(samples.map((s) => s.writer))].sort();
const unseenWriters = new Set(writers.filter((_, i) => i % 4 === 0));
const unseen = samples.filter((s) => unseenWriters.has(s.writer));
const evalSlanted = rasterise(unseen, slanted);
const evalUpright = rasterise(unseen, (s) => s);
const feedbackSamples = samples.filter((s) => !unseenWriters.has(s.writer));
const feedback = rasterise(feedbackSamples, slanted);
const drawings = (style: (s: Strokes) => Strokes) => ({
  name: 'unseen writers',
  drawings: unseen.map((s) => style(s.strokes)),
  labels: Uint8Array.from(unseen, (s) => Number(s.label)),
});

const root = await mkdtemp(join(tmpdir(), 'hwr-measure-'));
try {
  await cp(source, join(root, 'models', 'digits'), { recursive: true });
  const store = new FeedbackStore(join(root, 'data'));
  for (let i = 0; i < feedback.n; i++)
    store.add({
      pixels: feedback.images.subarray(i * 784, (i + 1) * 784),
      inputKind: asStrokes ? 'strokes' : 'pixels',
      rawInput: asStrokes ? slanted(feedbackSamples[i].strokes) : null,
      label: String(feedback.labels[i]),
      modelName: 'digits',
      modelVersion: 'measure',
      classes: DIGIT_CLASSES,
    });
  store.close();
  const acc = async (dir: string) => {
    const m = await loadModel(dir);
    const image = [evaluateModel(m, evalSlanted).accuracy, evaluateModel(m, evalUpright).accuracy];
    // As /api/predict answers strokes (fused when the model has a stroke part).
    const served = [
      (await evaluateParts(m, drawings(slanted))).fused,
      (
        await evaluateParts(
          m,
          drawings((s) => s),
        )
      ).fused,
    ];
    disposeLoaded(m);
    return { image, served };
  };
  const before = await acc(join(root, 'models', 'digits'));
  const started = Date.now();
  const result = await retrain({
    base: join(root, 'models', 'digits'),
    feedback: join(root, 'data'),
    out: join(root, 'candidate'),
    replay: Number(values.replay),
    strokeReplay: Number(values['stroke-replay']),
    testLimit: values['test-limit'] ? Number(values['test-limit']) : undefined,
    promote: true,
    log: (m) => console.log(m),
  });
  const after = await acc(result.candidateDir); // promoted or not, the candidate is this model
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  console.log(
    `retrain ${((Date.now() - started) / 1000).toFixed(0)} s, ${result.promoted ? `promoted ${result.promoted}` : 'not promoted'}; ` +
      `unseen writers (${unseen.length}), image CNN: slanted ${pct(before.image[0])} -> ${pct(after.image[0])}, upright ${pct(before.image[1])} -> ${pct(after.image[1])}; ` +
      `strokes as served: slanted ${pct(before.served[0])} -> ${pct(after.served[0])}, upright ${pct(before.served[1])} -> ${pct(after.served[1])}`,
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
