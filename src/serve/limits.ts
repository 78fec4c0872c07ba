import type { ServerOptions } from 'node:http';
import fastifyRateLimit from '@fastify/rate-limit';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
  onRequestHookHandler,
  RouteOptions,
} from 'fastify';
import { MAX_POINTS, MAX_STROKES } from '../preprocess/index.js';
import { HttpError } from './http-error.js';
import { MAX_IMAGE_PIXELS } from './inputs.js';
import { MAX_BATCH_INPUTS } from './schemas.js';

/**
 * Every limit the server applies to untrusted requests, in one typed object. Defaults are generous
 * for people drawing on the page and tight enough that one client cannot exhaust the machine.
 * The stroke and batch caps can only be lowered: the request schemas carry the hard ceilings.
 */
export interface Limits {
  /** Largest request body, bytes. */
  readonly bodyLimit: number;
  /** Largest image (width x height) accepted; checked on the PNG/JPEG header, before decoding. */
  readonly maxImagePixels: number;
  /** Most inputs in one /api/predict/batch request (at most MAX_BATCH_INPUTS). */
  readonly maxBatchInputs: number;
  /** Most strokes in one input (at most MAX_STROKES). */
  readonly maxStrokes: number;
  /** Most points over all strokes of one input (at most MAX_POINTS). */
  readonly maxPoints: number;
  /** Requests per minute per client IP on /api/predict and /api/predict/batch (0 = no limit). */
  readonly predictPerMinute: number;
  /** Requests per minute per client IP on /api/feedback (0 = no limit). */
  readonly feedbackPerMinute: number;
  /**
   * Requests per minute per client IP on /api/admin/*, counted before the token is checked, so
   * wrong tokens are throttled like any other request (0 = no limit).
   */
  readonly adminPerMinute: number;
  /** Whole request (headers and body) must arrive within this, ms (slow-loris defence); 0 = none. */
  readonly requestTimeoutMs: number;
  /** A socket idle this long during a request is closed, ms; 0 = none. */
  readonly connectionTimeoutMs: number;
  /** An idle keep-alive connection is closed after this, ms. */
  readonly keepAliveTimeoutMs: number;
  /** Take the client IP from X-Forwarded-For (only behind a trusted reverse proxy). */
  readonly trustProxy: boolean;
}

export const DEFAULT_LIMITS: Limits = {
  bodyLimit: 2 * 1024 * 1024,
  maxImagePixels: MAX_IMAGE_PIXELS,
  maxBatchInputs: MAX_BATCH_INPUTS,
  maxStrokes: MAX_STROKES,
  maxPoints: MAX_POINTS,
  predictPerMinute: 300,
  feedbackPerMinute: 60,
  // Polling a retrain job once a second fits; guessing a 16+ character token at this rate does not.
  adminPerMinute: 120,
  requestTimeoutMs: 30_000,
  connectionTimeoutMs: 30_000,
  // Above the 60 s idle timeout of common load balancers, as Fastify's own default (72 s).
  keepAliveTimeoutMs: 72_000,
  trustProxy: false,
};

type NumericLimit = Exclude<keyof Limits, 'trustProxy'>;

/** Environment variable of each limit (the CLI flags override them). */
export const LIMIT_ENV: Readonly<Record<keyof Limits, string>> = {
  bodyLimit: 'HWR_BODY_LIMIT',
  maxImagePixels: 'HWR_MAX_IMAGE_PIXELS',
  maxBatchInputs: 'HWR_MAX_BATCH_INPUTS',
  maxStrokes: 'HWR_MAX_STROKES',
  maxPoints: 'HWR_MAX_POINTS',
  predictPerMinute: 'HWR_RATE_PREDICT',
  feedbackPerMinute: 'HWR_RATE_FEEDBACK',
  adminPerMinute: 'HWR_RATE_ADMIN',
  requestTimeoutMs: 'HWR_REQUEST_TIMEOUT_MS',
  connectionTimeoutMs: 'HWR_CONNECTION_TIMEOUT_MS',
  keepAliveTimeoutMs: 'HWR_KEEP_ALIVE_TIMEOUT_MS',
  trustProxy: 'HWR_TRUST_PROXY',
};

