import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ImageDataset, range, subset } from '../data/dataset.js';
import { loadSplit } from '../data/datasets.js';
import { decodeImage, encodeGrayPng } from '../data/image-codec.js';
import { PIXELS } from '../model/infer.js';
import { rgbaToMnist, strokesToMnist } from '../preprocess/index.js';
import { FeedbackStore } from '../store/feedback-store.js';
import type { HwrApp } from './app.js';
import { buildTestApp, saveTestModel } from './testing.js';

let root: string;
let hwr: HwrApp;
let held: ImageDataset; // MNIST test images 2000..2099, never trained on

const image = (ds: ImageDataset, i: number) => ds.images.subarray(i * PIXELS, (i + 1) * PIXELS);
const pixelsOf = (ds: ImageDataset, i: number) => Array.from(image(ds, i));

function post(url: string, payload: unknown) {
  return hwr.app.inject({ method: 'POST', url, payload: payload as object });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hwr-serve-'));
  const mnist = await loadSplit('mnist', 'test');
  held = subset(mnist, range(2000, 2100));
  await saveTestModel(join(root, 'models', 'digits'), { trainOn: subset(mnist, range(0, 2000)) });
  await saveTestModel(join(root, 'models', 'letters'), {
    name: 'letters',
    classes: 'abcdefghijklmnopqrstuvwxyz'.split(''),
  });
  await mkdir(join(root, 'web'));
  await writeFile(join(root, 'web', 'index.html'), '<!doctype html><title>hwr page</title><h1>draw</h1>');
  hwr = await buildTestApp(root, { webDir: join(root, 'web') });
}, 120_000);

afterAll(async () => {
  await hwr?.app.close();
  await rm(root, { recursive: true, force: true });
});

