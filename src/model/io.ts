import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { type ErrorCode, HwrError } from '../util/errors.js';
import { fsyncDir, writeFileSynced } from '../util/fs.js';
import { float32ToFloat16 } from './float16.js';
import { ModelMetadata, type ModelPart } from './metadata.js';

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

/** A further network of a fused model (metadata `parts`), loaded from its subfolder. */
export interface LoadedPart {
  /** The part's key in metadata `parts` (e.g. `strokes`). */
  readonly name: string;
  readonly spec: ModelPart;
  readonly model: tfl.LayersModel;
}

export interface LoadedModel {
  /** The root image CNN. */
  readonly model: tfl.LayersModel;
  readonly metadata: ModelMetadata;
  readonly dir: string;
  /** Every part listed in the metadata, in its order; empty for an image-only model. */
  readonly parts: readonly LoadedPart[];
}

/** The input names a stroke part's model must have (src/preprocess/stroke-features.ts feeds them). */
export const STROKE_PART_INPUTS = ['seq', 'side'] as const;

export interface SaveOptions {
  /** float16 halves the file; accuracy must be re-checked by the caller (train does). */
  readonly weights?: WeightDtype;
  /** Extra files (name -> content) written into the same atomic directory, e.g. report.json. */
  readonly extraFiles?: Readonly<Record<string, string | Uint8Array>>;
  /**
   * The networks of metadata `parts`, by part name, each written to its `dir` subfolder (in the dtype
   * its metadata records, else `weights`) with its weights' size and sha256 recorded in the metadata.
   */
  readonly parts?: Readonly<Record<string, tfl.LayersModel>>;
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
  const dtype = options.weights ?? 'float32';
  const { modelJson, weights } = await serializeModel(model, dtype);
  const files: Record<string, string | Uint8Array> = { [MODEL_FILE]: modelJson, [WEIGHTS_FILE]: weights };
  const parts = await serializeParts(metadata, options.parts ?? {}, dtype, files);
  const meta: ModelMetadata = ModelMetadata.parse({
    ...metadata,
    weights: { file: WEIGHTS_FILE, bytes: weights.byteLength, sha256: sha256(weights), dtype },
    ...(parts ? { parts } : {}),
  });
  await writeModelDir(target, {
    ...files,
    [METADATA_FILE]: `${JSON.stringify(meta, null, 2)}\n`,
    ...options.extraFiles,
  });
  return meta;
}

/**
 * Serialises the part networks into `files` (as `<dir>/model.json`, `<dir>/weights.bin`) and returns
 * metadata `parts` with their weights recorded; every listed part needs its network and vice versa.
 */
