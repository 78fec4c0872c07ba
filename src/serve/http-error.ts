import { type ErrorCode, HwrError } from '../util/errors.js';

/**
 * The HTTP status of every error code: the one place a status is chosen. Codes whose status is 500
 * are failures of the server (a model on its disk that does not load, a bug): their message is
 * logged, not sent.
 */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  usage: 400,
  bad_request: 400,
  invalid_input: 400,
  too_large: 413,
  too_many_requests: 429,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  key_reused: 422,
  data: 500,
  model: 500,
  backend: 500,
  unavailable: 503,
  storage_full: 507,
  internal: 500,
};

/** The code of a status Fastify or a plugin chose itself (e.g. 415 from the content parser). */
export function codeOfStatus(status: number): ErrorCode {
  const entry = Object.entries(HTTP_STATUS).find(([code, s]) => s === status && code !== 'usage');
  if (entry) return entry[0] as ErrorCode;
  return status >= 500 ? 'internal' : 'bad_request';
}

/**
 * The error handlers throw for an HTTP answer: a code (its status comes from HTTP_STATUS), a message
 * the client sees, and the cause underneath (a store or preprocessing error), kept for the log.
 */
export class HttpError extends HwrError {
  override readonly name = 'HttpError';

  get statusCode(): number {
    return HTTP_STATUS[this.code];
  }

  static badRequest(message: string, cause?: unknown): HttpError {
    return new HttpError('bad_request', message, { cause });
  }

  static notFound(message: string): HttpError {
    return new HttpError('not_found', message);
  }

  static unavailable(message: string, cause?: unknown): HttpError {
    return new HttpError('unavailable', message, { cause });
  }
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: string;
  code: ErrorCode;
  statusCode: number;
}
