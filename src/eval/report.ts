import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { EpochHistory, ModelMetadata } from '../model/metadata.js';
import { VERSION } from '../version.js';
import { confusionSpec, learningCurvesSpec, perClassSpec, renderSvg, rocSpec, svgToPng } from './charts.js';
import type { EvalResult, Mistake } from './evaluate.js';
import type { Averages } from './metrics.js';

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
    [REPORT_FILES.json]: `${JSON.stringify(reportJson(result, options.metadata, history), null, 2)}\n`,
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

function reportJson(
  result: EvalResult,
  metadata: ModelMetadata | undefined,
  history: readonly EpochHistory[],
) {
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
    metadata: metadata ?? null,
    history,
  };
}

// ---------------------------------------------------------------------------------------------
// HTML

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
function esc(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(2)}%`);
const num = (v: number | null, digits = 4) => (v === null ? '–' : v.toFixed(digits));

/** A 28x28 ink-high image as a data: PNG, drawn dark on white like ink on paper. */
export function mistakeImageDataUrl(pixels: Uint8Array, size = 28): string {
  const png = new PNG({ width: size, height: size });
  for (let i = 0; i < size * size; i++) {
    const v = 255 - pixels[i];
    png.data[i * 4] = v;
    png.data[i * 4 + 1] = v;
    png.data[i * 4 + 2] = v;
    png.data[i * 4 + 3] = 255;
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

function figure(id: string, caption: string, svg: string): string {
  return `<figure class="plot" id="${id}">${svg}<figcaption>${esc(caption)}</figcaption></figure>`;
}

function averagesRow(label: string, a: Averages, support: number): string {
  return `<tr class="avg"><th>${label}</th><td>${num(a.precision)}</td><td>${num(a.recall)}</td><td>${num(a.f1)}</td><td>${num(a.specificity)}</td><td>${num(a.auc)}</td><td>${support}</td><td></td></tr>`;
}

function perClassTable(result: EvalResult): string {
  const rows = result.perClass
    .map(
      (c) =>
        `<tr><th>${esc(c.label)}</th><td>${num(c.precision)}</td><td>${num(c.recall)}</td><td>${num(c.f1)}</td><td>${num(c.specificity)}</td><td>${num(c.auc)}</td><td>${c.support}</td><td>${c.predicted}</td></tr>`,
    )
    .join('\n');
  return `<table class="metrics" id="per-class">
<thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>specificity</th><th>AUC</th><th>support</th><th>predicted</th></tr></thead>
<tbody>
${rows}
</tbody>
<tfoot>
${averagesRow('macro', result.macro, result.n)}
${averagesRow('weighted', result.weighted, result.n)}
</tfoot>
</table>`;
}

function gallery(result: EvalResult, mistakes: readonly Mistake[]): string {
  if (mistakes.length === 0)
    return '<p id="gallery" class="empty">No mistakes: every sample was classified correctly.</p>';
  const items = mistakes
    .map((m) => {
      const t = esc(result.classes[m.label]);
      const p = esc(result.classes[m.predicted]);
      return `<figure class="mistake"><img src="${mistakeImageDataUrl(m.pixels)}" width="84" height="84" alt="sample ${m.index}: true ${t}, predicted ${p}"><figcaption>true <b>${t}</b> → <b class="bad">${p}</b><br>${pct(m.confidence)} <span class="dim">#${m.index}</span></figcaption></figure>`;
    })
    .join('\n');
  return `<div id="gallery" class="gallery">\n${items}\n</div>`;
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
body { font: 14px/1.45 'DejaVu Sans', Verdana, sans-serif; color: #222; margin: 0 auto; max-width: 1100px; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 17px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.facts { color: #555; } .dim { color: #888; } .bad { color: #b00020; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 16px 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 110px; }
.card .v { font-size: 20px; font-weight: bold; } .card .k { color: #666; font-size: 12px; }
.notes { background: #fff8e1; border: 1px solid #f0d98c; padding: 8px 8px 8px 28px; }
figure.plot { margin: 12px 0; overflow-x: auto; } figure.plot svg { max-width: 100%; height: auto; }
figcaption { color: #666; font-size: 12px; }
table.metrics { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.metrics th, table.metrics td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
table.metrics thead th { border-bottom: 2px solid #ccc; } tr.avg th, tr.avg td { font-weight: bold; background: #f7f7f7; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(110px, 1fr)); gap: 12px; }
.mistake { margin: 0; text-align: center; } .mistake img { image-rendering: pixelated; border: 1px solid #ccc; }
details pre { background: #f7f7f7; padding: 8px; overflow-x: auto; font-size: 12px; }
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
${meta ? `<h2>Model metadata</h2>\n<details><summary>metadata.json</summary><pre>${esc(JSON.stringify(meta, null, 2))}</pre></details>` : ''}
</body>
</html>
`;
}
