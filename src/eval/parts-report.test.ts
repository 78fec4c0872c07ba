import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { range, subset } from '../data/dataset.js';
import { loadSplit } from '../data/datasets.js';
import { initBackend } from '../engine/backend.js';
import { loadModel } from '../model/io.js';
import type { ModelMetadata } from '../model/metadata.js';
import { evaluateModel } from './evaluate.js';
import { evaluateParts, type PartsEvaluation, readStrokeFixture } from './fused.js';
import { REPORT_FILES, writeReport } from './report.js';

// The shipped fused digits model on 150 drawings of the committed stroke fixture (test writers).
let parts: PartsEvaluation;
let fusion: ModelMetadata['fusion'];
let html: string;
let json: {
  parts: {
    mistakes: { index: number; trueLabel: string; answerLabel: string }[];
    fused: number;
    samples: number;
  };
};

beforeAll(async () => {
  await initBackend();
  const model = await loadModel('models/digits');
  fusion = model.metadata.fusion;
  const fixture = await readStrokeFixture('test/fixtures/strokes/digits.json', model.metadata.classes);
  const slice = {
    ...fixture,
    drawings: fixture.drawings.slice(0, 150),
    labels: fixture.labels.slice(0, 150),
  };
  parts = await evaluateParts(model, slice);
  const mnist = subset(await loadSplit('mnist', 'test'), range(0, 200));
  const result = evaluateModel(model, mnist, { datasetName: 'mnist test[0:200]' });
  const dir = join(await mkdtemp(join(tmpdir(), 'hwr-parts-report-')), 'report');
  await writeReport(result, dir, { metadata: model.metadata, parts });
  html = await readFile(join(dir, REPORT_FILES.html), 'utf8');
  json = JSON.parse(await readFile(join(dir, REPORT_FILES.json), 'utf8'));
});

describe('a fused model report', () => {
  it('lists every wrong fused answer with each part’s answer', () => {
    const wrong = parts.correct.filter((c) => !c).length;
    expect(parts.mistakes).toHaveLength(wrong);
    expect(wrong).toBe(Math.round((1 - parts.fused) * parts.samples));
    for (const m of parts.mistakes) {
      expect(m.answer).not.toBe(m.label);
      expect(parts.correct[m.index]).toBe(false);
      expect(m.pixels).toHaveLength(784);
    }
    const confidences = parts.mistakes.map((m) => m.confidence);
    expect(confidences).toEqual([...confidences].sort((a, b) => b - a));
  });

  it('shows the fusion weights, the recorded figures per set and a gallery of the mistakes', () => {
    if (!fusion?.accuracy) throw new Error('models/digits has no recorded fusion figures');
    expect(html).toContain('Pen drawings: each part and the fusion');
    const table = html.slice(
      html.indexOf('id="fusion"'),
      html.indexOf('</table>', html.indexOf('id="fusion"')),
    );
    for (const [set, acc] of Object.entries(fusion.accuracy)) {
      expect(table).toContain(`<th>${set}</th>`);
      expect(table).toContain(`${(acc * 100).toFixed(2)}%`);
    }
    expect(html).toContain(`${fusion.weights.strokes} · log P<sub>strokes</sub>`);
    const gallery = html.slice(html.indexOf('id="parts-gallery"'));
    expect(gallery.match(/<figure class="mistake">/g)?.length ?? 0).toBe(parts.mistakes.length);
  });

  it('keeps the mistakes as data in report.json, without pixels', () => {
    expect(json.parts.samples).toBe(150);
    expect(json.parts.fused).toBe(parts.fused);
    expect(json.parts.mistakes).toHaveLength(parts.mistakes.length);
    for (const m of json.parts.mistakes) {
      expect(m).not.toHaveProperty('pixels');
      expect(m.trueLabel).not.toBe(m.answerLabel);
    }
  });
});
