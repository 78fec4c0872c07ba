// Training helpers for the wasm backend, compiled to wasm32 + SIMD128 and instantiated on the
// tfjs-backend-wasm heap (its memory is imported): the data-movement steps around XNNPACK's GEMMs that
// are too slow as JS loops. Build: src/engine/native/build.sh. Every function is a leaf that keeps its
// state in locals: no stack, no static data, so nothing of the host's memory is touched but the
// buffers passed in. Sums run in a fixed order (deterministic, single-threaded).
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

static inline void add_row(float* restrict dst, const float* restrict src, int n) {
  int c = 0;
  for (; c + 4 <= n; c += 4)
    wasm_v128_store(dst + c, wasm_f32x4_add(wasm_v128_load(dst + c), wasm_v128_load(src + c)));
  for (; c < n; c++) dst[c] += src[c];
}

static inline void zero(float* dst, int n) {
  int c = 0;
  for (; c + 4 <= n; c += 4) wasm_v128_store(dst + c, wasm_f32x4_splat(0.0f));
  for (; c < n; c++) dst[c] = 0.0f;
}

// dx[n, oy*sh+i-top, ox*sw+j-left, :] += col[n, oy, ox, i, j, :] for every in-image position; dx is
// zeroed first. col is [N*Ho*Wo, kh*kw*C], dx is NHWC.
EXPORT(col2im)
void col2im(const float* col, float* dx, int batch, int h, int w, int c, int ho, int wo, int kh, int kw,
            int sh, int sw, int top, int left) {
  zero(dx, batch * h * w * c);
  const int row = w * c;
  for (int b = 0; b < batch; b++) {
    float* xb = dx + b * h * row;
    for (int oy = 0; oy < ho; oy++) {
      const int y0 = oy * sh - top;
      for (int ox = 0; ox < wo; ox++, col += kh * kw * c) {
        const int x0 = ox * sw - left;
        for (int i = 0; i < kh; i++) {
          const int y = y0 + i;
          if (y < 0 || y >= h) continue;
          for (int j = 0; j < kw; j++) {
            const int x = x0 + j;
            if (x < 0 || x >= w) continue;
            add_row(xb + y * row + x * c, col + (i * kw + j) * c, c);
          }
        }
      }
    }
  }
}

// col[n, oy, ox, i, j, :] = x[n, oy*sh+i-top, ox*sw+j-left, :], zero outside the image: the patch
// matrix [N*Ho*Wo, kh*kw*C] a convolution multiplies with its filter [kh*kw*C, Cout] (for the
// BLAS GEMMs). A row of the patch inside the image is one copy of kw*C floats.
EXPORT(im2col)
void im2col(const float* x, float* col, int batch, int h, int w, int c, int ho, int wo, int kh, int kw,
            int sh, int sw, int top, int left) {
  const int row = w * c;
  for (int b = 0; b < batch; b++) {
    const float* xb = x + b * h * row;
    for (int oy = 0; oy < ho; oy++) {
      const int y0 = oy * sh - top;
      for (int ox = 0; ox < wo; ox++) {
        const int x0 = ox * sw - left;
        const int j0 = x0 < 0 ? -x0 : 0;
        const int j1 = x0 + kw > w ? w - x0 : kw;
        for (int i = 0; i < kh; i++, col += kw * c) {
          const int y = y0 + i;
          if (y < 0 || y >= h || j0 >= j1) {
            zero(col, kw * c);
            continue;
          }
          if (j0 > 0) zero(col, j0 * c);
          __builtin_memcpy(col + j0 * c, xb + y * row + (x0 + j0) * c, (unsigned)(j1 - j0) * c * sizeof(float));
          if (j1 < kw) zero(col + j1 * c, (kw - j1) * c);
        }
      }
    }
  }
}

