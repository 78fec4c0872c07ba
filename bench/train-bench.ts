/**
 * Training throughput of the `paper` CNN: hwr's engine (wasm 1 and 2 threads, optionally cpu) against
 * PyTorch on the same machine, same batch, same synthetic data shape. `--arch strokes-conv` (or
 * `strokes-conv-wide`, `strokes-gru`) times a stroke net instead: 64 points x 7 channels plus 7 side
 * features per drawing, as strokeFeatures gives them, against the same net in PyTorch.
 *
 *   npm run bench:train -- [--batches 20] [--warmup 3] [--batch 128] [--arch paper] [--cpu] [--profile]
 *
 * Each configuration runs in its own process: a TF.js backend is chosen once per process.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { ENGINE_CONFIG, parseConfig } from '../src/cli/config.js';
import { type BackendName, initBackend } from '../src/engine/backend.js';
import {
  type ArchName,
  buildModel,
  buildStrokeModel,
  isArchName,
  isStrokeArchName,
} from '../src/model/archs.js';
import { STROKE_CHANNELS, STROKE_SIDE_FEATURES } from '../src/preprocess/stroke-features.js';
import { useFastTrainingPaths } from '../src/train/training-paths.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

const { values: args } = parseArgs({
  options: {
    batches: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    batch: { type: 'string', default: '128' },
    arch: { type: 'string', default: 'paper' },
    cpu: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    torch: { type: 'boolean', default: true },
    'no-torch': { type: 'boolean', default: false },
    child: { type: 'string' }, // "backend:threads", internal
  },
});

const batches = Number(args.batches);
const warmup = Number(args.warmup);
const batchSize = Number(args.batch);
const arch = args.arch as string;
if (!isArchName(arch) && !isStrokeArchName(arch)) throw new Error(`unknown arch "${arch}"`);
/** Points per drawing of the stroke nets' input (the shipped parts' `features.points`). */
const STROKE_POINTS = 64;

interface Result {
  label: string;
  imgPerSec: number;
  msPerBatch: number;
  /** CPU time of the whole process per batch (all threads; spinning pool threads count too). */
  cpuMsPerBatch?: number;
  profile?: [string, number][];
}

/** Synthetic batch of the arch's input shape (MNIST images or stroke features): speed does not depend on values. */
function batchTensors(n: number, seed: number): { x: tf.Tensor | tf.Tensor[]; y: tf.Tensor2D } {
  return tf.tidy(() => {
    const x = isStrokeArchName(arch)
      ? [
          tf.randomNormal([n, STROKE_POINTS, STROKE_CHANNELS], 0, 1, 'float32', seed),
          tf.randomNormal([n, STROKE_SIDE_FEATURES], 0, 1, 'float32', seed + 2),
        ]
      : tf.randomUniform([n, 28, 28, 1], 0, 1, 'float32', seed);
    const labels = tf.randomUniform([n], 0, 10, 'int32', seed + 1) as tf.Tensor1D;
    return { x, y: tf.cast(tf.oneHot(labels, 10), 'float32') as tf.Tensor2D };
  });
}

function benchModel(): tfl.LayersModel {
  return isStrokeArchName(arch)
    ? buildStrokeModel(
        arch,
        { points: STROKE_POINTS, channels: STROKE_CHANNELS, side: STROKE_SIDE_FEATURES },
        10,
      )
    : buildModel(arch as ArchName, 10);
}

