/**
 * Training kernels for the wasm backend.
 *
 * tfjs-backend-wasm 4.22 ships no `Conv2DBackpropFilter` (so it cannot train a CNN at all), and its
 * `Conv2DBackpropInput` and transposed `BatchMatMul` are naive loops. Here they are rebuilt from
 * wasm's own XNNPACK kernels (Conv2D, BatchMatMul, Transpose, Reverse); shapes the fast paths do not
 * cover go to the stock wasm kernel or, where wasm has none, to the cpu backend's kernel.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { cpuFallback } from './cpu-fallback.js';

type Info = tf.TensorInfo;
type Attrs = tf.NamedAttrMap;
type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Kernels a training step needs that wasm does not register; run on the cpu backend. */
const CPU_FALLBACK_KERNELS: readonly string[] = [];

/** Names of every kernel this module registers or replaces on wasm. */
export const WASM_TRAINING_KERNELS: readonly string[] = [
  tf.Conv2DBackpropFilter,
  tf.Conv2DBackpropInput,
  tf.BatchMatMul,
  tf.MaxPoolGrad,
  ...CPU_FALLBACK_KERNELS,
];

let registered = false;
/** The stock wasm kernels we wrap, captured before they are replaced. */
const stock = new Map<string, tf.KernelFunc>();

function call(name: string, backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: Attrs): Info {
  const kernel = stock.get(name) ?? tf.getKernel(name, 'wasm')?.kernelFunc;
  if (!kernel) throw new Error(`wasm kernel ${name} is missing`);
  return kernel({ inputs, backend, attrs }) as Info;
}

function transpose(backend: BackendWasm, x: Info, perm: number[]): Info {
  return call(tf.Transpose, backend, { x }, { perm });
}

function free(backend: BackendWasm, ...infos: Info[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

type Pad = tf.backend_util.ExplicitPadding;

/**
 * dW[i,j,c,o] = Σ_{n,y,x} xpad[n, y·s+i, x·s+j, c] · dy[n,y,x,o] is itself a convolution: the input
 * channels play the batch, the batch plays the channels, dy is the filter (dilated by the stride).
 * One XNNPACK conv2d of transpose(x) with transpose(dy), then one transpose back.
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): Info {
  const wasm = backend as BackendWasm;
  const { x, dy } = inputs as { x: Info; dy: Info };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    format,
  );
  if (format !== 'channelsLast' || x.dtype !== 'float32' || dy.dtype !== 'float32') {
    return cpuFallback(tf.Conv2DBackpropFilter)({ inputs, backend, attrs }) as Info;
  }
  const { top, bottom, left, right } = info.padInfo;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  // With stride s the conv output has (Hpad - (Ho-1)·s) rows; rows past kh are never used.
  const hPadded = info.inHeight + top + bottom;
  const wPadded = info.inWidth + left + right;
  const rows = hPadded - (info.outHeight - 1) * sh;
  const cols = wPadded - (info.outWidth - 1) * sw;
  const xt = transpose(wasm, x, [3, 1, 2, 0]); // [Cin, H, W, N]
  const dyt = transpose(wasm, dy, [1, 2, 0, 3]); // [Ho, Wo, N, Cout]
  const explicit: Pad = [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
  const conv = call(tf.Conv2D, wasm, { x: xt, filter: dyt }, {
    strides: [1, 1],
    pad: explicit,
    dataFormat: 'NHWC',
    dilations: [sh, sw],
  } as unknown as Attrs); // [Cin, rows, cols, Cout]
  free(wasm, xt, dyt);
  let cropped = conv;
  if (rows !== kh || cols !== kw) {
    cropped = call(
      tf.Slice,
      wasm,
      { x: conv },
      { begin: [0, 0, 0, 0], size: [info.inChannels, kh, kw, info.outChannels] },
    );
    free(wasm, conv);
  }
  const out = transpose(wasm, cropped, [1, 2, 0, 3]); // [kh, kw, Cin, Cout]
  free(wasm, cropped);
  return out;
}

/**
 * dx for a stride-1 conv is the "full" convolution of dy with the filter rotated by 180° and its
 * in/out channels swapped, which XNNPACK runs far faster than wasm's stock scalar loop.
 */
function conv2DBackpropInput(args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: Info; filter: Info };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
    args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    format,
  );
  const { top, bottom, left, right } = info.padInfo;
  const { filterHeight: kh, filterWidth: kw } = info;
  const padTop = kh - 1 - top;
  const padBottom = kh - 1 - bottom;
  const padLeft = kw - 1 - left;
  const padRight = kw - 1 - right;
  const fast =
    format === 'channelsLast' &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    Math.min(padTop, padBottom, padLeft, padRight) >= 0 &&
    dy.dtype === 'float32' &&
    filter.dtype === 'float32';
  if (!fast) return call(tf.Conv2DBackpropInput, wasm, args.inputs, args.attrs ?? {});
  const flipped = call(tf.Reverse, wasm, { x: filter }, { dims: [0, 1] });
  const swapped = transpose(wasm, flipped, [0, 1, 3, 2]); // [kh, kw, Cout, Cin]
  free(wasm, flipped);
  const explicit: Pad = [
    [0, 0],
    [padTop, padBottom],
    [padLeft, padRight],
    [0, 0],
  ];
  const out = call(tf.Conv2D, wasm, { x: dy, filter: swapped }, {
    strides: [1, 1],
    pad: explicit,
    dataFormat: 'NHWC',
    dilations: [1, 1],
  } as unknown as Attrs);
  free(wasm, swapped);
  return out;
}

