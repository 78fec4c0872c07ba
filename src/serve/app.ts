import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyCors from '@fastify/cors';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import helmet from 'helmet';
import { initBackend } from '../engine/backend.js';
import { ModelCatalog } from '../store/catalog.js';
import type { HwrDatabase } from '../store/database.js';
import { openDatabase } from '../store/open-database.js';
import { StorageError, storageFaultOf } from '../store/storage-fault.js';
import { ModelStore } from '../store/store.js';
import { VERSION } from '../version.js';
import { installDrain } from './drain.js';
import { HttpError } from './http-error.js';
import { InferenceThread } from './inference-thread.js';
import { applyLimits, type Limits, safeParseLimits, serverOptions } from './limits.js';
import { TurnBatchedStream } from './log-stream.js';
import { ServeMetrics } from './metrics.js';
import { type BatchingOptions, DEFAULT_BATCHING } from './predictor.js';
import { ModelRegistry } from './registry.js';
import { registerRoutes } from './routes.js';

/** Default body limit: a 28x28 request is ~4 kB, a phone photo as base64 fits; 50 MB does not. */
export const DEFAULT_BODY_LIMIT = 2 * 1024 * 1024;
export const DEFAULT_MODEL = 'digits';

export interface ServeOptions {
  /** Folder of model directories (default ./models). */
  readonly modelsDir?: string;
  /** Folder of the feedback database (default ./data). */
  readonly dataDir?: string;
  /**
   * PostgreSQL URL shared by every replica (HWR_DATABASE_URL): feedback, the models' current
   * pointers and retrain jobs live there, and promotes reach every replica. Default: SQLite in dataDir.
   */
  readonly databaseUrl?: string;
  /** Built page to serve at / (default dist/web of this package); false: none. */
  readonly webDir?: string | false;
  /** pino logger options, true for info-level JSON lines, false for none (default). */
  readonly logger?: FastifyServerOptions['logger'];
  /** Allowed CORS origins; off by default (the page is served from the same origin). */
  readonly corsOrigins?: readonly string[];
  readonly bodyLimit?: number;
  /**
   * Request limits: sizes, caps, rate limits, timeouts (src/serve/limits.ts). Unset ones take
   * DEFAULT_LIMITS, except the per-IP rate limits, which are off for embedders (tests, benchmarks);
   * `hwr serve` passes the full DEFAULT_LIMITS (300 predict / 60 feedback / 120 admin per minute).
   */
  readonly limits?: Partial<Limits>;
  /** Micro-batching of concurrent single predictions (default: up to 16 per pass, one event-loop turn). */
  readonly batching?: BatchingOptions;
  /** Follow the models folder and hot-swap replaced models (default true). */
  readonly watch?: boolean;
  /** Pause between a change in the models folder and its rescan (default 200 ms). */
  readonly watchDebounceMs?: number;
  /** Text for GET /metrics (default: this process's metrics); cluster workers ask the primary. */
  readonly metricsText?: () => Promise<string>;
  /** Model used when a request names none (default "digits"). */
  readonly defaultModel?: string;
  /** Wait for the first model scan before resolving (default false: /readyz says 503 meanwhile). */
  readonly waitForModels?: boolean;
  /** wasm threads, when this call is the one that initialises the backend (default: initBackend's). */
  readonly threads?: number;
  /**
   * Run forward passes on a worker thread (./inference-thread.ts), beside the event loop, so one
   * process uses two cores (default false here; `hwr serve` turns it on).
   */
  readonly inferenceThread?: boolean;
}

export interface HwrApp {
  readonly app: FastifyInstance;
  readonly registry: ModelRegistry;
  readonly database: HwrDatabase;
  readonly catalog: ModelCatalog;
  readonly metrics: ServeMetrics;
  /** Resolves when the first scan of the models folder is done. */
  readonly modelsLoaded: Promise<void>;
}

/** dist/web of this package, whether running from src/serve (tsx) or dist/serve (compiled). */
export function defaultWebDir(): string {
  return fileURLToPath(new URL('../../dist/web', import.meta.url));
}

