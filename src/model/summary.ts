import type * as tfl from '@tensorflow/tfjs-layers';

export interface LayerRow {
  readonly name: string;
  readonly type: string;
  readonly outputShape: string;
  readonly params: number;
}

export interface ModelSummary {
  readonly layers: readonly LayerRow[];
  readonly totalParams: number;
  readonly trainableParams: number;
  readonly nonTrainableParams: number;
}

type Shape = (number | null)[];

function shapeText(shape: Shape | Shape[]): string {
  const s = (Array.isArray(shape[0]) ? shape[0] : shape) as Shape;
  return `(${s.map((d) => (d == null ? 'None' : String(d))).join(', ')})`;
}

function count(weights: readonly { shape: readonly (number | null)[] }[]): number {
  return weights.reduce((sum, w) => sum + w.shape.reduce<number>((p, d) => p * (d ?? 1), 1), 0);
}

/** Layer table with the same columns and totals as Keras' model.summary(). */
export function summarize(model: tfl.LayersModel): ModelSummary {
  const layers = model.layers.map((l) => ({
    name: l.name,
    type: l.getClassName(),
    outputShape: shapeText(l.outputShape),
    params: l.countParams(),
  }));
  const trainableParams = count(model.trainableWeights);
  const nonTrainableParams = count(model.nonTrainableWeights);
  return { layers, totalParams: trainableParams + nonTrainableParams, trainableParams, nonTrainableParams };
}

export function formatSummary(title: string, s: ModelSummary): string {
  const rows = [
    ['Layer (type)', 'Output Shape', 'Param #'],
    ...s.layers.map((l) => [`${l.name} (${l.type})`, l.outputShape, l.params.toLocaleString('en-US')]),
  ];
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c].length)) + 2);
  const line = (r: string[]) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]))
      .join('')
      .trimEnd();
  const rule = '_'.repeat(widths.reduce((a, b) => a + b, 0));
  return [
    `Model: "${title}"`,
    rule,
    line(rows[0]),
    '='.repeat(rule.length),
    ...rows.slice(1).flatMap((r) => [line(r), rule]),
    `Total params: ${s.totalParams.toLocaleString('en-US')}`,
    `Trainable params: ${s.trainableParams.toLocaleString('en-US')}`,
    `Non-trainable params: ${s.nonTrainableParams.toLocaleString('en-US')}`,
  ].join('\n');
}
