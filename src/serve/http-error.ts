/**
 * The one error class of the HTTP layer. Handlers throw it; the error handler answers
 * `{"error": message, "statusCode": status}`. The CLI also prints it without a stack trace.
 */
export class HttpError extends Error {
  override readonly name = 'HttpError';

  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }

  static badRequest(message: string): HttpError {
    return new HttpError(400, message);
  }

  static notFound(message: string): HttpError {
    return new HttpError(404, message);
  }

  static unavailable(message: string): HttpError {
    return new HttpError(503, message);
  }
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  error: string;
  statusCode: number;
}
