import { writeSync } from 'node:fs';

/**
 * A log destination for pino that writes the lines of one event-loop turn with one write(2) instead
 * of one per line. pino's default destination writes every line synchronously; with an access line
 * per request that was ~6 % of the server's main-thread CPU under load (measured, bench/README.md),
 * while one event-loop turn may answer several requests. Lines keep their order; whatever is pending
 * is written synchronously when the process exits (normal exit, process.exit, uncaught exception).
 */
export class TurnBatchedStream {
  private pending: string[] = [];
  private scheduled = false;
  private closed = false;
  private readonly onExit = () => this.flush();

  constructor(private readonly fd = 1) {
    process.once('exit', this.onExit);
  }

  /** Called by pino with one serialised line (newline included). */
  write(line: string): boolean {
    this.pending.push(line);
    // After close (the server is shutting down, e.g. "shut down cleanly" then process.exit): at once.
    if (this.closed) {
      this.flush();
      return true;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  /** Writes what is pending now. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0] : this.pending.join('');
    this.pending = [];
    const bytes = Buffer.from(text, 'utf8');
    for (let at = 0, retries = 0; at < bytes.length; ) {
      try {
        at += writeSync(this.fd, bytes, at);
      } catch (err) {
        // A non-blocking pipe that is full: try again a bounded number of times; anything else
        // (stdout closed) drops the lines rather than crash the server.
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++retries > 1000) return;
      }
    }
  }

  /** Flushes, stops listening for process exit, and writes any later line synchronously. */
  close(): void {
    this.closed = true;
    this.flush();
    process.removeListener('exit', this.onExit);
  }
}