// y[r, :] += bias (when given), then max(y, 0) when relu: a fused conv or matmul's epilogue.
EXPORT(bias_act)
void bias_act(float* y, const float* bias, int rows, int cols, int relu) {
  const v128_t z = wasm_f32x4_splat(0.0f);
  for (int r = 0; r < rows; r++, y += cols) {
    int c = 0;
    for (; c + 4 <= cols; c += 4) {
      v128_t v = wasm_v128_load(y + c);
      if (bias) v = wasm_f32x4_add(v, wasm_v128_load(bias + c));
      if (relu) v = wasm_f32x4_pmax(v, z);
      wasm_v128_store(y + c, v);
    }
    for (; c < cols; c++) {
      float v = y[c] + (bias ? bias[c] : 0.0f);
      y[c] = relu && v < 0.0f ? 0.0f : v;
    }
  }
}

// For each of `batches` matrices: out[c, r] = x[r, c] (rows x cols), with explicit strides (in floats)
// between matrices and between rows, so axis swaps like [N, HW, C] -> [C, HW, N] are one call. Tiles of
// 16x16 made of 4x4 SIMD transposes, scalar at the ragged edges.
EXPORT(transpose_strided)
void transpose_strided(const float* restrict x, float* restrict out, int batches, int rows, int cols,
                       int x_batch, int x_row, int out_batch, int out_row) {
  enum { T = 16 };
  for (int m = 0; m < batches; m++, x += x_batch, out += out_batch) {
    for (int r0 = 0; r0 < rows; r0 += T) {
      const int r1 = r0 + T < rows ? r0 + T : rows;
      for (int c0 = 0; c0 < cols; c0 += T) {
        const int c1 = c0 + T < cols ? c0 + T : cols;
        int r = r0;
        for (; r + 4 <= r1; r += 4) {
          int c = c0;
          for (; c + 4 <= c1; c += 4) {
            const v128_t a = wasm_v128_load(x + r * x_row + c);
            const v128_t b = wasm_v128_load(x + (r + 1) * x_row + c);
            const v128_t d = wasm_v128_load(x + (r + 2) * x_row + c);
            const v128_t e = wasm_v128_load(x + (r + 3) * x_row + c);
            const v128_t ab0 = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5);
            const v128_t ab1 = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
            const v128_t de0 = wasm_i32x4_shuffle(d, e, 0, 4, 1, 5);
            const v128_t de1 = wasm_i32x4_shuffle(d, e, 2, 6, 3, 7);
            wasm_v128_store(out + c * out_row + r, wasm_i32x4_shuffle(ab0, de0, 0, 1, 4, 5));
            wasm_v128_store(out + (c + 1) * out_row + r, wasm_i32x4_shuffle(ab0, de0, 2, 3, 6, 7));
            wasm_v128_store(out + (c + 2) * out_row + r, wasm_i32x4_shuffle(ab1, de1, 0, 1, 4, 5));
            wasm_v128_store(out + (c + 3) * out_row + r, wasm_i32x4_shuffle(ab1, de1, 2, 3, 6, 7));
          }
          for (; c < c1; c++)
            for (int k = 0; k < 4; k++) out[c * out_row + r + k] = x[(r + k) * x_row + c];
        }
        for (; r < r1; r++)
          for (int c = c0; c < c1; c++) out[c * out_row + r] = x[r * x_row + c];
      }
    }
  }
}

// out[col] = sum over rows of x[row, col], rows in order (float32, as the stock kernels sum).
EXPORT(sum_rows)
void sum_rows(const float* x, float* out, int rows, int cols) {
  zero(out, cols);
  for (int r = 0; r < rows; r++) add_row(out, x + r * cols, cols);
}

