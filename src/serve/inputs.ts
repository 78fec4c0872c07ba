import { DataError } from '../data/dataset.js';
import { decodeImage, encodeGrayPng } from '../data/image-codec.js';
import { type ReadImage, readImage } from '../data/image-read.js';
import { IMAGE_SIZE, PIXELS } from '../model/infer.js';
import {
  PreprocessError,
  rgbaToMnist,
  type Stroke,
  safeParseStrokes,
  strokesToMnist,
} from '../preprocess/index.js';
import type { InputKind } from '../store/feedback-store.js';
import { HttpError } from './http-error.js';
import type { InputValue } from './schemas.js';

/**
 * Largest image accepted (width x height, checked on the header, before decoding): a 48 Mpx phone
 * photo (8000 x 6000). libvips decodes it shrunk (JPEG shrink-on-load) to the 1024 px work size.
 */
export const MAX_IMAGE_PIXELS = 48_000_000;

export interface DecodedInput {
  readonly kind: InputKind;
  /** 28x28 ink-high bytes, what the model sees. */
  readonly pixels: Uint8Array;
  /** The input as the client sent it, for the feedback store. */
  readonly raw: unknown;
  /** The checked strokes of a strokes input, for the stroke parts of a fused model. */
  readonly strokes?: Stroke[];
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function base64Bytes(text: string, where: string): Uint8Array {
  // Accept what canvas.toDataURL() gives, and base64 wrapped over lines.
  const body = text.replace(/^data:image\/[a-z+.-]+;base64,/i, '').replace(/\s+/g, '');
  if (body.length === 0 || body.length % 4 === 1 || !BASE64.test(body))
    throw HttpError.badRequest(`${where}image is not valid base64`);
  return Buffer.from(body, 'base64');
}

/**
 * Turns one validated input (exactly one of image / pixels / strokes) into the 28x28 image the model
 * sees, through the shared preprocessing. Bad content becomes a 400 HttpError naming the problem.
 */
export async function decodeInput(
  input: InputValue,
  where = '',
  maxImagePixels = MAX_IMAGE_PIXELS,
): Promise<DecodedInput> {
  try {
    if (input.pixels !== undefined) {
      const pixels = new Uint8Array(PIXELS);
      for (let i = 0; i < PIXELS; i++) pixels[i] = Math.round(input.pixels[i]);
      return { kind: 'pixels', pixels, raw: input.pixels };
    }
    if (input.strokes !== undefined) {
      const parsed = safeParseStrokes(input.strokes);
      if (!parsed.success) throw parsed.error;
      return {
        kind: 'strokes',
        pixels: strokesToMnist(parsed.data),
        raw: input.strokes,
        strokes: parsed.data,
      };
    }
    if (input.image !== undefined) {
      const image = await readImage(base64Bytes(input.image, where), { maxPixels: maxImagePixels });
      return { kind: 'image', pixels: rgbaToMnist(image), raw: input.image };
    }
  } catch (err) {
    if (err instanceof PreprocessError || err instanceof DataError)
      throw HttpError.badRequest(`${where}${err.message}`, err);
    throw err;
  }
  throw HttpError.badRequest(`${where}give exactly one input: "image", "pixels" or "strokes"`);
}

/**
 * Decodes a base64 image for reading (EXIF upright, shrunk to the work size); bad content is a 400
 * naming the problem.
 */
export async function decodeImageInput(
  image: string,
  maxImagePixels: number,
  where = '',
): Promise<ReadImage> {
  try {
    return await readImage(base64Bytes(image, where), { maxPixels: maxImagePixels });
  } catch (err) {
    if (err instanceof DataError) throw HttpError.badRequest(`${where}${err.message}`);
    throw err;
  }
}

/**
 * A character of a read sent back as feedback: the 28x28 grey PNG `/api/read` returned, decoded
 * byte for byte into the pixels the model saw. Not normalised again: ink extraction and centring of
 * an already centred 28x28 would change its grey levels, and the stored image must be the one the
 * model answered. Anything else (another size, colour) is a 400.
 */
export function decodeCrop(text: string): DecodedInput {
  let image: ReturnType<typeof decodeImage>;
  try {
    image = decodeImage(base64Bytes(text, 'crop: '), { maxPixels: PIXELS });
  } catch (err) {
    if (err instanceof HttpError) throw err;
    if (err instanceof DataError)
      throw HttpError.badRequest(
        `crop must be the 28x28 PNG /api/read returned (characters[i].input): ${err.message}`,
        err,
      );
    throw err;
  }
  if (image.width !== IMAGE_SIZE || image.height !== IMAGE_SIZE)
    throw HttpError.badRequest(
      `crop must be the 28x28 PNG /api/read returned (characters[i].input), not ${image.width}x${image.height}`,
    );
  const pixels = new Uint8Array(PIXELS);
  for (let i = 0; i < PIXELS; i++) {
    const [r, g, b, a] = image.data.subarray(i * 4, i * 4 + 4);
    if (r !== g || g !== b || a !== 255)
      throw HttpError.badRequest('crop must be an opaque greyscale 28x28 PNG, as /api/read returns it');
    pixels[i] = r;
  }
  return { kind: 'pixels', pixels, raw: Array.from(pixels) };
}

/** Base64 PNG of a 28x28 image (what the page shows as "what the model saw"). */
export function pngBase64(pixels: Uint8Array): string {
  return Buffer.from(encodeGrayPng(pixels, IMAGE_SIZE, IMAGE_SIZE)).toString('base64');
}
