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
import { type EngineSettings, initBackend } from '../engine/backend.js';
import { ModelCatalog } from '../store/catalog.js';
import type { HwrDatabase } from '../store/database.js';
import { openDatabase } from '../store/open-database.js';
import { StorageError, storageFaultOf } from '../store/storage-fault.js';
import { ModelStore } from '../store/store.js';
import { type ErrorData, HwrError } from '../util/errors.js';
import { VERSION } from '../version.js';
import type { AdminSettings } from './admin.js';
import { installDrain } from './drain.js';
import { codeOfStatus, type ErrorBody, HTTP_STATUS } from './http-error.js';
import { InferenceThread } from './inference-thread.js';
import { applyLimits, type Limits, requireHost, safeParseLimits, serverOptions } from './limits.js';
import { TurnBatchedStream } from './log-stream.js';
import { ServeMetrics } from './metrics.js';
import { registerMultipart } from './multipart.js';
import { SECURITY_SCHEMES } from './openapi.js';
import { type BatchingOptions, DEFAULT_BATCHING } from './predictor.js';
import { registerReadRoute } from './read.js';
import { ModelRegistry } from './registry.js';
import { registerRoutes } from './routes.js';

/** Default body limit: a 28x28 request is ~4 kB; a 16 MiB phone photo fits as multipart (as base64 JSON, 17.9 MiB). */
export const DEFAULT_BODY_LIMIT = 24 * 1024 * 1024;
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
  /** Micro-batching of concurrent single predictions (default: up to 4 per pass, 2 passes in flight: DEFAULT_BATCHING). */
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
  /** Backend, wasm threads, BLAS, when this call is the one that initialises the backend (default: initBackend's). */
  readonly engine?: EngineSettings;
  /** The admin API's token (none: no admin routes) and automatic retrain (src/serve/admin.ts). */
  readonly admin?: AdminSettings;
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

/**
 * What an error becomes at the HTTP edge: hwr errors keep their code (HTTP_STATUS picks the status);
 * Fastify's own (schema validation, body limit, bad JSON, other 4xx) get the code of their status;
 * anything else is internal.
 */
function errorAnswer(err: FastifyError, bodyLimit: number): ErrorData & { statusCode: number } {
  const data = errorData(err, bodyLimit);
  // Fastify's 4xx keep their own status (405, 415, ...) even where no code maps to it exactly.
  const fastify4xx = !(err instanceof HwrError) && err.statusCode && err.statusCode < 500;
  return { ...data, statusCode: fastify4xx ? err.statusCode! : HTTP_STATUS[data.code] };
}

function errorData(err: FastifyError, bodyLimit: number): ErrorData {
  if (hasZodFastifySchemaValidationErrors(err))
    return { code: 'invalid_input', message: validationMessage(err) };
  if (err instanceof HwrError) return err.toData();
  // A storage fault outside a store's own handling: still a cause, never an unexplained 500.
  const fault = storageFaultOf(err);
  if (fault) return new StorageError(fault.kind, fault.code, 'storage fault', { cause: err }).toData();
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return { code: 'too_large', message: `request body is larger than the limit of ${bodyLimit} bytes` };
  if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError)
    return { code: 'bad_request', message: 'request body is not valid JSON' };
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)
    return { code: codeOfStatus(err.statusCode), message: err.message };
  return { code: 'internal', message: err.message };
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

/** The limits of ServeOptions checked once (limits.ts); a bad value stops the server from starting. */
function parseLimits(options: ServeOptions): Limits {
  const parsedLimits = safeParseLimits({
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    predictPerMinute: 0,
    feedbackPerMinute: 0,
    adminPerMinute: 0,
    ...options.limits,
  });
  if (!parsedLimits.success) throw new Error(`invalid limits: ${parsedLimits.errors.join('; ')}`);
  return parsedLimits.data;
}

function createFastify(options: ServeOptions, limits: Limits) {
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
  return { app, logStream };
}

/** Every error answer is `{error, code, statusCode}`; server failures are logged, not shown. */
export function addErrorHandlers(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { code, message, statusCode } = errorAnswer(err, bodyLimit);
    if (statusCode >= 500) request.log.error({ err }, code === 'internal' ? 'request failed' : message);
    const shown = statusCode === 500 ? 'internal server error' : message;
    reply.code(statusCode).send({ error: shown, code, statusCode } satisfies ErrorBody);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({
      error: `no route ${request.method} ${request.url.split('?')[0]}`,
      code: 'not_found',
      statusCode: 404,
    } satisfies ErrorBody);
  });
}

/** One access-log line per request and the request metrics. */
function addAccessLog(app: FastifyInstance, metrics: ServeMetrics): void {
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
}

function addSecurityHeaders(app: FastifyInstance): void {
  // helmet's middleware built once: @fastify/helmet rebuilt it (parsing the CSP) on every request,
  // ~3 % of the main thread's CPU under load (measured). Same headers, same hook stage.
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        // 'wasm-unsafe-eval' lets the page compile WebAssembly (TF.js's wasm backend, for in-browser
        // inference: src/web/offline); it allows no JavaScript eval.
        scriptSrc: ["'self'", "'wasm-unsafe-eval'"],
        // helmet's default is "'self' https: 'unsafe-inline'"; the page has no inline styles.
        styleSrc: ["'self'"],
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
  app.addHook('onRequest', requireHost);
}

