/**
 * Handwriting on paper: MNIST test digits rendered as scans and phone photos (test/synth/paper.ts,
 * seeded), read through the same path as `POST /api/predict` (sharp decode + downscale, ink
 * extraction, MNIST normalisation) and compared with the model's accuracy on the same digits as
 * plain 28x28 MNIST images. Also 4-digit strips read whole through the line reader.
 *
 *   npm run bench:images -- [--model models/digits] [--start 5000] [--count 500] [--seed 2]
 *                           [--strips 200] [--only NAME,NAME] [--dump DIR]
 *
 * Tune on another slice and seed (e.g. --start 0 --seed 1) than the one you report (the default).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ENGINE_CONFIG, engineSettings, parseConfig } from '../src/cli/config.js';
import { loadSplit } from '../src/data/datasets.js';
import { readImage } from '../src/data/image-read.js';
import { initBackend } from '../src/engine/backend.js';
import { PIXELS, predictProbs } from '../src/model/infer.js';
import { loadModel } from '../src/model/io.js';
import { PreprocessError, rgbaToMnist } from '../src/preprocess/index.js';
import { argmaxRows } from '../src/util/argmax.js';
import { deriveSeed } from '../src/util/random.js';
import { DEGRADATIONS, mulberry32, phonePhoto } from '../test/synth/paper.js';
import { readStrips } from './images-strips.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/digits' },
    start: { type: 'string', default: '5000' },
    count: { type: 'string', default: '500' },
    seed: { type: 'string', default: '2' },
    strips: { type: 'string', default: '200' },
    only: { type: 'string' },
    dump: { type: 'string' },
  },
});
const start = Number(args.start);
const count = Number(args.count);
const seed = Number(args.seed);
if (!(start >= 0 && count >= 1 && start + count <= 10_000))
  throw new Error('--start/--count must lie within 0..10000');

// HWR_BACKEND / HWR_BLAS as the CLI reads them; one thread.
await initBackend({ ...engineSettings(parseConfig(process.env, {}, ENGINE_CONFIG)), threads: 1 });
const { model, metadata } = await loadModel(args.model as string);
const test = await loadSplit('mnist', 'test');
const digit = (i: number) => test.images.subarray(i * PIXELS, (i + 1) * PIXELS);
const label = (i: number) => metadata.classes[test.labels[i]] ?? String(test.labels[i]);
const maxPixels = 50_000_000;

function accuracyOf(pixels: Uint8Array, indices: number[]): boolean[] {
  const pred = argmaxRows(
    predictProbs(model, pixels, indices.length, metadata.normalization),
    metadata.classes.length,
  );
  return indices.map((i, k) => metadata.classes[pred[k]] === label(i));
}

const indices = Array.from({ length: count }, (_, k) => start + k);
const clean = accuracyOf(test.images.slice(start * PIXELS, (start + count) * PIXELS), indices);
const cleanAcc = clean.filter(Boolean).length / count;
console.log(`${args.model}: MNIST t10k[${start}..${start + count}) seed ${seed}`);
console.log(`${'degradation'.padEnd(20)} accuracy  vs clean  refused  ms/image`);
console.log(`${'28x28 MNIST'.padEnd(20)} ${(cleanAcc * 100).toFixed(2).padStart(7)} %`);

const names = args.only ? (args.only as string).split(',') : Object.keys(DEGRADATIONS);
let worst = 0;
for (const name of names) {
  const recipe = DEGRADATIONS[name];
  if (!recipe) throw new Error(`unknown degradation "${name}"`);
  const pixels = new Uint8Array(count * PIXELS);
  let refused = 0;
  let ms = 0;
  for (const [k, i] of indices.entries()) {
    const bytes = await recipe(digit(i), mulberry32(deriveSeed(seed, name, i)));
    if (args.dump && k < 20) {
      await mkdir(args.dump as string, { recursive: true });
      await writeFile(join(args.dump as string, `${name.replace(/\W+/g, '-')}-${i}-${label(i)}.bin`), bytes);
    }
    const t0 = performance.now();
    try {
      pixels.set(rgbaToMnist(await readImage(bytes, { maxPixels })), k * PIXELS);
    } catch (err) {
      if (!(err instanceof PreprocessError)) throw err;
      refused++;
    }
    ms += performance.now() - t0;
  }
  const ok = accuracyOf(pixels, indices).filter(Boolean).length / count;
  worst = Math.max(worst, cleanAcc - ok);
  console.log(
    `${name.padEnd(20)} ${(ok * 100).toFixed(2).padStart(7)} %  ${((ok - cleanAcc) * 100).toFixed(2).padStart(7)}  ${String(refused).padStart(7)}  ${(ms / count).toFixed(1).padStart(8)}`,
  );
}
console.log(`largest drop from clean: ${(worst * 100).toFixed(2)} points (target <= 1.5)`);

// A phone photo (test/synth/paper.ts): the time from bytes to the model's answer, beside a 168x168
// clean scan through the same path in the same run.
async function answerMs(bytes: Uint8Array): Promise<{ ms: number; cpuMs: number; label: string }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const pixels = rgbaToMnist(await readImage(bytes, { maxPixels }));
  const pred = argmaxRows(predictProbs(model, pixels, 1, metadata.normalization), metadata.classes.length);
  const cpu = process.cpuUsage(c0);
  return {
    ms: performance.now() - t0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    label: metadata.classes[pred[0]],
  };
}
const photo = await phonePhoto(digit(start));
const scan = await DEGRADATIONS.clean(digit(start), mulberry32(deriveSeed(seed, 'clean', start)));
const photoRuns: { ms: number; cpuMs: number }[] = [];
const scanRuns: { ms: number; cpuMs: number }[] = [];
let photoLabel = '';
for (let k = 0; k < 3; k++) {
  const p = await answerMs(photo);
  photoRuns.push(p);
  photoLabel = p.label;
  scanRuns.push(await answerMs(scan));
}
// CPU time (process.cpuUsage: this thread and libvips') as well as wall time: a loaded machine
// stretches the wall time, not the work done.
const best = (xs: { ms: number; cpuMs: number }[]) => xs.reduce((a, b) => (b.ms < a.ms ? b : a));
const p = best(photoRuns);
const s = best(scanRuns);
console.log(
  `phone photo 6000x4000 JPEG, ${(photo.length / 2 ** 20).toFixed(1)} MiB: answered "${photoLabel}" (truth ${label(start)}) in ` +
    `${p.ms.toFixed(0)} ms, CPU ${p.cpuMs.toFixed(0)} ms (best of 3; decode + shrink + ink + model); ` +
    `168x168 scan: ${s.ms.toFixed(1)} ms, CPU ${s.cpuMs.toFixed(1)} ms; ratio ${(p.ms / s.ms).toFixed(0)}x`,
);

const strips = Number(args.strips);
if (strips > 0) {
  const r = await readStrips({ model, metadata, digit, label, indices, strips, seed, maxPixels });
  console.log(
    `4-digit strips: ${r.whole}/${strips} read whole = ${((r.whole / strips) * 100).toFixed(1)} % (target >= 95 %); ` +
      `per digit ${((r.digitsOk / (strips * 4)) * 100).toFixed(2)} %; wrong count ${r.wrongCount}; ${r.ms.toFixed(1)} ms/strip`,
  );
}
