import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { EpochHistory } from '../model/metadata.js';
import type { Metrics, RocCurve } from './metrics.js';

/**
 * Vega-Lite specs for the report's plots, rendered to SVG on the server by vega's headless View
 * (renderer 'none': no canvas, no DOM), and to PNG by resvg. Data is always inlined in the spec,
 * so rendering never touches the network.
 */

// Any Vega-Lite top-level spec; the library's own type is a deep union that adds nothing here.
type Spec = Record<string, unknown>;

const FONT = 'DejaVu Sans, Verdana, sans-serif';
const CONFIG = {
  background: 'white',
  font: FONT,
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12 },
};

function top(spec: Spec): Spec {
  return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', config: CONFIG, ...spec };
}

export function learningCurvesSpec(history: readonly EpochHistory[]): Spec {
  const rows: { epoch: number; metric: string; split: string; value: number }[] = [];
  for (const h of history) {
    rows.push({ epoch: h.epoch, metric: 'accuracy', split: 'train', value: h.acc });
    rows.push({ epoch: h.epoch, metric: 'loss', split: 'train', value: h.loss });
    if (h.valAcc !== undefined)
      rows.push({ epoch: h.epoch, metric: 'accuracy', split: 'validation', value: h.valAcc });
    if (h.valLoss !== undefined)
      rows.push({ epoch: h.epoch, metric: 'loss', split: 'validation', value: h.valLoss });
  }
  const finite = rows.filter((r) => Number.isFinite(r.value));
  if (finite.length === 0) return emptySpec('no training history recorded');
  const panel = (metric: string, title: string) => ({
    title,
    width: 300,
    height: 200,
    transform: [{ filter: { field: 'metric', equal: metric } }],
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: metric, scale: { zero: false } },
      color: { field: 'split', type: 'nominal', title: null, scale: { domain: ['train', 'validation'] } },
    },
  });
  return top({
    data: { values: finite },
    hconcat: [panel('accuracy', 'Accuracy per epoch'), panel('loss', 'Loss per epoch')],
  });
}

export function confusionSpec(m: Metrics): Spec {
  const rows: { true: string; predicted: string; count: number; rate: number }[] = [];
  m.confusion.forEach((row, t) => {
    const support = row.reduce((a, b) => a + b, 0);
    row.forEach((count, p) => {
      rows.push({ true: m.classes[t], predicted: m.classes[p], count, rate: support ? count / support : 0 });
    });
  });
  const k = m.classes.length;
  const cell = Math.max(12, Math.min(36, Math.floor(480 / k)));
  const order = [...m.classes];
  // Log colour scale from the smallest non-zero share (one drawing of the largest class) to 1: next to
  // a 99 % diagonal, 1 and 15 errors of a class get clearly different blues (a linear or square-root
  // scale leaves both near white). Empty cells stay white.
  const smallest = Math.min(1, ...rows.filter((r) => r.count > 0).map((r) => r.rate));
  return top({
    title: 'Confusion matrix (colour: share of the true class, log scale)',
    data: { values: rows },
    width: cell * k,
    height: cell * k,
    encoding: {
      x: { field: 'predicted', type: 'ordinal', sort: order, title: 'predicted', axis: { labelAngle: 0 } },
      y: { field: 'true', type: 'ordinal', sort: order, title: 'true' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: {
            condition: { test: 'datum.count === 0', value: 'white' },
            field: 'rate',
            type: 'quantitative',
            scale: { scheme: 'blues', type: 'log', domain: [Math.min(smallest, 0.5), 1], clamp: true },
            title: 'share',
          },
        },
      },
      ...(k <= 20
        ? [
            {
              transform: [{ filter: 'datum.count > 0' }],
              mark: { type: 'text', fontSize: cell < 28 ? 8 : 10 },
              encoding: {
                text: { field: 'count', type: 'quantitative' },
                color: { condition: { test: 'datum.rate > 0.5', value: 'white' }, value: 'black' },
              },
            },
          ]
        : []),
    ],
  });
}

/** Thins a curve for drawing only: drops points closer than `step` (L1) to the last kept one. */
function thin(curve: RocCurve, step = 0.002): { fpr: number; tpr: number }[] {
  const out: { fpr: number; tpr: number }[] = [];
  let last: { fpr: number; tpr: number } | undefined;
  for (let i = 0; i < curve.fpr.length; i++) {
    const p = { fpr: curve.fpr[i], tpr: curve.tpr[i] };
    if (
      !last ||
      i === curve.fpr.length - 1 ||
      Math.abs(p.fpr - last.fpr) + Math.abs(p.tpr - last.tpr) >= step
    ) {
      out.push(p);
      last = p;
    }
  }
  return out;
}

