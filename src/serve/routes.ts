import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';
import { type FastifyPluginAsyncZod, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { partAnswer } from '../model/answer.js';
import { PreprocessError } from '../preprocess/index.js';
import {
  BatchResult,
  ErrorReply,
  FeedbackCreated,
  FeedbackStatsReply,
  ModelsReply,
  type PartInfo,
  type Prediction,
  Prediction as PredictionSchema,
} from '../schema/wire.js';
import type { ModelCatalog } from '../store/catalog.js';
import type { FeedbackRecords, HwrDatabase } from '../store/database.js';
import { type NewFeedback, UNDO_WINDOW_MS } from '../store/feedback-store.js';
import { type AdminSettings, registerAdminRoutes } from './admin.js';
import { HttpError } from './http-error.js';
import { keyOfHeader, requestHash } from './idempotency.js';
import { type DecodedInput, decodeCrop, decodeInput, pngBase64 } from './inputs.js';
import type { ServeMetrics } from './metrics.js';
import { modelFileRoutes } from './model-files.js';
import { batchExamples, bodyExamples, feedbackExamples } from './openapi.js';
import type { Answer } from './predictor.js';
import type { ModelRegistry, ServedModel } from './registry.js';
import {
  BatchBody,
  FeedbackBody,
  FeedbackHeaders,
  IDEMPOTENCY_HEADER,
  isPlainPredictBody,
  PredictBody,
  StatsQuery,
  UNDO_HEADER,
  UndoHeaders,
  UndoParams,
} from './schemas.js';

export interface RouteDeps {
  readonly registry: ModelRegistry;
  /** Feedback, model version and job records (SQLite file or shared PostgreSQL). */
  readonly database: HwrDatabase;
  readonly catalog: ModelCatalog;
  /** The server's data folder (retrain job outputs). */
  readonly dataDir: string;
  readonly metrics: ServeMetrics;
  readonly defaultModel: string;
  /** Admin requests per minute per client IP (Limits.adminPerMinute). */
  readonly adminPerMinute: number;
  /** The admin token and automatic retrain; no token, no admin routes. */
  readonly admin: AdminSettings;
  readonly metricsText: () => Promise<string>;
  /** Largest image (width x height) decoded, checked on the header (default MAX_IMAGE_PIXELS). */
  readonly maxImagePixels?: number;
}

const DEFAULT_TOP_K = 5;
const REPORT_FILE = 'report.html';
const REPORT_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/** 144 random bits per undo token; only its sha256 is stored. */
const UNDO_TOKEN_BYTES = 18;
const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

const errors = {
  400: ErrorReply,
  404: ErrorReply,
  413: ErrorReply,
  415: ErrorReply,
  429: ErrorReply,
  503: ErrorReply,
};

/** POST /api/predict bodies: the common valid ones skip zod (schemas.ts); the rest get zod's messages. */
const predictValidator: FastifySchemaCompiler<unknown> = (def) => {
  const zod = validatorCompiler(def as Parameters<typeof validatorCompiler>[0]);
  if (def.httpPart !== 'body') return zod;
  return (data: unknown) => (isPlainPredictBody(data) ? { value: data } : zod(data));
};

/** The 200 answer is built right here as a Prediction: plain JSON.stringify, no zod encode pass. */
const predictSerializer: FastifySerializerCompiler<unknown> = (def) =>
  def.httpStatus === '200'
    ? (data: unknown) => JSON.stringify(data)
    : serializerCompiler(def as Parameters<typeof serializerCompiler>[0]);

export function resolveModel(
  registry: ModelRegistry,
  requested: string | undefined,
  fallback: string,
): ServedModel {
  const name = requested ?? fallback;
  const model = registry.get(name);
  if (model) return model;
  if (!registry.scanned) throw HttpError.unavailable('models are still loading; try again shortly');
  const known = registry.list().map((m) => `"${m.name}"`);
  if (known.length === 0) throw HttpError.unavailable('no model is loaded (none found in the models folder)');
  throw HttpError.notFound(`unknown model "${name}"; served models: ${known.join(', ')}`);
}

function toPrediction(model: ServedModel, answer: Answer, pixels: Uint8Array, topK: number): Prediction {
  const classes = model.metadata.classes;
  const prediction: Prediction = {
    ...partAnswer(classes, answer.probs, topK),
    model: { name: model.name, version: model.version },
    input: pngBase64(pixels),
  };
  if (answer.parts)
    prediction.parts = Object.fromEntries(
      Object.entries(answer.parts).map(([name, probs]) => [name, partAnswer(classes, probs, topK)]),
    );
  return prediction;
}

/** Strokes the stroke features refuse (after the renderer accepted them) are the client's error too. */
async function classify(model: ServedModel, input: DecodedInput, where = ''): Promise<Answer> {
  try {
    return await model.predictor.classify(input);
  } catch (err) {
    if (err instanceof PreprocessError) throw HttpError.badRequest(`${where}${err.message}`);
    throw err;
  }
}

/** The networks of a served model as GET /api/models lists them: the root CNN, then each part. */
function partsOf(model: ServedModel): PartInfo[] {
  const meta = model.metadata;
  const image: PartInfo = {
    name: 'image',
    inputs: ['image', 'pixels', 'strokes'],
    arch: meta.arch,
    params: meta.params,
    accuracy: meta.testAccuracy ?? null,
  };
  return [
    image,
    ...Object.entries(meta.parts ?? {}).map(([name, part]) => ({
      name,
      inputs: [part.input],
      arch: part.arch,
      params: part.params,
      accuracy: part.testAccuracy ?? null,
    })),
  ];
}

/**
 * The public API as Fastify plugins, one per concern: predictions, feedback, status (models and
 * their reports, health, metrics), and the admin routes when a token is set (src/serve/admin.ts).
 */
export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.register(predictRoutes, deps);
  app.register(feedbackRoutes, deps);
  app.register(statusRoutes, deps);
  // The served models' files, for the page's in-browser inference.
  app.register(modelFileRoutes, { registry: deps.registry });
  const { registry, database, catalog, dataDir, defaultModel, adminPerMinute, admin } = deps;
  // Retrain / promote / rollback: only when an admin token is set (src/serve/admin.ts).
  registerAdminRoutes(app, {
    registry,
    database,
    catalog,
    dataDir,
    defaultModel,
    perMinute: adminPerMinute,
    ...admin,
  });
}

