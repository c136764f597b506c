/*
 * malloc_trim(0) for Node: hands the pages of freed malloc memory back to the operating system,
 * in the middle of the heap too (free() alone gives back only what is free at the top of it).
 * Called by walrelay's idle memory release after its memory-reducing collection
 * (packages/core/src/idle-memory.ts). glibc only: elsewhere `trim` reports that it cannot.
 */
#include <stdlib.h>
#include <node_api.h>
#if defined(__GLIBC__)
#include <malloc.h>

/* trim(): true when pages were handed back, false when there were none. */
static napi_value Trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  if (napi_get_boolean(env, malloc_trim(0) == 1, &result) != napi_ok) return NULL;
  return result;
}
#endif

/* Exports `trim` with glibc; nothing with another C library (the loader says why). */
NAPI_MODULE_INIT() {
#if defined(__GLIBC__)
  napi_value fn;
  if (napi_create_function(env, "trim", NAPI_AUTO_LENGTH, Trim, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "trim", fn) != napi_ok) return NULL;
#endif
  return exports;
}