async function runChild(spec: string): Promise<Result> {
  const [backend, threads] = spec.split(':');
  const info = await initBackend({
    backend: backend as BackendName,
    threads: Number(threads),
    blas: parseConfig(process.env, {}, ENGINE_CONFIG).blas,
  });
  const model = benchModel();
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  useFastTrainingPaths(model); // as hwr train does
  const { x, y } = batchTensors(batchSize, 42);
  for (let i = 0; i < warmup; i++) await model.trainOnBatch(x, y);
  let profile: [string, number][] | undefined;
  if (args.profile) {
    const byKernel = new Map<string, number>();
    const p = await tf.profile(async () => {
      await model.trainOnBatch(x, y);
    });
    for (const k of p.kernels) {
      const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + ms);
    }
    profile = [...byKernel].sort((a, b) => b[1] - a[1]);
  }
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < batches; i++) await model.trainOnBatch(x, y);
  const ms = (performance.now() - start) / batches;
  const cpu = process.cpuUsage(cpuStart);
  return {
    label: `hwr ${info.name} ${info.threads} thread${info.threads > 1 ? 's' : ''}${info.simd ? ' simd' : ''}`,
    imgPerSec: (batchSize * 1000) / ms,
    msPerBatch: ms,
    cpuMsPerBatch: (cpu.user + cpu.system) / 1000 / batches,
    profile,
  };
}

function spawnJson(cmd: string, argv: string[], env: NodeJS.ProcessEnv): Result | undefined {
  const r = spawnSync(cmd, argv, { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = r.stdout
    ?.split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) {
    console.error(`${cmd} ${argv.join(' ')} failed (exit ${r.status}):\n${r.stderr?.slice(-2000)}`);
    return undefined;
  }
  return JSON.parse(line) as Result;
}

function printProfile(r: Result): void {
  if (!r.profile) return;
  const total = r.profile.reduce((s, [, ms]) => s + ms, 0);
  console.log(`  per-kernel time, one training step (${r.label}), total ${total.toFixed(0)} ms:`);
  for (const [name, ms] of r.profile.slice(0, 12))
    console.log(
      `    ${name.padEnd(24)} ${ms.toFixed(1).padStart(8)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%`,
    );
}

async function main(): Promise<void> {
  if (args.child) {
    console.log(JSON.stringify(await runChild(args.child)));
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const common = ['--batches', String(batches), '--warmup', String(warmup), '--batch', String(batchSize)];
  const configs = [...(args.cpu ? ['cpu:1'] : []), 'wasm:1', 'wasm:2'];
  const results: Result[] = [];
  // Other jobs on the machine slow every figure down: print the load so runs can be compared.
  const load = os.loadavg().map((l) => l.toFixed(2));
  console.log(
    `training ${arch}, batch ${batchSize}, ${batches} batches after ${warmup} warm-up (load average ${load.join(' ')})`,
  );
  for (const spec of configs) {
    const childArgs = [...common, '--arch', arch, '--child', spec, ...(args.profile ? ['--profile'] : [])];
    // cpu is ~300x slower: one timed batch is enough to rank it.
    if (spec.startsWith('cpu')) childArgs.splice(0, 4, '--batches', '1', '--warmup', '1');
    const r = spawnJson(process.execPath, ['--import', 'tsx', self, ...childArgs], process.env);
    if (!r) continue;
    results.push(r);
    const cpu = r.cpuMsPerBatch === undefined ? '' : `, cpu ${r.cpuMsPerBatch.toFixed(0)} ms/batch`;
    console.log(
      `${r.label.padEnd(32)} ${r.imgPerSec.toFixed(1).padStart(8)} img/s  (${r.msPerBatch.toFixed(0)} ms/batch${cpu})`,
    );
    printProfile(r);
  }
  if (args.torch && !args['no-torch']) {
    const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '2' };
    // Debian's torch lives under the system interpreter, which a pyenv `python3` on PATH would hide.
    const python =
      process.env.HWR_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
    const r = spawnJson(
      python,
      [`${HERE}peers/torch_train.py`, '--threads', '2', ...common, '--arch', arch],
      env,
    );
    if (r) {
      console.log(
        `${r.label.padEnd(32)} ${r.imgPerSec.toFixed(1).padStart(8)} img/s  (${r.msPerBatch.toFixed(0)} ms/batch)`,
      );
      // The figure is the 2-thread one; small stroke nets can train faster on one thread.
      for (const h of results.filter((x) => x.label.includes('wasm')))
        console.log(`ratio hwr/PyTorch (${h.label}): ${(h.imgPerSec / r.imgPerSec).toFixed(2)}`);
    } else {
      console.log('PyTorch peer unavailable: apt-get install python3-torch libopenblas0-pthread');
    }
  }
}

await main();
