/**
 * hwr as a library (`import * as hwr from 'hwr'`): what a notebook or script needs to load data,
 * build the reference architectures, train with progress, evaluate and show the report's plots,
 * without the CLI. docs/notebook.md walks through it; notebooks/paper.ipynb uses all of it.
 *
 * ```ts
 * await hwr.initBackend();                                         // wasm (+ OpenBLAS) or cpu, once
 * const data = hwr.shrink(await hwr.loadDataset('mnist'), { train: 2000, test: 1000 });
 * console.log(hwr.modelSummary(hwr.buildModel('paper', 10)));      // 995,060 parameters
 * const trained = await hwr.trainModel({ arch: 'paper', data, epochs: 1 }); // progress lines
 * const { evaluation } = await hwr.publishModel(trained.model, trained.metadata, 'models/mine', data.test);
 * console.log(hwr.summarize(evaluation));                          // accuracy, macro F1/AUC, worst classes
 * const svg = await hwr.plots.confusion(evaluation);               // also learningCurves, roc, perClass
 * const html = hwr.mistakesHtml(evaluation);                       // and perClassHtml
 * ```
 *
 * The entry loads with `require('hwr')` as well as `import` (tslab runs cells as CommonJS): it has no
 * top-level await in its module graph, so the chart renderer (vega) is loaded on first use.
 *
 * Everything throws the project's errors (DataError, ModelError, BackendError) with a message a user
 * can act on. Tensors need `initBackend()` first.
 */

export {
  DataError,
  type DatasetSplits,
  DIGIT_CLASSES,
  type ImageDataset,
  LETTER_CLASSES,
  range,
  subset,
} from '../data/dataset.js';
export { type DatasetOptions, datasetNames, loadDataset, loadSplit } from '../data/datasets.js';
export { BackendError, type BackendInfo, initBackend } from '../engine/backend.js';
export { type Comparison, compareModels, formatComparison } from '../eval/compare.js';
export { type EvalResult, evaluateModel, type Mistake, summarize, worstClasses } from '../eval/evaluate.js';
export { type Published, type PublishOptions, publishModel } from '../eval/publish.js';
export { ARCH_NAMES, type ArchName, buildModel } from '../model/archs.js';
export { type LoadedModel, loadModel, ModelError, saveModel } from '../model/io.js';
export type { EpochHistory, ModelMetadata } from '../model/metadata.js';
export { RECIPES, type Recipe } from '../train/recipes.js';
export type { BatchProgress, TrainedModel } from '../train/trainer.js';
export { VERSION } from '../version.js';
export { head, shrink } from './data.js';
export { mistakesHtml, perClassHtml, plots, toPng } from './plots.js';
export { buildReport, writeReport } from './report.js';
export { modelSummary } from './summary.js';
export { type TrainOptions, trainModel } from './train.js';