/** OpenAPI from the routes' zod schemas, and its page at /docs. */
async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'hwr',
        description: 'Handwritten character recognition: predictions, feedback, models, health, metrics',
        version: VERSION,
      },
      // Declared whether or not the admin API is on: its routes name it in `security`.
      components: { securitySchemes: SECURITY_SCHEMES },
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
}

/** The built page (dist/web) at /, or a plain-text note when it is not built. */
async function registerWebPage(app: FastifyInstance, webDir: string | false): Promise<void> {
  if (webDir && existsSync(join(webDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: resolve(webDir), prefix: '/', index: 'index.html' });
    // The admin view (admin.html): it asks for the token itself and talks only to the admin API.
    if (existsSync(join(webDir, 'admin.html')))
      app.get('/admin', { schema: { hide: true } }, (_request, reply) => reply.sendFile('admin.html'));
  } else {
    app.get('/', { schema: { hide: true } }, async (_request, reply) => {
      reply
        .type('text/plain; charset=utf-8')
        .send(
          'hwr is running. The web page is not built (npm run build:web); the API is documented at /docs.\n',
        );
    });
  }
}

/**
 * The database, then the backend: a bad data folder or an unreachable database fails before the
 * backend's seconds of start-up, and a backend that cannot start closes the database again.
 */
async function openStorageAndBackend(options: ServeOptions, app: FastifyInstance): Promise<HwrDatabase> {
  const database = await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir ?? 'data' });
  try {
    await initBackend({ ...options.engine, log: (m) => app.log.info(m) });
  } catch (err) {
    await database.close();
    throw err;
  }
  return database;
}

/** The served models: store and database pointers (catalog), the registry that loads them. */
function createRegistry(
  options: ServeOptions,
  app: FastifyInstance,
  database: HwrDatabase,
  metrics: ServeMetrics,
  inferenceThread: InferenceThread | undefined,
) {
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
  return { catalog, registry, unsubscribe };
}

/** What the HTTP concerns share: the limits, the served models, the stores and the metrics. */
interface AppParts {
  readonly limits: Limits;
  readonly metrics: ServeMetrics;
  readonly database: HwrDatabase;
  readonly catalog: ModelCatalog;
  readonly registry: ModelRegistry;
}

/** Hooks, plugins and routes, in the order their hooks must run. */
async function registerHttp(app: FastifyInstance, options: ServeOptions, parts: AppParts): Promise<void> {
  const { limits, metrics, registry } = parts;
  addErrorHandlers(app, limits.bodyLimit);
  installDrain(app);
  addAccessLog(app, metrics);
  addSecurityHeaders(app);
  if (options.corsOrigins?.length) await app.register(fastifyCors, { origin: [...options.corsOrigins] });
  await registerDocs(app);
  await applyLimits(app, limits);
  await registerMultipart(app, limits.bodyLimit);
  const defaultModel = options.defaultModel ?? DEFAULT_MODEL;
  registerReadRoute(app, { registry, metrics, defaultModel, maxImagePixels: limits.maxImagePixels });
  registerRoutes(app, {
    maxImagePixels: limits.maxImagePixels,
    adminPerMinute: limits.adminPerMinute,
    admin: options.admin ?? {},
    registry,
    database: parts.database,
    catalog: parts.catalog,
    dataDir: options.dataDir ?? 'data',
    metrics,
    defaultModel,
    metricsText: options.metricsText ?? (() => metrics.registry.metrics()),
  });
  await registerWebPage(app, options.webDir === undefined ? defaultWebDir() : options.webDir);
}

/** The first scan of the models folder, then following it; a warning when it holds no model. */
function loadModels(app: FastifyInstance, registry: ModelRegistry, watch: boolean): Promise<void> {
  return registry.rescan().then(() => {
    if (watch) registry.watch();
    if (registry.list().length === 0)
      app.log.warn({ dir: registry.dir }, 'no model loaded: /readyz answers 503 until one appears');
  });
}

/** Builds the Fastify app (not listening): routes, plugins, model registry, feedback store, metrics. */
export async function buildApp(options: ServeOptions = {}): Promise<HwrApp> {
  const limits = parseLimits(options);
  const { app, logStream } = createFastify(options, limits);
  const metrics = new ServeMetrics();
  const database = await openStorageAndBackend(options, app);
  const inferenceThread = options.inferenceThread
    ? InferenceThread.start((m) => app.log.warn(m), options.engine)
    : undefined;
  const { catalog, registry, unsubscribe } = createRegistry(options, app, database, metrics, inferenceThread);
  app.log.info({ database: database.kind, at: database.location }, 'storage');
  await registerHttp(app, options, { limits, metrics, database, catalog, registry });
  app.addHook('onClose', async () => {
    await registry.close();
    await inferenceThread?.close();
    unsubscribe();
    await database.close();
    logStream?.close();
  });
  const modelsLoaded = loadModels(app, registry, options.watch ?? true);
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
  try {
    await built.app.listen({ host, port: options.port ?? 5000 });
  } catch (err) {
    // A taken port must not leave the registry's watcher and the inference thread running.
    await built.app.close();
    throw err;
  }
  const address = built.app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 5000);
  const shown = host.includes(':') ? `[${host}]` : host;
  return { ...built, url: `http://${shown}:${port}`, port };
}
