import { describe, expect, it } from 'vitest';
import { RestartPolicy } from './restart-policy.js';

describe('worker restart policy', () => {
  const options = { baseMs: 100, maxMs: 1000, maxFailures: 6, stableMs: 60_000 };

  it('doubles the delay per failure in a row, up to the cap, then gives up', () => {
    const policy = new RestartPolicy(options);
    const decisions = Array.from({ length: 6 }, () => policy.onExit(50, false));
    expect(decisions).toEqual([
      { action: 'restart', delayMs: 100 },
      { action: 'restart', delayMs: 200 },
      { action: 'restart', delayMs: 400 },
      { action: 'restart', delayMs: 800 },
      { action: 'restart', delayMs: 1000 },
      { action: 'give-up', failures: 6 },
    ]);
  });

  it('starts counting again after a worker served for stableMs', () => {
    const policy = new RestartPolicy(options);
    for (let i = 0; i < 4; i++) policy.onExit(1000, true);
    expect(policy.onExit(120_000, true)).toEqual({ action: 'restart', delayMs: 100 });
    // A worker that lived long but never listened (stuck at start) does not reset the count.
    const stuck = new RestartPolicy(options);
    for (let i = 0; i < 3; i++) stuck.onExit(10, false);
    expect(stuck.onExit(120_000, false)).toEqual({ action: 'restart', delayMs: 800 });
  });
});
