import type { ArchName } from '../model/archs.js';
import type { Normalization } from '../model/metadata.js';
import { type AugmentOptions, NO_AUGMENT } from './augment.js';

export type Schedule = 'constant' | 'cosine' | 'onecycle';

/** Everything about how an architecture is trained by default; CLI flags override single fields. */
export interface Recipe {
  readonly epochs: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly schedule: Schedule;
  readonly labelSmoothing: number;
  readonly augment: AugmentOptions;
  readonly normalization: Normalization;
}

const PLAIN: Normalization = { scale: 255, mean: 0, std: 1 };

// Small random affine warps keep the net from memorising stroke positions; label smoothing and a
// one-cycle schedule let a high peak LR converge in few epochs.
const FAST: Recipe = {
  epochs: 12,
  batchSize: 128,
  lr: 3e-3,
  schedule: 'onecycle',
  labelSmoothing: 0.1,
  augment: { rotate: 10, scale: 0.1, shift: 2.5, shear: 0.15 },
  normalization: PLAIN,
};

/**
 * The published recipe: Adam 1e-3, categorical cross-entropy, no augmentation. A cosine decay of
 * the learning rate over the run is our only addition (it steadies the last epochs).
 */
const PUBLISHED: Recipe = {
  epochs: 10,
  batchSize: 128,
  lr: 1e-3,
  schedule: 'cosine',
  labelSmoothing: 0,
  augment: NO_AUGMENT,
  normalization: PLAIN,
};

export const RECIPES: Record<ArchName, Recipe> = {
  paper: PUBLISHED,
  // The second published CNN was trained the same way.
  compact: PUBLISHED,
  fast: FAST,
  // The bigger designs train exactly like `fast`.
  wide: FAST,
  deep: FAST,
  large: FAST,
};

/** Learning rate at a fractional point `t` in [0, 1] of the whole run. */
export function learningRateAt(schedule: Schedule, peak: number, t: number): number {
  const cosine = (x: number) => 0.5 * (1 + Math.cos(Math.PI * Math.min(1, Math.max(0, x))));
  switch (schedule) {
    case 'constant':
      return peak;
    case 'cosine':
      return peak * (0.01 + 0.99 * cosine(t));
    case 'onecycle': {
      const warm = 0.15; // linear warm-up from peak/10, then cosine down to peak/1000
      if (t < warm) return peak * (0.1 + (0.9 * t) / warm);
      return peak * (0.001 + 0.999 * cosine((t - warm) / (1 - warm)));
    }
  }
}
