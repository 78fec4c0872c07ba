import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import { startDrain } from './drain.js';

/** Longest a shutdown may take before the process exits anyway (code 1). */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

export interface ShutdownOptions {
  /** Bound on draining requests and closing (default DEFAULT_SHUTDOWN_TIMEOUT_MS). */
  readonly timeoutMs?: number;
}

export interface ShutdownHandle {
  /** Shuts down as a signal would (drain, close, exit 0). */
  close(): void;
  /** Removes the signal and error handlers. */
  uninstall(): void;
}

/**
 * SIGTERM / SIGINT: stop accepting connections, let in-flight requests finish (answered with
 * `Connection: close`; new requests on open connections get 503), run the app's onClose hooks (model registry, SQLite database), exit 0.
 * A second signal or the timeout exits 1 at once. An uncaught exception or unhandled rejection is
 * logged and takes the same path, exiting 1, so the database is still closed cleanly.
 */
export function installGracefulShutdown(app: FastifyInstance, options: ShutdownOptions = {}): ShutdownHandle {
  const timeoutMs = options.timeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  const handle = closeWithGrace(
    {
      delay: timeoutMs,
      logger: {
        error: (msg: unknown) => app.log.error({ err: msg instanceof Error ? msg.message : msg }, 'shutdown'),
      },
      onTimeout: (delay: number) =>
        app.log.error({ timeoutMs: delay }, 'shutdown took too long; exiting with requests still open'),
    },
    async ({ signal, err }) => {
      if (err) app.log.error({ err }, 'fatal error; shutting down');
      else app.log.info({ signal: signal ?? 'exit', timeoutMs }, 'shutting down: draining requests');
      const started = Date.now();
      startDrain(app);
      // server.close() reaps the connections idle at that moment only; a keep-alive connection whose
      // request finishes during the drain would otherwise hold the process until keepAliveTimeout.
      // Idle means idle for DRAIN_IDLE_GRACE_MS (src/serve/drain.ts), so no request on the wire is cut.
      const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
      try {
        await app.close();
      } finally {
        clearInterval(reaper);
      }
      app.log.info({ ms: Date.now() - started }, 'shut down cleanly');
    },
  );
  return { close: () => void handle.close(), uninstall: () => handle.uninstall() };
}