/** POST /api/predict and /api/predict/batch. */
const predictRoutes: FastifyPluginAsyncZod<RouteDeps> = async (api, deps) => {
  const { registry, metrics, defaultModel, maxImagePixels } = deps;
  api.post(
    '/api/predict',
    {
      schema: {
        summary: 'Classify one drawing',
        description: 'Exactly one of image, pixels or strokes.',
        body: PredictBody.meta(bodyExamples({ topK: 3 })),
        response: { 200: PredictionSchema, ...errors },
      },
      validatorCompiler: predictValidator,
      serializerCompiler: predictSerializer,
    },
    async (request) => {
      const model = resolveModel(registry, request.body.model, defaultModel);
      const input = await decodeInput(request.body, '', maxImagePixels);
      const answer = await classify(model, input);
      const result = toPrediction(model, answer, input.pixels, request.body.topK ?? DEFAULT_TOP_K);
      metrics.predictions.inc({ model: model.name, label: result.label });
      return result;
    },
  );

  api.post(
    '/api/predict/batch',
    {
      schema: {
        summary: 'Classify many drawings in one forward pass',
        body: BatchBody.meta(batchExamples()),
        response: { 200: BatchResult, ...errors },
      },
    },
    async (request) => {
      const model = resolveModel(registry, request.body.model, defaultModel);
      const inputs: DecodedInput[] = await Promise.all(
        request.body.inputs.map((input, i) => decodeInput(input, `inputs[${i}]: `, maxImagePixels)),
      );
      let answers: Answer[];
      try {
        answers = model.predictor.answerNow(inputs);
      } catch (err) {
        if (err instanceof PreprocessError) throw HttpError.badRequest(err.message);
        throw err;
      }
      const results = inputs.map((input, i) => {
        const r = toPrediction(model, answers[i], input.pixels, request.body.topK ?? DEFAULT_TOP_K);
        metrics.predictions.inc({ model: model.name, label: r.label });
        return r;
      });
      return { results };
    },
  );
};

/** The Fastify instance a route plugin gets, typed by the routes' zod schemas. */
type ZodApi = Parameters<FastifyPluginAsyncZod<RouteDeps>>[0];

/** POST /api/feedback, DELETE /api/feedback/:id (undo), GET /api/feedback/stats. */
const feedbackRoutes: FastifyPluginAsyncZod<RouteDeps> = async (api, deps) => {
  addFeedbackRoute(api, deps);
  undoFeedbackRoute(api, deps);
  api.get(
    '/api/feedback/stats',
    {
      schema: {
        summary: 'Feedback counts per label and how often the model was right',
        querystring: StatsQuery,
        response: { 200: FeedbackStatsReply, 400: ErrorReply },
      },
    },
    async (request) => deps.database.feedback.stats(request.query.model),
  );
};

