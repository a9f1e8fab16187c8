// Real-time scheduling and locked memory for the VRRP child process, as
// keepalived's vrrp_rt_priority and vrrp_no_swap: an advert must leave on
// time even when the data plane (or anything else) keeps every CPU busy,
// and no page the routers use may wait on swap.
//
// Why this file exists: Node has no API for sched_setscheduler(2) or
// mlockall(2), and the child must set them on itself (its own main thread,
// the one that runs the event loop and sends the adverts).
//
// Invariants:
// - Nothing here throws: every syscall failure is returned as a value
//   { ok: false, code: "EPERM", message } for the caller to log once.
// - setRealtime(p) with 1 <= p <= 99 gives the calling thread SCHED_RR at
//   priority p with SCHED_RESET_ON_FORK, so threads and processes it creates
//   later (libuv's pool, track and notify scripts) start with normal
//   scheduling; p == 0 puts it back to SCHED_OTHER.
// - lockMemory(true) is mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT):
//   pages are locked as they are touched, so the child's resident set stays
//   what it uses (Node maps far more than it touches) and none of it is ever
//   swapped out; kernels without MCL_ONFAULT (before 4.4) get the plain
//   form. lockMemory(false) is munlockall().
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

static const char* errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case ENOMEM: return "ENOMEM";
    case EAGAIN: return "EAGAIN";
    case ESRCH: return "ESRCH";
    case ENOSYS: return "ENOSYS";
    default: return "EIO";
  }
}

// { ok: true } or { ok: false, code, message }; NULL only if N-API itself fails.
static napi_value result(napi_env env, int err, const char* what) {
  napi_value out, ok;
  if (napi_create_object(env, &out) != napi_ok || napi_get_boolean(env, err == 0, &ok) != napi_ok ||
      napi_set_named_property(env, out, "ok", ok) != napi_ok) {
    return NULL;
  }
  if (err != 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
    napi_value code, message;
    if (napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code) != napi_ok ||
        napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok ||
        napi_set_named_property(env, out, "code", code) != napi_ok || napi_set_named_property(env, out, "message", message) != napi_ok) {
      return NULL;
    }
  }
  return out;
}

static napi_value set_realtime(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t priority = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &priority) != napi_ok ||
      priority < 0 || priority > 99) {
    return result(env, EINVAL, "setRealtime(priority 0-99)");
  }
  struct sched_param param;
  memset(&param, 0, sizeof param);
  param.sched_priority = priority;
  int policy = priority == 0 ? SCHED_OTHER : (SCHED_RR | SCHED_RESET_ON_FORK);
  int err = sched_setscheduler(0, policy, &param) == 0 ? 0 : errno;
  return result(env, err, priority == 0 ? "sched_setscheduler(SCHED_OTHER)" : "sched_setscheduler(SCHED_RR)");
}

static napi_value lock_memory(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool on = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_bool(env, argv[0], &on) != napi_ok) {
    return result(env, EINVAL, "lockMemory(boolean)");
  }
  if (!on) return result(env, munlockall() == 0 ? 0 : errno, "munlockall");
  int err = mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0 ? 0 : errno;
  if (err == EINVAL) err = mlockall(MCL_CURRENT | MCL_FUTURE) == 0 ? 0 : errno;
  return result(env, err, "mlockall");
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"setRealtime", NULL, set_realtime, NULL, NULL, NULL, napi_default, NULL},
      {"lockMemory", NULL, lock_memory, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
