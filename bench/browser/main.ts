/**
 * The page of bench/browser-inference.ts: loads the model served beside it (model.json + weights and
 * its strokes/ part) on each TF.js backend the page's engine can use (src/web/offline/engine.ts) and
 * times one drawing's CNN + stroke-part pass, as the page computes it; writes the figures as JSON.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import * as tfl from '@tensorflow/tfjs-layers';

const RUNS = Number(new URLSearchParams(location.search).get('runs') ?? 30);

async function load(dir: string): Promise<tfl.LayersModel> {
  const json = (await (await fetch(`${dir}model.json`)).json()) as {
    modelTopology: tf.io.ModelJSON['modelTopology'];
    weightsManifest: tf.io.WeightsManifestConfig;
  };
  const weights = await (await fetch(`${dir}weights.bin`)).arrayBuffer();
  return tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: weights,
    }),
  );
}

async function timeBackend(backend: string) {
  if (!(await tf.setBackend(backend))) throw new Error(`${backend} did not start`);
  const t0 = performance.now();
  const image = await load('model/');
  const strokes = await load('model/strokes/');
  const loadMs = performance.now() - t0;
  const [seqShape, sideShape] = strokes.inputs.map((i) => i.shape);
  const x = tf.randomUniform([1, 28, 28, 1]);
  const seq = tf.randomUniform([1, Number(seqShape[1]), Number(seqShape[2])]);
  const side = tf.randomUniform([1, Number(sideShape[1])]);
  const pass = () => {
    const t = performance.now();
    const a = image.predict(x) as tf.Tensor;
    const b = strokes.predict([seq, side]) as tf.Tensor;
    a.dataSync();
    b.dataSync();
    tf.dispose([a, b]);
    return performance.now() - t;
  };
  const firstMs = pass();
  const times = Array.from({ length: RUNS }, pass).sort((p, q) => p - q);
  tf.dispose([x, seq, side]);
  image.dispose();
  strokes.dispose();
  return { backend, loadMs, firstMs, medianMs: times[Math.floor(RUNS / 2)], minMs: times[0] };
}

async function main(): Promise<void> {
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmSimd,
  });
  const results = [];
  for (const backend of ['cpu', 'wasm']) results.push(await timeBackend(backend));
  (document.getElementById('out') as HTMLElement).textContent = JSON.stringify(results);
}

main().catch((err: unknown) => {
  (document.getElementById('out') as HTMLElement).textContent = `ERROR ${String(err)}`;
});
