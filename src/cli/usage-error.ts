import { type ErrorCode, HwrError } from '../util/errors.js';

/** A bad command line or option value; printed without a stack trace, exit code 1. */
export class UsageError extends HwrError {
  override readonly name = 'UsageError';

  constructor(message: string, options: { code?: ErrorCode; cause?: unknown } = {}) {
    super(options.code ?? 'usage', message, { cause: options.cause });
  }
}

export function parseIntOption(name: string, value: string, min = 0): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

export function parseFloatOption(
  name: string,
  value: string,
  min = 0,
  max = Number.POSITIVE_INFINITY,
): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`--${name} must be a number in [${min}, ${max}], got "${value}"`);
  return n;
}
