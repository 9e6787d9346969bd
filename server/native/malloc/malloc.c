/*
 * glibc malloc tuning for the server (server/malloc.ts): three calls, nothing else.
 *   setMmapThreshold(bytes) -> mallopt(M_MMAP_THRESHOLD, bytes); true when glibc took it
 *   trim()                  -> malloc_trim(0); true when memory went back to the system
 *   stats()                 -> mallinfo2(): { heapBytes, inUseBytes, freeBytes, mmappedBytes, mmappedChunks }
 * Elsewhere (musl, macOS, Windows) the first two answer false and change nothing; stats() answers null.
 */
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

static napi_value answer(napi_env env, bool ok) {
  napi_value v;
  napi_get_boolean(env, ok, &v);
  return v;
}

static napi_value set_mmap_threshold(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t bytes = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int64(env, argv[0], &bytes) != napi_ok || bytes < 4096 || bytes > 32 * 1024 * 1024) {
    napi_throw_range_error(env, NULL, "mmap threshold must be an integer from 4096 to 33554432 bytes");
    return NULL;
  }
#if defined(__GLIBC__)
  return answer(env, mallopt(M_MMAP_THRESHOLD, (int)bytes) == 1);
#else
  return answer(env, false);
#endif
}

static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
#if defined(__GLIBC__)
  return answer(env, malloc_trim(0) == 1);
#else
  return answer(env, false);
#endif
}

static void set_number(napi_env env, napi_value obj, const char *name, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, name, n);
}

static napi_value stats(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value obj;
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 33)
  struct mallinfo2 m = mallinfo2();
  napi_create_object(env, &obj);
  set_number(env, obj, "heapBytes", (double)m.arena);
  set_number(env, obj, "inUseBytes", (double)m.uordblks);
  set_number(env, obj, "freeBytes", (double)m.fordblks);
  set_number(env, obj, "mmappedBytes", (double)m.hblkhd);
  set_number(env, obj, "mmappedChunks", (double)m.hblks);
#else
  napi_get_null(env, &obj);
#endif
  return obj;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "setMmapThreshold", NULL, set_mmap_threshold, NULL, NULL, NULL, napi_enumerable, NULL },
    { "trim", NULL, trim, NULL, NULL, NULL, napi_enumerable, NULL },
    { "stats", NULL, stats, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
