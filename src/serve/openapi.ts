import { strokesToMnist } from '../preprocess/index.js';
import { pngBase64 } from './inputs.js';

/** Name of the admin API's security scheme; routes refer to it as `security: [{ [BEARER]: [] }]`. */
export const BEARER = 'bearer';

/** components.securitySchemes of the OpenAPI document: the admin API's bearer token. */
export const SECURITY_SCHEMES = {
  [BEARER]: {
    type: 'http',
    scheme: 'bearer',
    description: 'The value of HWR_ADMIN_TOKEN (the admin API is off when it is unset)',
  },
} as const;

/** A "7" in three points (y down): what the README's curl example sends. */
const SEVEN: [number, number][][] = [
  [
    [10, 10],
    [30, 10],
    [20, 40],
  ],
];

interface NamedExample {
  summary: string;
  value: Record<string, unknown>;
}

/**
 * One request example per input form, each valid on its own, so Swagger UI's "Try it out" sends a
 * body the API accepts (a schema-generated sample would carry image, pixels and strokes at once: 400).
 * All three are the same "7": strokes, its 28x28 rendering, and that rendering as a PNG.
 */
export function inputExamples(extra: Record<string, unknown> = {}): Record<string, NamedExample> {
  const pixels = strokesToMnist(SEVEN);
  return {
    strokes: { summary: 'Pen strokes, [x, y] points, any unit', value: { strokes: SEVEN, ...extra } },
    pixels: {
      summary: '784 numbers 0..255, ink high (MNIST form)',
      value: { pixels: Array.from(pixels), ...extra },
    },
    image: {
      summary: 'A base64 PNG or JPEG, any size or polarity',
      value: { image: pngBase64(pixels), ...extra },
    },
  };
}

/** zod `.meta()` for a request body: @fastify/swagger turns `x-examples` into the media type's examples. */
export function bodyExamples(extra: Record<string, unknown> = {}): {
  'x-examples': Record<string, NamedExample>;
} {
  return { 'x-examples': inputExamples(extra) };
}

/** POST /api/feedback: the three input forms, and a character of a read sent back as its crop. */
export function feedbackExamples(): { 'x-examples': Record<string, NamedExample> } {
  const crop = pngBase64(strokesToMnist(SEVEN));
  return {
    'x-examples': {
      ...inputExamples({ label: '7' }),
      crop: {
        summary: 'A character of POST /api/read: its "input" (28x28 PNG), stored as the model saw it',
        value: { crop, label: '7', predicted: '1' },
      },
    },
  };
}

/** POST /api/predict/batch: one batch holding one input of each form. */
export function batchExamples(): { 'x-examples': Record<string, NamedExample> } {
  const inputs = Object.values(inputExamples()).map((e) => e.value);
  return { 'x-examples': { mixed: { summary: 'One input of each form', value: { inputs, topK: 3 } } } };
}
