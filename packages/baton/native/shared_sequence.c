// Counters in memory shared by the daemon and its data-plane workers, so that
// round robin keeps one sequence per service across every worker process
// (four backends and 400 clients give 100 each, whichever worker accepts).
//
// Why this file exists: Node offers shared memory only between threads
// (SharedArrayBuffer), not between processes, and no maintained npm package
// offers an anonymous shared mapping that can be handed to a forked child.
// So this is the smallest addon that does: memfd_create + ftruncate in the
// primary, the descriptor passed to each worker as an extra stdio entry, mmap
// there, and an atomic fetch-and-add on one 32-bit slot.
//
// Invariants:
// - create() returns a descriptor with FD_CLOEXEC set: it reaches a worker
//   only through the explicit stdio mapping (libuv dup2()s it, which clears
//   the flag on the copy), never through an unrelated exec.
// - map() keeps the mapping alive as long as the returned ArrayBuffer is
//   reachable; the finalizer unmaps it.
// - next() is a sequentially consistent fetch-and-add; it wraps at 2^32,
//   which keeps round robin fair for any cycle length that divides 2^32 and
//   costs at most one uneven pick per 4 billion otherwise.
// - Every failure throws an Error whose `code` is the errno name.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static napi_value throw_errno(napi_env env, int err, const char* what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  const char* code = err == EBADF ? "EBADF" : err == ENOMEM ? "ENOMEM" : err == EINVAL ? "EINVAL" : err == EMFILE ? "EMFILE" : "EIO";
  napi_throw_error(env, code, msg);
  return NULL;
}

static int get_u32(napi_env env, napi_value v, uint32_t* out) {
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

// create(bytes) -> fd
static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t bytes;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || !get_u32(env, argv[0], &bytes) || bytes == 0) {
    napi_throw_type_error(env, "EINVAL", "create(bytes): bytes must be a positive integer");
    return NULL;
  }
  int fd = memfd_create("baton-sequences", MFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "memfd_create");
  if (ftruncate(fd, bytes) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "ftruncate");
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

static void unmap(napi_env env, void* data, void* hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

// map(fd, bytes) -> ArrayBuffer over the shared pages
static napi_value map(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t fd, bytes;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || !get_u32(env, argv[0], &fd) || !get_u32(env, argv[1], &bytes) || bytes == 0) {
    napi_throw_type_error(env, "EINVAL", "map(fd, bytes): fd and bytes must be non-negative integers");
    return NULL;
  }
  void* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
  if (p == MAP_FAILED) return throw_errno(env, errno, "mmap");
  napi_value result;
  if (napi_create_external_arraybuffer(env, p, bytes, unmap, (void*)(uintptr_t)bytes, &result) != napi_ok) {
    munmap(p, bytes);
    napi_throw_error(env, "EIO", "cannot wrap the shared mapping");
    return NULL;
  }
  return result;
}

// next(buffer, slot) -> the slot's value before the increment
static napi_value next(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t slot;
  void* data;
  size_t length;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2 || napi_get_arraybuffer_info(env, argv[0], &data, &length) != napi_ok || !get_u32(env, argv[1], &slot) ||
      ((size_t)slot + 1) * sizeof(uint32_t) > length) {
    napi_throw_range_error(env, "EINVAL", "next(buffer, slot): slot out of range");
    return NULL;
  }
  uint32_t before = __atomic_fetch_add((uint32_t*)data + slot, 1u, __ATOMIC_SEQ_CST);
  napi_value result;
  napi_create_uint32(env, before, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"create", NULL, create, NULL, NULL, NULL, napi_default, NULL},
      {"map", NULL, map, NULL, NULL, NULL, napi_default, NULL},
      {"next", NULL, next, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
