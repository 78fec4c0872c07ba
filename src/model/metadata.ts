import { z } from 'zod';

/** Pixel normalisation the model was trained with: x = (pixel / 255 - mean) / std. */
export const Normalization = z.object({
  scale: z.literal(255),
  mean: z.number(),
  std: z.number().positive(),
});
export type Normalization = z.infer<typeof Normalization>;

export const EpochHistory = z.object({
  epoch: z.number().int().nonnegative(),
  loss: z.number(),
  acc: z.number(),
  valLoss: z.number().optional(),
  valAcc: z.number().optional(),
  lr: z.number().optional(),
  seconds: z.number().optional(),
});
export type EpochHistory = z.infer<typeof EpochHistory>;

/**
 * How a stroke part turns pen strokes into its input: `strokeFeatures` in
 * src/preprocess/stroke-features.ts, at this version and number of resampled points. Changing the
 * features means a new version, so a model always gets the features it was trained on.
 */
export const StrokeFeatureSpec = z.object({
  version: z.number().int().positive(),
  points: z.number().int().min(8).max(1024),
});
export type StrokeFeatureSpec = z.infer<typeof StrokeFeatureSpec>;

/**
 * A further network of a fused model, in its own subfolder (a TF.js layers model.json + weights, so
 * it also loads in a browser). The image CNN is the model directory's root model and is not listed.
 */
export const ModelPart = z.object({
  /** Subfolder of the model directory holding the part's model.json and weights. */
  dir: z.string().regex(/^[a-z][a-z0-9-]*$/),
  /** The request input this part reads. */
  input: z.literal('strokes'),
  arch: z.string().min(1),
  params: z.number().int().positive(),
  features: StrokeFeatureSpec,
  weights: z
    .object({ file: z.string(), bytes: z.number().int(), sha256: z.string(), dtype: z.string() })
    .optional(),
  /** Accuracy of this part alone on the model's test split. */
  testAccuracy: z.number().min(0).max(1).optional(),
  training: z.record(z.string(), z.unknown()).optional(),
});
export type ModelPart = z.infer<typeof ModelPart>;

/**
 * How the parts' answers are combined for an input several parts can read: the fused log-probability
 * of class c is the sum over parts p of weights[p] * log P_p(c), renormalised. `image` names the root
 * model. Weights are fitted on validation writers only.
 */
export const Fusion = z.object({
  method: z.literal('log-linear'),
  weights: z.record(z.string(), z.number().nonnegative()),
  fittedOn: z.string(),
  /** Accuracy of the fused answer on the model's test split (and any other named sets). */
  accuracy: z.record(z.string(), z.number().min(0).max(1)).optional(),
  /** Accuracy of each part alone on the same sets (part name → set name → accuracy), for comparison. */
  partAccuracy: z.record(z.string(), z.record(z.string(), z.number().min(0).max(1))).optional(),
  /** How many drawings each named set holds. */
  samples: z.record(z.string(), z.number().int().nonnegative()).optional(),
});
export type Fusion = z.infer<typeof Fusion>;

/** metadata.json, written beside model.json; everything a server or an evaluator needs to use a model. */
export const ModelMetadata = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  parentVersion: z.string().optional(),
  arch: z.string().min(1),
  classes: z.array(z.string().min(1)).min(2),
  inputShape: z.tuple([z.literal(28), z.literal(28), z.literal(1)]),
  normalization: Normalization,
  params: z.number().int().positive(),
  dataset: z.object({
    name: z.string(),
    sources: z.array(z.object({ path: z.string(), sha256: z.string() })),
    trainSamples: z.number().int().nonnegative(),
    testSamples: z.number().int().nonnegative(),
  }),
  training: z.object({
    command: z.string(),
    seed: z.number().int(),
    epochs: z.number().int().nonnegative(),
    batchSize: z.number().int().positive(),
    lr: z.number().positive(),
    validationSplit: z.number().min(0).max(1),
    backend: z.string(),
    threads: z.number().int().positive(),
    /** wasm: what its GEMMs ran on ("OpenBLAS 0.3.21", "XNNPACK"); absent in older models. */
    gemm: z.string().optional(),
    wallSeconds: z.number().nonnegative(),
    history: z.array(EpochHistory),
  }),
  testAccuracy: z.number().min(0).max(1).optional(),
  weights: z
    .object({ file: z.string(), bytes: z.number().int(), sha256: z.string(), dtype: z.string() })
    .optional(),
  hwrVersion: z.string(),
  createdAt: z.string(),
  extra: z.record(z.string(), z.unknown()).optional(),
  /** Further networks beside the root image CNN, by part name (e.g. `strokes`). */
  parts: z.record(z.string(), ModelPart).optional(),
  fusion: Fusion.optional(),
});
export type ModelMetadata = z.infer<typeof ModelMetadata>;

/**
 * part.json, beside a stroke part's model.json when `hwr train --arch strokes-*` writes it on its own
 * (before `hwr fuse` puts it into a model directory): the part plus what a fused model's metadata and
 * an evaluator need to check it belongs (classes, data, training).
 */
export const StrokePartMetadata = ModelPart.extend({
  name: z.string().min(1),
  classes: z.array(z.string().min(1)).min(2),
  /** Sizes of the two inputs: seq is [points, channels], side is [side]. */
  inputs: z.object({ channels: z.number().int().positive(), side: z.number().int().nonnegative() }),
  dataset: ModelMetadata.shape.dataset.extend({ validationSamples: z.number().int().nonnegative() }),
  history: z.array(EpochHistory),
  validationAccuracy: z.number().min(0).max(1).optional(),
  hwrVersion: z.string(),
  createdAt: z.string(),
});
export type StrokePartMetadata = z.infer<typeof StrokePartMetadata>;
