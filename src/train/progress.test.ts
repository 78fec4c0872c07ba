import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatEta, progressReporter } from './progress.js';

function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

const batch = (b: number) => ({
  epoch: 0,
  epochs: 2,
  batch: b,
  batches: 100,
  loss: 0.5,
  acc: 0.9,
  imagesPerSecond: 200,
});

describe('progressReporter off a terminal', () => {
  it('prints a batch line at most once per interval, with an ETA, and one line per epoch', () => {
    const { stream, text } = sink();
    let t = 0;
    const progress = progressReporter(stream, { lineEveryMs: 60_000, now: () => t });
    progress.onBatch(batch(1)); // epoch starts here
    t = 30_000;
    progress.onBatch(batch(10));
    expect(text()).toBe(''); // inside the first interval: quiet
    t = 60_000;
    progress.onBatch(batch(20)); // 3 s per batch so far, 80 left: 4 minutes
    t = 90_000;
    progress.onBatch(batch(30)); // too soon after the last line
    const lines = text().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^epoch 1\/2 batch 20\/100 \| 200 img\/s \| ETA 4m00s \| loss 0\.5000 acc 90\.00%$/,
    );
    progress.onEpoch({ epoch: 1, loss: 0.5, acc: 0.9, lr: 1e-3, seconds: 300 }, { epochs: 2 });
    expect(text().trim().split('\n').at(-1)).toBe('epoch 1/2: loss 0.5000 acc 90.00% | lr 1.00e-3 | 300.0 s');
  });
});

describe('formatEta', () => {
  it('rounds before splitting into minutes and seconds (119.6 s is 2m00s, never 1m60s)', () => {
    expect(formatEta(119.6)).toBe('2m00s');
    expect(formatEta(59.5)).toBe('1m00s');
    expect(formatEta(61.2)).toBe('1m01s');
    expect(formatEta(3599.7)).toBe('1h00m');
    expect(formatEta(7325)).toBe('2h02m');
    expect(formatEta(Number.NaN)).toBe('-');
  });
});
