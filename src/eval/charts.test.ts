import { describe, expect, it } from 'vitest';
import { confusionSpec, renderSvg, rocSpec } from './charts.js';
import { computeMetrics } from './metrics.js';

// A 99 %-accurate 3-class model on 1,000 drawings per class: class 0 is wrong once (read as 1),
// class 1 fifteen times (read as 2), class 2 never. Probabilities: 0.9 on the answer, 0.05 elsewhere,
// with a per-drawing jitter so the ROC curves have many thresholds.
function ninetyNinePercent() {
  const classes = ['0', '1', '2'];
  const labels: number[] = [];
  const probs: number[] = [];
  const wrong = (t: number, i: number) => (t === 0 && i < 1 ? 1 : t === 1 && i < 15 ? 2 : t);
  for (let t = 0; t < 3; t++)
    for (let i = 0; i < 1000; i++) {
      const answer = wrong(t, i);
      const top = 0.6 + (0.39 * ((i * 7919) % 1000)) / 1000;
      labels.push(t);
      for (let c = 0; c < 3; c++) probs.push(c === answer ? top : (1 - top) / 2);
    }
  return computeMetrics(labels, probs, classes);
}

/** The fill colour of each cell, keyed "true>predicted", from the SVG's rect marks. */
function cellFills(svg: string): Map<string, string> {
  const cells = svg.matchAll(
    /<path aria-label="predicted: ([^;]+); true: ([^;]+);[^"]*"[^>]*aria-roledescription="rect mark"[^>]*fill="([^"]+)"/g,
  );
  return new Map([...cells].map((c) => [`${c[2]}>${c[1]}`, c[3]]));
}

function luminance(fill: string): number {
  if (fill === 'white') return 1;
  const rgb = /rgb\((\d+), (\d+), (\d+)\)/.exec(fill);
  if (!rgb) throw new Error(`unexpected fill ${fill}`);
  const [r, g, b] = rgb.slice(1).map((v) => Number(v) / 255);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

describe('report charts for a 99 % model', () => {
  it('colours 1 and 15 errors of a class clearly apart in the confusion matrix', async () => {
    const m = ninetyNinePercent();
    expect(m.confusion[0][1]).toBe(1);
    expect(m.confusion[1][2]).toBe(15);
    const svg = await renderSvg(confusionSpec(m));
    const fills = cellFills(svg);
    expect(fills.size).toBe(9);
    const fill = (t: string, p: string) => fills.get(`${t}>${p}`) ?? 'missing';
    const one = luminance(fill('0', '1'));
    const fifteen = luminance(fill('1', '2'));
    const diagonal = luminance(fill('2', '2'));
    // Empty cells are white; 1 error is a visible tint; 15 errors sit well between it and the diagonal.
    expect(fill('0', '2')).toBe('white');
    expect(one).toBeLessThan(0.97);
    expect(one - fifteen).toBeGreaterThan(0.15);
    expect(fifteen - diagonal).toBeGreaterThan(0.15);
  });

  it('draws the ROC curves on a log false-positive axis from one negative to all of them', async () => {
    const m = ninetyNinePercent();
    const spec = rocSpec(m) as {
      layer: { encoding: { x: { scale: { type: string; domain: number[] } } } }[];
    };
    const x = spec.layer[1].encoding.x.scale;
    expect(x.type).toBe('log');
    expect(x.domain).toEqual([1 / 2000, 1]);
    const svg = await renderSvg(rocSpec(m));
    expect(svg).toContain('false positive rate (log scale)');
    // Decades on the axis: a linear 0-1 axis would have no 0.001 tick.
    expect(svg).toMatch(/>0\.001</);
  });
});
