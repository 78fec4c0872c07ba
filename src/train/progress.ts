import cliProgress from 'cli-progress';
import type { EpochHistory } from '../model/metadata.js';
import type { BatchProgress } from './trainer.js';

export interface ProgressReporter {
  onBatch(p: BatchProgress): void;
  onEpoch(h: EpochHistory, info: { epochs: number }): void;
  stop(): void;
}

function pct(x: number | undefined): string {
  return x === undefined ? '-' : `${(x * 100).toFixed(2)}%`;
}

export interface ProgressOptions {
  /** Off a terminal: at most one batch-progress line per this many ms (default 60 s). */
  readonly lineEveryMs?: number;
  readonly now?: () => number;
}

export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  // Rounded once, before splitting: rounding the seconds part alone printed 119.6 s as "1m60s".
  const whole = Math.round(seconds);
  const m = Math.floor(whole / 60);
  return m >= 60
    ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`
    : `${m}m${String(whole % 60).padStart(2, '0')}s`;
}

type Stream = NodeJS.WritableStream & { isTTY?: boolean };

/**
 * Off a terminal: a batch-progress line at most every `every` ms, never on an epoch's first or last
 * batch (the epoch line follows), with the epoch's ETA from its pace so far.
 */
function batchLines(stream: Stream, every: number, now: () => number): (p: BatchProgress) => void {
  let lastLine = now();
  let epochSeen = -1;
  let epochStart = lastLine;
  return (p) => {
    const t = now();
    if (p.epoch !== epochSeen) {
      epochSeen = p.epoch;
      epochStart = t;
    }
    if (t - lastLine < every || p.batch === 0 || p.batch >= p.batches) return;
    lastLine = t;
    const eta = (((t - epochStart) / p.batch) * (p.batches - p.batch)) / 1000;
    stream.write(
      `epoch ${p.epoch + 1}/${p.epochs} batch ${p.batch}/${p.batches} | ${p.imagesPerSecond.toFixed(0)} img/s | ` +
        `ETA ${formatEta(eta)} | loss ${p.loss.toFixed(4)} acc ${pct(p.acc)}\n`,
    );
  };
}

/** On a terminal: one live bar per epoch, cleared when the epoch line is written. */
function batchBar(stream: Stream): { update(p: BatchProgress): void; stop(): void } {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format:
        'epoch {epoch}/{epochs} {bar} {value}/{total} | {ips} img/s | ETA {eta_formatted} | loss {loss} acc {acc}',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let active = false;
  return {
    update(p) {
      const payload = {
        epoch: p.epoch + 1,
        epochs: p.epochs,
        ips: p.imagesPerSecond.toFixed(0),
        loss: p.loss.toFixed(4),
        acc: pct(p.acc),
      };
      if (!active) {
        bar.start(p.batches, p.batch, payload);
        active = true;
      } else bar.update(p.batch, payload);
    },
    stop() {
      if (active) bar.stop();
      active = false;
    },
  };
}

function epochLine(h: EpochHistory, epochs: number): string {
  const val = h.valAcc === undefined ? '' : ` | val loss ${h.valLoss?.toFixed(4)} acc ${pct(h.valAcc)}`;
  return `epoch ${h.epoch}/${epochs}: loss ${h.loss.toFixed(4)} acc ${pct(h.acc)}${val} | lr ${h.lr?.toExponential(2)} | ${h.seconds?.toFixed(1)} s\n`;
}

/**
 * A live bar on a terminal. Elsewhere (CI logs, pipes, `docker logs`) one line per epoch, plus a
 * batch-progress line now and then so a long epoch is not silent.
 */
export function progressReporter(
  stream: Stream = process.stderr,
  options: ProgressOptions = {},
): ProgressReporter {
  const bar = stream.isTTY ? batchBar(stream) : undefined;
  const onBatch = bar
    ? bar.update
    : batchLines(stream, options.lineEveryMs ?? 60_000, options.now ?? Date.now);
  return {
    onBatch,
    onEpoch(h, { epochs }) {
      bar?.stop();
      stream.write(epochLine(h, epochs));
    },
    stop() {
      bar?.stop();
    },
  };
}
