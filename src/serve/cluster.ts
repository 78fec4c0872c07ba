import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';
import { type RunningServer, type StartOptions, startServer } from './app.js';
import { RestartPolicy } from './restart-policy.js';

const ASK = 'hwr:cluster-metrics';
const FAILED = 'hwr:worker-failed';
const ANSWER = 'hwr:cluster-metrics:answer';

interface FailedMessage {
  type: string;
  error: string;
}

interface MetricsMessage {
  type: string;
  id: string;
  text?: string;
}

/**
 * Runs `workers` server processes sharing one port (node:cluster), like gunicorn's workers: request
 * handling and inference run on both cores instead of one event loop. Each worker loads the models,
 * follows the models folder and writes to the same SQLite file (WAL, busy timeout). /metrics on any
 * worker answers the sum over all workers, gathered by the primary. Resolves in workers with their
 * server, in the primary with undefined once the workers are forked. A worker that exits is started
 * again after a growing delay (./restart-policy.ts); after 5 failures in a row the primary stops the
 * pool and exits 1 with the last worker's error.
 */
export async function serveWorkers(
  options: StartOptions,
  workers: number,
  log: (msg: string) => void = console.error,
): Promise<RunningServer | undefined> {
  // One wasm thread per process unless the configuration says otherwise (HWR_THREADS, --threads).
  // Measured (bench/README.md): with 2, XNNPACK's pool threads spin against the event loop for 2-2.5x
  // the CPU per request, and req/s fell. With several workers, the workers already use the cores.
  const engine = { ...options.engine, threads: options.engine?.threads ?? 1 };
  if (workers <= 1) return startServer({ ...options, engine });
  if (cluster.isPrimary) {
    startPrimary(workers, () => cluster.fork({ HWR_THREADS: String(engine.threads) }), log);
    return undefined;
  }
  const pending = new Map<string, (text: string) => void>();
  const run = startWorker({ ...options, engine }, pending);
  // The primary decides about restarts and reports the cause when it gives up: tell it why.
  return run.catch(async (err: Error) => {
    await new Promise(
      (resolve) => process.send?.({ type: FAILED, error: err.message }, resolve) ?? resolve(0),
    );
    throw err;
  });
}

/**
 * The primary: forks `workers` workers (`fork` hands each the thread count decided here; a worker
 * runs the primary's command line again and reads its configuration at its own edge), answers their
 * metrics requests, restarts the ones that exit, and stops them on SIGINT/SIGTERM.
 */
function startPrimary(workers: number, fork: () => void, log: (msg: string) => void): void {
  answerMetricsRequests();
  const supervisor = superviseWorkers(fork, log);
  const stop = () => {
    supervisor.stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  for (let i = 0; i < workers; i++) fork();
}

/** /metrics on any worker: the primary gathers every worker's registry and answers the sum. */
function answerMetricsRequests(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, msg: MetricsMessage) => {
    if (msg?.type !== ASK) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: ANSWER, id: msg.id, text }),
      (err: Error) =>
        worker.send({ type: ANSWER, id: msg.id, text: `# cluster metrics failed: ${err.message}\n` }),
    );
  });
}

/**
 * Restarts a worker that exits after the RestartPolicy's delay; after too many failures in a row,
 * stops the others and exits 1 with the last worker's error. `stopping` (set on shutdown) ends it.
 */
function superviseWorkers(fork: () => void, log: (msg: string) => void): { stopping: boolean } {
  const state = { stopping: false };
  const policy = new RestartPolicy();
  const started = new Map<number, { at: number; listened: boolean; error?: string }>();
  let lastError: string | undefined;
  cluster.on('fork', (worker) => started.set(worker.id, { at: Date.now(), listened: false }));
  cluster.on('listening', (worker) => {
    const s = started.get(worker.id);
    if (s) s.listened = true;
  });
  cluster.on('message', (worker, msg: FailedMessage) => {
    const s = started.get(worker.id);
    if (msg?.type === FAILED && s) s.error = msg.error;
  });
  cluster.on('exit', (worker, code, signal) => {
    const s = started.get(worker.id) ?? { at: Date.now(), listened: false };
    started.delete(worker.id);
    if (state.stopping) return;
    if (s.error) lastError = s.error;
    const decision = policy.onExit(Date.now() - s.at, s.listened);
    const why = `${signal ?? `code ${code}`}${s.error ? `: ${s.error}` : ''}`;
    if (decision.action === 'give-up') {
      log(
        `hwr: workers failed ${decision.failures} times in a row (last: ${lastError ?? why}); stopping the other workers and exiting`,
      );
      state.stopping = true;
      stopAllAndExit();
      return;
    }
    log(`hwr: worker ${worker.process.pid} exited (${why}); starting another in ${decision.delayMs} ms`);
    setTimeout(() => {
      if (!state.stopping) fork();
    }, decision.delayMs);
  });
  return state;
}

/** Gives up: SIGTERM to every worker, exit 1 once none is left. */
function stopAllAndExit(): void {
  process.exitCode = 1;
  const alive = Object.values(cluster.workers ?? {});
  for (const w of alive) w?.process.kill('SIGTERM');
  if (alive.length === 0) process.exit(1);
  cluster.on('exit', () => {
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(1);
  });
}

async function startWorker(
  options: StartOptions,
  pending: Map<string, (text: string) => void>,
): Promise<RunningServer> {
  process.on('message', (msg: MetricsMessage) => {
    if (msg?.type !== ANSWER) return;
    pending.get(msg.id)?.(msg.text ?? '');
    pending.delete(msg.id);
  });
  const server = await startServer({
    ...options,
    metricsText: () =>
      new Promise((resolve) => {
        const id = randomUUID();
        pending.set(id, resolve);
        process.send?.({ type: ASK, id });
      }),
  });
  // prom-client answers the primary's collection requests from these registries; constructing an
  // AggregatorRegistry is what installs that answering listener in a worker.
  AggregatorRegistry.setRegistries([server.metrics.registry]);
  new AggregatorRegistry();
  return server;
}