// MaxPoolGrad: per pooling window the first maximum (as the cpu kernel picks it) receives dy. Four
// channels at a time: their values are contiguous in NHWC, and a strict `>` keeps the first maximum.
EXPORT(max_pool_grad)
void max_pool_grad(const float* x, const float* dy, float* dx, int batch, int h, int w, int c, int ho,
                   int wo, int fh, int fw, int sh, int sw, int top, int left) {
  zero(dx, batch * h * w * c);
  const int row = w * c;
  const v128_t lanes = wasm_i32x4_make(0, 1, 2, 3);
  for (int b = 0; b < batch; b++) {
    const int xb = b * h * row;
    for (int oy = 0; oy < ho; oy++) {
      const int y0 = oy * sh - top;
      const int ys = y0 < 0 ? 0 : y0;
      const int ye = y0 + fh > h ? h : y0 + fh;
      for (int ox = 0; ox < wo; ox++, dy += c) {
        const int x0 = ox * sw - left;
        const int xs = x0 < 0 ? 0 : x0;
        const int xe = x0 + fw > w ? w : x0 + fw;
        int ch = 0;
        for (; ch + 4 <= c; ch += 4) {
          v128_t best = wasm_f32x4_splat(-__builtin_inff());
          v128_t at = wasm_i32x4_splat(-1);
          for (int yy = ys; yy < ye; yy++) {
            for (int xx = xs; xx < xe; xx++) {
              const int idx = xb + yy * row + xx * c + ch;
              const v128_t v = wasm_v128_load(x + idx);
              const v128_t more = wasm_f32x4_gt(v, best);
              best = wasm_v128_bitselect(v, best, more);
              at = wasm_v128_bitselect(wasm_i32x4_add(wasm_i32x4_splat(idx), lanes), at, more);
            }
          }
          const int a0 = wasm_i32x4_extract_lane(at, 0), a1 = wasm_i32x4_extract_lane(at, 1);
          const int a2 = wasm_i32x4_extract_lane(at, 2), a3 = wasm_i32x4_extract_lane(at, 3);
          if (a0 >= 0) dx[a0] += dy[ch];
          if (a1 >= 0) dx[a1] += dy[ch + 1];
          if (a2 >= 0) dx[a2] += dy[ch + 2];
          if (a3 >= 0) dx[a3] += dy[ch + 3];
        }
        for (; ch < c; ch++) {
          float best = -__builtin_inff();
          int at = -1;
          for (int yy = ys; yy < ye; yy++) {
            int idx = xb + yy * row + xs * c + ch;
            for (int xx = xs; xx < xe; xx++, idx += c) {
              if (x[idx] > best) {
                best = x[idx];
                at = idx;
              }
            }
          }
          if (at >= 0) dx[at] += dy[ch];
        }
      }
    }
  }
}

// out[b, a, :] = x[a, b, :] for x of shape [A, B, blk]: swaps the two outer axes of contiguous blocks.
EXPORT(swap_outer)
void swap_outer(const float* restrict x, float* restrict out, int a_size, int b_size, int blk) {
  for (int a = 0; a < a_size; a++)
    for (int b = 0; b < b_size; b++) {
      const float* src = x + (a * b_size + b) * blk;
      float* dst = out + (b * a_size + a) * blk;
      for (int k = 0; k < blk; k++) dst[k] = src[k];
    }
}

