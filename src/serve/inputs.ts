import { DataError } from '../data/dataset.js';
import { decodeImage, encodeGrayPng } from '../data/image-codec.js';
import { IMAGE_SIZE, PIXELS } from '../model/infer.js';
import { PreprocessError, rgbaToMnist, safeParseStrokes, strokesToMnist } from '../preprocess/index.js';
import type { InputKind } from '../store/feedback-store.js';
import { HttpError } from './http-error.js';
import type { InputValue } from './schemas.js';

/** Largest decoded image accepted (checked on the header, before decoding): 16 MB of RGBA. */
export const MAX_IMAGE_PIXELS = 2048 * 2048;

export interface DecodedInput {
  readonly kind: InputKind;
  /** 28x28 ink-high bytes, what the model sees. */
  readonly pixels: Uint8Array;
  /** The input as the client sent it, for the feedback store. */
  readonly raw: unknown;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function base64Bytes(text: string, where: string): Uint8Array {
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
export function decodeInput(input: InputValue, where = '', maxImagePixels = MAX_IMAGE_PIXELS): DecodedInput {
  try {
    if (input.pixels !== undefined) {
      const pixels = new Uint8Array(PIXELS);
      for (let i = 0; i < PIXELS; i++) pixels[i] = Math.round(input.pixels[i]);
      return { kind: 'pixels', pixels, raw: input.pixels };
    }
    if (input.strokes !== undefined) {
      const parsed = safeParseStrokes(input.strokes);
      if (!parsed.success) throw parsed.error;
      return { kind: 'strokes', pixels: strokesToMnist(parsed.data), raw: input.strokes };
    }
    if (input.image !== undefined) {
      const image = decodeImage(base64Bytes(input.image, where), { maxPixels: maxImagePixels });
      return { kind: 'image', pixels: rgbaToMnist(image), raw: input.image };
    }
  } catch (err) {
    if (err instanceof PreprocessError || err instanceof DataError)
      throw HttpError.badRequest(`${where}${err.message}`, err);
    throw err;
  }
  throw HttpError.badRequest(`${where}give exactly one input: "image", "pixels" or "strokes"`);
}

/** Base64 PNG of a 28x28 image (what the page shows as "what the model saw"). */
export function pngBase64(pixels: Uint8Array): string {
  return Buffer.from(encodeGrayPng(pixels, IMAGE_SIZE, IMAGE_SIZE)).toString('base64');
}
