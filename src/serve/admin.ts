import { createHash, timingSafeEqual } from 'node:crypto';
import { basename, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ModelError } from '../model/io.js';
import { FEEDBACK_FROM_DATABASE } from '../retrain/feedback.js';
import { RetrainJobs } from '../retrain/jobs.js';
import type { ModelCatalog } from '../store/catalog.js';
import type { HwrDatabase } from '../store/database.js';
import { StoreError, type StoreErrorCode } from '../store/store.js';
import { HttpError } from './http-error.js';
import { adminRateLimit } from './limits.js';
import type { ModelRegistry } from './registry.js';
import { ErrorReply } from './schemas.js';

/** The admin API is registered only when this variable holds a token (at least 16 characters). */
export const ADMIN_TOKEN_ENV = 'HWR_ADMIN_TOKEN';

export interface AdminDeps {
  readonly registry: ModelRegistry;
  readonly database: HwrDatabase;
  /** Promote / rollback go through it (the shared database's pointer, or the `current` link). */
  readonly catalog: ModelCatalog;
  /** The server's data folder: retrain job outputs go to its retrain-jobs/ (records: the database). */
  readonly dataDir: string;
  readonly defaultModel: string;
  /** Requests per minute per client IP, counted before authentication (0 = no limit). */
  readonly perMinute: number;
  /** Default: process.env.HWR_ADMIN_TOKEN; no token, no admin routes (404). */
  readonly token?: string;
  /** argv prefix running the hwr CLI for retrain jobs (default: this node + the CLI entry). */
  readonly hwrCommand?: readonly string[];
  /** Start a retrain job after this many new feedback rows of a model (default HWR_AUTO_RETRAIN; 0 = off). */
  readonly autoRetrainEvery?: number;
  /** How often new feedback is counted for autoRetrainEvery, ms (default 30 s). */
  readonly autoRetrainPollMs?: number;
}

export const AUTO_RETRAIN_ENV = 'HWR_AUTO_RETRAIN';

