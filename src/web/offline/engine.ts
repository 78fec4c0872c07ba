/**
 * In-browser inference: the served model run on this device with TF.js (tfjs-core, tfjs-layers and
 * the WebAssembly backend, the plain-JavaScript cpu backend where WebAssembly cannot start). This
 * module is the page's lazy chunk: main.ts reaches it only through `import()` (./device.ts), so the
 * page's first load does not carry TF.js.
 *
 * Why wasm: `npm run bench:browser` (headless Chromium, digits CNN + stroke part, one drawing) gives
 * a median of 5.4 ms on wasm (SIMD) against 82.3 ms on cpu, for one more download of 139 kB gzip
 * (the .wasm file, fetched with the chunk). WebGL is left out:
 * shader compilation makes its first answer slow and mobile GPUs may compute in float16.
 *
 * Same model files (fetched from GET /api/models/:name/files/*), same weight decoding (the layers
 * format's float16 quantization, decoded by tfjs-core as the server's src/model/io.ts does), same
 * preprocessing (src/preprocess: strokesToMnist, strokeFeatures), same fusion (fuseLogLinear with
 * the metadata's weights) and the same answer shape as POST /api/predict.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// Emitted as hashed assets (cached for good); the browser fetches the one it can run. The threaded
// build needs a cross-origin-isolated page, which this page is not: the SIMD build is used instead.
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import * as tfl from '@tensorflow/tfjs-layers';
import { partAnswer } from '../../model/answer.js';
import { fuseLogLinear } from '../../model/fusion.js';
import { IMAGE_SIZE, predictProbs } from '../../model/infer.js';
import { ModelMetadata, type ModelPart } from '../../model/metadata.js';
import { predictStrokeProbs } from '../../model/stroke-infer.js';
import { type Stroke, strokesToMnist } from '../../preprocess/index.js';
import { strokeFeatures } from '../../preprocess/stroke-features.js';
import type { Prediction } from '../api.js';
import { modelFileUrl } from './files.js';

/** A model loaded on this device. */
export interface DeviceModel {
  readonly name: string;
  readonly version: string;
  /** The answer POST /api/predict gives for these strokes, computed here. */
  predict(strokes: readonly Stroke[], topK: number): Prediction;
  dispose(): void;
}

/** A file that cannot be fetched or does not match the metadata: the model is not used. */
export class DeviceModelError extends Error {
  override readonly name = 'DeviceModelError';
}

let backendReady: Promise<string> | undefined;
/** wasm, else cpu (an old browser, or a CSP without 'wasm-unsafe-eval'); the name of the one in use. */
function initBackend(): Promise<string> {
  backendReady ??= (async () => {
    setWasmPaths({
      'tfjs-backend-wasm.wasm': wasmPlain,
      'tfjs-backend-wasm-simd.wasm': wasmSimd,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmSimd,
    });
    const ok = await tf.setBackend('wasm').catch(() => false);
    if (ok) return 'wasm';
    if (await tf.setBackend('cpu')) return 'cpu';
    throw new DeviceModelError('neither the TF.js wasm nor the cpu backend could start');
  })();
  return backendReady;
}

async function fetchFile(name: string, version: string, path: string): Promise<Response> {
  const res = await fetch(modelFileUrl(name, version, path));
  if (!res.ok) throw new DeviceModelError(`${path}: ${res.status} ${res.statusText}`);
  return res;
}

interface ModelJson {
  modelTopology: tf.io.ModelJSON['modelTopology'];
  weightsManifest: tf.io.WeightsManifestConfig;
}

/** model.json and its weights from `dir` ('' or a part's folder), checked against the metadata's size. */
async function loadNetwork(
  name: string,
  version: string,
  dir: string,
  expected: { bytes: number } | undefined,
): Promise<tfl.LayersModel> {
  const prefix = dir ? `${dir}/` : '';
  const json = (await (await fetchFile(name, version, `${prefix}model.json`)).json()) as ModelJson;
  const chunks: Uint8Array[] = [];
  for (const group of json.weightsManifest)
    for (const p of group.paths) {
      // Weight paths are plain names beside model.json (as src/model/io.ts reads them).
      const file = p.split('/').pop() ?? p;
      chunks.push(new Uint8Array(await (await fetchFile(name, version, `${prefix}${file}`)).arrayBuffer()));
    }
  const weights = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    weights.set(c, at);
    at += c.byteLength;
  }
  if (expected && weights.byteLength !== expected.bytes)
    throw new DeviceModelError(
      `${prefix}weights are ${weights.byteLength} bytes, metadata says ${expected.bytes}`,
    );
  return tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: weights.buffer,
    }),
  );
}

/** The 28x28 image as base64 PNG (ink high, as the server's answer shows it). */
function pngBase64(pixels: Uint8Array): string {
  const canvas = document.createElement('canvas');
  canvas.width = IMAGE_SIZE;
  canvas.height = IMAGE_SIZE;
  const ctx = canvas.getContext('2d');
  if (!ctx) return '';
  const image = ctx.createImageData(IMAGE_SIZE, IMAGE_SIZE);
  pixels.forEach((v, i) => {
    image.data.set([v, v, v, 255], i * 4);
  });
  ctx.putImageData(image, 0, 0);
  return canvas.toDataURL('image/png').replace(/^data:image\/png;base64,/, '');
}

/** Loads a served model (its CNN and every part) onto this device. */
export async function loadDeviceModel(name: string, version: string): Promise<DeviceModel> {
  await initBackend();
  const metaJson: unknown = await (await fetchFile(name, version, 'metadata.json')).json();
  const parsed = ModelMetadata.safeParse(metaJson);
  if (!parsed.success)
    throw new DeviceModelError(`metadata.json is invalid: ${parsed.error.issues[0].message}`);
  const meta = parsed.data;
  if (meta.version !== version)
    throw new DeviceModelError(`metadata.json is version ${meta.version}, expected ${version}`);
  const image = await loadNetwork(name, version, '', meta.weights);
  const parts: { name: string; spec: ModelPart; net: tfl.LayersModel }[] = [];
  try {
    for (const [partName, spec] of Object.entries(meta.parts ?? {}))
      parts.push({ name: partName, spec, net: await loadNetwork(name, version, spec.dir, spec.weights) });
  } catch (err) {
    image.dispose();
    for (const p of parts) p.net.dispose();
    throw err;
  }
  const weights = meta.fusion?.weights ?? { image: 1 };
  return {
    name,
    version,
    predict(strokes, topK) {
      const pixels = strokesToMnist(strokes);
      const probs: Record<string, Float32Array> = {
        image: predictProbs(image, pixels, 1, meta.normalization),
      };
      for (const p of parts) {
        const f = strokeFeatures(strokes, p.spec.features);
        probs[p.name] = predictStrokeProbs(p.net, {
          seq: f.seq,
          side: f.side,
          n: 1,
          points: f.seq.length / f.channels,
          channels: f.channels,
        });
      }
      const classes = meta.classes;
      const fused =
        parts.length === 0
          ? probs.image
          : fuseLogLinear(
              Object.entries(probs).map(([part, p]) => ({ probs: p, weight: weights[part] ?? 0 })),
              classes.length,
            );
      const prediction: Prediction = {
        ...partAnswer(classes, fused, topK),
        model: { name, version },
        input: pngBase64(pixels),
      };
      if (parts.length > 0)
        prediction.parts = Object.fromEntries(
          Object.entries(probs).map(([part, p]) => [part, partAnswer(classes, p, topK)]),
        );
      return prediction;
    },
    dispose() {
      image.dispose();
      for (const p of parts) p.net.dispose();
    },
  };
}
