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
  tf.Sum,
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

/** Conv2DBackpropFilter uses the GEMM formulation below this many input channels. */
export const FILTER_GEMM_MAX_CHANNELS = 8;

/** A view of the same buffer under another shape (no copy, no refcount: only for kernel inputs). */
function view(t: Info, shape: number[]): Info {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/**
 * out[M, N] = a[M, K] · b[K, N] as an XNNPACK 1x1 convolution: wasm's BatchMatMul runs XNNPACK's GEMM
 * on one thread, its Conv2D on the thread pool. Each output is summed over K in a fixed order by one
 * thread, so the result does not depend on the thread count or scheduling.
 */
function gemm(backend: BackendWasm, a: Info, b: Info, m: number, k: number, n: number): Info {
  return call(tf.Conv2D, backend, { x: view(a, [1, m, 1, k]), filter: view(b, [1, 1, k, n]) }, {
    strides: [1, 1],
    pad: 'valid',
    dataFormat: 'NHWC',
    dilations: [1, 1],
  } as unknown as Attrs);
}

type ConvInfo = tf.backend_util.Conv2DInfo;

/**
 * dW[i,j,c,o] = Σ_{n,y,x} xpad[n, y·s+i, x·s+j, c] · dy[n,y,x,o] is itself a convolution: the input
 * channels play the batch, the batch plays the channels, dy is the filter (dilated by the stride).
 * One XNNPACK conv2d of transpose(x) with transpose(dy), then one transpose back.
 */
function filterGradByConv(wasm: BackendWasm, x: Info, dy: Info, info: ConvInfo): Info {
  const { top, bottom, left, right } = info.padInfo;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  // With stride s the conv output has (Hpad - (Ho-1)·s) rows; rows past kh are never used.
  const rows = info.inHeight + top + bottom - (info.outHeight - 1) * sh;
  const cols = info.inWidth + left + right - (info.outWidth - 1) * sw;
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
 * dW[kh·kw·Cin, Cout] = colᵀ · dy with colᵀ[(i,j,c), (n,y,x)] = xpad[n, y·s+i, x·s+j, c]: colᵀ is built
 * on the heap from x transposed to [Cin, N, H, W] (so each row copies runs of contiguous pixels), and
 * the product is one plain GEMM with K = N·Ho·Wo.
 */
function filterGradByGemm(wasm: BackendWasm, x: Info, dy: Info, info: ConvInfo): Info {
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outChannels: O } = info;
  const { top, left } = info.padInfo;
  const K = kh * kw * C;
  const P = batchSize * Ho * Wo;
  const xt = transpose(wasm, x, [3, 0, 1, 2]); // [Cin, N, H, W]
  const colt = wasm.makeOutput([K, P], 'float32');
  const src = wasm.typedArrayFromHeap(xt) as Float32Array;
  const col = wasm.typedArrayFromHeap(colt) as Float32Array;
  const plane = H * W;
  let dst = 0;
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      // Output columns whose input column x·s+j-left falls inside the image.
      const oxStart = Math.max(0, Math.ceil((left - j) / sw));
      const oxEnd = Math.min(Wo, Math.floor((W - 1 + left - j) / sw) + 1);
      for (let c = 0; c < C; c++) {
        for (let b = 0; b < batchSize; b++) {
          const base = (c * batchSize + b) * plane;
          for (let oy = 0; oy < Ho; oy++) {
            const y = oy * sh + i - top;
            if (y < 0 || y >= H || oxEnd <= oxStart) {
              col.fill(0, dst, dst + Wo);
              dst += Wo;
              continue;
            }
            let ox = 0;
            for (; ox < oxStart; ox++) col[dst++] = 0;
            let at = base + y * W + oxStart * sw + j - left;
            for (; ox < oxEnd; ox++, at += sw) col[dst++] = src[at];
            for (; ox < Wo; ox++) col[dst++] = 0;
          }
        }
      }
    }
  }
  free(wasm, xt);
  const out = gemm(wasm, colt, dy, K, P, O);
  free(wasm, colt);
  return { ...out, shape: [kh, kw, C, O] };
}