/** XNNPACK-backed matmul is only fast without transposes: materialise them first (cheap, O(n²)). */
function batchMatMul(args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { a, b } = args.inputs as { a: Info; b: Info };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  if (!transposeA && !transposeB) return call(tf.BatchMatMul, wasm, args.inputs, args.attrs ?? {});
  const swapLast = (t: Info): Info => {
    const perm = t.shape.map((_, i) => i);
    const r = perm.length;
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    return transpose(wasm, t, perm);
  };
  const a2 = transposeA ? swapLast(a) : a;
  const b2 = transposeB ? swapLast(b) : b;
  const out = call(tf.BatchMatMul, wasm, { a: a2, b: b2 }, { transposeA: false, transposeB: false });
  if (transposeA) free(wasm, a2);
  if (transposeB) free(wasm, b2);
  return out;
}

/**
 * wasm's stock MaxPoolGrad is a slow scalar loop (14% of a `paper` training step). This one finds, per
 * pooling window, the first maximum (as the cpu kernel does) and adds dy there, directly on the heap.
 */
function maxPoolGrad(args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { dy, input } = args.inputs as { dy: Info; input: Info };
  const { filterSize, strides, pad, dimRoundingMode } = args.attrs as unknown as tf.MaxPoolGradAttrs;
  if (input.dtype !== 'float32' || dy.dtype !== 'float32')
    return call(tf.MaxPoolGrad, wasm, args.inputs, args.attrs ?? {});
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const out = wasm.makeOutput(input.shape, 'float32');
  // Views taken after the allocation: growing the heap detaches earlier ones.
  const x = wasm.typedArrayFromHeap(input) as Float32Array;
  const g = wasm.typedArrayFromHeap(dy) as Float32Array;
  const dx = wasm.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  const { batchSize, inHeight, inWidth, inChannels: C, outHeight, outWidth } = info;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const rowStride = inWidth * C;
  let gi = 0;
  for (let b = 0; b < batchSize; b++) {
    const xb = b * inHeight * rowStride;
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * sh - top;
      const yStart = Math.max(0, y0);
      const yEnd = Math.min(inHeight, y0 + fh);
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = ox * sw - left;
        const xStart = Math.max(0, x0);
        const xEnd = Math.min(inWidth, x0 + fw);
        for (let c = 0; c < C; c++, gi++) {
          let best = Number.NEGATIVE_INFINITY;
          let at = -1;
          for (let yy = yStart; yy < yEnd; yy++) {
            let idx = xb + yy * rowStride + xStart * C + c;
            for (let xx = xStart; xx < xEnd; xx++, idx += C) {
              if (x[idx] > best) {
                best = x[idx];
                at = idx;
              }
            }
          }
          if (at >= 0) dx[at] += g[gi];
        }
      }
    }
  }
  return out;
}

function replace(kernelName: string, kernelFunc: tf.KernelFunc): void {
  const existing = tf.getKernel(kernelName, 'wasm');
  if (existing) {
    if (!stock.has(kernelName)) stock.set(kernelName, existing.kernelFunc);
    tf.unregisterKernel(kernelName, 'wasm');
  }
  // Keep the stock setupFunc: it binds the wasm function our fallback path still calls.
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc, setupFunc: existing?.setupFunc });
}

/** Registers the training kernels on the wasm backend; idempotent. Needs the wasm backend imported. */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  replace(tf.Conv2DBackpropFilter, conv2DBackpropFilter);
  replace(tf.Conv2DBackpropInput, conv2DBackpropInput);
  replace(tf.BatchMatMul, batchMatMul);
  replace(tf.MaxPoolGrad, maxPoolGrad);
  for (const name of CPU_FALLBACK_KERNELS) replace(name, cpuFallback(name));
}
