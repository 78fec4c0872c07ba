import type * as tfl from '@tensorflow/tfjs-layers';
import type { ImageDataset } from '../data/dataset.js';
import { loadModel, saveModel, type WeightDtype } from '../model/io.js';
import type { ModelMetadata } from '../model/metadata.js';
import { type EvalResult, evaluateModel } from './evaluate.js';

export interface PublishOptions {
  readonly weights?: WeightDtype;
  /** Write report.html, report.json and the PNG plots beside the model (default true). */
  readonly report?: boolean;
  /** Dataset name recorded in the evaluation (default "<metadata.dataset.name> test"). */
  readonly datasetName?: string;
}

export interface Published {
  readonly metadata: ModelMetadata;
  readonly evaluation: EvalResult;
}

/**
 * Saves a trained model into `dir`, then judges it as it will ship: reloaded from disk (float16
 * rounding included), evaluated on `test`, and saved again with that test accuracy in its metadata
 * and its report beside it. Both writes are atomic, so a server watching `dir` only ever loads a
 * complete model.
 */
export async function publishModel(
  model: tfl.LayersModel,
  metadata: ModelMetadata,
  dir: string,
  test: ImageDataset,
  options: PublishOptions = {},
): Promise<Published> {
  const weights = options.weights ?? 'float32';
  await saveModel(model, metadata, dir, { weights });
  const saved = await loadModel(dir);
  const evaluation = evaluateModel(saved, test, {
    datasetName: options.datasetName ?? `${metadata.dataset.name} test`,
  });
  const extra = { ...metadata.extra, trainedTestAccuracy: metadata.testAccuracy };
  const final = { ...saved.metadata, testAccuracy: evaluation.accuracy, extra };
  // Loaded here, not at the top: vega's module graph has a top-level await, and hwr's library entry
  // must stay loadable with require() (tslab compiles notebook cells to CommonJS).
  const { buildReport } = await import('./report.js');
  const reportFiles = options.report === false ? {} : await buildReport(evaluation, { metadata: final });
  const meta = await saveModel(saved.model, final, dir, { weights, extraFiles: reportFiles });
  return { metadata: meta, evaluation };
}
