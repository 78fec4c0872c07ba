import { z } from 'zod';
import { Fusion } from '../model/metadata.js';
import { ERROR_CODES } from '../util/errors.js';
import { RetrainParams } from './retrain.js';

/*
 * The HTTP API's answers and the admin API's bodies, one zod schema per concept, types inferred.
 * The server validates and documents its routes with them (src/serve); the page (src/web) imports
 * their types only, so its bundle holds no zod.
 */

export const INPUT_FORMS = ['image', 'pixels', 'strokes'] as const;
export type InputForm = (typeof INPUT_FORMS)[number];

/** Every error answer: the message for people, the code for programs (util/errors.ts), the status. */
export const ErrorReply = z.object({
  error: z.string(),
  code: z.enum(ERROR_CODES),
  statusCode: z.number().int(),
});
export type ErrorReply = z.infer<typeof ErrorReply>;

/** One network's answer: its best class, that class's probability and the best `topK` classes. */
export const PartAnswer = z.object({
  label: z.string(),
  confidence: z.number(),
  top: z.array(z.object({ label: z.string(), p: z.number() })),
});
export type PartAnswer = z.infer<typeof PartAnswer>;

export const Prediction = PartAnswer.extend({
  model: z.object({ name: z.string(), version: z.string() }),
  input: z.string().describe('Base64 PNG of the 28x28 image the model saw'),
  parts: z
    .record(z.string(), PartAnswer)
    .optional()
    .describe(
      'Present when the answer fuses several networks (strokes input, model with a stroke part): each one\'s own answer, "image" being the CNN on the 28x28 image; label/top above are the fused answer',
    ),
});
export type Prediction = z.infer<typeof Prediction>;

const Box = z.object({
  x: z.number().int(),
  y: z.number().int(),
  width: z.number().int(),
  height: z.number().int(),
});

/** One character of POST /api/read: where it is, its answer and the 28x28 the model saw. */
export const ReadCharacterReply = PartAnswer.extend({
  box: Box.describe('Where the character is, in pixels of the upright image as sent'),
  input: z
    .string()
    .describe(
      'Base64 PNG of the 28x28 crop the model saw; POST /api/feedback {"crop": input, "label": ...} stores a correction for this character',
    ),
});

/** POST /api/read: a line of handwriting, left to right. */
export const ReadReply = z.object({
  text: z.string().describe('The labels left to right'),
  characters: z.array(ReadCharacterReply),
  model: z.object({ name: z.string(), version: z.string() }),
});
export type ReadCharacterReply = z.infer<typeof ReadCharacterReply>;
export type ReadReply = z.infer<typeof ReadReply>;

export const BatchResult = z.object({ results: z.array(Prediction) });
export type BatchResult = z.infer<typeof BatchResult>;

export const FeedbackCreated = z.object({
  id: z.number().int(),
  undoToken: z
    .string()
    .describe('One-time token: DELETE /api/feedback/{id} with header "x-undo-token" removes the row'),
  undoUntil: z.string().describe('ISO time after which the row can no longer be removed'),
});
export type FeedbackCreated = z.infer<typeof FeedbackCreated>;

const LabelStats = z.object({
  count: z.number().int(),
  withPrediction: z.number().int(),
  correct: z.number().int(),
});

export const FeedbackStatsReply = z.object({
  model: z.string().nullable(),
  total: z.number().int(),
  withPrediction: z.number().int(),
  correct: z.number().int(),
  accuracy: z.number().nullable(),
  byLabel: z.record(z.string(), LabelStats),
  confusions: z
    .array(z.object({ label: z.string(), predicted: z.string(), count: z.number().int() }))
    .describe('(true label, predicted) pairs the model got wrong, most frequent first'),
});
export type FeedbackStatsReply = z.infer<typeof FeedbackStatsReply>;

/** A network of a served model: `image` (the root CNN) or a further part such as `strokes`. */
export const PartInfo = z.object({
  name: z.string(),
  inputs: z.array(z.enum(INPUT_FORMS)).describe('The request inputs this network answers'),
  arch: z.string(),
  params: z.number().int(),
  accuracy: z.number().nullable().describe("This network's accuracy alone on the model's test split"),
});
export type PartInfo = z.infer<typeof PartInfo>;

export const ModelInfo = z.object({
  name: z.string(),
  version: z.string(),
  arch: z.string(),
  classes: z.array(z.string()),
  accuracy: z.number().nullable(),
  params: z.number().int(),
  createdAt: z.string(),
  loadedAt: z.string(),
  parts: z.array(PartInfo),
  fusion: Fusion.nullable().describe(
    'How the parts are combined for strokes input; null for an image-only model',
  ),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

export const ModelsReply = z.object({ models: z.array(ModelInfo) });
export type ModelsReply = z.infer<typeof ModelsReply>;

/** A retrain job: its record (stored, parsed when read back) and how the admin API shows it. */
export const JobReply = z.object({
  id: z.string(),
  model: z.string(),
  state: z.enum(['running', 'promoted', 'passed', 'rejected', 'failed']),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  promoted: z.string().nullable(),
  gate: z.object({ passed: z.boolean(), checks: z.array(z.string()) }).nullable(),
  log: z.array(z.string()),
  args: z.array(z.string()),
});

export type JobReply = z.infer<typeof JobReply>;

/**
 * POST /api/admin/retrain: the retrain parameters a client may set (every one optional, the
 * server's defaults apply), with tighter bounds on the work one request can start.
 */
export const RetrainBody = RetrainParams.pick({
  epochs: true,
  replay: true,
  holdout: true,
  tolerance: true,
  testLimit: true,
  promote: true,
})
  .extend({
    model: z.string().min(1).max(100).optional(),
    epochs: RetrainParams.shape.epochs
      .unwrap()
      .max(20, { error: 'must be an integer from 1 to 20' })
      .optional(),
    replay: RetrainParams.shape.replay
      .unwrap()
      .max(1_000_000, { error: 'must be an integer from 0 to 1000000' })
      .optional(),
  })
  .strict();

export type RetrainBody = z.input<typeof RetrainBody>;

export const StoreReply = z.object({
  name: z.string(),
  current: z.string().nullable(),
  versions: z.array(z.string()),
});
export type StoreReply = z.infer<typeof StoreReply>;
/** One event of a model store's history (history.json), as stored and as the admin API lists it. */
export const StoreEvent = z.object({
  at: z.string(),
  /** reject: the version failed verification and was marked bad. */
  action: z.enum(['adopt', 'add', 'promote', 'rollback', 'reject']).or(z.string()),
  version: z.string(),
  from: z.string().nullable().optional(),
  note: z.string().optional(),
});
export type StoreEvent = z.infer<typeof StoreEvent>;

export const VersionsReply = z.object({
  name: z.string(),
  current: z.string().nullable(),
  versions: z.array(
    z.object({
      version: z.string(),
      accuracy: z.number().nullable(),
      createdAt: z.string().nullable(),
      parentVersion: z.string().nullable(),
      /** Why the version cannot be served, if it cannot. */
      bad: z.string().nullable(),
    }),
  ),
  events: z.array(StoreEvent),
});
export type VersionsReply = z.infer<typeof VersionsReply>;
