// fast-check arbitraries of hostile requests to /api/predict, /api/predict/batch and /api/feedback.
// Bodies are generated as raw text so that malformed JSON, 1e999 and deep nesting can be expressed.
import fc from 'fast-check';
import { hostileImages } from './images.js';

export const ROUTES = ['/api/predict', '/api/predict/batch', '/api/feedback'] as const;
export type Route = (typeof ROUTES)[number];

export interface FuzzCase {
  readonly kind: string;
  readonly url: string;
  readonly contentType: string | undefined;
  readonly body: string;
}

const J = JSON.stringify;
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** Raw JSON number tokens that parse to odd values (Infinity, -0, unsafe integers, denormals). */
const extremeNumber = fc.constantFrom(
  '1e999',
  '-1e999',
  '1e-400',
  '-0',
  '0.0000001',
  '255.5',
  '256',
  '-1',
  '9007199254740993',
  '1.7976931348623157e308',
  '5e-324',
  '1e21',
  '123456789012345678901234567890',
);

const modelName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('digits', 'digits', 'digits', 'letters') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '../models/digits',
      '/etc/passwd',
      'digits/../../etc',
      '..',
      '.',
      'digits\u0000',
      'DIGITS',
      '%2e%2e',
      'C:\\windows',
      'a'.repeat(100),
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 120 }) },
);

const labelValue = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...DIGITS, 'a', 'z') },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 80 }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '10', '\u0000', '🙂', '1'.repeat(65)) },
);

const point = fc.tuple(
  fc.double({ min: -500, max: 500, noNaN: true }),
  fc.double({ min: -500, max: 500, noNaN: true }),
);
const stroke = fc.array(point, { minLength: 0, maxLength: 40 });
const strokesValue = fc.array(stroke, { minLength: 0, maxLength: 6 }).map((s) => J(s));

/** Stroke shapes at the edges: empty, a tap, one point, wrong depth, caps and just over them. */
const oddStrokes = fc.oneof(
  fc.constantFrom(
    '[]',
    '[[]]',
    '[[],[]]',
    '[[[1,2]]]',
    '[[[1,2],[1,2]]]',
    '[[[1,2],[1,2.0000001]]]',
    '[[1,2],[3,4]]',
    '[[[[1,2]]]]',
    '[[[1]]]',
    '[[[1,2,3]]]',
    '[[["1","2"]]]',
    '[[[null,null]]]',
    '[[[true,false]]]',
    '[[{"x":1,"y":2}]]',
    '"strokes"',
    '{}',
    '[[[1e6,1e6],[-1e6,-1e6]]]',
    '[[[1e6,1e6],[1000001,0]]]',
    '[[[0,0],[1e-300,1e-300]]]',
    '[[[0,0],[1e308,1e308]]]',
  ),
  extremeNumber.map((n) => `[[[${n},0],[0,${n}],[1,1]]]`),
  fc
    .constantFrom(1, 4999, 5000, 5001, 100_000)
    .map((n) => `[[${Array.from({ length: n }, (_, i) => `[${i % 97},${(i * 7) % 89}]`).join(',')}]]`),
  fc.constantFrom(64, 65, 1000).map((n) =>
    J(
      Array.from({ length: n }, (_, i) => [
        [i, 0],
        [i, 10],
      ]),
    ),
  ),
  fc.constantFrom(50_000).map((n) => J(Array.from({ length: n }, () => []))),
);

const pixelsValue = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 784, maxLength: 784 }).map(J),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(0, 1, 783, 785, 100_000).map((n) => `[${Array(n).fill('7').join(',')}]`),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat(783), extremeNumber)
      .map(([at, n]) => `[${Array.from({ length: 784 }, (_, i) => (i === at ? n : '0')).join(',')}]`),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat(783), fc.jsonValue({ maxDepth: 2 }))
      .map(([at, v]) => `[${Array.from({ length: 784 }, (_, i) => (i === at ? J(v) : '0')).join(',')}]`),
  },
);

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

const imageValue = fc.oneof(
  { weight: 3, arbitrary: fc.nat().map((i) => J(base64(pick(hostileImages().valid, i)))) },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(...Object.keys(hostileImages().bombs))
      .map((k) => J(base64(hostileImages().bombs[k]))),
  },
  { weight: 1, arbitrary: fc.constant(0).map(() => J(base64(hostileImages().largestAllowed))) },
  {
    weight: 4,
    // Corrupt: a valid image with bytes flipped, or cut short.
    arbitrary: fc
      .tuple(
        fc.nat(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.option(fc.nat()),
      )
      .map(([i, flips, cut]) => {
        const src = pick(hostileImages().valid, i);
        const bytes = Buffer.from(src);
        for (const [at, b] of flips) bytes[at % bytes.length] = b;
        return J(base64(cut === null ? bytes : bytes.subarray(0, cut % bytes.length)));
      }),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => J(base64(b))),
      fc.string({ maxLength: 100 }).map(J),
      fc.constantFrom(
        '"data:image/png;base64,"',
        '"===="',
        '"a"',
        '"not base64!"',
        '"data:text/html;base64,PHNjcmlwdD4="',
      ),
      fc.nat().map((i) => J(`data:image/png;base64,${base64(pick(hostileImages().valid, i))}`)),
      // Over the schema's string cap / the body limit.
      fc.constantFrom(2 * 1024 * 1024, 3 * 1024 * 1024 + 1).map((n) => J('A'.repeat(n))),
    ),
  },
);

