import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { partAnswer } from '../model/answer.js';
import { PreprocessError, type ReadCharacter, readLine } from '../preprocess/index.js';
import { ErrorReply, ReadReply } from '../schema/wire.js';
import { HttpError } from './http-error.js';
import { decodeImageInput, pngBase64 } from './inputs.js';
import type { ServeMetrics } from './metrics.js';
import type { ModelRegistry } from './registry.js';
import { resolveModel } from './routes.js';
import { InputFields } from './schemas.js';

const DEFAULT_TOP_K = 3;

export const ReadBody = z.strictObject({
  image: InputFields.image
    .unwrap()
    .describe('Base64 PNG or JPEG of one line of handwriting (or multipart field "image")'),
  model: z.string().min(1).max(100).optional().describe('Model name (default "digits"; "letters" reads a-z)'),
  topK: z
    .number()
    .int()
    .min(1)
    .max(100)
    .optional()
    .describe('How many classes to list per character (default 3)'),
});

export interface ReadDeps {
  readonly registry: ModelRegistry;
  readonly metrics: ServeMetrics;
  readonly defaultModel: string;
  readonly maxImagePixels: number;
}

/**
 * POST /api/read: a photo or scan of a line of handwriting → its characters, left to right, each with
 * its box, label and top-k (segmentation in src/preprocess/segment.ts).
 */
export function registerReadRoute(app: FastifyInstance, deps: ReadDeps): void {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/read',
    {
      schema: {
        summary: 'Read a line of handwriting (a number, a word) from a photo or scan',
        description: 'JSON {"image": base64} or multipart/form-data with an "image" file.',
        body: ReadBody,
        response: {
          200: ReadReply,
          400: ErrorReply,
          404: ErrorReply,
          413: ErrorReply,
          415: ErrorReply,
          503: ErrorReply,
        },
      },
    },
    async (request) => {
      const model = resolveModel(deps.registry, request.body.model, deps.defaultModel);
      const image = await decodeImageInput(request.body.image, deps.maxImagePixels);
      let crops: ReadCharacter[];
      try {
        crops = await readLine(image, (pixels) => Promise.all(pixels.map((p) => model.predictor.predict(p))));
      } catch (err) {
        if (err instanceof PreprocessError) throw HttpError.badRequest(err.message);
        throw err;
      }
      const scale =
        Math.max(image.original.width, image.original.height) / Math.max(image.width, image.height);
      const classes = model.metadata.classes;
      const topK = request.body.topK ?? DEFAULT_TOP_K;
      const characters = crops.map((c) => {
        const answer = partAnswer(classes, c.probs, topK);
        deps.metrics.predictions.inc({ model: model.name, label: answer.label });
        return {
          box: {
            x: Math.round(c.box.x * scale),
            y: Math.round(c.box.y * scale),
            width: Math.round(c.box.width * scale),
            height: Math.round(c.box.height * scale),
          },
          ...answer,
          input: pngBase64(c.pixels),
        };
      });
      return {
        text: characters.map((c) => c.label).join(''),
        characters,
        model: { name: model.name, version: model.version },
      };
    },
  );
}
