/** [x, y] in any unit; y grows downwards (canvas convention). */
export type Point = readonly [number, number];
/** One pen-down trace, points in drawing order. */
export type Stroke = readonly Point[];

/** Grayscale raster, row-major, ink high (0 = background, 255 = full ink). */
export interface GrayImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** RGBA raster, row-major, 4 bytes per pixel (as ImageData, pngjs and jpeg-js give it). */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray;
}
