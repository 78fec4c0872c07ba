import { type ErrorCode, HwrError } from '../util/errors.js';

/** Input that cannot become a 28x28 MNIST-form image (nothing drawn, malformed strokes, bad raster). */
export class PreprocessError extends HwrError {
  override readonly name = 'PreprocessError';

  constructor(message: string, options: { code?: ErrorCode; cause?: unknown } = {}) {
    super(options.code ?? 'invalid_input', message, { cause: options.cause });
  }
}
