/**
 * Evaluation: metrics, reports and model comparison.
 *
 * ```ts
 * await initBackend();
 * const result = evaluateModel(loaded, testSet, { datasetName: 'mnist test' }); // sync, throws on class mismatch
 * console.log(summarize(result));                                            // accuracy, macro F1/AUC, worst classes, time
 * await writeReport(result, outDir, { metadata: loaded.metadata });          // report.json, report.html, 3 PNGs
 * const files = await buildReport(result, { metadata });                      // same files in memory (saveModel extraFiles)
 * const c = compareModels(current, candidate, testSet);                       // c.accuracyDelta, c.mcnemar.pValue
 * ```
 *
 * - `evaluateModel(loaded, ds)` → `EvalResult`: every metric of `computeMetrics` (accuracy, top-k,
 *   log-loss, confusion matrix, per-class precision/recall/F1/specificity/AUC, macro and weighted
 *   averages, ROC curves, notes on undefined values), per-sample predictions and the 24 most confident
 *   mistakes with their pixels. The dataset's classes must equal the model's, in order (ModelError).
 * - `writeReport(result, outDir, { metadata, history })`: history defaults to metadata.training.history.
 * - `compareModels(a, b, ds)` / `compareResults(ra, rb)` → `Comparison` with McNemar's test on the
 *   paired predictions (exact binomial below 25 discordant pairs, continuity-corrected chi-square above).
 */
export {
  type Comparison,
  compareModels,
  compareResults,
  formatComparison,
  type ModelScore,
} from './compare.js';
export {
  checkCompatible,
  type EvalResult,
  type EvaluateOptions,
  evaluateModel,
  type Mistake,
  summarize,
  worstClasses,
} from './evaluate.js';
export {
  type ClassMetrics,
  computeMetrics,
  type McNemarResult,
  type Metrics,
  mcnemar,
  mcnemarFromCounts,
  type RocCurve,
} from './metrics.js';
export { buildReport, REPORT_FILES, type ReportOptions, writeReport } from './report.js';
