import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { serveWorkers } from '../../serve/cluster.js';
import { LIMIT_ENV, type Limits, safeParseLimits } from '../../serve/limits.js';
import { DEFAULT_BATCHING } from '../../serve/predictor.js';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, installGracefulShutdown } from '../../serve/shutdown.js';
import { type CliEdge, engineSettings, type HwrConfig } from '../config.js';
import { parseIntOption, UsageError } from '../usage-error.js';

interface ServeCliOptions {
  port?: string;
  host: string;
  models: string;
  dataDir: string;
  cors?: string;
  batch: string;
  batchWaitMs: string;
  logLevel: string;
  watch: boolean;
  workers: string;
  inferenceThread: boolean;
  bodyLimit?: string;
  maxImagePixels?: string;
  maxBatchInputs?: string;
  ratePredict?: string;
  rateFeedback?: string;
  rateAdmin?: string;
  requestTimeoutMs?: string;
  trustProxy?: boolean;
  shutdownTimeoutMs: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A port that cannot be taken is a usage problem: say which flag picks another. */
export function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  if (err.code === 'EADDRINUSE')
    return new UsageError(
      `port ${port} on ${host} is already in use (another hwr serve?): pick a free one with --port N (or PORT=N)`,
    );
  if (err.code === 'EACCES')
    return new UsageError(`no permission to listen on port ${port}: use --port with a number above 1023`);
  if (err.code === 'EADDRNOTAVAIL')
    return new UsageError(`${host} is not an address of this machine: check --host`);
  return err;
}

