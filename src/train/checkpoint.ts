import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  MODEL_FILE,
  ModelError,
  readLayersModel,
  serializeModel,
  WEIGHTS_FILE,
  writeModelDir,
} from '../model/io.js';
import type { EpochHistory } from '../model/metadata.js';

const STATE_FILE = 'state.json';
const OPTIMIZER_FILE = 'optimizer.bin';

/** Where the run resumes: the next batch to train and what was learned so far. */
export interface CheckpointState {
  readonly epoch: number;
  readonly batch: number;
  readonly history: EpochHistory[];
  readonly wallSeconds: number;
  /** The run's settings; a resume with different ones is refused. */
  readonly config: Record<string, unknown>;
  readonly optimizer: { name: string; shape: number[] }[];
}

/** Checkpoints live beside the output, hidden, so a models/ folder never shows them as models. */
export function checkpointDir(out: string): string {
  return join(dirname(out), `.${basename(out)}.ckpt`);
}

export async function saveCheckpoint(
  dir: string,
  model: tfl.LayersModel,
  state: Omit<CheckpointState, 'optimizer'>,
): Promise<void> {
  const { modelJson, weights } = await serializeModel(model);
  const named = await model.optimizer.getWeights();
  const parts = await Promise.all(named.map((w) => w.tensor.data() as Promise<Float32Array>));
  const total = parts.reduce((s, p) => s + p.length, 0);
  const opt = new Float32Array(total);
  let offset = 0;
  for (const p of parts) {
    opt.set(p, offset);
    offset += p.length;
  }
  const full: CheckpointState = {
    ...state,
    optimizer: named.map((w) => ({ name: w.name, shape: w.tensor.shape })),
  };
  await writeModelDir(dir, {
    [MODEL_FILE]: modelJson,
    [WEIGHTS_FILE]: weights,
    [OPTIMIZER_FILE]: new Uint8Array(opt.buffer),
    [STATE_FILE]: JSON.stringify(full, null, 2),
  });
}

export interface LoadedCheckpoint {
  readonly model: tfl.LayersModel;
  readonly state: CheckpointState;
  readonly optimizerWeights: Awaited<ReturnType<tf.Optimizer['getWeights']>>;
}

export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint | undefined> {
  if (!existsSync(join(dir, STATE_FILE))) return undefined;
  const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as CheckpointState;
  const model = await readLayersModel(dir);
  const buf = await readFile(join(dir, OPTIMIZER_FILE));
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  let offset = 0;
  const optimizerWeights = state.optimizer.map(({ name, shape }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const tensor = tf.tensor(all.subarray(offset, offset + size), shape);
    offset += size;
    return { name, tensor };
  });
  if (offset !== all.length) throw new ModelError(`${dir}: optimizer state does not match its index`);
  return { model, state, optimizerWeights };
}

export async function removeCheckpoint(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** The command-line flag behind each setting a checkpoint records, for the refusal message. */
const SETTING_FLAGS: Record<string, string> = {
  name: '--name',
  arch: '--arch',
  dataset: '--dataset / --train / --limit',
  epochs: '--epochs',
  batchSize: '--batch-size',
  lr: '--lr',
  schedule: '--schedule',
  labelSmoothing: 'the recipe',
  augment: '--no-augment',
  seed: '--seed',
  validationSplit: '--validation-split',
  points: '--points',
};

/**
 * Refuses a resume whose settings differ from the checkpoint's, naming each differing setting, its
 * flag and both values, so the command can be fixed (or the checkpoint removed) knowingly.
 */
export function checkResumeSettings(
  ckptDir: string,
  saved: Record<string, unknown>,
  wanted: Record<string, unknown>,
): void {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(wanted)])];
  const differing = keys.filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(wanted[k]));
  if (differing.length === 0) return;
  const lines = differing.map(
    (k) =>
      `  ${k} (${SETTING_FLAGS[k] ?? 'setting'}): ${JSON.stringify(saved[k])} in the checkpoint, ${JSON.stringify(wanted[k])} now`,
  );
  throw new Error(
    `checkpoint ${ckptDir} was made with other settings; resume with the same flags, or delete the checkpoint to start over:\n${lines.join('\n')}`,
  );
}
