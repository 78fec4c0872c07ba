import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EpochHistory, Fusion, ModelMetadata } from '../model/metadata.js';
import { VERSION } from '../version.js';
import { confusionSpec, learningCurvesSpec, perClassSpec, renderSvg, rocSpec, svgToPng } from './charts.js';
import type { EvalResult } from './evaluate.js';
import type { PartsEvaluation } from './fused.js';
import {
  esc,
  figure,
  gallery,
  num,
  PAGE_CSS,
  PART_CSS,
  partsSection,
  pct,
  perClassTable,
} from './report-html.js';

export { mistakeImageDataUrl } from './report-html.js';

/**
 * An evaluation report: report.json (all metrics, model metadata, training history), report.html (one
 * self-contained file: inline SVG charts, data: PNG images, inline CSS, no script, and a CSP that
 * forbids any fetch) and PNG copies of the plots.
 */
export const REPORT_FILES = {
  json: 'report.json',
  html: 'report.html',
  learningCurves: 'learning-curves.png',
  confusion: 'confusion-matrix.png',
  roc: 'roc.png',
} as const;

export interface ReportOptions {
  /** Model metadata, stored in report.json and shown in the header. */
  readonly metadata?: ModelMetadata;
  /** Per-epoch history for the learning curves (default: metadata.training.history). */
  readonly history?: readonly EpochHistory[];
  /** Report title (default: "<model> on <dataset>"). */
  readonly title?: string;
  /** The fusion the parts section shows (default: metadata.fusion). */
  readonly fusion?: Fusion;
  /** A fused model read on pen drawings in the same run: its parts, fusion and mistakes. */
  readonly parts?: PartsEvaluation;
}

/** The report as files (name -> content), e.g. for saveModel's atomic `extraFiles`. */
export async function buildReport(
  result: EvalResult,
  options: ReportOptions = {},
): Promise<Record<string, string | Uint8Array>> {
  const history = options.history ?? options.metadata?.training.history ?? [];
  const svgs = {
    learningCurves: await renderSvg(learningCurvesSpec(history)),
    confusion: await renderSvg(confusionSpec(result)),
    roc: await renderSvg(rocSpec(result)),
    perClass: await renderSvg(perClassSpec(result)),
  };
  return {
    [REPORT_FILES.json]: `${JSON.stringify(reportJson(result, options, history), null, 2)}\n`,
    [REPORT_FILES.html]: reportHtml(result, svgs, options),
    [REPORT_FILES.learningCurves]: svgToPng(svgs.learningCurves),
    [REPORT_FILES.confusion]: svgToPng(svgs.confusion),
    [REPORT_FILES.roc]: svgToPng(svgs.roc),
  };
}

/** Writes report.json, report.html and the PNG plots into outDir (created if needed); returns the paths. */
export async function writeReport(
  result: EvalResult,
  outDir: string,
  options: ReportOptions = {},
): Promise<string[]> {
  const files = await buildReport(result, options);
  await mkdir(outDir, { recursive: true });
  const paths: string[] = [];
  for (const [name, data] of Object.entries(files)) {
    const path = join(outDir, name);
    await writeFile(path, data);
    paths.push(path);
  }
  return paths;
}

/** A parts evaluation as data: per-drawing flags and pixels stay out, mistakes keep indices and labels. */
export function partsJson(parts: PartsEvaluation, classes: readonly string[]) {
  const { correct: _c, mistakes, ...figures } = parts;
  return {
    ...figures,
    mistakes: mistakes.map(({ pixels: _px, ...m }) => ({
      ...m,
      trueLabel: classes[m.label],
      answerLabel: classes[m.answer],
    })),
  };
}

function reportJson(result: EvalResult, options: ReportOptions, history: readonly EpochHistory[]) {
  const metadata: ModelMetadata | undefined = options.metadata;
  // Per-sample arrays stay out (they are megabytes); mistakes keep their ids, not their pixels.
  const { predictions: _p, mistakes, ...metrics } = result;
  return {
    format: 'hwr-report/1',
    generatedAt: new Date().toISOString(),
    hwrVersion: VERSION,
    ...metrics,
    mistakes: mistakes.map(({ pixels: _px, ...m }) => ({
      ...m,
      trueLabel: result.classes[m.label],
      predictedLabel: result.classes[m.predicted],
    })),
    ...(options.parts ? { parts: partsJson(options.parts, result.classes) } : {}),
    metadata: metadata ?? null,
    history,
  };
}

function reportHtml(
  result: EvalResult,
  svgs: { learningCurves: string; confusion: string; roc: string; perClass: string },
  options: ReportOptions,
): string {
  const meta = options.metadata;
  const title = options.title ?? `${result.model.name} v${result.model.version} on ${result.dataset.name}`;
  const cards: [string, string][] = [
    ['accuracy', pct(result.accuracy)],
    ['top-3 accuracy', pct(result.topK[2]?.accuracy ?? null)],
    ['macro F1', num(result.macro.f1)],
    ['macro AUC', num(result.macro.auc)],
    ['log-loss', num(result.logLoss)],
    ['samples', String(result.n)],
    ['eval time', `${result.seconds.toFixed(2)} s`],
  ];
  const facts = [
    `architecture <b>${esc(result.model.arch)}</b>`,
    meta ? `${meta.params.toLocaleString('en')} parameters` : '',
    meta
      ? `trained ${meta.training.epochs} epoch${meta.training.epochs === 1 ? '' : 's'} in ${meta.training.wallSeconds.toFixed(0)} s on ${esc(meta.training.backend)}`
      : '',
    meta ? `created ${esc(meta.createdAt)}` : '',
    `hwr ${esc(VERSION)}`,
  ].filter(Boolean);
  const notes = result.notes.length
    ? `<ul class="notes">${result.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${esc(title)}</title>
<style>
${PAGE_CSS}
${PART_CSS}
</style>
</head>
<body>
<h1>${esc(title)}</h1>
<p class="facts">${facts.join(' · ')}</p>
<div class="cards">${cards.map(([k, v]) => `<div class="card"><div class="v">${v}</div><div class="k">${k}</div></div>`).join('')}</div>
${notes}
<h2>Learning curves</h2>
${figure('learning-curves', 'Training and validation accuracy and loss per epoch.', svgs.learningCurves)}
<h2>Confusion matrix</h2>
${figure('confusion-matrix', 'Rows: true class; columns: predicted class; numbers: sample counts.', svgs.confusion)}
<h2>ROC curves</h2>
${figure('roc', 'One-vs-rest ROC per class from the predicted probabilities; AUC in the legend.', svgs.roc)}
<h2>Per-class metrics</h2>
${figure('per-class-chart', 'Precision, recall and F1 per class (scale does not start at zero).', svgs.perClass)}
${perClassTable(result)}
<h2>Most confident mistakes</h2>
${gallery(result, result.mistakes)}
${partsSection(result.classes, options.fusion ?? meta?.fusion, options.parts)}${meta ? `<h2>Model metadata</h2>\n<details><summary>metadata.json</summary><pre>${esc(JSON.stringify(meta, null, 2))}</pre></details>` : ''}
</body>
</html>
`;
}
