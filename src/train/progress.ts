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

/**
 * A live bar on a terminal. Elsewhere (CI logs, pipes, `docker logs`) one line per epoch, plus a
 * batch-progress line now and then so a long epoch is not silent.
 */
export function progressReporter(
  stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
  options: ProgressOptions = {},
): ProgressReporter {
  const tty = Boolean(stream.isTTY);
  const every = options.lineEveryMs ?? 60_000;
  const now = options.now ?? Date.now;
  let lastLine = now();
  let epochSeen = -1;
  let epochStart = lastLine;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          stream,
          format:
            'epoch {epoch}/{epochs} {bar} {value}/{total} | {ips} img/s | ETA {eta_formatted} | loss {loss} acc {acc}',
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let active = false;
  return {
    onBatch(p) {
      if (!bar) {
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
        return;
      }
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
    onEpoch(h, { epochs }) {
      if (active) {
        bar?.stop();
        active = false;
      }
      const val = h.valAcc === undefined ? '' : ` | val loss ${h.valLoss?.toFixed(4)} acc ${pct(h.valAcc)}`;
      stream.write(
        `epoch ${h.epoch}/${epochs}: loss ${h.loss.toFixed(4)} acc ${pct(h.acc)}${val} | lr ${h.lr?.toExponential(2)} | ${h.seconds?.toFixed(1)} s\n`,
      );
    },
    stop() {
      if (active) bar?.stop();
      active = false;
    },
  };
}
