import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadSplit } from '../data/datasets.js';
import { PIXELS } from '../model/infer.js';
import { isPlainPredictBody, PredictBody } from './schemas.js';

const strokes = (
  JSON.parse(readFileSync('test/fixtures/strokes/digits.json', 'utf8')) as {
    samples: { strokes: [number, number][][] }[];
  }
).samples[0].strokes;

describe('isPlainPredictBody (the fast path that skips zod)', async () => {
  const mnist = await loadSplit('mnist', 'test');
  const pixels = Array.from(mnist.images.subarray(0, PIXELS));
  const valid: unknown[] = [
    { pixels },
    { pixels: pixels.map((p) => p / 1.5), model: 'digits', topK: 3 },
    { strokes },
    { strokes: [[[0, 0]]], model: 'letters' },
  ];
  const invalid: unknown[] = [
    null,
    [],
    'pixels',
    {},
    { pixels: pixels.slice(1) },
    { pixels: [...pixels.slice(1), 256] },
    { pixels: [...pixels.slice(1), -1] },
    { pixels: [...pixels.slice(1), '3'] },
    { pixels: [...pixels.slice(1), null] },
    { pixels, strokes },
    { pixels, extra: 1 },
    { pixels, model: '' },
    { pixels, model: 3 },
    { pixels, topK: 0 },
    { pixels, topK: 1.5 },
    { pixels, topK: 101 },
    { strokes: [[[0, 0, 0]]] },
    { strokes: [[[0, '1']]] },
    { strokes: [[0, 1]] },
    { strokes: Array.from({ length: 65 }, () => [[0, 0]]) },
  ];

  it('accepts common valid bodies, each of which zod accepts too', () => {
    for (const body of valid) {
      expect(isPlainPredictBody(body)).toBe(true);
      expect(PredictBody.safeParse(body).success).toBe(true);
    }
  });

  it('hands every invalid body to zod (which rejects it with its message)', () => {
    for (const body of invalid) {
      expect(isPlainPredictBody(body)).toBe(false);
      expect(PredictBody.safeParse(body).success).toBe(false);
    }
  });

  it('leaves image bodies to zod', () => {
    expect(isPlainPredictBody({ image: 'iVBORw0KGgo=' })).toBe(false);
  });
});