/** [min, max] of each numeric limit. */
const RANGES: Readonly<Record<NumericLimit, readonly [number, number]>> = {
  bodyLimit: [1024, 64 * 1024 * 1024],
  maxImagePixels: [28 * 28, 8192 * 8192],
  maxBatchInputs: [1, MAX_BATCH_INPUTS],
  maxStrokes: [1, MAX_STROKES],
  maxPoints: [1, MAX_POINTS],
  predictPerMinute: [0, 1e9],
  feedbackPerMinute: [0, 1e9],
  adminPerMinute: [0, 1e9],
  requestTimeoutMs: [0, 3_600_000],
  connectionTimeoutMs: [0, 3_600_000],
  keepAliveTimeoutMs: [1, 3_600_000],
};

export type LimitsResult = { success: true; data: Limits } | { success: false; errors: string[] };

/**
 * Merges overrides over the environment over the defaults and checks every value (errors as data,
 * each naming the variable, or the override by its name in `names`, e.g. a CLI flag). Unset /
 * undefined entries fall through to the next layer.
 */
export function safeParseLimits(
  overrides: Partial<Record<keyof Limits, number | boolean | string | undefined>> = {},
  env: Readonly<Record<string, string | undefined>> = {},
  names: Partial<Record<keyof Limits, string>> = {},
): LimitsResult {
  const errors: string[] = [];
  const out: Record<string, number | boolean> = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]) {
    const given = overrides[key] ?? env[LIMIT_ENV[key]];
    if (given === undefined || given === '') continue;
    const where = overrides[key] !== undefined ? (names[key] ?? key) : LIMIT_ENV[key];
    if (key === 'trustProxy') {
      const text = String(given).toLowerCase();
      if (!['true', 'false', '1', '0'].includes(text))
        errors.push(`${where} must be true or false, got "${given}"`);
      else out[key] = text === 'true' || text === '1';
      continue;
    }
    const n = typeof given === 'number' ? given : Number(given);
    const [min, max] = RANGES[key];
    if (!Number.isInteger(n) || n < min || n > max)
      errors.push(`${where} must be an integer from ${min} to ${max}, got "${given}"`);
    else out[key] = n;
  }
  return errors.length ? { success: false, errors } : { success: true, data: out as unknown as Limits };
}

/** The Fastify constructor options that carry the limits. */
export function serverOptions(limits: Limits): Partial<FastifyServerOptions> & { http: ServerOptions } {
  return {
    bodyLimit: limits.bodyLimit,
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.connectionTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    trustProxy: limits.trustProxy,
    http: {
      // Node answers a request without Host with a bare 400 and no body; the app's onRequest hook
      // (requireHost) answers it with a JSON error instead.
      requireHostHeader: false,
      // Node rejects headersTimeout > requestTimeout; its default (60 s) stays otherwise.
      headersTimeout: limits.requestTimeoutMs ? Math.min(60_000, limits.requestTimeoutMs) : 60_000,
      // How often Node checks requestTimeout/headersTimeout (default 30 s); at least 4 checks per timeout.
      connectionsCheckingInterval: limits.requestTimeoutMs
        ? Math.max(50, Math.min(30_000, Math.floor(limits.requestTimeoutMs / 4)))
        : 30_000,
    },
  };
}

const PREDICT_ROUTES = new Set(['/api/predict', '/api/predict/batch']);
const FEEDBACK_ROUTES = new Set(['/api/feedback']);

interface InputLike {
  strokes?: unknown;
}

