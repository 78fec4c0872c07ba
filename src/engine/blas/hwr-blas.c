/*
 * hwr-blas: single-precision GEMM from the system's OpenBLAS, on the wasm backend's heap.
 *
 * XNNPACK's wasm GEMM runs on 128-bit SIMD without FMA (~15-23 GMAC/s on 2 threads here); OpenBLAS
 * uses the CPU's AVX2/FMA (~75). The library is opened at run time (dlopen), so this addon builds
 * without BLAS headers and loads everywhere; when no OpenBLAS is installed, load() says why and hwr
 * keeps XNNPACK's GEMM. Operands are byte offsets into one Float32Array-viewable buffer (the wasm
 * memory), so no tensor is copied.
 */
#define NAPI_VERSION 8
#include <dlfcn.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112 };
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                         float, float*, int);
typedef void (*set_threads_fn)(int);
typedef char* (*config_fn)(void);

static sgemm_fn sgemm;
static set_threads_fn set_threads;
static config_fn get_config;

static napi_value throw_error(napi_env env, const char* message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

#define CHECK(call)                                        \
  do {                                                     \
    if ((call) != napi_ok) return throw_error(env, #call); \
  } while (0)

/* load(path) -> config string; throws with dlerror() when the library or its symbols are missing. */
static napi_value load(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096];
  size_t len = 0;
  CHECK(napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len));
  void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) return throw_error(env, dlerror());
  sgemm_fn f = (sgemm_fn)dlsym(lib, "cblas_sgemm");
  if (!f) {
    char message[4200];
    snprintf(message, sizeof message, "%s has no cblas_sgemm", path);
    dlclose(lib);
    return throw_error(env, message);
  }
  sgemm = f;
  set_threads = (set_threads_fn)dlsym(lib, "openblas_set_num_threads");
  get_config = (config_fn)dlsym(lib, "openblas_get_config");
  napi_value out;
  CHECK(napi_create_string_utf8(env, get_config ? get_config() : path, NAPI_AUTO_LENGTH, &out));
  return out;
}

static napi_value threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t n = 1;
  CHECK(napi_get_value_int32(env, argv[0], &n));
  if (set_threads && n > 0) set_threads(n);
  return NULL;
}

/*
 * sgemm(heap, transA, transB, M, N, K, a, lda, b, ldb, beta, c, ldc):
 * C[M,N] = op(A)·op(B) + beta·C, row-major, a/b/c byte offsets into heap (a Float32Array over the
 * whole memory). Bounds are checked: a bad offset throws instead of writing outside the heap.
 */
static napi_value gemm(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 13) return throw_error(env, "sgemm takes 13 arguments");
  if (!sgemm) return throw_error(env, "no BLAS loaded");
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value buffer;
  size_t offset;
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &offset));
  if (type != napi_float32_array) return throw_error(env, "heap must be a Float32Array");
  int32_t v[12];
  for (int i = 0; i < 12; i++) {
    if (i == 9) continue;
    CHECK(napi_get_value_int32(env, argv[i + 1], &v[i]));
  }
  double beta;
  CHECK(napi_get_value_double(env, argv[10], &beta));
  const int ta = v[0], tb = v[1], m = v[2], n = v[3], k = v[4];
  const int64_t a = v[5], lda = v[6], b = v[7], ldb = v[8], c = v[10], ldc = v[11];
  if (m <= 0 || n <= 0 || k <= 0 || a < 0 || b < 0 || c < 0 || (a | b | c) % 4 != 0)
    return throw_error(env, "sgemm: bad sizes or offsets");
  const int64_t bytes = (int64_t)length * 4;
  const int64_t a_end = a + 4 * ((int64_t)(ta ? k : m) - 1) * lda + 4 * (ta ? m : k);
  const int64_t b_end = b + 4 * ((int64_t)(tb ? n : k) - 1) * ldb + 4 * (tb ? k : n);
  const int64_t c_end = c + 4 * ((int64_t)m - 1) * ldc + 4 * (int64_t)n;
  if (a_end > bytes || b_end > bytes || c_end > bytes) return throw_error(env, "sgemm: operand past the heap");
  char* base = (char*)data;
  sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
        (const float*)(base + a), lda, (const float*)(base + b), ldb, (float)beta, (float*)(base + c), ldc);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"load", NULL, load, NULL, NULL, NULL, napi_default, NULL},
      {"threads", NULL, threads, NULL, NULL, NULL, napi_default, NULL},
      {"sgemm", NULL, gemm, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof *props, props) != napi_ok) return NULL;
  return exports;
}
