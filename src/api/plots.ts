import type { EvalResult } from '../eval/evaluate.js';
import type { Metrics } from '../eval/metrics.js';
import { gallery, PART_CSS, perClassTable } from '../eval/report-html.js';
import type { EpochHistory } from '../model/metadata.js';

// charts.ts (vega) is imported on first use: vega's module graph has a top-level await, which would
// stop `require('hwr')` (tslab compiles notebook cells to CommonJS) from loading the library at all.
const charts = () => import('../eval/charts.js');

/**
 * The evaluation report's plots and tables, one at a time, for inline display (e.g. tslab's
 * `display.svg` / `display.html` / `display.png`). Same Vega-Lite specs and HTML as report.html.
 */
export const plots = {
  /** Training and validation accuracy and loss per epoch (SVG). */
  async learningCurves(history: readonly EpochHistory[]): Promise<string> {
    const c = await charts();
    return c.renderSvg(c.learningCurvesSpec(history));
  },
  /** Confusion matrix, coloured by share of the true class (SVG). */
  async confusion(m: Metrics): Promise<string> {
    const c = await charts();
    return c.renderSvg(c.confusionSpec(m));
  },
  /** One-vs-rest ROC curve per class, AUC in the legend (SVG). */
  async roc(m: Metrics): Promise<string> {
    const c = await charts();
    return c.renderSvg(c.rocSpec(m));
  },
  /** Precision, recall and F1 per class (SVG). */
  async perClass(m: Metrics): Promise<string> {
    const c = await charts();
    return c.renderSvg(c.perClassSpec(m));
  },
};

/** An SVG rasterised to PNG bytes (2x by default), for front ends that do not show SVG. */
export async function toPng(svg: string, scale = 2): Promise<Uint8Array> {
  return (await charts()).svgToPng(svg, scale);
}

const withStyle = (html: string) => `<div class="hwr-report"><style>${PART_CSS}</style>${html}</div>`;

/** Per-class precision, recall, F1, specificity, AUC and support, with macro/weighted averages (HTML). */
export const perClassHtml = (result: EvalResult): string => withStyle(perClassTable(result));

/** The most confident mistakes as an image grid with true and predicted labels (HTML). */
export const mistakesHtml = (result: EvalResult, count = 24): string =>
  withStyle(gallery(result, result.mistakes.slice(0, count)));
