import fastifyMultipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from './http-error.js';

/** Text fields a form may carry besides the image (the JSON bodies' other fields). */
const NUMERIC_FIELDS = new Set(['topK']);

/**
 * `multipart/form-data` bodies (`curl -F image=@photo.jpg -F model=digits`): the form becomes the same
 * object a JSON body is (the file as base64 in `image`, `topK` as a number), so every route validates
 * one schema whatever the encoding. One file, a few short fields, the body limit for the file.
 */
export async function registerMultipart(app: FastifyInstance, bodyLimit: number): Promise<void> {
  await app.register(fastifyMultipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fileSize: bodyLimit, files: 1, fields: 8, fieldSize: 1024, parts: 9 },
  });
  app.addHook('preValidation', async (request: FastifyRequest) => {
    if (!request.isMultipart()) return;
    const form = (request.body ?? {}) as Record<string, unknown>;
    const body: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(form)) {
      if (Buffer.isBuffer(value)) {
        if (key !== 'image')
          throw HttpError.badRequest(`the file must be sent as the "image" field, not "${key}"`);
        if (value.length === 0) throw HttpError.badRequest('image is empty');
        body[key] = value.toString('base64');
      } else if (NUMERIC_FIELDS.has(key)) {
        body[key] = Number(value);
      } else {
        body[key] = value;
      }
    }
    request.body = body;
  });
}