function pick<T>(items: readonly T[], i: number): T {
  return items[i % items.length];
}

/** One input object (exactly one of image / pixels / strokes, sometimes none or two). */
const inputFields = fc.oneof(
  { weight: 3, arbitrary: strokesValue.map((v) => `"strokes":${v}`) },
  { weight: 3, arbitrary: oddStrokes.map((v) => `"strokes":${v}`) },
  { weight: 3, arbitrary: pixelsValue.map((v) => `"pixels":${v}`) },
  { weight: 4, arbitrary: imageValue.map((v) => `"image":${v}`) },
  { weight: 1, arbitrary: fc.constant('') },
  {
    weight: 1,
    arbitrary: fc.tuple(strokesValue, pixelsValue).map(([s, p]) => `"strokes":${s},"pixels":${p}`),
  },
);

const extraField = fc.oneof(
  fc.constant(''),
  modelName.map((m) => `"model":${J(m)}`),
  fc
    .oneof(fc.integer({ min: -5, max: 200 }).map(String), extremeNumber, fc.constantFrom('"5"', 'null', '[]'))
    .map((k) => `"topK":${k}`),
  fc.string({ maxLength: 12 }).map((k) => `${J(k)}:1`),
  fc.constantFrom('"__proto__":{"polluted":1}', '"constructor":{"prototype":{"polluted":1}}'),
);

function object(...fields: string[]): string {
  return `{${fields.filter(Boolean).join(',')}}`;
}

/** Bodies that mostly pass the schema, so the decoding and inference paths are exercised. */
function structuredBody(route: Route): fc.Arbitrary<string> {
  if (route === '/api/predict') return fc.tuple(inputFields, extraField).map(([i, e]) => object(i, e));
  if (route === '/api/feedback')
    return fc
      .tuple(inputFields, labelValue, fc.option(labelValue), fc.option(modelName, { freq: 3 }))
      .map(([i, label, predicted, model]) =>
        object(
          i,
          `"label":${J(label)}`,
          predicted === null ? '' : `"predicted":${J(predicted)}`,
          model === null ? '' : `"model":${J(model)}`,
        ),
      );
  return fc
    .tuple(
      fc.oneof(
        { weight: 5, arbitrary: fc.array(inputFields, { minLength: 0, maxLength: 6 }) },
        { weight: 1, arbitrary: fc.constantFrom(64, 65, 1000).map((n) => Array(n).fill('"pixels":[]')) },
      ),
      extraField,
    )
    .map(([inputs, e]) => object(`"inputs":[${inputs.map((i) => object(i)).join(',')}]`, e));
}

/** Any JSON, with the known keys, with values of the wrong type. */
const wrongTypes = fc
  .dictionary(
    fc.constantFrom('image', 'pixels', 'strokes', 'model', 'topK', 'label', 'predicted', 'inputs'),
    fc.jsonValue({ maxDepth: 3 }),
    { maxKeys: 4 },
  )
  .map(J);

const malformed = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.jsonValue({ maxDepth: 3 }).chain((v) => {
    const text = J(v) ?? 'null';
    return fc.nat(text.length).map((cut) => text.slice(0, cut));
  }),
  fc.constantFrom(
    '',
    '{',
    '{"pixels":[1,2,}',
    '{"strokes":[[[NaN,1]]]}',
    '{"strokes":[[[Infinity,1]]]}',
    "{'pixels':[]}",
    '{"pixels":[0,0]}}',
    '\u0000',
    '\ufeff{}',
    'null',
    'true',
    '"string"',
    '12',
    '[]',
  ),
);

/** Deep nesting as the whole body or inside a field. */
const deep = fc.oneof(
  fc.constantFrom(100, 10_000, 100_000).map((d) => `${'['.repeat(d)}${']'.repeat(d)}`),
  fc.constantFrom(100, 10_000, 100_000).map((d) => `{"strokes":${'['.repeat(d)}${']'.repeat(d)}}`),
  fc.constantFrom(1000, 50_000).map((d) => `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`),
  fc.constantFrom(1000).map((d) => `{"inputs":[${'{"inputs":['.repeat(d)}${']}'.repeat(d)}]}`),
);

const contentType = fc.oneof(
  { weight: 20, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      undefined,
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=utf-16',
      'application/json; charset=latin1',
      'application/octet-stream',
      'APPLICATION/JSON',
      'application/json;;;',
      'image/png',
    ),
  },
);

const urlVariant = (route: Route) =>
  fc.oneof(
    { weight: 30, arbitrary: fc.constant(route) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        `${route}?model=../etc`,
        `${route}/`,
        `${route}%00`,
        `${route}/../models`,
        `/api//${route.slice(5)}`,
      ),
    },
  );

/** A hostile request: route, content type and raw body text, labelled with the generator that made it. */
export const fuzzCase: fc.Arbitrary<FuzzCase> = fc
  .constantFrom(...ROUTES)
  .chain((route) =>
    fc
      .tuple(
        fc.oneof(
          { weight: 12, arbitrary: structuredBody(route).map((b) => ['structured', b] as const) },
          { weight: 2, arbitrary: wrongTypes.map((b) => ['wrong-types', b] as const) },
          { weight: 2, arbitrary: malformed.map((b) => ['malformed-json', b] as const) },
          { weight: 1, arbitrary: deep.map((b) => ['deep-nesting', b] as const) },
        ),
        contentType,
        urlVariant(route),
      )
      .map(([[kind, body], ct, url]) => ({ kind, url, contentType: ct, body })),
  );
