import { createHash, timingSafeEqual } from 'node:crypto';
import { basename, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ModelError } from '../model/io.js';
import { FEEDBACK_FROM_DATABASE } from '../retrain/feedback.js';
import { RetrainJobs } from '../retrain/jobs.js';
import { ErrorReply, JobReply, RetrainBody, StoreReply, VersionsReply } from '../schema/wire.js';
import type { ModelCatalog } from '../store/catalog.js';
import type { HwrDatabase } from '../store/database.js';
import { HwrError } from '../util/errors.js';
import { HttpError } from './http-error.js';
import { adminRateLimit } from './limits.js';
import { BEARER } from './openapi.js';
import type { ModelRegistry } from './registry.js';

export interface AdminDeps {
  readonly registry: ModelRegistry;
  readonly database: HwrDatabase;
  /** Promote / rollback go through it (the shared database's pointer, or the `current` link). */
  readonly catalog: ModelCatalog;
  /** The server's data folder: retrain job outputs go to its retrain-jobs/. */
  readonly dataDir: string;
  readonly defaultModel: string;
  /** The bearer token (HWR_ADMIN_TOKEN, at least 16 characters); none: no admin routes (404). */
  readonly token?: string;
  /** argv prefix running the hwr CLI for retrain jobs (default: this node + the CLI entry). */
  readonly hwrCommand?: readonly string[];
  /** Start a retrain job after this many new feedback rows of a model (HWR_AUTO_RETRAIN; default 0 = off). */
  readonly autoRetrainEvery?: number;
  /** How often new feedback is counted for autoRetrainEvery, ms (default 30 s). */
  readonly autoRetrainPollMs?: number;
  /** Requests per minute per client IP, counted before authentication (0 = no limit). */
  readonly perMinute: number;
}

/** The admin settings a server takes from its configuration (the CLI reads them from the environment). */
export interface AdminSettings {
  /** HWR_ADMIN_TOKEN. */
  readonly token?: string;
  /** HWR_AUTO_RETRAIN. */
  readonly autoRetrainEvery?: number;
}

function autoRetrainEvery(deps: AdminDeps): number {
  const n = deps.autoRetrainEvery ?? 0;
  if (!Number.isInteger(n) || n < 0)
    throw new HwrError(
      'usage',
      `autoRetrainEvery must be a whole number of feedback rows (0 = off), got ${n}`,
    );
  return n;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Bearer-token check: 401 without a token or with a malformed header, 403 with a wrong token. The
 * comparison is on sha256 digests (equal length whatever was sent) with timingSafeEqual, so the time
 * taken says nothing about how much of the token matched.
 */
function authenticate(expected: Buffer) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization;
    if (!header) {
      reply.header('www-authenticate', 'Bearer realm="hwr-admin"');
      throw new HttpError('unauthorized', 'admin API: missing "Authorization: Bearer <token>" header');
    }
    const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header);
    if (!match) {
      reply.header('www-authenticate', 'Bearer realm="hwr-admin", error="invalid_request"');
      throw new HttpError(
        'unauthorized',
        'admin API: malformed Authorization header (expected "Bearer <token>")',
      );
    }
    if (!timingSafeEqual(digest(match[1]), expected))
      throw new HttpError('forbidden', 'admin API: wrong token');
  };
}

const NameParams = z.object({ name: z.string().min(1).max(100) });
const errors = {
  400: ErrorReply,
  401: ErrorReply,
  403: ErrorReply,
  404: ErrorReply,
  409: ErrorReply,
  429: ErrorReply,
  503: ErrorReply,
};

/** What the admin routes share: the served models, their store, the retrain jobs. */
interface AdminContext {
  readonly deps: AdminDeps;
  readonly registry: ModelRegistry;
  readonly models: ModelCatalog;
  readonly jobs: RetrainJobs;
  /** `--feedback` of the retrain child: the SQLite file, or `database` (it inherits HWR_DATABASE_URL). */
  readonly feedbackSource: string;
  readonly expected: Buffer;
  /** The admin rate limit's hook; undefined when the limit is off. */
  readonly throttle: onRequestHookHandler | undefined;
}

/**
 * POST /api/admin/retrain, GET /api/admin/jobs[/:id], POST /api/admin/models/:name/promote|rollback.
 * Off (no routes at all) unless a token is configured.
 */
