import sharp from 'sharp';
import type { RgbaImage } from '../preprocess/index.js';
import { DataError } from './dataset.js';
import { checkImageHeader } from './image-codec.js';

/**
 * Longest side an image is worked on at. A digit needs 20 px in the end and a line of handwriting a
 * few hundred; 1024 keeps strokes of a phone photo several pixels wide while the ink extraction of a
 * 24 Mpx photo costs what a 0.75 Mpx one does.
 */
export const WORK_SIDE = 1024;

export interface ReadOptions {
  /** Largest width * height accepted; checked on the header, before any pixel is decoded. */
  readonly maxPixels: number;
  /** Longest side after downscaling (default WORK_SIDE); smaller images are not enlarged. */
  readonly workSide?: number;
}

export interface ReadImage extends RgbaImage {
  /** Size of the image as stored in the file (before EXIF rotation and downscaling). */
  readonly original: { readonly width: number; readonly height: number };
}

/**
 * Decodes a PNG or JPEG photo or scan for reading: header checked first (decompression bombs are
 * refused before decoding), then libvips (sharp) decodes, turns it upright by its EXIF orientation and
 * shrinks it to fit WORK_SIDE (JPEG shrink-on-load, so a 24 Mpx photo is never held at full size).
 */
export async function readImage(bytes: Uint8Array, options: ReadOptions): Promise<ReadImage> {
  const format = checkImageHeader(bytes, options.maxPixels);
  const side = options.workSide ?? WORK_SIDE;
  try {
    const input = sharp(bytes, {
      limitInputPixels: options.maxPixels,
      failOn: 'error',
      sequentialRead: true,
    });
    const meta = await input.metadata();
    const { data, info } = await input
      .rotate()
      .resize({ width: side, height: side, fit: 'inside', withoutEnlargement: true })
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return {
      width: info.width,
      height: info.height,
      data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      original: { width: meta.width ?? info.width, height: meta.height ?? info.height },
    };
  } catch (err) {
    throw new DataError(`corrupt or truncated ${format.toUpperCase()} image: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
