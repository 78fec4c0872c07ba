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
});
export type ModelMetadata = z.infer<typeof ModelMetadata>;
