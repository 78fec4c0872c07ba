import fastifyMultipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HwrError } from '../util/errors.js';
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
    limits: { fileSize: bodyLimit, files: 1, fields: 8, fieldSize: 1024, parts: 9 },
    throwFileSizeLimit: true,
  });
  app.addHook('preValidation', async (request: FastifyRequest) => {
    if (!request.isMultipart()) return;
    request.body = await formBody(request);
  });
}

/**
 * Reads the form into the object a JSON body would be. A body that is not valid multipart (a cut
 * stream, a missing boundary) is the client's error: 400 with the parser's words, never a 500.
 */
async function formBody(request: FastifyRequest): Promise<Record<string, unknown>> {
  const body: Record<string, unknown> = {};
  let misplacedFile: string | undefined;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const data = await part.toBuffer();
        if (part.fieldname !== 'image') misplacedFile ??= part.fieldname;
        else body.image = data;
      } else {
        body[part.fieldname] = NUMERIC_FIELDS.has(part.fieldname) ? Number(part.value) : part.value;
      }
    }
  } catch (err) {
    if (err instanceof HwrError) throw err;
    // The plugin's own limit errors (too many files, a file over the limit) carry their 4xx.
    const status = (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) throw err;
    throw HttpError.badRequest(`malformed multipart/form-data body: ${(err as Error).message}`, err);
  }
  if (misplacedFile !== undefined)
    throw HttpError.badRequest(`the file must be sent as the "image" field, not "${misplacedFile}"`);
  const image = body.image;
  if (Buffer.isBuffer(image)) {
    if (image.length === 0) throw HttpError.badRequest('image is empty');
    body.image = image.toString('base64');
  }
  return body;
}