export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { token } = deps;
  if (!token) return;
  if (token.length < 16) throw new HwrError('usage', 'the admin token must be at least 16 characters');
  const { registry, database } = deps;
  // A shared database holds the job records and the one-job lock of the cluster; else files.
  const shared = database.kind === 'postgres';
  const ctx: AdminContext = {
    deps,
    registry,
    models: deps.catalog,
    jobs: new RetrainJobs(
      join(deps.dataDir, 'retrain-jobs'),
      deps.hwrCommand,
      shared ? database.jobs : undefined,
    ),
    feedbackSource: shared ? FEEDBACK_FROM_DATABASE : database.location,
    expected: digest(token),
    throttle: adminRateLimit(app, deps.perMinute),
  };
  const every = autoRetrainEvery(deps);
  if (every > 0) startAutoRetrain(app, ctx, every);
  app.register(adminPlugin, ctx);
}

/** The store directory name of a served model; request names are only looked up, never joined. */
function entryOf(registry: ModelRegistry, name: string): string {
  const served = registry.get(name);
  if (!served) {
    const known = registry.list().map((m) => `"${m.name}"`);
    throw HttpError.notFound(`unknown model "${name}"; served models: ${known.join(', ') || 'none'}`);
  }
  return basename(served.entryDir);
}

/** Runs a model store call; store errors become HTTP errors by their code. */
async function storeErrors<T>(registry: ModelRegistry, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    // The store's code says what the client can do (conflict, unavailable, ...); the message
    // keeps the models folder's path to the server's log.
    if (err instanceof ModelError) {
      const code = err.code === 'model' ? 'bad_request' : err.code;
      throw new HttpError(code, err.message.replaceAll(registry.dir, '<models>'), { cause: err });
    }
    throw err;
  }
}

/** A model store change as the API answers it. */
async function storeCall(
  registry: ModelRegistry,
  fn: () => Promise<{ name: string; current: string | null; versions: string[] }>,
) {
  const e = await storeErrors(registry, fn);
  return { name: e.name, current: e.current, versions: e.versions };
}

/**
 * Starts a retrain job after `every` new feedback rows of a model. Counts rows per model from the
 * database (so rows taken by other workers count too); the baseline is the count when the server
 * started or when the last automatic job began.
 */
function startAutoRetrain(app: FastifyInstance, ctx: AdminContext, every: number): void {
  const { registry, jobs, deps } = ctx;
  const baseline = new Map<string, number>();
  const tick = async () => {
    if (jobs.busy) return;
    for (const model of registry.list()) {
      // With a shared database, the rows of every replica count.
      const total = (await deps.database.feedback.stats(model.name)).total;
      const since = baseline.get(model.name);
      if (since === undefined) baseline.set(model.name, total);
      if (since === undefined || total - since < every) continue;
      baseline.set(model.name, total);
      const job = await jobs.start({
        model: model.name,
        base: join(registry.dir, entryOf(registry, model.name)),
        feedback: ctx.feedbackSource,
      });
      // undefined: another server process holds the job lock and retrains on these rows.
      if (job)
        app.log.info(
          { job: job.id, model: model.name, newFeedback: total - since },
          'automatic retrain started',
        );
      return;
    }
  };
  const timer = setInterval(() => {
    tick().catch((err: Error) => app.log.error({ err: err.message }, 'automatic retrain failed to start'));
  }, deps.autoRetrainPollMs ?? 30_000);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
}

const security = [{ [BEARER]: [] }];

/** Every admin route behind the bearer token; the jobs end with the app. */
const adminPlugin: FastifyPluginAsyncZod<AdminContext> = async (admin, ctx) => {
  // Throttle first: a wrong token costs a request of the budget like any other (hooks run in order).
  if (ctx.throttle) admin.addHook('onRequest', ctx.throttle);
  admin.addHook('onRequest', authenticate(ctx.expected));
  admin.addHook('onClose', async () => ctx.jobs.close());
  await admin.register(retrainRoutes, ctx);
  await admin.register(storeRoutes, ctx);
};

/** Starts a retrain job of a served model on the stored feedback; 409 while another one runs. */
async function startRetrainJob(ctx: AdminContext, body: z.infer<typeof RetrainBody>) {
  const { deps, registry, jobs } = ctx;
  const name = body.model ?? deps.defaultModel;
  const entry = entryOf(registry, name);
  const busy = jobs.busy;
  if (busy)
    throw new HttpError(
      'conflict',
      `retrain job ${busy.id} is still running; poll /api/admin/jobs/${busy.id}`,
    );
  const job = await jobs.start({
    ...body,
    model: name,
    base: join(registry.dir, entry),
    feedback: ctx.feedbackSource,
  });
  if (!job) throw new HttpError('conflict', 'a retrain job is already running');
  return job;
}

