import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { METADATA_FILE, MODEL_FILE, WEIGHTS_FILE } from '../model/io.js';
import type { ModelMetadata } from '../model/metadata.js';
import { ErrorReply } from '../schema/wire.js';
import { HttpError } from './http-error.js';
import type { ModelRegistry } from './registry.js';

/**
 * A served model's files, read only, for the page's in-browser inference (src/web/offline): the
 * root CNN's model.json and weights, each part's (e.g. `strokes/model.json`) and metadata.json.
 * Only the files the metadata names are served: a request path is looked up in that list, never
 * joined to a directory as given, so no other file can be reached.
 */
export const ModelFileParams = z.strictObject({
  name: z.string().min(1).max(100),
  // One optional part folder (metadata `parts[].dir` has this form), then a plain file name.
  '*': z
    .string()
    .max(200)
    .regex(/^(?:[a-z][a-z0-9-]*\/)?[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'not a model file name'),
});

/** The version the client expects: files of one version never change, so they are cached for good. */
export const ModelFileQuery = z.strictObject({ version: z.string().min(1).max(100) });

/** Files of a model directory the route serves, relative to it: the root network, metadata, parts. */
export function servedModelFiles(meta: ModelMetadata): Set<string> {
  const files = new Set([METADATA_FILE, MODEL_FILE, meta.weights?.file ?? WEIGHTS_FILE]);
  for (const part of Object.values(meta.parts ?? {})) {
    files.add(`${part.dir}/${MODEL_FILE}`);
    files.add(`${part.dir}/${part.weights?.file ?? WEIGHTS_FILE}`);
  }
  return files;
}

/** GET /api/models/:name/files/* (the path inside the model directory), ?version= the served version. */
export const modelFileRoutes: FastifyPluginAsyncZod<{ registry: ModelRegistry }> = async (
  api,
  { registry },
) => {
  // Untyped reply (as the report route): the answer is the file's bytes, sent as they are.
  api.get<{ Params: z.infer<typeof ModelFileParams>; Querystring: z.infer<typeof ModelFileQuery> }>(
    '/api/models/:name/files/*',
    {
      schema: {
        summary:
          "One of a served model's files (model.json, weights, parts, metadata.json), for in-browser inference",
        description:
          "Only the files its metadata names. `version` must be the served version: the answer is then cached for a year (a version's files never change).",
        params: ModelFileParams,
        querystring: ModelFileQuery,
        produces: ['application/json', 'application/octet-stream'],
        response: { 400: ErrorReply, 404: ErrorReply },
      },
    },
    async (request, reply) => {
      const { name, '*': path } = request.params;
      const model = registry.get(name);
      if (!model) throw HttpError.notFound(`no served model "${name}"`);
      if (request.query.version !== model.version)
        throw HttpError.notFound(
          `model "${name}" is served at version ${model.version}, not ${request.query.version}`,
        );
      if (!servedModelFiles(model.metadata).has(path))
        throw HttpError.notFound(`model "${name}" has no file "${path}" to serve`);
      let data: Buffer;
      try {
        data = await readFile(join(model.dir, path));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        throw HttpError.notFound(`model "${name}" (version ${model.version}) has no file "${path}"`);
      }
      return reply
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('etag', `"${encodeURIComponent(model.version)}"`)
        .type(path.endsWith('.json') ? 'application/json; charset=utf-8' : 'application/octet-stream')
        .send(data);
    },
  );
};