describe('health and models', () => {
  it('answers /healthz and /readyz once models are loaded', async () => {
    expect((await hwr.app.inject('/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await hwr.app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect(ready.json().models).toEqual(['digits@test-1', 'letters@test-1']);
  });

  it('lists the models with their classes', async () => {
    const { models } = (await hwr.app.inject('/api/models')).json();
    expect(models.map((m: { name: string }) => m.name)).toEqual(['digits', 'letters']);
    expect(models[0].classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(models[1].classes).toHaveLength(26);
    expect(models[0].version).toBe('test-1');
  });
});

describe('POST /api/predict', () => {
  it('classifies held-out MNIST pixels far above chance and returns the image it saw', async () => {
    let right = 0;
    for (let i = 0; i < held.n; i++) {
      const res = await post('/api/predict', { pixels: pixelsOf(held, i) });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      if (body.label === String(held.labels[i])) right++;
      if (i < 3) {
        expect(body.model).toEqual({ name: 'digits', version: 'test-1' });
        expect(body.top).toHaveLength(5);
        expect(body.top[0]).toEqual({ label: body.label, p: body.confidence });
        const ps = body.top.map((t: { p: number }) => t.p);
        expect([...ps].sort((a, b) => b - a)).toEqual(ps);
        // The PNG in "input" holds exactly the 28x28 bytes the model saw.
        const seen = decodeImage(Buffer.from(body.input, 'base64'));
        expect([seen.width, seen.height]).toEqual([28, 28]);
        const gray = Array.from({ length: PIXELS }, (_, p) => seen.data[p * 4]);
        expect(gray).toEqual(pixelsOf(held, i));
      }
    }
    // A dense net trained for a second on 2000 images: ~85 %; chance is 10 %.
    expect(right / held.n).toBeGreaterThan(0.7);
  });

  it('reads PNG and JPEG drawings (dark on light, larger than 28x28) through the shared preprocessing', async () => {
    let agree = 0;
    const n = 20;
    for (let i = 0; i < n; i++) {
      const src = image(held, i);
      // 84x84, black ink on white: what a photo or a canvas export looks like.
      const size = 84;
      const rgba = new Uint8Array(size * size * 4);
      const gray = new Uint8Array(size * size);
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const v = 255 - src[Math.floor(y / 3) * 28 + Math.floor(x / 3)];
          gray[y * size + x] = v;
          rgba.set([v, v, v, 255], (y * size + x) * 4);
        }
      const png = Buffer.from(encodeGrayPng(gray, size, size)).toString('base64');
      const jpg = Buffer.from(jpeg.encode({ data: rgba, width: size, height: size }, 95).data).toString(
        'base64',
      );
      const a = await post('/api/predict', { image: png });
      const b = await post('/api/predict', { image: `data:image/jpeg;base64,${jpg}` });
      expect(a.statusCode).toBe(200);
      expect(b.statusCode).toBe(200);
      // The server's 28x28 is the shared preprocessing of the decoded image, byte for byte.
      const expected = rgbaToMnist(decodeImage(Buffer.from(png, 'base64')));
      const seen = decodeImage(Buffer.from(a.json().input, 'base64'));
      expect(Array.from({ length: PIXELS }, (_, p) => seen.data[p * 4])).toEqual(Array.from(expected));
      if (a.json().label === String(held.labels[i])) agree++;
    }
    expect(agree / n).toBeGreaterThanOrEqual(0.6);
  });

  it('renders strokes with strokesToMnist and honours topK and model', async () => {
    const strokes = [
      [
        [10, 10],
        [10, 60],
      ],
      [
        [0, 10],
        [20, 10],
      ],
    ];
    const res = await post('/api/predict', { strokes, topK: 2, model: 'letters' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.top).toHaveLength(2);
    expect(body.model.name).toBe('letters');
    expect('abcdefghijklmnopqrstuvwxyz').toContain(body.label);
    const seen = decodeImage(Buffer.from(body.input, 'base64'));
    const expected = strokesToMnist(strokes as [number, number][][]);
    expect(Array.from({ length: PIXELS }, (_, p) => seen.data[p * 4])).toEqual(Array.from(expected));
  });

  it('batch answers match single answers', async () => {
    const inputs = range(0, 8).map((i) => ({ pixels: pixelsOf(held, i) }));
    const res = await post('/api/predict/batch', { inputs });
    expect(res.statusCode).toBe(200);
    const { results } = res.json();
    expect(results).toHaveLength(8);
    for (let i = 0; i < 8; i++) {
      const single = (await post('/api/predict', inputs[i])).json();
      expect(results[i].label).toBe(single.label);
      expect(results[i].confidence).toBeCloseTo(single.confidence, 5);
    }
  });
});

describe('malformed requests get a clear 4xx and the server keeps serving', () => {
  const ok = () => Array(PIXELS).fill(0);
  const notPng = Buffer.from('\x89PNG\r\n\x1a\nthis is not really a png at all').toString('base64');
  const cases: Array<[string, unknown, number, RegExp]> = [
    [
      'two input forms',
      { pixels: ok(), strokes: [[[0, 0]]] },
      400,
      /exactly one input.*"pixels" and "strokes"/,
    ],
    ['no input', { model: 'digits' }, 400, /exactly one input.*none given/],
    ['783 pixels', { pixels: Array(783).fill(0) }, 400, /pixels.*exactly 784/],
    [
      'strings in pixels',
      { pixels: [...Array(783).fill(0), 'x'] },
      400,
      /pixels\[783\].*number from 0 to 255/,
    ],
    ['pixel out of range', { pixels: [300, ...Array(783).fill(0)] }, 400, /pixels\[0\].*0 to 255/],
    ['null pixel', { pixels: [null, ...Array(783).fill(0)] }, 400, /pixels\[0\]/],
    ['pixels not an array', { pixels: 'abc' }, 400, /pixels must be an array/],
    [
      'text that is no image',
      { image: Buffer.from('hello world').toString('base64') },
      400,
      /not a PNG or JPEG/,
    ],
    ['PNG signature, garbage after', { image: notPng }, 400, /PNG/],
    ['image not base64', { image: '%%% not base64 %%%' }, 400, /not valid base64/],
    ['unknown model', { pixels: ok(), model: 'nope' }, 404, /unknown model "nope".*"digits", "letters"/],
    ['unknown field', { pixels: ok(), pixle: 1 }, 400, /unknown field "pixle"/],
    ['topK not an integer', { pixels: ok(), topK: 1.5 }, 400, /topK/],
    ['strokes not arrays', { strokes: 'zig-zag' }, 400, /strokes must be an array/],
    ['point with one number', { strokes: [[[1]]] }, 400, /strokes\[0\]\[0\]/],
    ['point with a string', { strokes: [[[1, 'a']]] }, 400, /strokes\[0\]\[0\]\[1\]/],
    ['nothing drawn', { strokes: [] }, 400, /nothing|empty|no strokes|no ink/i],
    [
      'coordinate out of range',
      {
        strokes: [
          [
            [0, 0],
            [1e9, 1],
          ],
        ],
      },
      400,
      /out of range/,
    ],
    [
      'too many strokes',
      {
        strokes: Array.from({ length: 65 }, () => [
          [0, 0],
          [1, 1],
        ]),
      },
      400,
      /at most 64 strokes/,
    ],
  ];
  for (const [name, body, status, message] of cases) {
    it(`${name} → ${status}`, async () => {
      const res = await post('/api/predict', body);
      expect(res.statusCode).toBe(status);
      const json = res.json();
      expect(json.statusCode).toBe(status);
      expect(json.error).toMatch(message);
    });
  }

  it('invalid JSON and NaN → 400', async () => {
    for (const payload of ['{"pixels": [1, 2', `{"pixels": [NaN${',0'.repeat(783)}]}`]) {
      const res = await hwr.app.inject({
        method: 'POST',
        url: '/api/predict',
        payload,
        headers: { 'content-type': 'application/json' },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        error: 'request body is not valid JSON',
        code: 'bad_request',
        statusCode: 400,
      });
    }
  });

  it('a 50 MB body → 413 without reading it all', async () => {
    const res = await hwr.app.inject({
      method: 'POST',
      url: '/api/predict',
      payload: `{"image": "${'A'.repeat(50 * 1024 * 1024)}"}`,
      headers: { 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toMatch(/larger than the limit of 25165824 bytes/);
  });

  it('a non-JSON content type → 415; an unknown route → 404 JSON', async () => {
    const res = await hwr.app.inject({
      method: 'POST',
      url: '/api/predict',
      payload: 'pixels',
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.statusCode).toBe(415);
    const missing = await hwr.app.inject('/api/nothing-here');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({
      error: 'no route GET /api/nothing-here',
      code: 'not_found',
      statusCode: 404,
    });
  });

  it('batch errors name the bad input; batches are capped', async () => {
    const inputs = [{ pixels: Array(PIXELS).fill(0) }, { pixels: [1, 2, 3] }];
    const bad = await post('/api/predict/batch', { inputs });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/inputs\[1\]\.pixels.*784/);
    const noImage = await post('/api/predict/batch', {
      inputs: [{ pixels: Array(PIXELS).fill(0) }, { image: Buffer.from('nope').toString('base64') }],
    });
    expect(noImage.json().error).toMatch(/^inputs\[1\]: not a PNG or JPEG/);
    const many = await post('/api/predict/batch', {
      inputs: Array.from({ length: 65 }, () => ({ pixels: Array(PIXELS).fill(0) })),
    });
    expect(many.statusCode).toBe(400);
    expect(many.json().error).toMatch(/at most 64 inputs/);
  });

  it('still serves after all of that', async () => {
    const res = await post('/api/predict', { pixels: pixelsOf(held, 0) });
    expect(res.statusCode).toBe(200);
    expect((await hwr.app.inject('/healthz')).statusCode).toBe(200);
  });
});

describe('feedback', () => {
  it('stores corrections durably and counts them', async () => {
    const before = (await hwr.app.inject('/api/feedback/stats?model=digits')).json().total;
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await post('/api/feedback', { pixels: pixelsOf(held, i), label: String(held.labels[i]) });
      expect(res.statusCode).toBe(201);
      ids.push(res.json().id);
    }
    const given = await post('/api/feedback', {
      strokes: [
        [
          [0, 0],
          [0, 50],
        ],
      ],
      label: '1',
      predicted: '7',
    });
    expect(given.statusCode).toBe(201);
    expect(new Set(ids).size).toBe(6);

    const stats = (await hwr.app.inject('/api/feedback/stats?model=digits')).json();
    expect(stats.total).toBe(before + 7);
    expect(stats.withPrediction).toBe(stats.total);
    expect(stats.byLabel['1'].count).toBeGreaterThanOrEqual(1);
    expect(stats.accuracy).toBeGreaterThan(0);
    expect(stats.accuracy).toBeLessThan(1); // the '1' we said was predicted as '7' is wrong
    expect(stats.confusions).toContainEqual({ label: '1', predicted: '7', count: expect.any(Number) });
    for (const c of stats.confusions) expect(c.label).not.toBe(c.predicted);

    // Another connection to the same file (as after a restart) sees every row, bytes intact.
    const store = new FeedbackStore(join(root, 'data'));
    try {
      const rows = store.rows('digits');
      const row = rows.find((r) => r.id === ids[0]);
      expect(row?.label).toBe(String(held.labels[0]));
      expect(Array.from(row?.pixels ?? [])).toEqual(pixelsOf(held, 0));
      expect(row?.inputKind).toBe('pixels');
      expect(row?.modelVersion).toBe('test-1');
      expect(JSON.parse(row?.rawInput ?? 'null')).toEqual(pixelsOf(held, 0));
      const last = rows.find((r) => r.id === given.json().id);
      expect(last?.predicted).toBe('7');
      expect(last?.inputKind).toBe('strokes');
      expect(store.classes('digits')).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    } finally {
      store.close();
    }
  });

  it('undoes a correction once, only with the token its POST returned', async () => {
    const stats = async () => (await hwr.app.inject('/api/feedback/stats?model=digits')).json().total;
    const before = await stats();
    const created = await post('/api/feedback', { pixels: pixelsOf(held, 1), label: '4' });
    expect(created.statusCode).toBe(201);
    const { id, undoToken, undoUntil } = created.json();
    expect(undoToken).toMatch(/^[\w-]{24}$/);
    expect(Date.parse(undoUntil)).toBeGreaterThan(Date.now());
    const other = (await post('/api/feedback', { pixels: pixelsOf(held, 2), label: '5' })).json();
    expect(await stats()).toBe(before + 2);

    const undo = (rowId: number | string, token?: string) =>
      hwr.app.inject({
        method: 'DELETE',
        url: `/api/feedback/${rowId}`,
        headers: token === undefined ? {} : { 'x-undo-token': token },
      });
    const none = await undo(id);
    expect(none.statusCode).toBe(400);
    expect(none.json().error).toMatch(/x-undo-token/);
    // Another row's token does not open this one.
    expect((await undo(id, other.undoToken)).statusCode).toBe(403);
    expect((await undo('abc', undoToken)).statusCode).toBe(400);
    expect((await undo(id + 1000, undoToken)).statusCode).toBe(404);
    expect(await stats()).toBe(before + 2);

    const done = await undo(id, undoToken);
    expect(done.statusCode).toBe(204);
    expect(await stats()).toBe(before + 1);
    expect((await undo(id, undoToken)).statusCode).toBe(404); // one-time
    expect((await undo(other.id, other.undoToken)).statusCode).toBe(204);
    expect(await stats()).toBe(before);
  });

  it('rejects labels outside the model classes and bad input', async () => {
    const wrong = await post('/api/feedback', { pixels: pixelsOf(held, 0), label: 'x' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error).toMatch(/label "x" is not a class of model "digits"/);
    const letter = await post('/api/feedback', { pixels: pixelsOf(held, 0), label: 'x', model: 'letters' });
    expect(letter.statusCode).toBe(201);
    const noLabel = await post('/api/feedback', { pixels: pixelsOf(held, 0) });
    expect(noLabel.statusCode).toBe(400);
    expect(noLabel.json().error).toMatch(/label/);
    const noInput = await post('/api/feedback', { label: '3' });
    expect(noInput.json().error).toMatch(/exactly one input/);
  });
});

describe('metrics, docs, page, headers', () => {
  it('exposes request counts, latency, predictions by label and model versions', async () => {
    await post('/api/predict', { pixels: pixelsOf(held, 0) });
    const text = (await hwr.app.inject('/metrics')).body;
    const count = (re: RegExp) => Number(text.match(re)?.[1] ?? Number.NaN);
    expect(
      count(/hwr_http_requests_total\{method="POST",route="\/api\/predict",status_code="200"\} (\d+)/),
    ).toBeGreaterThan(100);
    expect(
      count(/hwr_http_requests_total\{method="POST",route="\/api\/predict",status_code="400"\} (\d+)/),
    ).toBeGreaterThan(10);
    expect(text).toMatch(
      /hwr_http_request_duration_seconds_bucket\{le="0.05",method="POST",route="\/api\/predict"/,
    );
    expect(text).toMatch(/hwr_predictions_total\{model="digits",label="\d"\} \d+/);
    expect(text).toMatch(/hwr_model_info\{model="digits",version="test-1",arch="test-dense"\} 1/);
    expect(text).toMatch(/hwr_feedback_total\{model="digits"\} \d+/);
  });

  it('publishes an OpenAPI document and a docs page', async () => {
    const doc = (await hwr.app.inject('/docs/json')).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/predict',
        '/api/predict/batch',
        '/api/feedback',
        '/api/models',
        '/readyz',
      ]),
    );
    expect(
      doc.paths['/api/predict'].post.requestBody.content['application/json'].schema.properties,
    ).toHaveProperty('pixels');
    const page = await hwr.app.inject('/docs/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
  });

  it("serves a model's stored report.html under its own CSP, and a 404 naming the model without one", async () => {
    const html = '<!doctype html><style>p{color:red}</style><p>report of digits</p>';
    await writeFile(join(root, 'models', 'digits', 'report.html'), html);
    const res = await hwr.app.inject('/api/models/digits/report');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toBe(html);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('script-src');
    const missing = await hwr.app.inject('/api/models/letters/report');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toMatch(/model "letters" .* has no report\.html/);
    const unknown = await hwr.app.inject('/api/models/nope/report');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toMatch(/unknown model "nope"/);
  });

  it('serves the built page with security headers and no CORS by default', async () => {
    const res = await hwr.app.inject({ url: '/', headers: { origin: 'https://evil.example' } });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('hwr page');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toMatch(/script-src 'self' 'wasm-unsafe-eval'(;|$)/);
    expect(csp).not.toContain('upgrade-insecure-requests');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('options', () => {
  it('allows configured CORS origins; /readyz is 503 without models', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'hwr-serve-empty-'));
    const other = await buildTestApp(empty, {
      modelsDir: empty,
      corsOrigins: ['http://localhost:5173'],
    });
    try {
      const ready = await other.app.inject('/readyz');
      expect(ready.statusCode).toBe(503);
      expect(ready.json().error).toMatch(/no model loaded/);
      const res = await other.app.inject({
        method: 'OPTIONS',
        url: '/api/predict',
        headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' },
      });
      expect(res.headers['access-control-allow-origin']).toBe('http://localhost:5173');
      const predict = await other.app.inject({
        method: 'POST',
        url: '/api/predict',
        payload: { pixels: Array(PIXELS).fill(0) },
      });
      expect(predict.statusCode).toBe(503);
      expect(predict.json().error).toBe('no model is loaded (none found in the models folder)');
      expect((await other.app.inject('/readyz')).json().error).toBe('no model loaded from the models folder');
      expect((await other.app.inject('/')).body).toMatch(/not built/);
    } finally {
      await other.app.close();
      await rm(empty, { recursive: true, force: true });
    }
  });
});