/**
 * The smallest false positive rate the x axis shows: one negative of the class with the most negatives
 * (a rate of 0 has no place on a log axis; the curves start there).
 */
function fprFloor(m: Metrics): number {
  const supports = m.confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const n = supports.reduce((a, b) => a + b, 0);
  const negatives = Math.max(1, ...supports.map((s) => n - s));
  return Math.min(0.01, 1 / negatives);
}

/**
 * ROC curves with a log false-positive axis: for a 99 % model every curve hugs the top-left corner of
 * a linear plot; on a log axis from one negative to all of them the classes' curves separate where
 * they differ (how many false alarms each true positive costs).
 */
export function rocSpec(m: Metrics): Spec {
  const rows: { curve: string; order: number; fpr: number; tpr: number }[] = [];
  const domain: string[] = [];
  const floor = fprFloor(m);
  m.roc.forEach((curve, c) => {
    if (!curve) return;
    const name = `${m.classes[c]} (AUC ${curve.auc.toFixed(4)})`;
    domain.push(name);
    thin(curve).forEach((p, i) => {
      rows.push({ curve: name, order: i, fpr: Math.max(p.fpr, floor), tpr: p.tpr });
    });
  });
  if (rows.length === 0) return emptySpec('no ROC curve: every class lacks positives or negatives');
  // Chance (tpr = fpr) is a curve on a log axis: sampled geometrically.
  const steps = 40;
  const chance = Array.from({ length: steps + 1 }, (_, i) => {
    const fpr = floor ** (1 - i / steps);
    return { fpr, tpr: fpr };
  });
  return top({
    title: 'ROC curves, one class vs rest (log false positive rate)',
    width: 360,
    height: 360,
    layer: [
      {
        data: { values: chance },
        mark: { type: 'line', strokeDash: [4, 4], color: '#999', strokeWidth: 1 },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', scale: { type: 'log', domain: [floor, 1] } },
          y: { field: 'tpr', type: 'quantitative' },
        },
      },
      {
        data: { values: rows },
        mark: { type: 'line', strokeWidth: 1.5, interpolate: 'linear' },
        encoding: {
          x: {
            field: 'fpr',
            type: 'quantitative',
            title: 'false positive rate (log scale)',
            scale: { type: 'log', domain: [floor, 1] },
          },
          y: { field: 'tpr', type: 'quantitative', title: 'true positive rate', scale: { domain: [0, 1] } },
          order: { field: 'order', type: 'quantitative' },
          color: {
            field: 'curve',
            type: 'nominal',
            title: 'class',
            sort: domain,
            scale: { scheme: domain.length > 10 ? 'category20' : 'category10' },
          },
        },
      },
    ],
  });
}

export function perClassSpec(m: Metrics): Spec {
  const rows: { class: string; metric: string; value: number }[] = [];
  for (const c of m.perClass) {
    for (const metric of ['precision', 'recall', 'f1'] as const) {
      const value = c[metric];
      if (value !== null) rows.push({ class: c.label, metric: metric === 'f1' ? 'F1' : metric, value });
    }
  }
  if (rows.length === 0) return emptySpec('no per-class metrics');
  return top({
    title: 'Precision, recall and F1 per class',
    data: { values: rows },
    width: Math.max(300, 24 * m.classes.length),
    height: 220,
    mark: { type: 'point', filled: true, size: 60 },
    encoding: {
      x: { field: 'class', type: 'ordinal', sort: [...m.classes], axis: { labelAngle: 0 } },
      y: { field: 'value', type: 'quantitative', scale: { zero: false }, title: 'score' },
      color: { field: 'metric', type: 'nominal', title: null, sort: ['precision', 'recall', 'F1'] },
      shape: { field: 'metric', type: 'nominal', title: null, sort: ['precision', 'recall', 'F1'] },
    },
  });
}

/** A chart with only a message, so a report keeps its layout when data is missing. */
function emptySpec(message: string): Spec {
  return top({
    width: 300,
    height: 60,
    data: { values: [{ message }] },
    mark: { type: 'text', fontSize: 13, color: '#666' },
    encoding: { text: { field: 'message' } },
  });
}

/** Compiles a Vega-Lite spec and renders it headless to an SVG string. */
export async function renderSvg(spec: Spec): Promise<string> {
  const compiled = vl.compile(spec as unknown as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Warn });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises an SVG at 2x for crisp PNGs; system fonts are used for text. */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, sansSerifFamily: 'DejaVu Sans', defaultFontFamily: 'DejaVu Sans' },
  });
  return new Uint8Array(resvg.render().asPng());
}
