/** 4-digit strips for bench:images: MNIST test digits in a row, read whole through segmentLine. */
import type * as tfl from '@tensorflow/tfjs-layers';
import { readImage } from '../src/data/image-read.js';
import { PIXELS, predictProbs } from '../src/model/infer.js';
import type { ModelMetadata } from '../src/model/metadata.js';
import { PreprocessError, readLine } from '../src/preprocess/index.js';
import { argmaxRows } from '../src/util/argmax.js';
import { deriveSeed } from '../src/util/random.js';
import { digitStrip, mulberry32 } from '../test/synth/paper.js';

export interface StripArgs {
  model: tfl.LayersModel;
  metadata: ModelMetadata;
  digit: (i: number) => Uint8Array;
  label: (i: number) => string;
  indices: number[];
  strips: number;
  seed: number;
  maxPixels: number;
}

export interface StripResult {
  /** Strips whose string came out exactly right. */
  whole: number;
  /** Digits right at their position, over strips segmented into 4. */
  digitsOk: number;
  /** Strips segmented into another number of characters than 4. */
  wrongCount: number;
  /** Mean decode + segment + classify time per strip. */
  ms: number;
}

export async function readStrips(a: StripArgs): Promise<StripResult> {
  let whole = 0;
  let digitsOk = 0;
  let wrongCount = 0;
  let ms = 0;
  for (let s = 0; s < a.strips; s++) {
    const rand = mulberry32(deriveSeed(a.seed, 'strip', s));
    const picks = Array.from({ length: 4 }, () => a.indices[Math.floor(rand() * a.indices.length)]);
    const bytes = await digitStrip(
      picks.map((i) => a.digit(i)),
      rand,
    );
    const truth = picks.map((i) => a.label(i)).join('');
    const t0 = performance.now();
    let read = '';
    try {
      const classify = (crops: readonly Uint8Array[]): Float32Array[] => {
        const pixels = new Uint8Array(crops.length * PIXELS);
        crops.forEach((c, k) => {
          pixels.set(c, k * PIXELS);
        });
        const probs = predictProbs(a.model, pixels, crops.length, a.metadata.normalization);
        const n = a.metadata.classes.length;
        return crops.map((_, k) => probs.slice(k * n, (k + 1) * n));
      };
      const chars = await readLine(await readImage(bytes, { maxPixels: a.maxPixels }), classify);
      const labels = chars.map((c) => argmaxRows(c.probs, a.metadata.classes.length)[0]);
      read = labels.map((p) => a.metadata.classes[p]).join('');
    } catch (err) {
      if (!(err instanceof PreprocessError)) throw err;
    }
    ms += performance.now() - t0;
    if (read === truth) whole++;
    if (read.length === 4) for (let k = 0; k < 4; k++) digitsOk += read[k] === truth[k] ? 1 : 0;
    else wrongCount++;
  }
  return { whole, digitsOk, wrongCount, ms: ms / a.strips };
}
