import { describe, expect, it } from 'vitest';
import { DataError } from '../data/dataset.js';
import { ModelError } from '../model/io.js';
import { PreprocessError } from '../preprocess/errors.js';
import { ERROR_CODES, errorData, HwrError } from '../util/errors.js';
import { codeOfStatus, HTTP_STATUS, HttpError } from './http-error.js';

describe('errors with codes and causes', () => {
  it('every code has one HTTP status; only server failures are 500', () => {
    expect(Object.keys(HTTP_STATUS).sort()).toEqual([...ERROR_CODES].sort());
    const server = ERROR_CODES.filter((c) => HTTP_STATUS[c] === 500).sort();
    expect(server).toEqual(['backend', 'data', 'internal', 'model']);
  });

  it('HttpError takes its status from its code and keeps the cause', () => {
    const cause = new PreprocessError('nothing drawn');
    const err = HttpError.badRequest(`strokes: ${cause.message}`, cause);
    expect(err).toBeInstanceOf(HwrError);
    expect(err.statusCode).toBe(400);
    expect(err.cause).toBe(cause);
    expect(new HttpError('too_many_requests', 'slow down').statusCode).toBe(429);
    expect(HttpError.unavailable('read-only').statusCode).toBe(503);
  });

  it('the domain errors are HwrErrors with a default code, overridable, and become {code, message}', () => {
    expect(errorData(new DataError('bad file'))).toEqual({ code: 'data', message: 'bad file' });
    const io = new Error('EROFS');
    const store = new ModelError('models is not writable', { code: 'unavailable', cause: io });
    expect(store.toData()).toEqual({ code: 'unavailable', message: 'models is not writable' });
    expect(store.cause).toBe(io);
    expect(store.name).toBe('ModelError');
    expect(errorData(new Error('a bug'))).toBeUndefined();
  });

  it("Fastify's own statuses map back to a code", () => {
    expect(codeOfStatus(413)).toBe('too_large');
    expect(codeOfStatus(404)).toBe('not_found');
    expect(codeOfStatus(400)).toBe('bad_request');
    expect(codeOfStatus(415)).toBe('bad_request');
    expect(codeOfStatus(502)).toBe('internal');
  });
});