async function serializeParts(
  metadata: ModelMetadata,
  models: Readonly<Record<string, tfl.LayersModel>>,
  dtype: WeightDtype,
  files: Record<string, string | Uint8Array>,
): Promise<Record<string, ModelPart> | undefined> {
  const listed = metadata.parts ?? {};
  for (const name of Object.keys(models))
    if (!listed[name]) throw new ModelError(`part "${name}" has a network but no entry in metadata.parts`);
  if (!metadata.parts) return undefined;
  const out: Record<string, ModelPart> = {};
  for (const [name, part] of Object.entries(listed)) {
    const net = models[name];
    if (!net) throw new ModelError(`metadata.parts lists "${name}" but no network was given to save`);
    // A part keeps the weight dtype it was stored with (the root's for a new part).
    const partDtype =
      part.weights?.dtype === 'float16' || part.weights?.dtype === 'float32' ? part.weights.dtype : dtype;
    const { modelJson, weights } = await serializeModel(net, partDtype);
    files[`${part.dir}/${MODEL_FILE}`] = modelJson;
    files[`${part.dir}/${WEIGHTS_FILE}`] = weights;
    out[name] = {
      ...part,
      params: net.countParams(),
      weights: { file: WEIGHTS_FILE, bytes: weights.byteLength, sha256: sha256(weights), dtype: partDtype },
    };
  }
  return out;
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
    const subdirs = new Set<string>();
    for (const [name, data] of Object.entries(files)) {
      const sub = dirname(name);
      if (sub !== '.' && !subdirs.has(sub)) {
        await mkdir(join(tmp, sub), { recursive: true });
        subdirs.add(sub);
      }
      await writeFileSynced(join(tmp, name), data);
    }
    for (const sub of subdirs) await fsyncDir(join(tmp, sub));
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

/**
 * Loads a model directory with every part its metadata lists, verifying each network's weights against
 * the size and hash in the metadata and its outputs against the classes. All or nothing: a part that
 * fails disposes what was loaded.
 */
export async function loadModel(dir: string): Promise<LoadedModel> {
  const metadata = await readMetadata(dir);
  checkFusion(dir, metadata);
  const model = await readLayersModel(dir, metadata.weights);
  const parts: LoadedPart[] = [];
  try {
    checkOutputs(dir, model, metadata.classes.length);
    for (const [name, spec] of Object.entries(metadata.parts ?? {})) {
      const partDir = join(dir, spec.dir);
      const net = await readLayersModel(partDir, spec.weights);
      parts.push({ name, spec, model: net });
      checkOutputs(partDir, net, metadata.classes.length);
      checkStrokeInputs(partDir, net, spec);
    }
  } catch (err) {
    disposeLoaded({ model, parts });
    throw err;
  }
  return { model, metadata, dir: resolve(dir), parts };
}

/** Frees the root network and every part's. */
export function disposeLoaded(loaded: Pick<LoadedModel, 'model' | 'parts'>): void {
  loaded.model.dispose();
  for (const p of loaded.parts) p.model.dispose();
}

function checkOutputs(dir: string, model: tfl.LayersModel, classes: number): void {
  const out = model.outputs[0].shape;
  if (model.outputs.length !== 1 || out[out.length - 1] !== classes)
    throw new ModelError(
      `${dir}: model has ${out[out.length - 1]} outputs but metadata lists ${classes} classes`,
    );
}

/** A stroke part reads `seq` [points, channels] and `side` [k] (src/preprocess/stroke-features.ts). */
function checkStrokeInputs(dir: string, model: tfl.LayersModel, spec: ModelPart): void {
  // predictStrokeProbs (./stroke-infer.ts) feeds the two inputs in this order.
  const names = model.inputNames;
  if (names.length !== 2 || names[0] !== 'seq' || names[1] !== 'side')
    throw new ModelError(`${dir}: a strokes part needs the inputs [seq, side], has [${names.join(', ')}]`);
  const [seq, side] = model.inputs.map((t) => t.shape);
  if (seq.length !== 3 || seq[1] !== spec.features.points || !(Number(seq[2]) > 0))
    throw new ModelError(
      `${dir}: input seq is [${seq.join(', ')}], expected [null, ${spec.features.points}, channels]`,
    );
  if (side.length !== 2 || !(Number(side[1]) > 0))
    throw new ModelError(`${dir}: input side is [${side.join(', ')}], expected [null, features]`);
}

/** Parts need fusion weights for the image CNN and each of them (metadata `fusion`). */
function checkFusion(dir: string, metadata: ModelMetadata): void {
  const parts = Object.keys(metadata.parts ?? {});
  if (parts.length === 0) return;
  const weights = metadata.fusion?.weights;
  if (!weights)
    throw new ModelError(`${dir}: metadata lists parts (${parts.join(', ')}) but no fusion weights`);
  for (const name of ['image', ...parts])
    if (weights[name] === undefined) throw new ModelError(`${dir}: fusion has no weight for "${name}"`);
}

interface ModelJson {
  modelTopology: unknown;
  weightsManifest: tf.io.WeightsManifestConfig;
}

async function readModelJson(dir: string): Promise<ModelJson> {
  let modelJson: Partial<ModelJson>;
  try {
    modelJson = JSON.parse(await readFile(join(dir, MODEL_FILE), 'utf8'));
  } catch (err) {
    throw new ModelError(`cannot read ${join(dir, MODEL_FILE)}: ${(err as Error).message}`);
  }
  if (!modelJson.modelTopology || !modelJson.weightsManifest?.length)
    throw new ModelError(`${dir}/${MODEL_FILE} has no topology or weights manifest`);
  return modelJson as ModelJson;
}

async function readWeights(dir: string, modelJson: ModelJson): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for (const group of modelJson.weightsManifest) {
    for (const p of group.paths) {
      const file = basename(p); // weight paths are plain names beside model.json, never followed elsewhere
      try {
        chunks.push(await readFile(join(dir, file)));
      } catch {
        throw new ModelError(`cannot read weights file ${join(dir, file)}`);
      }
    }
  }
  return Buffer.concat(chunks);
}

function checkWeights(dir: string, weights: Buffer, expected?: { bytes: number; sha256: string }): void {
  if (!expected) return;
  if (weights.byteLength !== expected.bytes)
    throw new ModelError(`${dir}: weights are ${weights.byteLength} bytes, metadata says ${expected.bytes}`);
  if (sha256(weights) !== expected.sha256)
    throw new ModelError(`${dir}: weights sha256 does not match metadata`);
}

/** Reads model.json + its weight files from `dir`; checks size and sha256 when `expected` is given. */
export async function readLayersModel(
  dir: string,
  expected?: { bytes: number; sha256: string },
): Promise<tfl.LayersModel> {
  const modelJson = await readModelJson(dir);
  const weights = await readWeights(dir, modelJson);
  checkWeights(dir, weights, expected);
  try {
    return await tfl.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: modelJson.modelTopology as tf.io.ModelJSON['modelTopology'],
        weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
        weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
      }),
    );
  } catch (err) {
    throw new ModelError(`${dir}: cannot build model: ${(err as Error).message}`);
  }
}
