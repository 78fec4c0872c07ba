/**
 * The one error base of hwr. Every error a user can cause or fix carries a `code` (what kind of
 * failure, stable for programs) and a `cause` (the error underneath, kept for logs and debugging);
 * the message says what went wrong and what is accepted. The edges turn them into data: the HTTP
 * error handler answers `{error, code, statusCode}` with the status the code maps to
 * (serve/http-error.ts, one table), the CLI prints `hwr: <message>` and exits 1.
 */
export const ERROR_CODES = [
  // Input a caller sent: a command line, a request, a drawing, a file to read.
  'usage',
  'bad_request',
  'invalid_input',
  'too_large',
  'too_many_requests',
  // Access to the admin API.
  'unauthorized',
  'forbidden',
  // Something named that does not exist, or a state that does not allow the operation.
  'not_found',
  'conflict',
  'gone',
  // A request repeated under an Idempotency-Key with a different body.
  'key_reused',
  // Data and models on disk that cannot be read or used.
  'data',
  'model',
  // The machine: a backend that cannot start, a store that cannot be written right now.
  'backend',
  'unavailable',
  'storage_full',
  // A bug or an unexpected failure: the message is not shown over HTTP.
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** What the edges show of an error: a stable code and a message for people. */
export interface ErrorData {
  readonly code: ErrorCode;
  readonly message: string;
}

export class HwrError extends Error {
  override readonly name: string = 'HwrError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toData(): ErrorData {
    return { code: this.code, message: this.message };
  }
}

/** The code and message of an hwr error; undefined for anything else (a bug, a library failure). */
export function errorData(err: unknown): ErrorData | undefined {
  return err instanceof HwrError ? err.toData() : undefined;
}
