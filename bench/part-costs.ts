/**
 * What one strokes request costs in each stage of hwr serve, measured in the bench's own process on
 * one wasm thread before the servers start: the CPU time of 200 passes of `batch` requests, divided
 * by the requests. The stages are the serving code's own functions (src/serve/predictor.ts and
 * forward-pass.ts), so the figures are what a request's pass spends there, minus HTTP, JSON, the
 * reply's PNG and the thread messages.
 */
import { initBackend } from '../src/engine/backend.js';
import { fuseLogLinear } from '../src/model/fusion.js';
import { PIXELS } from '../src/model/infer.js';
import { loadModel } from '../src/model/io.js';
import { type Stroke, strokesToMnist } from '../src/preprocess/index.js';
import { type StrokeFeatures, strokeFeatures } from '../src/preprocess/stroke-features.js';
import { disposePartNet, type PartBatch, partNet, runParts } from '../src/serve/forward-pass.js';
import { Predictor } from '../src/serve/predictor.js';

/**
 * CPU milliseconds per request of `fn`, which runs one pass of `batch` requests: the process's CPU
 * time over 200 passes after 20 warm-up ones. CPU time, unlike wall time, hardly moves when other
 * jobs share the cores (wall time medians grew 3-5x at load average 15 on this 2-core machine).
 */
function perRequest(batch: number, fn: () => void): number {
  for (let i = 0; i < 20; i++) fn();
  const start = process.cpuUsage();
  for (let i = 0; i < 200; i++) fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / 200 / batch;
}

/** `batch` copies of one drawing's features as the pass's part batch (what predictor.ts builds). */
function partBatch(part: string, f: StrokeFeatures, batch: number): PartBatch {
  const seq = new Float32Array(batch * f.seq.length);
  const side = new Float32Array(batch * f.side.length);
  for (let i = 0; i < batch; i++) {
    seq.set(f.seq, i * f.seq.length);
    side.set(f.side, i * f.side.length);
  }
  return { part, seq, side, n: batch, points: f.seq.length / f.channels, channels: f.channels };
}

const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;

/** One line per stage, e.g. "render 150 µs, image CNN 380 µs, ..."; parts listed by name. */
export async function partCosts(modelDir: string, strokes: Stroke[], batch: number): Promise<string> {
  await initBackend({ threads: 1 });
  const loaded = await loadModel(modelDir);
  const predictor = new Predictor(loaded);
  const pixels = strokesToMnist(strokes);
  const images = new Uint8Array(batch * PIXELS);
  for (let i = 0; i < batch; i++) images.set(pixels, i * PIXELS);
  const stages: string[] = [
    `render ${us(perRequest(batch, () => Array.from({ length: batch }, () => strokesToMnist(strokes))))}`,
    `image CNN ${us(perRequest(batch, () => predictor.predictNow(images, batch)))}`,
  ];
  const k = loaded.metadata.classes.length;
  const weights = loaded.metadata.fusion?.weights ?? {};
  const image = predictor.predictNow(images, batch);
  for (const part of loaded.parts) {
    const spec = part.spec.features;
    const features = perRequest(batch, () => {
      for (let i = 0; i < batch; i++) strokeFeatures(strokes, spec);
    });
    const net = partNet(part.model);
    const input = partBatch(part.name, strokeFeatures(strokes, spec), batch);
    const nets = new Map([[part.name, net]]);
    const pass = perRequest(batch, () => runParts(nets, [input]));
    const probs = runParts(nets, [input])[part.name];
    const fusion = perRequest(batch, () =>
      fuseLogLinear(
        [
          { probs: image, weight: weights.image ?? 1 },
          { probs, weight: weights[part.name] ?? 1 },
        ],
        k,
      ),
    );
    const how = net.fused ? 'compiled plan' : 'model.predict';
    stages.push(
      `${part.name} features ${us(features)}, ${part.name} pass (${how}) ${us(pass)}, fusion ${us(fusion)}`,
    );
    disposePartNet(net);
  }
  const inputs = Array.from({ length: batch }, () => ({ pixels, strokes }));
  const whole = perRequest(batch, () => predictor.answerNow(inputs));
  predictor.close();
  const head = `CPU per strokes request (passes of ${batch}, 1 thread, 200 passes)`;
  if (loaded.parts.length === 0) return `${head}: ${stages.join(', ')}; no parts (image-only model)`;
  return `${head}: ${stages.join(', ')}; the whole pass (features, both networks, fusion) ${us(whole)}`;
}