/** POST /api/admin/retrain, GET /api/admin/jobs[/:id]. */
const retrainRoutes: FastifyPluginAsyncZod<AdminContext> = async (api, ctx) => {
  const { jobs } = ctx;
  api.post(
    '/api/admin/retrain',
    {
      schema: {
        summary: 'Start hwr retrain on the stored feedback (child process; one at a time)',
        security,
        body: RetrainBody,
        response: { 202: JobReply, ...errors },
      },
    },
    async (request, reply) => {
      const job = await startRetrainJob(ctx, request.body);
      request.log.info({ job: job.id, model: job.model }, 'retrain job started');
      reply.code(202);
      return job;
    },
  );

  api.get(
    '/api/admin/jobs',
    {
      schema: {
        summary: 'Retrain jobs (of every server process sharing the data folder)',
        security,
        response: { 200: z.object({ jobs: z.array(JobReply) }), ...errors },
      },
    },
    async () => ({ jobs: await jobs.list() }),
  );

  api.get(
    '/api/admin/jobs/:id',
    {
      schema: {
        summary: 'Status of a retrain job',
        security,
        params: z.object({ id: z.string().max(64) }),
        response: { 200: JobReply, ...errors },
      },
    },
    async (request) => {
      const job = await jobs.get(request.params.id);
      if (!job) throw HttpError.notFound(`no retrain job "${request.params.id}"`);
      return job;
    },
  );
};

/** A served model's stored versions and history, as GET /api/admin/models/:name answers them. */
async function versionsOf(
  registry: ModelRegistry,
  models: ModelCatalog,
  name: string,
): Promise<VersionsReply> {
  const entry = entryOf(registry, name);
  // Versions and history come from the shared folder; `current` from the catalog, which is
  // PostgreSQL's pointer when replicas share one (the folder's `current` link otherwise).
  const e = await storeErrors(registry, () => models.files.inspect(entry));
  const current = (await storeErrors(registry, () => models.currents())).get(entry) ?? e.current;
  return {
    name: e.name,
    current,
    versions: e.versions.map((v) => ({
      version: v.version,
      accuracy: v.metadata?.testAccuracy ?? null,
      createdAt: v.metadata?.createdAt ?? null,
      parentVersion: v.metadata?.parentVersion ?? null,
      bad: v.bad?.reason ?? v.error ?? null,
    })),
    events: e.history.events,
  };
}

/** POST /api/admin/models/:name/promote|rollback. */
const storeRoutes: FastifyPluginAsyncZod<AdminContext> = async (api, { registry, models }) => {
  api.post(
    '/api/admin/models/:name/promote',
    {
      schema: {
        summary: 'Make a stored version current (the server swaps it in)',
        security,
        params: NameParams,
        body: z.object({ version: z.string().regex(/^v\d{4,}$/, 'expected a version like v0002') }).strict(),
        response: { 200: StoreReply, ...errors },
      },
    },
    async (request) => {
      const entry = entryOf(registry, request.params.name);
      const result = await storeCall(registry, () =>
        models.promote(entry, request.body.version, 'admin API'),
      );
      request.log.info({ model: request.params.name, current: result.current }, 'model promoted');
      return result;
    },
  );

  api.get(
    '/api/admin/models/:name',
    {
      schema: {
        summary: "A served model's stored versions (accuracy, date, parent) and its promote/rollback history",
        security,
        params: NameParams,
        response: { 200: VersionsReply, ...errors },
      },
    },
    async (request) => versionsOf(registry, models, request.params.name),
  );

  api.post(
    '/api/admin/models/:name/rollback',
    {
      schema: {
        summary: 'Switch back to the version that was current before',
        security,
        params: NameParams,
        response: { 200: StoreReply, ...errors },
      },
    },
    async (request) => {
      const entry = entryOf(registry, request.params.name);
      const result = await storeCall(registry, () => models.rollback(entry, 'admin API'));
      request.log.info({ model: request.params.name, current: result.current }, 'model rolled back');
      return result;
    },
  );
};