/**
 * Two formulations; which is faster depends on the shape (measured with the paper CNN, see
 * bench/README.md): with few input channels the conv formulation has only kh·kw·Cin output rows
 * spread over a huge kernel, which XNNPACK runs at a fraction of its speed, and the GEMM wins 4x; with
 * many, building colᵀ in JS costs more than the conv formulation loses.
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): Info {
  const wasm = backend as BackendWasm;
  const { x, dy } = inputs as { x: Info; dy: Info };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  if (format !== 'channelsLast' || x.dtype !== 'float32' || dy.dtype !== 'float32')
    return cpuFallback(tf.Conv2DBackpropFilter)({ inputs, backend, attrs }) as Info;
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
  return info.inChannels < FILTER_GEMM_MAX_CHANNELS
    ? filterGradByGemm(wasm, x, dy, info)
    : filterGradByConv(wasm, x, dy, info);
}

/**
 * dx as a GEMM: dcol[N·Ho·Wo, kh·kw·Cin] = dy[N·Ho·Wo, Cout] · Wᵀ, then col2im (each patch row added
 * back where its input pixels came from), on the heap. The same MACs as the forward conv, where the
 * "full" convolution of dy with the flipped filter computes (H+kh-1)(W+kw-1)/(Ho·Wo) times more.
 */
function conv2DBackpropInput(args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: Info; filter: Info };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
    args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  if (format !== 'channelsLast' || dy.dtype !== 'float32' || filter.dtype !== 'float32')
    return call(tf.Conv2DBackpropInput, wasm, args.inputs, args.attrs ?? {});
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
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outChannels: O } = info;
  const { top, left } = info.padInfo;
  const K = kh * kw * C;
  const P = batchSize * Ho * Wo;
  const wt = transpose(wasm, view(filter, [K, O]), [1, 0]); // [Cout, kh·kw·Cin]
  const dcol = gemm(wasm, dy, wt, P, O, K);
  free(wasm, wt);
  const out = wasm.makeOutput(inputShape, 'float32');
  // Views taken after the allocation: growing the heap detaches earlier ones.
  const col = wasm.typedArrayFromHeap(view(dcol, [P * K])) as Float32Array;
  const dx = wasm.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  const rowStride = W * C;
  let src = 0;
  for (let b = 0; b < batchSize; b++) {
    const xb = b * H * rowStride;
    for (let oy = 0; oy < Ho; oy++) {
      const y0 = oy * sh - top;
      for (let ox = 0; ox < Wo; ox++) {
        const x0 = ox * sw - left;
        for (let i = 0; i < kh; i++) {
          const y = y0 + i;
          if (y < 0 || y >= H) {
            src += kw * C;
            continue;
          }
          for (let j = 0; j < kw; j++) {
            const x = x0 + j;
            if (x < 0 || x >= W) {
              src += C;
              continue;
            }
            let dst = xb + y * rowStride + x * C;
            for (let c = 0; c < C; c++) dx[dst++] += col[src++];
          }
        }
      }
    }
  }
  free(wasm, dcol);
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

/**
 * Sum over leading axes (the bias gradient: [N, H, W, C] -> [C]). wasm's stock Sum first transposes the
 * reduced axes innermost (a full copy), then reduces; here one pass over the data accumulates whole
 * rows in float64, in a fixed order. Other reductions go to the stock kernel.
 */
function sum(args: KernelArgs): Info {
  const wasm = args.backend as BackendWasm;
  const { x } = args.inputs as { x: Info };
  const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !leading) return call(tf.Sum, wasm, args.inputs, args.attrs ?? {});
  const kept = x.shape.slice(axes.length);
  const cols = tf.util.sizeFromShape(kept);
  const rows = tf.util.sizeFromShape(x.shape) / cols;
  const outShape = keepDims ? [...axes.map(() => 1), ...kept] : kept;
  const out = wasm.makeOutput(outShape, 'float32');
  const v = wasm.typedArrayFromHeap(x) as Float32Array;
  const acc = new Float64Array(cols);
  for (let r = 0, at = 0; r < rows; r++) for (let c = 0; c < cols; c++) acc[c] += v[at++];
  (wasm.typedArrayFromHeap(out) as Float32Array).set(acc);
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
  replace(tf.Sum, sum);
  for (const name of CPU_FALLBACK_KERNELS) replace(name, cpuFallback(name));
}