function autoRetrainEvery(deps: AdminDeps): number {
  if (deps.autoRetrainEvery !== undefined) return deps.autoRetrainEvery;
  const raw = process.env[AUTO_RETRAIN_ENV];
  if (!raw) return 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${AUTO_RETRAIN_ENV} must be a whole number of feedback rows (0 = off), got "${raw}"`);
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
      throw new HttpError(401, 'admin API: missing "Authorization: Bearer <token>" header');
    }
    const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header);
    if (!match) {
      reply.header('www-authenticate', 'Bearer realm="hwr-admin", error="invalid_request"');
      throw new HttpError(401, 'admin API: malformed Authorization header (expected "Bearer <token>")');
    }
    if (!timingSafeEqual(digest(match[1]), expected)) throw new HttpError(403, 'admin API: wrong token');
  };
}

const JobReply = z.object({
  id: z.string(),
  model: z.string(),
  state: z.enum(['running', 'promoted', 'passed', 'rejected', 'failed']),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  promoted: z.string().nullable(),
  gate: z.object({ passed: z.boolean(), checks: z.array(z.string()) }).nullable(),
  log: z.array(z.string()),
  args: z.array(z.string()),
});

const RetrainBody = z
  .object({
    model: z.string().min(1).max(100).optional(),
    epochs: z.number().int().min(1).max(20).optional(),
    replay: z.number().int().min(0).max(1_000_000).optional(),
    holdout: z.number().min(0.01).max(0.9).optional(),
    tolerance: z.number().min(0).max(1).optional(),
    testLimit: z.number().int().min(1).optional(),
    promote: z.boolean().optional(),
  })
  .strict();

const StoreReply = z.object({
  name: z.string(),
  current: z.string().nullable(),
  versions: z.array(z.string()),
});
/** HTTP status of each refused store operation. */
const STORE_STATUS: Record<StoreErrorCode, number> = {
  invalid: 400,
  'not-found': 404,
  'unknown-version': 409,
  'bad-version': 409,
  'no-rollback-target': 409,
  'current-moved': 409,
  'not-writable': 503,
};
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

/**
 * POST /api/admin/retrain, GET /api/admin/jobs[/:id], POST /api/admin/models/:name/promote|rollback.
 * Off (no routes at all) unless a token is configured.
 */
export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const token = deps.token ?? process.env[ADMIN_TOKEN_ENV];
  if (!token) return;
  if (token.length < 16) throw new Error(`${ADMIN_TOKEN_ENV} must be at least 16 characters`);
  const expected = digest(token);
  const { registry } = deps;
  const { catalog, database } = deps;
  const shared = database.kind === 'postgres';
  // Shared database: job records and the one-job lock are the cluster's; else files in the data folder.
  const jobs = new RetrainJobs(
    join(deps.dataDir, 'retrain-jobs'),
    deps.hwrCommand,
    shared ? database.jobs : undefined,
  );
  // The retrain child reads the feedback from the same place (it inherits HWR_DATABASE_URL).
  const feedbackSource = shared ? FEEDBACK_FROM_DATABASE : database.location;

  /** The store directory name of a served model; request names are only looked up, never joined. */
  function entryOf(name: string): string {
    const served = registry.get(name);
    if (!served) {
      const known = registry.list().map((m) => `"${m.name}"`);
      throw HttpError.notFound(`unknown model "${name}"; served models: ${known.join(', ') || 'none'}`);
    }
    return basename(served.entryDir);
  }

  const hideRoot = (message: string) => message.replaceAll(registry.dir, '<models>');

  async function storeCall(fn: () => Promise<{ name: string; current: string | null; versions: string[] }>) {
    try {
      const e = await fn();
      return { name: e.name, current: e.current, versions: e.versions };
    } catch (err) {
      if (err instanceof StoreError) throw new HttpError(STORE_STATUS[err.code], hideRoot(err.message));
      if (err instanceof ModelError) throw new HttpError(400, hideRoot(err.message));
      throw err;
    }
  }

  const every = autoRetrainEvery(deps);
  if (every > 0) {
    // Counts feedback rows per model from the database (so rows taken by other workers count too);
    // the baseline is the count when the server started or when the last automatic job began.
    const baseline = new Map<string, number>();
    const tick = async () => {
      if (jobs.busy) return;
      for (const model of registry.list()) {
        // With a shared database, rows taken by every replica count.
        const total = (await database.feedback.stats(model.name)).total;
        const since = baseline.get(model.name);
        if (since === undefined) baseline.set(model.name, total);
        if (since === undefined || total - since < every) continue;
        baseline.set(model.name, total);
        const job = await jobs.start({
          model: model.name,
          base: join(registry.dir, entryOf(model.name)),
          feedback: feedbackSource,
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

  app.register(async (admin) => {
    // Throttle first: a wrong token costs a request of the budget like any other (hooks run in order).
    const throttle = adminRateLimit(app, deps.perMinute);
    if (throttle) admin.addHook('onRequest', throttle);
    admin.addHook('onRequest', authenticate(expected));
    admin.addHook('onClose', async () => jobs.close());
    const api = admin.withTypeProvider<ZodTypeProvider>();
    const security = [{ bearer: [] }];

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
        const name = request.body.model ?? deps.defaultModel;
        const entry = entryOf(name);
        const busy = jobs.busy;
        if (busy)
          throw new HttpError(
            409,
            `retrain job ${busy.id} is still running; poll /api/admin/jobs/${busy.id}`,
          );
        const job = await jobs.start({
          ...request.body,
          model: name,
          base: join(registry.dir, entry),
          feedback: feedbackSource,
        });
        if (!job) throw new HttpError(409, 'a retrain job is already running');
        request.log.info({ job: job.id, model: name }, 'retrain job started');
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

    api.post(
      '/api/admin/models/:name/promote',
      {
        schema: {
          summary: 'Make a stored version current (the server swaps it in)',
          security,
          params: NameParams,
          body: z
            .object({ version: z.string().regex(/^v\d{4,}$/, 'expected a version like v0002') })
            .strict(),
          response: { 200: StoreReply, ...errors },
        },
      },
      async (request) => {
        const entry = entryOf(request.params.name);
        const result = await storeCall(() => catalog.promote(entry, request.body.version, 'admin API'));
        request.log.info({ model: request.params.name, current: result.current }, 'model promoted');
        return result;
      },
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
        const entry = entryOf(request.params.name);
        const result = await storeCall(() => catalog.rollback(entry, 'admin API'));
        request.log.info({ model: request.params.name, current: result.current }, 'model rolled back');
        return result;
      },
    );
  });
}
