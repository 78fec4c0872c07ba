/**
 * Strokes or rasters → MNIST form (28x28 bytes, ink high, 20 px box, centre of mass at (14, 14)).
 * Pure TypeScript (no DOM, no TF, no Node APIs): the page, the server and the training-data
 * rendering all run this same code, so a drawing is seen identically everywhere.
 */
export { PreprocessError } from './errors.js';
export { extractInk, type InkMap } from './ink.js';
export {
  grayToMnist,
  MAX_RASTER_PIXELS,
  MNIST_BOX,
  MNIST_CENTER,
  MNIST_SIZE,
  rgbaInk,
  rgbaToMnist,
} from './mnist.js';
export { type CharacterCrop, type Classify, type ReadCharacter, readLine } from './segment.js';
export {
  DEFAULT_PEN_WIDTH,
  DEFAULT_RESOLUTION,
  MAX_COORDINATE,
  MAX_POINTS,
  MAX_STROKES,
  parseStrokes,
  RENDERER_VERSION,
  type RenderOptions,
  renderStrokes,
  type StrokesResult,
  safeParseStrokes,
  strokesBounds,
  strokesToMnist,
} from './strokes.js';
export type { GrayImage, Point, RgbaImage, Stroke } from './types.js';