// Conv2DBackpropFilter for small patches (the first layer), without im2col or transposes:
// dw[i, j, ci, o] = sum over (n, oy, ox) of x[n, oy*sh+i-top, ox*sw+j-left, ci] * dy[n, oy, ox, o].
// dw ([kh*kw*c, cout], zeroed first) stays in L1 while dy streams through once. Four output positions
// per pass share each load and store of a dw row; positions past the end (and taps in the padding)
// get weight 0. The summation order is fixed.
EXPORT(filter_grad_direct)
void filter_grad_direct(const float* x, const float* dy, float* dw, int batch, int h, int w, int c, int ho,
                        int wo, int kh, int kw, int sh, int sw, int top, int left, int cout) {
  const int k = kh * kw * c;
  zero(dw, k * cout);
  const int positions = batch * ho * wo;
  for (int p = 0; p < positions; p += 4) {
    const float* rows[4];
    int base[4], y0[4], x0[4];
    for (int q = 0; q < 4; q++) {
      const int pq = p + q < positions ? p + q : p;
      const int n = pq / (ho * wo), r = pq % (ho * wo);
      rows[q] = dy + pq * cout;
      base[q] = p + q < positions ? n * h : -1; // -1: a padding position, weight 0
      y0[q] = (r / wo) * sh - top;
      x0[q] = (r % wo) * sw - left;
    }
    for (int i = 0; i < kh; i++) {
      for (int j = 0; j < kw; j++) {
        const float* src[4];
        for (int q = 0; q < 4; q++) {
          const int y = y0[q] + i, xx = x0[q] + j;
          src[q] = base[q] >= 0 && y >= 0 && y < h && xx >= 0 && xx < w ? x + ((base[q] + y) * w + xx) * c : 0;
        }
        for (int ci = 0; ci < c; ci++) {
          const float s0 = src[0] ? src[0][ci] : 0.0f, s1 = src[1] ? src[1][ci] : 0.0f;
          const float s2 = src[2] ? src[2][ci] : 0.0f, s3 = src[3] ? src[3][ci] : 0.0f;
          float* acc = dw + ((i * kw + j) * c + ci) * cout;
          const v128_t v0 = wasm_f32x4_splat(s0), v1 = wasm_f32x4_splat(s1);
          const v128_t v2 = wasm_f32x4_splat(s2), v3 = wasm_f32x4_splat(s3);
          int o = 0;
          for (; o + 4 <= cout; o += 4) {
            v128_t a = wasm_v128_load(acc + o);
            a = wasm_f32x4_add(a, wasm_f32x4_mul(v0, wasm_v128_load(rows[0] + o)));
            a = wasm_f32x4_add(a, wasm_f32x4_mul(v1, wasm_v128_load(rows[1] + o)));
            a = wasm_f32x4_add(a, wasm_f32x4_mul(v2, wasm_v128_load(rows[2] + o)));
            a = wasm_f32x4_add(a, wasm_f32x4_mul(v3, wasm_v128_load(rows[3] + o)));
            wasm_v128_store(acc + o, a);
          }
          for (; o < cout; o++)
            acc[o] += s0 * rows[0][o] + s1 * rows[1][o] + s2 * rows[2][o] + s3 * rows[3][o];
        }
      }
    }
  }
}

// BatchNorm in training, x of [rows, c] (channels last): the batch moments, as TF.js's moments()
// computes them (mean first, then the mean of squared differences; float32 sums in row order).
EXPORT(bn_moments)
void bn_moments(const float* x, float* mean, float* var, int rows, int c) {
  zero(mean, c);
  zero(var, c);
  for (int r = 0; r < rows; r++) add_row(mean, x + r * c, c);
  const float inv_rows = 1.0f / (float)rows;
  for (int ch = 0; ch < c; ch++) mean[ch] *= inv_rows;
  for (int r = 0; r < rows; r++) {
    const float* row = x + r * c;
    int ch = 0;
    for (; ch + 4 <= c; ch += 4) {
      const v128_t d = wasm_f32x4_sub(wasm_v128_load(row + ch), wasm_v128_load(mean + ch));
      wasm_v128_store(var + ch, wasm_f32x4_add(wasm_v128_load(var + ch), wasm_f32x4_mul(d, d)));
    }
    for (; ch < c; ch++) {
      const float d = row[ch] - mean[ch];
      var[ch] += d * d;
    }
  }
  for (int ch = 0; ch < c; ch++) var[ch] *= inv_rows;
}

