import { z } from 'zod';
import { PIXELS } from '../model/infer.js';
import { MAX_STROKES } from '../preprocess/index.js';
import { INPUT_FORMS } from '../schema/wire.js';

/** Most inputs one /api/predict/batch request may carry. */
export const MAX_BATCH_INPUTS = 64;
/** Longest base64 image string: the largest body limit (the body limit caps it first). */
const MAX_IMAGE_CHARS = 64 * 1024 * 1024;

const Pixel = z
  .number({ error: 'each pixel must be a number from 0 to 255' })
  .min(0, 'each pixel must be a number from 0 to 255')
  .max(255, 'each pixel must be a number from 0 to 255');

/** The three input forms; a request carries exactly one of them. */
export const InputFields = {
  image: z
    .string({ error: 'image must be a base64 string' })
    .min(1, 'image is empty')
    .max(MAX_IMAGE_CHARS, 'image is too large')
    .optional()
    .describe(
      'Base64 PNG or JPEG (a data: URL prefix is accepted), any size; dark-on-light or light-on-dark',
    ),
  pixels: z
    .array(Pixel, { error: 'pixels must be an array of 784 numbers' })
    .length(PIXELS, `pixels must hold exactly ${PIXELS} numbers (28x28, row-major)`)
    .optional()
    .describe('784 numbers 0..255, row-major 28x28, ink high, already in MNIST form'),
  strokes: z
    .array(
      z.array(z.tuple([z.number(), z.number()], { error: 'each point must be [x, y] with two numbers' }), {
        error: 'each stroke must be an array of [x, y] points',
      }),
      { error: 'strokes must be an array of strokes, each an array of [x, y] points' },
    )
    .max(MAX_STROKES, `at most ${MAX_STROKES} strokes`)
    .optional()
    .describe('Pen strokes, each a list of [x, y] points (y down), any unit'),
};

export interface InputValue {
  image?: string;
  pixels?: number[];
  strokes?: [number, number][][];
}

function exactlyOneInput(value: InputValue, ctx: z.RefinementCtx): void {
  const given = INPUT_FORMS.filter((k) => value[k] !== undefined);
  if (given.length !== 1)
    ctx.addIssue({
      code: 'custom',
      message:
        given.length === 0
          ? 'give exactly one input: "image", "pixels" or "strokes" (none given)'
          : `give exactly one input: "image", "pixels" or "strokes" (got ${given.map((g) => `"${g}"`).join(' and ')})`,
    });
}

const ModelName = z
  .string({ error: 'model must be a string' })
  .min(1)
  .max(100)
  .optional()
  .describe('Model name as listed by GET /api/models (default "digits")');

const TopK = z
  .number()
  .int()
  .min(1)
  .max(100)
  .optional()
  .describe('How many of the best classes to list in "top" (default 5)');

export const PredictBody = z
  .strictObject({ ...InputFields, model: ModelName, topK: TopK })
  .superRefine(exactlyOneInput);
export type PredictBody = z.infer<typeof PredictBody>;

export const BatchInput = z.strictObject(InputFields).superRefine(exactlyOneInput);

export const BatchBody = z.strictObject({
  inputs: z
    .array(BatchInput, { error: 'inputs must be an array of input objects' })
    .min(1, 'inputs is empty')
    .max(MAX_BATCH_INPUTS, `at most ${MAX_BATCH_INPUTS} inputs per batch`),
  model: ModelName,
  topK: TopK,
});
export type BatchBody = z.infer<typeof BatchBody>;

/** A character of a read, sent back as feedback: the 28x28 crop POST /api/read returned. */
const Crop = z
  .string({ error: 'crop must be a base64 PNG string' })
  .min(1, 'crop is empty')
  .max(4096, 'crop is too large for a 28x28 PNG')
  .optional()
  .describe(
    'A character of a read: the base64 28x28 PNG POST /api/read returned as characters[i].input. Stored byte for byte as the image the model saw (not normalised again).',
  );

const FEEDBACK_FORMS = [...INPUT_FORMS, 'crop'] as const;

