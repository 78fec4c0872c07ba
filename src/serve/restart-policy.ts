/**
 * When to restart a server worker that exited, and when to stop trying (as systemd's
 * StartLimitBurst): each failure in a row doubles the delay, from `baseMs` up to `maxMs`; a worker
 * that served for `stableMs` or more resets the count; `maxFailures` in a row gives up, so a pool
 * that cannot start (a bad --data-dir, a port taken) exits with its error instead of looping.
 */
export interface RestartPolicyOptions {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly maxFailures: number;
  readonly stableMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicyOptions = {
  baseMs: 250,
  maxMs: 30_000,
  maxFailures: 5,
  stableMs: 60_000,
};

export type RestartDecision =
  | { action: 'restart'; delayMs: number }
  | { action: 'give-up'; failures: number };

export class RestartPolicy {
  private failures = 0;

  constructor(private readonly options: RestartPolicyOptions = DEFAULT_RESTART_POLICY) {}

  /** A worker exited after running `ranMs`; `listened` once it accepted connections. */
  onExit(ranMs: number, listened: boolean): RestartDecision {
    if (listened && ranMs >= this.options.stableMs) this.failures = 0;
    this.failures++;
    if (this.failures >= this.options.maxFailures) return { action: 'give-up', failures: this.failures };
    const delayMs = Math.min(this.options.maxMs, this.options.baseMs * 2 ** (this.failures - 1));
    return { action: 'restart', delayMs };
  }
}
