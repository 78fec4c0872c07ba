import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendError, initBackend } from './backend.js';

/** Small net with every layer kind the archs use: 'same' and 'valid' convs, BN, pooling, dropout. */
function tinyModel(): tfl.LayersModel {
  const m = tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: [12, 12, 1],
        filters: 4,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
      }),
      tfl.layers.batchNormalization(),
      tfl.layers.activation({ activation: 'relu' }),
      tfl.layers.conv2d({ filters: 5, kernelSize: 3, activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.dropout({ rate: 0.3, seed: 7 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 8, activation: 'relu' }),
      tfl.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  m.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  return m;
}

function fixedData(): { x: tf.Tensor; y: tf.Tensor } {
  const n = 6;
  const x = tf.tensor4d(
    Array.from({ length: n * 144 }, (_, i) => Math.sin(i * 0.37)),
    [n, 12, 12, 1],
  );
  const y = tf.cast(tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3), 'float32');
  return { x, y };
}

/** Trains `steps` batches from weights `init` on the active backend; returns the final weights. */
async function train(init: Float32Array[], steps: number): Promise<Float32Array[]> {
  const model = tinyModel();
  model.setWeights(init.map((w, i) => tf.tensor(w, model.getWeights()[i].shape)));
  const { x, y } = fixedData();
  for (let i = 0; i < steps; i++) await model.trainOnBatch(x, y);
  const out = model.getWeights().map((w) => w.dataSync() as Float32Array);
  tf.dispose([x, y]);
  model.dispose();
  return out;
}

let initial: Float32Array[];

beforeAll(async () => {
  const info = await initBackend({ backend: 'wasm', threads: 2 });
  expect(info).toMatchObject({ name: 'wasm', threads: 2, simd: true });
  // OpenBLAS when the addon and library load (the training comparisons below then run on it).
  expect(info.gemm).toMatch(/^(OpenBLAS \S+|XNNPACK)$/);
  const m = tinyModel();
  initial = m.getWeights().map((w) => w.dataSync().slice() as Float32Array);
  m.dispose();
});

describe('initBackend', () => {
  it('keeps the first choice for the rest of the process', async () => {
    expect((await initBackend({ backend: 'cpu' })).name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('leaves no global patched after start-up', () => {
    expect('Worker' in globalThis).toBe(false);
    expect(process.listeners('uncaughtException').some((l) => String(l).includes('ExitStatus'))).toBe(false);
  });

  it('trains on wasm with 2 threads like the cpu backend', async () => {
    await tf.setBackend('wasm');
    const wasm = await train(initial, 3);
    await tf.setBackend('cpu');
    const cpu = await train(initial, 3);
    await tf.setBackend('wasm');
    wasm.forEach((w, i) => {
      let worst = 0;
      for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(w[j] - cpu[i][j]));
      expect(worst).toBeLessThan(1e-4);
    });
    // The step did change the weights (the comparison above is not between two untouched copies).
    expect(wasm[0]).not.toEqual(initial[0]);
  });

  it('is deterministic: same seed and data give bit-identical weights', async () => {
    const a = await train(initial, 3);
    const b = await train(initial, 3);
    expect(b).toEqual(a);
  });
});

describe('initBackend in a fresh process', () => {
  // The child script goes to a temp .mjs file: tsx compiles `-e` code to CommonJS, where top-level
  // await fails. Imports are absolute so they resolve to this checkout's modules.
  const dir = mkdtempSync(join(tmpdir(), 'hwr-engine-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let scripts = 0;
  const run = (code: string, env: Record<string, string> = {}) => {
    const file = join(dir, `child-${scripts++}.mjs`);
    writeFileSync(file, code);
    return spawnSync(process.execPath, ['--import', 'tsx', file], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
  };
  const backendUrl = new URL('./backend.ts', import.meta.url).href;
  const resolve = (pkg: string) => pathToFileURL(createRequire(import.meta.url).resolve(pkg)).href;
  const tfUrl = resolve('@tensorflow/tfjs-core');
  const tflUrl = resolve('@tensorflow/tfjs-layers');

  it('exits by itself after training on 2 wasm threads', () => {
    const r = run(`
      import * as tf from '${tfUrl}';
      import { initBackend } from '${backendUrl}';
      const info = await initBackend({ threads: 2 });
      const tfl = await import('${tflUrl}');
      const m = tfl.sequential({ layers: [tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3 }),
        tfl.layers.flatten(), tfl.layers.dense({ units: 2, activation: 'softmax' })] });
      m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
      await m.trainOnBatch(tf.ones([2, 8, 8, 1]), tf.tensor2d([[1, 0], [0, 1]]));
      console.log(JSON.stringify(info));`);
    expect(r.error).toBeUndefined(); // a hang ends in a spawnSync timeout error
    expect(r.status, r.stderr.slice(-1500)).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '')).toMatchObject({
      name: 'wasm',
      threads: 2,
      simd: true,
    });
  });

  it('follows the backend option and rejects unknown names and thread counts', async () => {
    const code = (options: string) =>
      `import { initBackend } from '${backendUrl}'; console.log((await initBackend(${options})).name);`;
    expect(run(code("{ backend: 'cpu' }")).stdout).toContain('cpu');
    expect(run(code("{ backend: 'gpu' }")).stderr).toContain('unknown backend "gpu" (expected one of');
    expect(run(code('{ threads: 0 }')).stderr).toContain('threads must be an integer from 1 to 8');
    expect(BackendError.name).toBe('BackendError');
  });

  it('follows the blas option: off keeps XNNPACK, a library that does not load is an error', () => {
    const code = (blas: string) =>
      `import { initBackend } from '${backendUrl}'; console.log((await initBackend({ blas: '${blas}' })).gemm);`;
    expect(run(code('off')).stdout.trim()).toBe('XNNPACK');
    const bad = run(code('/nonexistent/libblas.so'));
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('HWR_BLAS=/nonexistent/libblas.so: no BLAS library');
  });
});