export function registerServe(program: Command, edge: CliEdge): void {
  const command = program
    .command('serve')
    .description('Serve the web page and the HTTP API (predict, feedback, models, health, metrics, /docs)')
    .option('--port <n>', 'TCP port (default: PORT, else 5000)')
    .option('--host <addr>', 'address to listen on (0.0.0.0 in a container)', '127.0.0.1')
    .option('--models <dir>', 'folder of model directories, followed for hot reload', 'models')
    .option(
      '--data-dir <dir>',
      'folder of the feedback database (feedback.sqlite) and retrain outputs; HWR_DATABASE_URL=postgres://... shares PostgreSQL instead',
      'data',
    )
    .option('--cors <origins>', 'comma-separated origins allowed by CORS (default: CORS off)')
    .option(
      '--batch <n>',
      'micro-batch up to n concurrent predictions in one forward pass (1 = off)',
      String(DEFAULT_BATCHING.maxBatch),
    )
    .option('--batch-wait-ms <ms>', 'longest wait for a micro-batch to fill (0 = one event-loop turn)', '0')
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(' | ')}`, 'info')
    .option('--workers <n>', 'server processes sharing the port (node:cluster); 2 uses both cores', '1')
    .option('--no-watch', 'do not follow the models folder for replaced models')
    .option(
      '--no-inference-thread',
      'run forward passes on the event-loop thread (default with one process: on a worker thread beside it)',
    )
    .option(
      '--shutdown-timeout-ms <ms>',
      'bound on draining requests at SIGTERM',
      String(DEFAULT_SHUTDOWN_TIMEOUT_MS),
    )
    .action((opts: ServeCliOptions) => runServe(opts, edge.config));
  addLimitOptions(command);
}

/** The flags of the server's limits (src/serve/limits.ts), each naming its variable. */
function addLimitOptions(command: Command): void {
  command
    .option('--body-limit <bytes>', `largest request body (${LIMIT_ENV.bodyLimit}; default 24 MiB)`)
    .option(
      '--max-image-pixels <n>',
      `largest image width*height, checked before decoding (${LIMIT_ENV.maxImagePixels}; default 48,000,000)`,
    )
    .option(
      '--max-batch-inputs <n>',
      `most inputs per batch request (${LIMIT_ENV.maxBatchInputs}; default 64)`,
    )
    .option(
      '--rate-predict <n>',
      `predict requests per minute per IP, 0 = off (${LIMIT_ENV.predictPerMinute}; default 300)`,
    )
    .option(
      '--rate-feedback <n>',
      `feedback requests per minute per IP, 0 = off (${LIMIT_ENV.feedbackPerMinute}; default 60)`,
    )
    .option(
      '--rate-admin <n>',
      `admin API requests per minute per IP, wrong tokens included, 0 = off (${LIMIT_ENV.adminPerMinute}; default 120)`,
    )
    .option(
      '--request-timeout-ms <ms>',
      `whole request must arrive within (${LIMIT_ENV.requestTimeoutMs}; default 30000)`,
    )
    .option(
      '--trust-proxy',
      `client IP from X-Forwarded-For, behind a trusted proxy only (${LIMIT_ENV.trustProxy})`,
    );
}

/** The flag of each limit; unset ones fall back to their variable (LIMIT_ENV), then the default. */
const LIMIT_FLAGS = {
  bodyLimit: '--body-limit',
  maxImagePixels: '--max-image-pixels',
  maxBatchInputs: '--max-batch-inputs',
  predictPerMinute: '--rate-predict',
  feedbackPerMinute: '--rate-feedback',
  adminPerMinute: '--rate-admin',
  requestTimeoutMs: '--request-timeout-ms',
  trustProxy: '--trust-proxy',
} as const;

/** The server's limits from the flags over the environment; a bad value is a usage error naming it. */
function serveLimits(opts: ServeCliOptions): Limits {
  const flags: Partial<Record<keyof Limits, string | boolean | undefined>> = {
    bodyLimit: opts.bodyLimit,
    maxImagePixels: opts.maxImagePixels,
    maxBatchInputs: opts.maxBatchInputs,
    predictPerMinute: opts.ratePredict,
    feedbackPerMinute: opts.rateFeedback,
    adminPerMinute: opts.rateAdmin,
    requestTimeoutMs: opts.requestTimeoutMs,
    trustProxy: opts.trustProxy,
  };
  const limits = safeParseLimits(flags, process.env, LIMIT_FLAGS);
  if (!limits.success) throw new UsageError(limits.errors.join('\n'));
  return limits.data;
}

/** The port of --port, else PORT, else 5000. */
function servePort(opts: ServeCliOptions, config: HwrConfig): number {
  const port = opts.port === undefined ? (config.port ?? 5000) : parseIntOption('port', opts.port);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  return port;
}

async function runServe(opts: ServeCliOptions, config: HwrConfig): Promise<void> {
  const port = servePort(opts, config);
  if (!existsSync(opts.models) || !statSync(opts.models).isDirectory())
    throw new UsageError(`--models ${opts.models} is not a folder (train a model first: hwr train)`);
  if (!LOG_LEVELS.includes(opts.logLevel))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${opts.logLevel}"`);
  const workers = parseIntOption('workers', opts.workers, 1);
  const shutdownTimeoutMs = parseIntOption('shutdown-timeout-ms', opts.shutdownTimeoutMs, 1);
  const limits = serveLimits(opts);
  const server = await serveWorkers(
    {
      host: opts.host,
      port,
      modelsDir: opts.models,
      dataDir: opts.dataDir,
      databaseUrl: config.databaseUrl,
      engine: engineSettings(config),
      admin: { token: config.adminToken, autoRetrainEvery: config.autoRetrain },
      corsOrigins: opts.cors
        ?.split(',')
        .map((o) => o.trim())
        .filter(Boolean),
      batching: {
        maxBatch: parseIntOption('batch', opts.batch, 1),
        maxWaitMs: parseIntOption('batch-wait-ms', opts.batchWaitMs, 0),
        maxInFlight: DEFAULT_BATCHING.maxInFlight,
      },
      watch: opts.watch,
      // With several processes the cores are taken already.
      inferenceThread: opts.inferenceThread && workers === 1,
      limits,
      logger: { level: opts.logLevel },
    },
    workers,
  ).catch((err: NodeJS.ErrnoException) => {
    throw listenError(err, opts.host, port);
  });
  if (!server) return; // cluster primary: the workers serve
  server.app.log.info({ url: server.url, docs: `${server.url}/docs` }, 'hwr serve listening');
  installGracefulShutdown(server.app, { timeoutMs: shutdownTimeoutMs });
}
