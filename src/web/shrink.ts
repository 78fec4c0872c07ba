/**
 * Photos are shrunk on the device before upload: a 12 MiB, 24 Mpx phone photo becomes a few hundred
 * KB, so a read over a phone connection takes a second instead of a minute. The server works at
 * 1024 px on the longer side (WORK_SIDE in src/data/image-read.ts); 1600 px keeps headroom for small
 * writing in a wide photo.
 */
export const MAX_UPLOAD_SIDE = 1600;
/** Up to this many pixels the upload is a PNG (lossless: small scans keep every grey level). */
export const PNG_MAX_PIXELS = 1_000_000;
const JPEG_QUALITY = 0.9;

/** The size `width` x `height` scaled to fit `maxSide` on its longer side (never enlarged). */
export function fitWithin(width: number, height: number, maxSide: number): { width: number; height: number } {
  const k = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * k)), height: Math.max(1, Math.round(height * k)) };
}

/** The photo upright (EXIF orientation applied) and shrunk, as drawn, and the bytes to upload. */
export interface ShrunkPhoto {
  readonly canvas: HTMLCanvasElement;
  readonly blob: Blob;
  /** The file's own size, upright, before shrinking. */
  readonly original: { width: number; height: number };
}

function toBlob(canvas: HTMLCanvasElement, type: string, quality?: number): Promise<Blob> {
  return new Promise((resolve, reject) =>
    canvas.toBlob(
      (b) => (b ? resolve(b) : reject(new Error('the photo could not be encoded'))),
      type,
      quality,
    ),
  );
}

/**
 * Decodes `file` upright (`imageOrientation: 'from-image'` applies its EXIF orientation, as the server
 * does), draws it at most MAX_UPLOAD_SIDE px on a canvas, and encodes that canvas: the canvas is what
 * the page shows, and the server's boxes are in its pixels. Rejects when the browser cannot decode
 * the file (not an image, or a format it does not know).
 */
export async function shrinkPhoto(file: Blob): Promise<ShrunkPhoto> {
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  try {
    const size = fitWithin(bitmap.width, bitmap.height, MAX_UPLOAD_SIDE);
    const canvas = document.createElement('canvas');
    canvas.width = size.width;
    canvas.height = size.height;
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2D canvas');
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(bitmap, 0, 0, size.width, size.height);
    const png = size.width * size.height <= PNG_MAX_PIXELS;
    const blob = await toBlob(canvas, png ? 'image/png' : 'image/jpeg', png ? undefined : JPEG_QUALITY);
    return { canvas, blob, original: { width: bitmap.width, height: bitmap.height } };
  } finally {
    bitmap.close();
  }
}
