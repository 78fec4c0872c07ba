// The shipped letters model (models/letters, trained on UNIPEN pen strokes) against held-out writers'
// letters: in process, checked against the accuracy its metadata records, and through the HTTP API
// as the page sends drawings, with feedback validated against the letters classes.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LETTER_CLASSES } from '../data/dataset.js';
import { initBackend } from '../engine/backend.js';
import { predictProbs } from '../model/infer.js';
import { loadModel } from '../model/io.js';
import { type Stroke, strokesToMnist } from '../preprocess/index.js';
import { argmaxRows } from '../util/argmax.js';
import type { HwrApp } from './app.js';
import { buildTestApp } from './testing.js';

const MODEL_DIR = resolve(
  process.env.HWR_LETTERS_MODEL ?? fileURLToPath(new URL('../../models/letters', import.meta.url)),
);
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/strokes/letters.json', import.meta.url));

interface Sample {
  id: string;
  label: string;
  strokes: [number, number][][];
}

const haveModel = existsSync(join(MODEL_DIR, 'metadata.json'));
if (!haveModel)
  console.log(`skipping the letters model tests: no model at ${MODEL_DIR} (train it: see docs/letters.md)`);

const samples = (): Sample[] => (JSON.parse(readFileSync(FIXTURE, 'utf8')) as { samples: Sample[] }).samples;

describe.skipIf(!haveModel)('the shipped letters model', () => {
  it('scores the held-out fixture close to the writer-disjoint accuracy in its metadata', async () => {
    await initBackend();
    const loaded = await loadModel(MODEL_DIR);
    const { metadata } = loaded;
    expect(metadata.classes).toEqual(LETTER_CLASSES);
    expect(metadata.dataset.name).toBe('letters');
    const recorded = metadata.testAccuracy;
    expect(recorded).toBeTypeOf('number');
    const all = samples();
    expect(all.length).toBeGreaterThanOrEqual(500);
    const pixels = new Uint8Array(all.length * 784);
    all.forEach((s, i) => {
      pixels.set(strokesToMnist(s.strokes as Stroke[]), i * 784);
    });
    const predicted = argmaxRows(predictProbs(loaded.model, pixels, all.length, metadata.normalization), 26);
    const right = all.filter((s, i) => LETTER_CLASSES[predicted[i]] === s.label).length;
    const accuracy = right / all.length;
    console.log(
      `letters model ${metadata.version}: ${right}/${all.length} = ${(accuracy * 100).toFixed(2)} % on the ` +
        `stroke fixture; metadata testAccuracy ${((recorded ?? 0) * 100).toFixed(2)} % on ${metadata.dataset.testSamples} held-out samples`,
    );
    // The fixture is a 600-sample slice of the same held-out writers (non-suspect): within ~3 binomial
    // standard deviations of the full test split's figure.
    expect(Math.abs(accuracy - (recorded ?? 0))).toBeLessThan(0.035);
    loaded.model.dispose();
  }, 60_000);
});

describe.skipIf(!haveModel)("letters through POST /api/predict with model 'letters'", () => {
  let hwr: HwrApp;
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'hwr-letters-'));
    await symlink(MODEL_DIR, join(root, 'letters'));
    // 600 drawings from one client in a few seconds: lift the per-client predict rate limit.
    hwr = await buildTestApp(root, { modelsDir: root, limits: { predictPerMinute: 0 } });
  }, 60_000);

  afterAll(async () => {
    await hwr?.app.close();
    if (root) await rm(root, { recursive: true, force: true });
  });

  // Issue 6 targets 90 % on this replay; the shipped model does not reach it yet (its writer-disjoint
  // accuracy is in its metadata and the README). What this test guards is the serving path: drawings
  // sent as strokes through the API must be read as well as the model reads the same held-out writers
  // offline, within the fixture's sampling error.
  it('reads 500+ held-out writers’ letters through the API as well as the model scores them offline', async () => {
    const recorded = JSON.parse(readFileSync(join(MODEL_DIR, 'metadata.json'), 'utf8'))
      .testAccuracy as number;
    const all = samples();
    expect(all.length).toBeGreaterThanOrEqual(500);
    let right = 0;
    const confusions: Record<string, number> = {};
    for (const s of all) {
      const res = await hwr.app.inject({
        method: 'POST',
        url: '/api/predict',
        payload: { strokes: s.strokes, model: 'letters' },
      });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json() as { label: string; model: { name: string } };
      expect(body.model.name).toBe('letters');
      if (body.label === s.label) right++;
      else confusions[`${s.label}→${body.label}`] = (confusions[`${s.label}→${body.label}`] ?? 0) + 1;
    }
    const accuracy = right / all.length;
    const top = Object.entries(confusions)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([k, v]) => `${k} x${v}`);
    console.log(
      `letters API replay: ${right}/${all.length} = ${(accuracy * 100).toFixed(2)} %; most frequent errors: ${top.join(', ')}`,
    );
    console.log(`letters target (issue 6) 90 %: ${accuracy >= 0.9 ? 'met' : 'not met yet'}`);
    expect(accuracy).toBeGreaterThanOrEqual(recorded - 0.035);
  }, 120_000);

  it('accepts feedback only with a letters label', async () => {
    const s = samples()[0];
    const digit = await hwr.app.inject({
      method: 'POST',
      url: '/api/feedback',
      payload: { strokes: s.strokes, model: 'letters', label: '7' },
    });
    expect(digit.statusCode).toBe(400);
    expect(digit.body).toContain('not a class of model');
    expect(digit.body).toContain('letters');
    const upper = await hwr.app.inject({
      method: 'POST',
      url: '/api/feedback',
      payload: { strokes: s.strokes, model: 'letters', label: s.label.toUpperCase() },
    });
    expect(upper.statusCode).toBe(400); // the classes are the folded lower-case letters
    const ok = await hwr.app.inject({
      method: 'POST',
      url: '/api/feedback',
      payload: { strokes: s.strokes, model: 'letters', label: s.label },
    });
    expect(ok.statusCode).toBe(201);
    expect(ok.json()).toHaveProperty('id');
  });
});
