import type { Stroke } from '../preprocess/index.js';
import type {
  FeedbackCreated,
  FeedbackStatsReply,
  ModelInfo,
  Prediction,
  ReadCharacterReply,
  ReadReply,
} from '../schema/wire.js';
import { ERROR_CODES, type ErrorCode, HwrError } from '../util/errors.js';

// The HTTP API served by src/serve (its OpenAPI page is at /docs); the answers' types are inferred
// from the schemas the server validates them with (types only: no zod in the page's bundle).
export type { FeedbackCreated, ModelInfo, PartAnswer, Prediction } from '../schema/wire.js';
/** The part of GET /api/feedback/stats the page shows. */
export type FeedbackStats = Pick<FeedbackStatsReply, 'total' | 'withPrediction' | 'correct' | 'accuracy'>;

/** An API answer that is not a success: the server's message when it sent one. */
export class ApiError extends HwrError {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly status: number,
    code: ErrorCode = status === 0 ? 'unavailable' : 'internal',
  ) {
    super(code, message);
  }
}

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      ...init,
      headers: {
        accept: 'application/json',
        // A FormData body sets its own multipart type (with the boundary).
        ...(typeof init?.body === 'string' ? { 'content-type': 'application/json' } : {}),
        ...(init?.headers as Record<string, string> | undefined),
      },
    });
  } catch {
    throw new ApiError('network', 0);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const answer = (body ?? {}) as { error?: unknown; code?: unknown };
    const code = ERROR_CODES.find((c) => c === answer.code);
    if (typeof answer.error === 'string') throw new ApiError(answer.error, res.status, code);
    throw new ApiError(`${res.status} ${res.statusText}`, res.status, code);
  }
  return body as T;
}

/** GET /api/models: `{ models: [...] }` (a bare array is accepted too). */
export async function listModels(): Promise<ModelInfo[]> {
  const body = await call<ModelInfo[] | { models: ModelInfo[] }>('/api/models');
  return Array.isArray(body) ? body : (body?.models ?? []);
}

export function predict(strokes: readonly Stroke[], model: string, topK = 3): Promise<Prediction> {
  return call<Prediction>('/api/predict', { method: 'POST', body: JSON.stringify({ strokes, model, topK }) });
}

/** A read's character and the whole read (src/schema/wire.ts). */
export type ReadCharacter = ReadCharacterReply;
export type ReadResult = ReadReply;

/** POST /api/read as a form upload (no base64 inflation of the photo). */
export function readPhoto(image: Blob, model: string, topK = 3): Promise<ReadResult> {
  const form = new FormData();
  form.append('model', model);
  form.append('topK', String(topK));
  form.append('image', image, image.type === 'image/png' ? 'photo.png' : 'photo.jpg');
  return call<ReadResult>('/api/read', { method: 'POST', body: form });
}

/** What a correction is about: a drawing's strokes, or a character of a read (its crop). */
export type FeedbackInput = { strokes: readonly Stroke[] } | { crop: string };

/**
 * POST /api/feedback. `key` is the correction's Idempotency-Key (./correction-key.ts), the same on
 * every retry of it, so the server stores it once even when an answer was lost (201 the first time,
 * 200 with the same id for a retry).
 */
export function sendFeedback(
  body: FeedbackInput & { model: string; label: string; predicted?: string },
  key?: string,
): Promise<FeedbackCreated> {
  return call('/api/feedback', {
    method: 'POST',
    body: JSON.stringify(body),
    // The draft's sf-string form: the key in double quotes.
    headers: key === undefined ? undefined : { 'idempotency-key': `"${key}"` },
  });
}

/** DELETE /api/feedback/:id with the token its POST returned (204, no body). */
export async function undoFeedback(created: FeedbackCreated): Promise<void> {
  await call(`/api/feedback/${created.id}`, {
    method: 'DELETE',
    headers: { 'x-undo-token': created.undoToken },
  });
}

export function feedbackStats(model: string): Promise<FeedbackStats> {
  return call(`/api/feedback/stats?model=${encodeURIComponent(model)}`);
}

/** Where the served model's evaluation report is (GET /api/models/:name/report). */
export const reportUrl = (model: string): string => `/api/models/${encodeURIComponent(model)}/report`;