function validationMessage(err: FastifyError): string {
  const first = err.validation?.[0];
  if (!first) return err.message;
  const path = first.instancePath
    .split('/')
    .filter(Boolean)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join('');
  const where = `${err.validationContext ?? 'body'}${path}`;
  if (first.keyword === 'unrecognized_keys') {
    const keys = (first.params as { keys?: string[] }).keys ?? [];
    return `${where}: unknown field${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`;
  }
  return `${where}: ${first.message}`;
}

/** Builds the Fastify app (not listening): routes, plugins, model registry, feedback store, metrics. */
export async function buildApp(options: ServeOptions = {}): Promise<HwrApp> {
  const parsedLimits = safeParseLimits({
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    predictPerMinute: 0,
    feedbackPerMinute: 0,
    adminPerMinute: 0,
    ...options.limits,
  });
  if (!parsedLimits.success) throw new Error(`invalid limits: ${parsedLimits.errors.join('; ')}`);
  const limits = parsedLimits.data;
  const bodyLimit = limits.bodyLimit;
  // Logging to stdout (no stream, file or transport given): one write per event-loop turn.
  const wanted = options.logger === true ? {} : options.logger;
  const logStream =
    wanted && typeof wanted === 'object' && !('stream' in wanted || 'file' in wanted || 'transport' in wanted)
      ? new TurnBatchedStream()
      : undefined;
  const app = Fastify({
    logger: logStream
      ? { level: 'info', ...(wanted as object), stream: logStream }
      : (options.logger ?? false),
    ...serverOptions(limits),
    // One access-log line per request (onResponse below) instead of pino's two.
    logController: new LogController({ disableRequestLogging: true }),
  });
  // JSON only: anything else is a 415, not a string that fails validation further on.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const metrics = new ServeMetrics();
  await initBackend({ threads: options.threads, log: (m) => app.log.info(m) });
  const inferenceThread = options.inferenceThread ? InferenceThread.start((m) => app.log.warn(m)) : undefined;
  const dataDir = options.dataDir ?? 'data';
  const database = await openDatabase({ url: options.databaseUrl, dataDir });
  const modelsDir = options.modelsDir ?? 'models';
  const catalog = new ModelCatalog(new ModelStore(modelsDir), database);
  const registry = new ModelRegistry({
    dir: modelsDir,
    log: app.log,
    batching: options.batching ?? DEFAULT_BATCHING,
    inferenceThread,
    debounceMs: options.watchDebounceMs,
    onEvent: metrics.onRegistryEvent,
    // With a shared database, its pointer picks the version and the files are checked by hash.
    ...(catalog.shared && {
      resolve: (entryDir: string) => catalog.servedDir(basename(entryDir)),
      verify: (dir: string) => catalog.verify(dir),
    }),
  });
  // A promote or rollback by any replica: rescan now (the NOTIFY arrives at its commit).
  const unsubscribe = database.onCurrentChange((change) => {
    app.log.info(
      { model: change.name, version: change.version, from: change.from },
      'current version changed',
    );
    void registry.rescan();
  });
  app.log.info({ database: database.kind, at: database.location }, 'storage');

  app.setErrorHandler((err: FastifyError, request, reply) => {
    let statusCode: number;
    let message: string;
    if (hasZodFastifySchemaValidationErrors(err)) {
      statusCode = 400;
      message = validationMessage(err);
    } else if (err instanceof StorageError) {
      statusCode = err.status;
      message = err.message;
      request.log.error(
        { err: err.message, cause: (err.cause as Error | undefined)?.message },
        'storage fault',
      );
    } else if (err instanceof HttpError) {
      statusCode = err.statusCode;
      message = err.message;
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      statusCode = 413;
      message = `request body is larger than the limit of ${bodyLimit} bytes`;
    } else if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
      statusCode = 400;
      message = 'request body is not valid JSON';
    } else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      statusCode = err.statusCode;
      message = err.message;
    } else if (storageFaultOf(err)) {
      // A storage fault outside a store's own handling: still a cause, never an unexplained 500.
      const fault = storageFaultOf(err) as NonNullable<ReturnType<typeof storageFaultOf>>;
      const wrapped = new StorageError(fault.kind, fault.code, 'storage fault', { cause: err });
      statusCode = wrapped.status;
      message = wrapped.message;
      request.log.error({ err }, message);
    } else {
      statusCode = 500;
      message = 'internal server error';
      request.log.error({ err }, 'request failed');
    }
    reply.code(statusCode).send({ error: message, statusCode });
  });
  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send({ error: `no route ${request.method} ${request.url.split('?')[0]}`, statusCode: 404 });
  });

  installDrain(app);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const labels = { method: request.method, route, status_code: String(reply.statusCode) };
    metrics.requests.inc(labels);
    metrics.duration.observe(labels, reply.elapsedTime / 1000);
    request.log.info(
      {
        method: request.method,
        url: request.url,
        statusCode: reply.statusCode,
        ms: +reply.elapsedTime.toFixed(2),
      },
      'request',
    );
  });

  // helmet's middleware built once: @fastify/helmet rebuilt it (parsing the CSP) on every request,
  // ~3 % of the main thread's CPU under load (measured). Same headers, same hook stage.
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        // Served over plain HTTP on a LAN or behind a TLS proxy: upgrading would break the former.
        upgradeInsecureRequests: null,
      },
    },
  });
  app.addHook('onRequest', (request, reply, done) => {
    securityHeaders(request.raw, reply.raw, (err?: unknown) => done(err as Error | undefined));
  });
  if (options.corsOrigins?.length) await app.register(fastifyCors, { origin: [...options.corsOrigins] });

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'hwr',
        description: 'Handwritten character recognition: predictions, feedback, models, health, metrics',
        version: VERSION,
      },
    },
    transform: jsonSchemaTransform,
  });
  // staticCSP: the docs page gets a CSP with hashes for its own inline bits, no 'unsafe-inline'.
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    uiConfig: { validatorUrl: null },
    // Same framing and transport rules as the rest of the site.
    transformStaticCSP: (header) =>
      header
        .replace("frame-ancestors 'self'", "frame-ancestors 'none'")
        .replace(/ ?validator\.swagger\.io/, '')
        .replace(/ ?upgrade-insecure-requests;?/, ''),
  });

  await applyLimits(app, limits);
  registerRoutes(app, {
    maxImagePixels: limits.maxImagePixels,
    adminPerMinute: limits.adminPerMinute,
    registry,
    database,
    catalog,
    dataDir,
    metrics,
    defaultModel: options.defaultModel ?? DEFAULT_MODEL,
    metricsText: options.metricsText ?? (() => metrics.registry.metrics()),
  });

  const webDir = options.webDir === undefined ? defaultWebDir() : options.webDir;
  if (webDir && existsSync(join(webDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: resolve(webDir), prefix: '/', index: 'index.html' });
  } else {
    app.get('/', { schema: { hide: true } }, async (_request, reply) => {
      reply
        .type('text/plain; charset=utf-8')
        .send(
          'hwr is running. The web page is not built (npm run build:web); the API is documented at /docs.\n',
        );
    });
  }

  app.addHook('onClose', async () => {
    await registry.close();
    await inferenceThread?.close();
    unsubscribe();
    await database.close();
    logStream?.close();
  });

  const modelsLoaded = registry.rescan().then(() => {
    if (options.watch ?? true) registry.watch();
    if (registry.list().length === 0)
      app.log.warn({ dir: registry.dir }, 'no model loaded: /readyz answers 503 until one appears');
  });
  if (options.waitForModels) await modelsLoaded;
  return { app, registry, database, catalog, metrics, modelsLoaded };
}

export interface StartOptions extends ServeOptions {
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
}

export interface RunningServer extends HwrApp {
  /** http://host:port */
  readonly url: string;
  readonly port: number;
}

/** Builds the app and listens (default 127.0.0.1:5000). */
export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const built = await buildApp(options);
  const host = options.host ?? '127.0.0.1';
  await built.app.listen({ host, port: options.port ?? 5000 });
  const address = built.app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 5000);
  const shown = host.includes(':') ? `[${host}]` : host;
  return { ...built, url: `http://${shown}:${port}`, port };
}