/** The label and the prediction a correction names must be classes of the model. */
function checkFeedbackLabels(model: ServedModel, body: { label: string; predicted?: string }): void {
  const classes = model.metadata.classes;
  if (!classes.includes(body.label))
    throw HttpError.badRequest(
      `label "${body.label}" is not a class of model "${model.name}" (classes: ${classes.join(' ')})`,
    );
  if (body.predicted !== undefined && !classes.includes(body.predicted))
    throw HttpError.badRequest(`predicted "${body.predicted}" is not a class of model "${model.name}"`);
}

/** POST /api/feedback: stores the drawing, its label and the model's answer; returns an undo token. */
function addFeedbackRoute(api: ZodApi, deps: RouteDeps): void {
  const { registry, metrics, defaultModel, maxImagePixels } = deps;
  const feedback = deps.database.feedback;
  api.post(
    '/api/feedback',
    {
      schema: {
        summary: 'Store a correction: the drawing (or a character of a read) and its true label',
        description: `Stored durably (committed to SQLite or PostgreSQL before the answer). Without "predicted", the model's own answer is computed and stored. A character of POST /api/read is sent back as "crop" (its characters[i].input): the server keeps no reads, so any replica stores it.

With an Idempotency-Key header, a retry of the same request (same key, same body) stores nothing and answers 200 with the first request's id and undo deadline and a new undo token (the first token is void: its answer was lost); the same key with a different body is refused with 422. Without the header every request stores a row.`,
        headers: FeedbackHeaders,
        body: FeedbackBody.meta(feedbackExamples()),
        response: { 200: FeedbackCreated, 201: FeedbackCreated, 422: ErrorReply, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const model = resolveModel(registry, body.model, defaultModel);
      checkFeedbackLabels(model, body);
      const sample = await feedbackSample(model, body, maxImagePixels);
      const undoToken = randomBytes(UNDO_TOKEN_BYTES).toString('base64url');
      const header = request.headers[IDEMPOTENCY_HEADER];
      const key = header === undefined ? undefined : keyOfHeader(header);
      const stored = await storeFeedback(feedback, { ...sample, undoHash: sha256Hex(undoToken) }, key, body);
      const log = {
        feedbackId: stored.id,
        model: model.name,
        label: body.label,
        predicted: sample.predicted,
      };
      if (stored.replayed)
        request.log.info({ ...log, idempotencyKey: key }, 'feedback sent again: answered the stored row');
      else {
        metrics.feedback.inc({ model: model.name });
        request.log.info(log, 'feedback stored');
      }
      reply.code(stored.replayed ? 200 : 201);
      return {
        id: stored.id,
        undoToken,
        undoUntil: new Date(stored.createdAt + UNDO_WINDOW_MS).toISOString(),
      };
    },
  );
}

/** The row a correction stores: the input as the model saw it, and its answer unless the client gave it. */
async function feedbackSample(
  model: ServedModel,
  body: FeedbackBody,
  maxImagePixels: number | undefined,
): Promise<NewFeedback> {
  // A crop is stored as the 784 pixels of a `pixels` input: what the model saw, as it saw it.
  const input = body.crop !== undefined ? decodeCrop(body.crop) : await decodeInput(body, '', maxImagePixels);
  const predicted =
    body.predicted ?? partAnswer(model.metadata.classes, (await classify(model, input)).probs, 1).label;
  return {
    pixels: input.pixels,
    inputKind: input.kind,
    rawInput: input.raw,
    label: body.label,
    predicted,
    modelName: model.name,
    modelVersion: model.version,
    classes: model.metadata.classes,
  };
}

/** Stores the row, once per Idempotency-Key when the client sent one; 422 for a key reused on another body. */
async function storeFeedback(
  feedback: FeedbackRecords,
  sample: NewFeedback,
  key: string | undefined,
  body: FeedbackBody,
): Promise<{ id: number; createdAt: number; replayed: boolean }> {
  if (key === undefined) return { id: await feedback.add(sample), createdAt: Date.now(), replayed: false };
  const result = await feedback.addOnce(sample, { key, requestHash: requestHash(body) });
  if (result.kind === 'mismatch')
    throw new HttpError(
      'key_reused',
      `Idempotency-Key "${key}" was already used for a different correction; a new correction needs a new key`,
    );
  return { id: result.id, createdAt: Date.parse(result.createdAt), replayed: result.kind === 'replayed' };
}

/** DELETE /api/feedback/:id with the row's one-time undo token, within the undo window. */
function undoFeedbackRoute(api: ZodApi, deps: RouteDeps): void {
  const feedback = deps.database.feedback;
  api.delete(
    '/api/feedback/:id',
    {
      schema: {
        summary: 'Undo a correction just sent (with the one-time token its POST returned)',
        description: `Allowed for ${UNDO_WINDOW_MS / 60_000} minutes after the row was stored.`,
        params: UndoParams,
        headers: UndoHeaders,
        response: { 204: z.null(), 400: ErrorReply, 403: ErrorReply, 404: ErrorReply, 410: ErrorReply },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const result = await feedback.undo(id, sha256Hex(request.headers[UNDO_HEADER]));
      if (result === 'missing') throw HttpError.notFound(`no feedback row ${id}`);
      if (result === 'forbidden') throw new HttpError('forbidden', `wrong undo token for feedback row ${id}`);
      if (result === 'expired')
        throw new HttpError('gone', `feedback row ${id} is older than the undo window; it stays stored`);
      request.log.info({ feedbackId: id }, 'feedback undone');
      reply.code(204);
      return null;
    },
  );
}

/** GET /api/models, /api/models/:name/report, /healthz, /readyz, /metrics. */
const statusRoutes: FastifyPluginAsyncZod<RouteDeps> = async (api, deps) => {
  modelRoutes(api, deps);
  healthRoutes(api, deps);
};

/** GET /api/models and /api/models/:name/report. */
function modelRoutes(api: ZodApi, deps: RouteDeps): void {
  const { registry, defaultModel } = deps;
  api.get(
    '/api/models',
    { schema: { summary: 'Models being served', response: { 200: ModelsReply } } },
    async () => ({
      models: registry.list().map((m) => ({
        name: m.name,
        version: m.version,
        arch: m.metadata.arch,
        classes: m.metadata.classes,
        accuracy: m.metadata.testAccuracy ?? null,
        params: m.metadata.params,
        createdAt: m.metadata.createdAt,
        loadedAt: m.loadedAt.toISOString(),
        parts: partsOf(m),
        fusion: m.metadata.fusion ?? null,
      })),
    }),
  );

  // Untyped reply: the answer is the stored HTML file (a Buffer), which Fastify sends as is.
  api.get<{ Params: { name: string } }>(
    '/api/models/:name/report',
    {
      schema: {
        summary: "The served model's evaluation report (report.html, self-contained)",
        params: z.strictObject({ name: z.string().min(1).max(100) }),
        produces: ['text/html'],
        response: { 404: ErrorReply, 503: ErrorReply },
      },
    },
    async (request, reply) => {
      const model = resolveModel(registry, request.params.name, defaultModel);
      let html: Buffer;
      try {
        html = await readFile(join(model.dir, REPORT_FILE));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        throw HttpError.notFound(
          `model "${model.name}" (version ${model.version}) has no ${REPORT_FILE}; hwr evaluate --report writes one`,
        );
      }
      // The report carries its own inline <style> and data: images and nothing else.
      return reply.header('content-security-policy', REPORT_CSP).type('text/html; charset=utf-8').send(html);
    },
  );
}

/** GET /healthz (liveness), /readyz (a model loaded; feedback storage health), /metrics. */
function healthRoutes(api: ZodApi, deps: RouteDeps): void {
  const { registry, metrics, metricsText } = deps;
  const feedback = deps.database.feedback;
  api.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process answers',
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  api.get(
    '/readyz',
    {
      schema: {
        summary:
          'Readiness: 503 until at least one model is loaded; "degraded" (still 200, predictions go on) while feedback cannot be stored',
        response: {
          200: z.object({
            status: z.enum(['ready', 'degraded']),
            models: z.array(z.string()),
            feedback: z.object({
              status: z.enum(['ok', 'degraded']),
              cause: z.string().optional(),
              since: z.string().optional(),
            }),
          }),
          503: ErrorReply,
        },
      },
    },
    async () => {
      if (!registry.ready)
        throw HttpError.unavailable(
          registry.scanned ? 'no model loaded from the models folder' : 'models are still loading',
        );
      const health = feedback.health;
      return {
        status: health.status === 'ok' ? ('ready' as const) : ('degraded' as const),
        models: registry.list().map((m) => `${m.name}@${m.version}`),
        feedback: health,
      };
    },
  );

  api.get('/metrics', { schema: { summary: 'Prometheus metrics', hide: false } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metricsText();
  });
}
