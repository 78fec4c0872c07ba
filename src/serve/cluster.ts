import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';
import { type RunningServer, type StartOptions, startServer } from './app.js';

/** wasm threads for a single serving process: HWR_THREADS when set (checked by initBackend), else 1. */
const SERVE_THREADS = (): number | undefined => (process.env.HWR_THREADS ? undefined : 1);

const ASK = 'hwr:cluster-metrics';
const ANSWER = 'hwr:cluster-metrics:answer';

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
 * server, in the primary with undefined once the workers are forked.
 */
export async function serveWorkers(
  options: StartOptions,
  workers: number,
  log: (msg: string) => void = console.error,
): Promise<RunningServer | undefined> {
  // One process: one wasm thread unless HWR_THREADS says otherwise. Measured (bench/README.md): with 2,
  // XNNPACK's pool threads spin against the event loop for 2-2.5x the CPU per request, and req/s fell.
  if (workers <= 1) return startServer({ ...options, threads: options.threads ?? SERVE_THREADS() });
  if (cluster.isPrimary) {
    const aggregator = new AggregatorRegistry();
    let stopping = false;
    // One wasm thread per worker: the workers already use the cores.
    const fork = () => cluster.fork({ HWR_THREADS: process.env.HWR_THREADS ?? '1' });
    cluster.on('message', (worker, msg: MetricsMessage) => {
      if (msg?.type !== ASK) return;
      aggregator.clusterMetrics().then(
        (text) => worker.send({ type: ANSWER, id: msg.id, text }),
        (err: Error) =>
          worker.send({ type: ANSWER, id: msg.id, text: `# cluster metrics failed: ${err.message}\n` }),
      );
    });
    cluster.on('exit', (worker, code, signal) => {
      if (stopping) return;
      log(`hwr: worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
      fork();
    });
    const stop = () => {
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    for (let i = 0; i < workers; i++) fork();
    return undefined;
  }
  const pending = new Map<string, (text: string) => void>();
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