function exactlyOneFeedbackInput(value: InputValue & { crop?: string }, ctx: z.RefinementCtx): void {
  const given = FEEDBACK_FORMS.filter((k) => value[k] !== undefined);
  if (given.length !== 1)
    ctx.addIssue({
      code: 'custom',
      message:
        given.length === 0
          ? 'give exactly one input: "image", "pixels", "strokes" or "crop" (none given)'
          : `give exactly one input: "image", "pixels", "strokes" or "crop" (got ${given.map((g) => `"${g}"`).join(' and ')})`,
    });
}

export const FeedbackBody = z
  .strictObject({
    ...InputFields,
    crop: Crop,
    model: ModelName,
    label: z.string({ error: 'label must be a string (one of the model classes)' }).min(1).max(64),
    predicted: z.string().min(1).max(64).optional().describe('What the model answered, if known'),
  })
  .superRefine(exactlyOneFeedbackInput);
export type FeedbackBody = z.infer<typeof FeedbackBody>;

export const UNDO_HEADER = 'x-undo-token';

export const UndoParams = z.strictObject({
  id: z.coerce.number({ error: 'id must be a feedback id' }).int().min(1).max(Number.MAX_SAFE_INTEGER),
});

export const UndoHeaders = z.object({
  [UNDO_HEADER]: z
    .string({ error: `the "${UNDO_HEADER}" header is required (the token POST /api/feedback returned)` })
    .min(1)
    .max(200),
});

export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** Letters, digits, '-', '_', '.', ':': a UUID, a ULID or base64url fit; 16 characters at least. */
const KEY = '[A-Za-z0-9._:-]{16,128}';

export const FeedbackHeaders = z.looseObject({
  [IDEMPOTENCY_HEADER]: z
    .string()
    .regex(
      new RegExp(`^(?:"${KEY}"|${KEY})$`),
      'the Idempotency-Key header must be 16 to 128 letters, digits, "-", "_", "." or ":", as a quoted string or bare (one key: a new UUID per correction)',
    )
    .optional()
    .describe(
      'A key the client makes for each correction (a UUID) and sends again with every retry of it: the server stores the correction once (IETF httpapi-idempotency-key-header; the value may be quoted, "…", as that draft writes it)',
    ),
});

export const StatsQuery = z.strictObject({ model: z.string().min(1).max(100).optional() });

const PREDICT_KEYS = new Set(['image', 'pixels', 'strokes', 'model', 'topK']);

/**
 * True when a parsed JSON body is certainly a valid PredictBody with `pixels` or `strokes`: a tight
 * typed loop instead of zod's per-element checks (measured 60 µs for 784 pixels, about a third of the
 * request's non-inference work). Anything else, valid or not, goes to zod, so every error message
 * is zod's.
 */
export function isPlainPredictBody(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const b = body as Record<string, unknown>;
  let inputs = 0;
  for (const key in b) {
    if (!PREDICT_KEYS.has(key)) return false;
    if (key === 'image' || key === 'pixels' || key === 'strokes') inputs++;
  }
  if (inputs !== 1) return false;
  const { model, topK, pixels, strokes } = b;
  if (model !== undefined && (typeof model !== 'string' || model.length < 1 || model.length > 100))
    return false;
  if (topK !== undefined && !(Number.isInteger(topK) && (topK as number) >= 1 && (topK as number) <= 100))
    return false;
  if (pixels !== undefined) {
    if (!Array.isArray(pixels) || pixels.length !== PIXELS) return false;
    for (let i = 0; i < PIXELS; i++) {
      const v = pixels[i];
      // NaN fails both comparisons; JSON has no Infinity.
      if (typeof v !== 'number' || !(v >= 0 && v <= 255)) return false;
    }
    return true;
  }
  if (strokes !== undefined) {
    if (!Array.isArray(strokes) || strokes.length > MAX_STROKES) return false;
    for (const stroke of strokes) {
      if (!Array.isArray(stroke)) return false;
      for (const point of stroke)
        if (
          !Array.isArray(point) ||
          point.length !== 2 ||
          typeof point[0] !== 'number' ||
          typeof point[1] !== 'number'
        )
          return false;
    }
    return true;
  }
  return false; // image: zod checks the string
}
