import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  MODEL_FILE,
  ModelError,
  readLayersModel,
  serializeModel,
  WEIGHTS_FILE,
  type WeightDtype,
  writeModelDir,
} from './io.js';
import { StrokePartMetadata } from './metadata.js';

/** Written beside a stroke part's model.json (see StrokePartMetadata). */
export const PART_FILE = 'part.json';

export interface LoadedStrokePart {
  readonly model: tfl.LayersModel;
  readonly metadata: StrokePartMetadata;
  readonly dir: string;
}

/** The files of a stroke part (model.json, weights.bin, part.json), its weights recorded in the metadata. */
export async function strokePartFiles(
  model: tfl.LayersModel,
  metadata: StrokePartMetadata,
  dtype: WeightDtype = 'float32',
): Promise<{ files: Record<string, string | Uint8Array>; metadata: StrokePartMetadata }> {
  const { modelJson, weights } = await serializeModel(model, dtype);
  const meta = StrokePartMetadata.parse({
    ...metadata,
    weights: {
      file: WEIGHTS_FILE,
      bytes: weights.byteLength,
      sha256: createHash('sha256').update(weights).digest('hex'),
      dtype,
    },
  });
  return {
    files: {
      [MODEL_FILE]: modelJson,
      [WEIGHTS_FILE]: weights,
      [PART_FILE]: `${JSON.stringify(meta, null, 2)}\n`,
    },
    metadata: meta,
  };
}

/** Writes a stroke part directory atomically (temp dir + rename). */
export async function saveStrokePart(
  model: tfl.LayersModel,
  metadata: StrokePartMetadata,
  dir: string,
  dtype: WeightDtype = 'float32',
): Promise<StrokePartMetadata> {
  const { files, metadata: meta } = await strokePartFiles(model, metadata, dtype);
  await writeModelDir(resolve(dir), files);
  return meta;
}

/** Loads a stroke part directory written by saveStrokePart, checking its weights and its output size. */
export async function loadStrokePart(dir: string): Promise<LoadedStrokePart> {
  const path = join(dir, PART_FILE);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new ModelError(`no stroke part at ${dir}: cannot read ${PART_FILE} (${(err as Error).message})`);
  }
  const parsed = StrokePartMetadata.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new ModelError(`${path} is invalid: ${first.path.join('.') || '(root)'}: ${first.message}`);
  }
  const metadata = parsed.data;
  const model = await readLayersModel(dir, metadata.weights);
  const out = model.outputs[0].shape;
  if (out[out.length - 1] !== metadata.classes.length)
    throw new ModelError(
      `${dir}: stroke part has ${out[out.length - 1]} outputs but ${metadata.classes.length} classes`,
    );
  return { model, metadata, dir: resolve(dir) };
}

/** Builds the model stored in a part's files (as saved: float16 weights come back rounded). */
export async function modelFromPartFiles(
  files: Record<string, string | Uint8Array>,
): Promise<tfl.LayersModel> {
  const json = JSON.parse(files[MODEL_FILE] as string) as {
    modelTopology: tf.io.ModelJSON['modelTopology'];
    weightsManifest: tf.io.WeightsManifestConfig;
  };
  const w = files[WEIGHTS_FILE] as Uint8Array;
  return tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength) as ArrayBuffer,
    }),
  );
}
