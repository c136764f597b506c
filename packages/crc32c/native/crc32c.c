/*
 * CRC32C (Castagnoli) with the CPU's crc32 instruction (x86-64 SSE4.2): the checksum of every
 * Kafka record batch walrelay-source writes (packages/core/src/kafkajs-produce-request.ts).
 * 7-15 times the JavaScript slicing-by-8 it replaces (packages/crc32c/src/index.ts, which keeps
 * that one for CPUs and compilers without it: then this module exports nothing).
 */
#include <stdint.h>
#include <string.h>
#include <node_api.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(const uint8_t *p, size_t n) {
  uint64_t crc = 0xffffffffu;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    memcpy(&word, p, 8); /* unaligned load */
    crc = _mm_crc32_u64(crc, word);
  }
  uint32_t c = (uint32_t)crc;
  for (; n > 0; p++, n--) c = _mm_crc32_u8(c, *p);
  return c ^ 0xffffffffu;
}

/* crc32c(bytes: Uint8Array, start: number, end: number): number (unsigned 32-bit) */
static napi_value Crc32c(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  napi_typedarray_type type;
  size_t length;
  void *data;
  bool is_typedarray = false;
  if (argc < 3 || napi_is_typedarray(env, argv[0], &is_typedarray) != napi_ok || !is_typedarray ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "crc32c(bytes, start, end): bytes must be a Uint8Array (or Buffer)");
    return NULL;
  }
  uint32_t start, end;
  if (napi_get_value_uint32(env, argv[1], &start) != napi_ok || napi_get_value_uint32(env, argv[2], &end) != napi_ok || start > end || end > length) {
    napi_throw_range_error(env, NULL, "crc32c(bytes, start, end): needs 0 <= start <= end <= bytes.length");
    return NULL;
  }
  napi_value result;
  if (napi_create_uint32(env, crc32c_sse42((const uint8_t *)data + start, end - start), &result) != napi_ok) return NULL;
  return result;
}
#define WALRELAY_CRC32C_NATIVE 1
#endif

/* Exports `crc32c` on x86-64 CPUs with SSE4.2; nothing elsewhere (the loader says why). */
NAPI_MODULE_INIT() {
#if defined(WALRELAY_CRC32C_NATIVE)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) {
    napi_value fn;
    if (napi_create_function(env, "crc32c", NAPI_AUTO_LENGTH, Crc32c, NULL, &fn) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, "crc32c", fn) != napi_ok) return NULL;
  }
#endif
  return exports;
}
