import { DataError, type ImageDataset } from '../data/dataset.js';
import { IMAGE_SIZE, PIXELS, predictProbs } from '../model/infer.js';
import { type LoadedModel, ModelError } from '../model/io.js';
import { argmaxRows } from '../util/argmax.js';
import { computeMetrics, type Metrics } from './metrics.js';

/** A misclassified sample, with its pixels so a report can show it without the dataset. */
export interface Mistake {
  /** Index of the sample in the evaluated dataset. */
  readonly index: number;
  readonly label: number;
  readonly predicted: number;
  /** Probability the model gave its (wrong) prediction. */
  readonly confidence: number;
  /** Probability the model gave the true class. */
  readonly trueProb: number;
  /** 28x28 bytes, ink high. */
  readonly pixels: Uint8Array;
}

export interface EvalResult extends Metrics {
  readonly model: {
    readonly name: string;
    readonly version: string;
    readonly arch: string;
    readonly dir: string;
  };
  readonly dataset: { readonly name: string; readonly sources: readonly { path: string; sha256: string }[] };
  /** Wall time of prediction plus metrics. */
  readonly seconds: number;
  /** The model's share of `seconds` (the rest is metrics and the gallery). */
  readonly predictSeconds: number;
  /** Per-sample data, index-aligned with the dataset (for compare and custom analyses). */
  readonly predictions: {
    readonly labels: Uint8Array;
    readonly predicted: Uint16Array;
    /** n x classes, row-major. */
    readonly probs: Float32Array;
  };
  /** The most confident mistakes, most confident first. */
  readonly mistakes: readonly Mistake[];
}

export interface EvaluateOptions {
  /** Dataset name recorded in the result (default "unnamed"). */
  readonly datasetName?: string;
  /** How many confident mistakes to keep for the gallery (default 24). */
  readonly mistakes?: number;
  readonly batchSize?: number;
}

/** Throws unless the dataset can be scored by the model: 28x28 images and the same classes in order. */
export function checkCompatible(loaded: LoadedModel, ds: ImageDataset): void {
  if (ds.rows !== IMAGE_SIZE || ds.cols !== IMAGE_SIZE)
    throw new DataError(`dataset images are ${ds.rows}x${ds.cols}; models take ${IMAGE_SIZE}x${IMAGE_SIZE}`);
  const model = loaded.metadata.classes;
  const data = ds.classes;
  if (model.length !== data.length || model.some((c, i) => c !== data[i])) {
    const show = (cs: readonly string[]) =>
      cs.length > 12 ? `${cs.slice(0, 12).join(' ')} …` : cs.join(' ');
    throw new ModelError(
      `model ${loaded.metadata.name} (${loaded.dir}) has classes [${show(model)}] (${model.length}) but the dataset has [${show(data)}] (${data.length}); evaluate it on a dataset with the same classes`,
    );
  }
  if (ds.n === 0) throw new DataError('the dataset is empty: nothing to evaluate');
}

/**
 * Scores `loaded` on `ds`: every metric of computeMetrics plus per-sample predictions and the most
 * confident mistakes. Needs an initialised TF backend (initBackend).
 */
export function evaluateModel(
  loaded: LoadedModel,
  ds: ImageDataset,
  options: EvaluateOptions = {},
): EvalResult {
  checkCompatible(loaded, ds);
  const t0 = performance.now();
  const k = ds.classes.length;
  const probs = predictProbs(loaded.model, ds.images, ds.n, loaded.metadata.normalization, options.batchSize);
  const predictSeconds = (performance.now() - t0) / 1000;
  const predicted = argmaxRows(probs, k);
  const metrics = computeMetrics(ds.labels, probs, ds.classes, { predicted });
  const mistakes = confidentMistakes(ds, probs, predicted, options.mistakes ?? 24);
  const seconds = (performance.now() - t0) / 1000;
  const { metadata } = loaded;
  return {
    ...metrics,
    model: { name: metadata.name, version: metadata.version, arch: metadata.arch, dir: loaded.dir },
    dataset: { name: options.datasetName ?? 'unnamed', sources: ds.sources },
    seconds,
    predictSeconds,
    predictions: { labels: ds.labels, predicted, probs },
    mistakes,
  };
}

function confidentMistakes(
  ds: ImageDataset,
  probs: Float32Array,
  predicted: Uint16Array,
  count: number,
): Mistake[] {
  const k = ds.classes.length;
  const wrong: number[] = [];
  for (let i = 0; i < ds.n; i++) if (predicted[i] !== ds.labels[i]) wrong.push(i);
  const confidence = (i: number) => probs[i * k + predicted[i]];
  // Stable order for equal confidences: lower index first, so reports are reproducible.
  wrong.sort((a, b) => confidence(b) - confidence(a) || a - b);
  return wrong.slice(0, count).map((i) => ({
    index: i,
    label: ds.labels[i],
    predicted: predicted[i],
    confidence: confidence(i),
    trueProb: probs[i * k + ds.labels[i]],
    pixels: ds.images.slice(i * PIXELS, (i + 1) * PIXELS),
  }));
}

/** The F1-worst classes (ties: lower recall first), skipping classes whose F1 is undefined. */
export function worstClasses(result: Metrics, count = 3): { label: string; f1: number; recall: number }[] {
  return result.perClass
    .filter((c) => c.f1 !== null && c.recall !== null)
    .map((c) => ({ label: c.label, f1: c.f1 as number, recall: c.recall as number }))
    .sort((a, b) => a.f1 - b.f1 || a.recall - b.recall)
    .slice(0, count);
}

/** A short human summary (the CLI prints it; train logs it). */
export function summarize(result: EvalResult): string {
  const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(2)}%`);
  const num = (v: number | null) => (v === null ? 'n/a' : v.toFixed(4));
  const worst = worstClasses(result)
    .map((c) => `${c.label} (F1 ${num(c.f1)})`)
    .join(', ');
  const lines = [
    `model ${result.model.name} v${result.model.version} (${result.model.arch}) on ${result.dataset.name}: ${result.n} samples`,
    `accuracy   ${pct(result.accuracy)}   top-3 ${pct(result.topK[2]?.accuracy ?? null)}   log-loss ${num(result.logLoss)}`,
    `macro F1   ${num(result.macro.f1)}   macro AUC ${num(result.macro.auc)}`,
    `worst F1   ${worst || 'n/a'}`,
    `time       ${result.seconds.toFixed(2)} s (${Math.round(result.n / Math.max(result.seconds, 1e-9))} images/s; model ${result.predictSeconds.toFixed(2)} s, metrics ${(result.seconds - result.predictSeconds).toFixed(2)} s)`,
  ];
  for (const note of result.notes) lines.push(`note: ${note}`);
  return lines.join('\n');
}