// y = (x - mean) * gamma / sqrt(var + eps) + beta. `scale` ([c], caller's scratch) receives
// gamma / sqrt(var + eps).
EXPORT(bn_forward)
void bn_forward(const float* x, const float* mean, const float* var, const float* gamma, const float* beta,
                float* scale, float* y, int rows, int c, float eps) {
  for (int ch = 0; ch < c; ch++) scale[ch] = gamma[ch] / __builtin_sqrtf(var[ch] + eps);
  for (int r = 0; r < rows; r++) {
    const float* xr = x + r * c;
    float* yr = y + r * c;
    int ch = 0;
    for (; ch + 4 <= c; ch += 4) {
      const v128_t d = wasm_f32x4_sub(wasm_v128_load(xr + ch), wasm_v128_load(mean + ch));
      wasm_v128_store(yr + ch, wasm_f32x4_add(wasm_f32x4_mul(d, wasm_v128_load(scale + ch)),
                                              wasm_v128_load(beta + ch)));
    }
    for (; ch < c; ch++) yr[ch] = (xr[ch] - mean[ch]) * scale[ch] + beta[ch];
  }
}

// The gradient of bn_forward with the batch moments differentiated through (the usual closed form):
// dbeta = sum dy, dgamma = sum dy * xhat, dx = gamma * istd * (dy - dbeta/N - xhat * dgamma/N), with
// xhat = (x - mean) * istd and istd = 1 / sqrt(var + eps). `k` ([2c], scratch) holds per-channel
// factors. Two passes over the data.
EXPORT(bn_backward)
void bn_backward(const float* dy, const float* x, const float* mean, const float* var, const float* gamma,
                 float* dx, float* dgamma, float* dbeta, float* k, int rows, int c, float eps) {
  zero(dgamma, c);
  zero(dbeta, c);
  // Pass 1: dbeta = sum dy, dgamma (for now) = sum dy * (x - mean).
  for (int r = 0; r < rows; r++) {
    const float* g = dy + r * c;
    const float* xr = x + r * c;
    int ch = 0;
    for (; ch + 4 <= c; ch += 4) {
      const v128_t d = wasm_v128_load(g + ch);
      const v128_t xm = wasm_f32x4_sub(wasm_v128_load(xr + ch), wasm_v128_load(mean + ch));
      wasm_v128_store(dbeta + ch, wasm_f32x4_add(wasm_v128_load(dbeta + ch), d));
      wasm_v128_store(dgamma + ch, wasm_f32x4_add(wasm_v128_load(dgamma + ch), wasm_f32x4_mul(d, xm)));
    }
    for (; ch < c; ch++) {
      dbeta[ch] += g[ch];
      dgamma[ch] += g[ch] * (xr[ch] - mean[ch]);
    }
  }
  // dx = a * dy - b * (x - mean) - a * dbeta / N, with a = gamma * istd, b = a * istd^2 * dgamma_raw / N.
  float* a = k;
  float* b = k + c;
  const float inv_rows = 1.0f / (float)rows;
  for (int ch = 0; ch < c; ch++) {
    const float istd = 1.0f / __builtin_sqrtf(var[ch] + eps);
    a[ch] = gamma[ch] * istd;
    b[ch] = a[ch] * istd * istd * dgamma[ch] * inv_rows;
    dgamma[ch] *= istd;
  }
  for (int r = 0; r < rows; r++) {
    const float* g = dy + r * c;
    const float* xr = x + r * c;
    float* o = dx + r * c;
    int ch = 0;
    for (; ch + 4 <= c; ch += 4) {
      const v128_t av = wasm_v128_load(a + ch);
      const v128_t centred = wasm_f32x4_sub(wasm_v128_load(g + ch),
                                            wasm_f32x4_mul(wasm_v128_load(dbeta + ch), wasm_f32x4_splat(inv_rows)));
      const v128_t xm = wasm_f32x4_sub(wasm_v128_load(xr + ch), wasm_v128_load(mean + ch));
      wasm_v128_store(o + ch, wasm_f32x4_sub(wasm_f32x4_mul(av, centred), wasm_f32x4_mul(wasm_v128_load(b + ch), xm)));
    }
    for (; ch < c; ch++) o[ch] = a[ch] * (g[ch] - dbeta[ch] * inv_rows) - b[ch] * (xr[ch] - mean[ch]);
  }
}
