import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type ErrorCode, HwrError } from '../util/errors.js';
import { fsyncDir, writeFileSynced } from '../util/fs.js';
import { float32ToFloat16 } from './float16.js';
import { ModelMetadata } from './metadata.js';

export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';
export const METADATA_FILE = 'metadata.json';

export type WeightDtype = 'float32' | 'float16';

/** A model that cannot be loaded or saved; the message says which file and why. */
export class ModelError extends HwrError {
  override readonly name = 'ModelError';

  constructor(message: string, options: { code?: ErrorCode; cause?: unknown } = {}) {
    super(options.code ?? 'model', message, { cause: options.cause });
  }
}

export interface LoadedModel {
  readonly model: tfl.LayersModel;
  readonly metadata: ModelMetadata;
  readonly dir: string;
}

export interface SaveOptions {
  /** float16 halves the file; accuracy must be re-checked by the caller (train does). */
  readonly weights?: WeightDtype;
  /** Extra files (name -> content) written into the same atomic directory, e.g. report.json. */
  readonly extraFiles?: Readonly<Record<string, string | Uint8Array>>;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Serialises a layers model to model.json + weights.bin bytes (TF.js layers format). */
export async function serializeModel(
  model: tfl.LayersModel,
  dtype: WeightDtype = 'float32',
): Promise<{ modelJson: string; weights: Uint8Array }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts?.weightSpecs || !artifacts.weightData) throw new ModelError('model has no weights to save');
  const raw = new Float32Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
  let weightSpecs = artifacts.weightSpecs;
  let bytes: Uint8Array;
  if (dtype === 'float16') {
    if (weightSpecs.some((s) => s.dtype !== 'float32')) throw new ModelError('float16 needs float32 weights');
    weightSpecs = weightSpecs.map((s) => ({ ...s, quantization: { dtype: 'float16' as const } }));
    bytes = new Uint8Array(float32ToFloat16(raw).buffer);
  } else {
    bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  }
  const modelJson = JSON.stringify({
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
    convertedBy: null,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [`./${WEIGHTS_FILE}`], weights: weightSpecs }],
  });
  return { modelJson, weights: bytes };
}

/**
 * Writes model.json, weights.bin and metadata.json into `dir` atomically: everything goes to a
 * sibling temp directory (fsynced), which then replaces `dir` by rename. A crash leaves either the
 * old model or the new one, never a mix.
 */
export async function saveModel(
  model: tfl.LayersModel,
  metadata: ModelMetadata,
  dir: string,
  options: SaveOptions = {},
): Promise<ModelMetadata> {
  const target = resolve(dir);
  const { modelJson, weights } = await serializeModel(model, options.weights ?? 'float32');
  const meta: ModelMetadata = ModelMetadata.parse({
    ...metadata,
    weights: {
      file: WEIGHTS_FILE,
      bytes: weights.byteLength,
      sha256: sha256(weights),
      dtype: options.weights ?? 'float32',
    },
  });
  await writeModelDir(target, {
    [MODEL_FILE]: modelJson,
    [WEIGHTS_FILE]: weights,
    [METADATA_FILE]: `${JSON.stringify(meta, null, 2)}\n`,
    ...options.extraFiles,
  });
  return meta;
}

/** Atomically replaces `target` with a directory holding `files`. */
export async function writeModelDir(
  target: string,
  files: Readonly<Record<string, string | Uint8Array>>,
): Promise<void> {
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = join(parent, `.${basename(target)}.tmp-${tag}`);
  await mkdir(tmp);
  try {
    for (const [name, data] of Object.entries(files)) {
      // A name may hold a subfolder (a fused model's `strokes/model.json`).
      if (name.includes('/')) await mkdir(dirname(join(tmp, name)), { recursive: true });
      await writeFileSynced(join(tmp, name), data);
    }
    await fsyncDir(tmp);
    if (existsSync(target)) {
      const old = join(parent, `.${basename(target)}.old-${tag}`);
      await rename(target, old);
      await rename(tmp, target);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, target);
    }
    await fsyncDir(parent);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

export async function readMetadata(dir: string): Promise<ModelMetadata> {
  const path = join(dir, METADATA_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ModelError(`no model at ${dir}: cannot read ${METADATA_FILE}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = ModelMetadata.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new ModelError(`${path} is invalid: ${first.path.join('.') || '(root)'}: ${first.message}`);
  }
  return parsed.data;
}

/** Loads a model directory, verifying the weights against the size and hash in its metadata. */
export async function loadModel(dir: string): Promise<LoadedModel> {
  const metadata = await readMetadata(dir);
  const model = await readLayersModel(dir, metadata.weights);
  const out = model.outputs[0].shape;
  if (out[out.length - 1] !== metadata.classes.length)
    throw new ModelError(
      `${dir}: model has ${out[out.length - 1]} outputs but metadata lists ${metadata.classes.length} classes`,
    );
  return { model, metadata, dir: resolve(dir) };
}

/** Reads model.json + its weight files from `dir`; checks size and sha256 when `expected` is given. */
export async function readLayersModel(
  dir: string,
  expected?: { bytes: number; sha256: string },
): Promise<tfl.LayersModel> {
  let modelJson: { modelTopology?: unknown; weightsManifest?: tf.io.WeightsManifestConfig };
  try {
    modelJson = JSON.parse(await readFile(join(dir, MODEL_FILE), 'utf8'));
  } catch (err) {
    throw new ModelError(`cannot read ${join(dir, MODEL_FILE)}: ${(err as Error).message}`);
  }
  const manifest = modelJson.weightsManifest;
  if (!modelJson.modelTopology || !manifest?.length)
    throw new ModelError(`${dir}/${MODEL_FILE} has no topology or weights manifest`);
  const chunks: Uint8Array[] = [];
  for (const group of manifest) {
    for (const p of group.paths) {
      const file = basename(p); // weight paths are plain names beside model.json, never followed elsewhere
      try {
        chunks.push(await readFile(join(dir, file)));
      } catch {
        throw new ModelError(`cannot read weights file ${join(dir, file)}`);
      }
    }
  }
  const weights = Buffer.concat(chunks);
  if (expected) {
    if (weights.byteLength !== expected.bytes)
      throw new ModelError(
        `${dir}: weights are ${weights.byteLength} bytes, metadata says ${expected.bytes}`,
      );
    if (sha256(weights) !== expected.sha256)
      throw new ModelError(`${dir}: weights sha256 does not match metadata`);
  }
  try {
    return await tfl.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: modelJson.modelTopology as tf.io.ModelJSON['modelTopology'],
        weightSpecs: manifest.flatMap((g) => g.weights),
        weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
      }),
    );
  } catch (err) {
    throw new ModelError(`${dir}: cannot build model: ${(err as Error).message}`);
  }
}
