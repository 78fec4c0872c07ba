import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tfl from '@tensorflow/tfjs-layers';
import { IMAGE_SIZE, PIXELS, predictProbs } from './infer.js';
import { loadModel, MODEL_FILE, ModelError, readLayersModel, readMetadata } from './io.js';
import type { ModelMetadata } from './metadata.js';

/**
 * What "this directory can be served" means, shared by the model store (before `current` moves) and
 * the serving registry (before a model is swapped in): the metadata parses, the weights match the
 * size and sha256 recorded when the model was published, the network builds, reads 28x28x1 images
 * and answers a probability vector over the metadata's classes; every part listed in the metadata
 * (a subfolder network of a fused model) matches its own recorded weights and builds too.
 */

/** Throws unless the model reads [n, 28, 28, 1] images. */
export function checkInputShape(model: tfl.LayersModel, dir: string): void {
  const shape = model.inputs[0].shape;
  if (shape.length !== 4 || shape[1] !== IMAGE_SIZE || shape[2] !== IMAGE_SIZE || shape[3] !== 1)
    throw new ModelError(
      `${dir}: model input is [${shape.map((d) => d ?? 'null').join(', ')}], expected [null, 28, 28, 1]`,
    );
}

/** Throws unless `probs` (one row) is a probability vector: finite, non-negative, summing to 1. */
export function checkProbabilities(probs: ArrayLike<number>, dir: string): void {
  let sum = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    if (!Number.isFinite(p) || p < 0) throw new ModelError(`${dir}: model outputs ${p}`);
    sum += p;
  }
  if (Math.abs(sum - 1) > 1e-3)
    throw new ModelError(`${dir}: outputs sum to ${sum.toFixed(4)}, not 1 (no softmax?)`);
}

function outputCount(model: tfl.LayersModel): number | null {
  const out = model.outputs[0].shape;
  return out[out.length - 1];
}

async function verifyParts(dir: string, metadata: ModelMetadata): Promise<void> {
  for (const [name, part] of Object.entries(metadata.parts ?? {})) {
    if (!part.weights)
      throw new ModelError(`${dir}: part "${name}" has no weights size and sha256 in metadata.json`);
    const model = await readLayersModel(join(dir, part.dir), part.weights);
    try {
      if (outputCount(model) !== metadata.classes.length)
        throw new ModelError(
          `${dir}/${part.dir}: part "${name}" has ${outputCount(model)} outputs but metadata lists ${metadata.classes.length} classes`,
        );
    } finally {
      model.dispose();
    }
  }
}

/**
 * Verifies a model directory completely, including a trial forward pass on a blank image (the TF.js
 * backend must be initialised). Returns its metadata; throws a ModelError naming the file and fault.
 */
export async function verifyModelDir(dir: string): Promise<ModelMetadata> {
  const metadata = await readMetadata(dir);
  if (!metadata.weights)
    throw new ModelError(
      `${dir}: metadata.json records no weights size and sha256, so the weights cannot be checked (hwr train and hwr models add record them)`,
    );
  const { model } = await loadModel(dir);
  try {
    checkInputShape(model, dir);
    checkProbabilities(predictProbs(model, new Uint8Array(PIXELS), 1, metadata.normalization), dir);
  } finally {
    model.dispose();
  }
  await verifyParts(dir, metadata);
  return metadata;
}

/** Size and sha256 of the weight files named by `dir/model.json`, concatenated as loadModel reads them. */
export async function weightsRecord(
  dir: string,
): Promise<{ file: string; bytes: number; sha256: string; dtype: string }> {
  let manifest: { paths: string[]; weights?: { quantization?: { dtype?: string } }[] }[] | undefined;
  try {
    manifest = JSON.parse(await readFile(join(dir, MODEL_FILE), 'utf8')).weightsManifest;
  } catch (err) {
    throw new ModelError(`cannot read ${join(dir, MODEL_FILE)}: ${(err as Error).message}`);
  }
  const paths = (manifest ?? []).flatMap((g) => g.paths);
  if (paths.length === 0) throw new ModelError(`${dir}/${MODEL_FILE} has no weights manifest`);
  const hash = createHash('sha256');
  let bytes = 0;
  for (const p of paths) {
    const data = await readFile(join(dir, p.replace(/^.*\//, ''))).catch(() => {
      throw new ModelError(`cannot read weights file ${join(dir, p)}`);
    });
    hash.update(data);
    bytes += data.byteLength;
  }
  const float16 = (manifest ?? []).some((g) => g.weights?.some((w) => w.quantization?.dtype === 'float16'));
  const dtype = float16 ? 'float16' : 'float32';
  return { file: paths[0].replace(/^.*\//, ''), bytes, sha256: hash.digest('hex'), dtype };
}
