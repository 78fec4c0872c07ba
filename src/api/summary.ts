import type * as tfl from '@tensorflow/tfjs-layers';
import { formatSummary, summarize } from '../model/summary.js';

/** A Keras-style layer table (name, type, output shape, parameters, totals), as `hwr model summary` prints. */
export function modelSummary(model: tfl.LayersModel, title = model.name): string {
  return formatSummary(title, summarize(model));
}