function checkStrokes(input: InputLike | undefined, limits: Limits, where: string): void {
  if (!input || !Array.isArray(input.strokes)) return;
  const strokes = input.strokes as unknown[];
  if (strokes.length > limits.maxStrokes)
    throw HttpError.badRequest(`${where}too many strokes: ${strokes.length} (at most ${limits.maxStrokes})`);
  let points = 0;
  for (const s of strokes) points += Array.isArray(s) ? s.length : 0;
  if (points > limits.maxPoints)
    throw HttpError.badRequest(`${where}too many points: ${points} (at most ${limits.maxPoints} in all)`);
}

/** preHandler (after schema validation): the configurable caps tighter than the schema's ceilings. */
function inputCaps(limits: Limits) {
  return async (request: FastifyRequest): Promise<void> => {
    const body = request.body as { inputs?: InputLike[] } & InputLike;
    if (Array.isArray(body?.inputs)) {
      if (body.inputs.length > limits.maxBatchInputs)
        throw HttpError.badRequest(
          `too many inputs: ${body.inputs.length} (at most ${limits.maxBatchInputs} per batch)`,
        );
      body.inputs.forEach((input, i) => {
        checkStrokes(input, limits, `inputs[${i}]: `);
      });
    } else {
      checkStrokes(body, limits, '');
    }
  };
}

/**
 * HTTP/1.1 requests must name a Host (RFC 9112 3.2): a 400 with a JSON message otherwise, and the
 * connection closed, as for any malformed request.
 */
export async function requireHost(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.raw.httpVersion !== '1.1' || request.headers.host !== undefined) return;
  reply.header('connection', 'close');
  throw HttpError.badRequest('missing Host header (HTTP/1.1 requests must have one)');
}

function addPreHandler(route: RouteOptions, hook: (request: FastifyRequest) => Promise<void>): void {
  const existing = route.preHandler;
  route.preHandler = existing ? [...(Array.isArray(existing) ? existing : [existing]), hook] : [hook];
}

/**
 * The admin routes' limiter as an onRequest hook, for the admin plugin to add before its
 * authentication hook: every request counts, failed authentication included (@fastify/rate-limit,
 * registered by applyLimits; its own counter, separate from predict and feedback).
 */
export function adminRateLimit(app: FastifyInstance, perMinute: number): onRequestHookHandler | undefined {
  if (perMinute <= 0) return undefined;
  return app.rateLimit({ max: perMinute, timeWindow: 60_000 });
}

/**
 * Applies the per-route limits to the routes registered after this call: per-IP rate limits on
 * predict and feedback (429 with a JSON error and Retry-After), and the stroke/point/batch caps.
 * Call it before registerRoutes.
 */
export async function applyLimits(app: FastifyInstance, limits: Limits): Promise<void> {
  const caps = inputCaps(limits);
  const perMinute = (url: string): number | undefined => {
    if (PREDICT_ROUTES.has(url)) return limits.predictPerMinute;
    if (FEEDBACK_ROUTES.has(url)) return limits.feedbackPerMinute;
    return undefined;
  };
  // Runs before the rate-limit plugin's own onRoute hook (registered below), so its config is seen.
  const withRate = (route: RouteOptions, max: number) => {
    route.config = {
      ...(route.config as object),
      rateLimit: { max, timeWindow: 60_000 },
    } as RouteOptions['config'];
  };
  app.addHook('onRoute', (route) => {
    if (route.method !== 'POST' && !(Array.isArray(route.method) && route.method.includes('POST'))) return;
    const max = perMinute(route.url);
    if (max === undefined) return;
    addPreHandler(route, caps);
    if (max > 0) withRate(route, max);
  });
  await app.register(fastifyRateLimit, {
    global: false,
    // Thrown, so the app's error handler answers {"error", "code", "statusCode": 429}; headers are set already.
    errorResponseBuilder: (_request, ctx) =>
      new HttpError(
        'too_many_requests',
        `too many requests: at most ${ctx.max} per minute from one client; retry in ${ctx.after}`,
      ),
  });
}
