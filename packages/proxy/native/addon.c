// N-API glue: the engine's JavaScript API and its per-session events.
//
// Invariants:
// - One engine per JavaScript environment, on that environment's libuv
//   loop (napi_get_uv_event_loop); every call and event is on that thread.
// - Events go through napi_make_callback, so promises and nextTicks queued
//   by a handler run right after it, as for any I/O callback.
// - No JavaScript exception unwinds through C or stops the loop: one left by
//   a handler is cleared, handed to the `exception` callback (itself guarded)
//   and closes that one session with reason "internal-error".
// - Bad arguments throw a TypeError and change nothing.
// - Teardown of the environment closes every socket without events.
#include "engine.h"
#include "fdpass.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)  // the shared relay buffer; a full read switches to splice
#define MAX_PIPES 1024        // maxpipes

const char *errno_name(int err) {
  const char *n = strerrorname_np(err);
  return n ? n : "EIO";
}

uint64_t engine_now(engine_t *e) { return uv_now(e->loop); }

// ---- events to JavaScript ------------------------------------------------------

static void report_exception(engine_t *e, napi_value exc, double sid) {
  napi_env env = e->env;
  napi_value fn, global, result, argv[2];
  argv[0] = exc;
  napi_create_double(env, sid, &argv[1]);
  napi_get_global(env, &global);
  if (napi_get_reference_value(env, e->on_exception, &fn) == napi_ok &&
      napi_call_function(env, global, fn, 2, argv, &result) == napi_ok)
    return;
  napi_value again;
  napi_get_and_clear_last_exception(env, &again);
  fprintf(stderr, "baton engine: an exception handler threw; session %.0f closed\n", sid);
}

// Calls a handler; false when it threw (the exception is cleared and reported).
static bool call(engine_t *e, napi_ref ref, size_t argc, napi_value *argv, double sid) {
  napi_env env = e->env;
  napi_value fn, global, result;
  napi_get_global(env, &global);
  napi_get_reference_value(env, ref, &fn);
  napi_status st = napi_make_callback(env, e->async, global, fn, argc, argv, &result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (st == napi_ok && !pending) return true;
  napi_value exc = NULL;
  if (pending) napi_get_and_clear_last_exception(env, &exc);
  if (!exc) napi_get_undefined(env, &exc);
  report_exception(e, exc, sid);
  return false;
}

static bool can_emit(engine_t *e) { return e->has_callbacks && !e->shutting_down; }

// Calls a handler that decides about a live session. The reference keeps the
// session alive through the call (the handler may close it); a handler that
// threw closes it, with `on_throw` as the detail.
static void deliver(engine_t *e, session_t *s, napi_ref fn, size_t argc, napi_value *argv, const char *on_throw) {
  session_ref(s);
  if (!call(e, fn, argc, argv, s->id)) session_close(s, "internal-error", on_throw, false);
  session_unref(s);
}

void emit_accept(engine_t *e, session_t *s, const char *addr) {
  if (!can_emit(e)) {
    session_close(s, "closed", "", true);
    return;
  }
  napi_env env = e->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[3];
  napi_create_double(env, s->id, &argv[0]);
  napi_create_double(env, s->listener_id, &argv[1]);
  napi_create_string_utf8(env, addr, NAPI_AUTO_LENGTH, &argv[2]);
  deliver(e, s, e->on_accept, 3, argv, "exception in accept handler");
  napi_close_handle_scope(env, scope);
}

void emit_connected(engine_t *e, session_t *s) {
  if (!can_emit(e)) return;
  napi_env env = e->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[1];
  napi_create_double(env, s->id, &argv[0]);
  deliver(e, s, e->on_connected, 1, argv, "exception in connect handler");
  napi_close_handle_scope(env, scope);
}

void emit_connect_failed(engine_t *e, session_t *s, bool timed_out, const char *detail) {
  if (!can_emit(e)) {
    session_close(s, "closed", "", true);
    return;
  }
  napi_env env = e->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[3];
  napi_create_double(env, s->id, &argv[0]);
  napi_get_boolean(env, timed_out, &argv[1]);
  napi_create_string_utf8(env, detail, NAPI_AUTO_LENGTH, &argv[2]);
  deliver(e, s, e->on_connect_failed, 3, argv, "exception in retry handler");
  napi_close_handle_scope(env, scope);
}

void emit_closed(engine_t *e, session_t *s, const char *reason, const char *detail) {
  if (!can_emit(e)) return;
  napi_env env = e->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[5];
  napi_create_double(env, s->id, &argv[0]);
  napi_create_double(env, (double)s->up.read, &argv[1]);
  napi_create_double(env, (double)s->down.written, &argv[2]);
  napi_create_string_utf8(env, reason, NAPI_AUTO_LENGTH, &argv[3]);
  napi_create_string_utf8(env, detail, NAPI_AUTO_LENGTH, &argv[4]);
  call(e, e->on_closed, 5, argv, s->id);
  napi_close_handle_scope(env, scope);
}

// ---- argument helpers --------------------------------------------------------------

#define ARGS(n)                                                 \
  size_t argc = n;                                              \
  napi_value argv[n];                                           \
  engine_t *e;                                                  \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);         \
  napi_get_instance_data(env, (void **)&e);                     \
  if (argc < n) return type_error(env, "missing arguments")

static napi_value type_error(napi_env env, const char *msg) {
  napi_throw_type_error(env, "EINVAL", msg);
  return NULL;
}

static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, errno_name(err), msg);
  return NULL;
}

static bool get_double(napi_env env, napi_value v, double *out) { return napi_get_value_double(env, v, out) == napi_ok; }

static bool get_int(napi_env env, napi_value v, int64_t lo, int64_t hi, int64_t *out) {
  double d;
  if (!get_double(env, v, &d) || d != d || d < (double)lo || d > (double)hi || d != (double)(int64_t)d) return false;
  *out = (int64_t)d;
  return true;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value number(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

// ---- API -----------------------------------------------------------------------------

// init({accept, connected, connectFailed, closed, exception})
static napi_value js_init(napi_env env, napi_callback_info info) {
  ARGS(1);
  const char *names[5] = {"accept", "connected", "connectFailed", "closed", "exception"};
  napi_value fns[5];
  for (int i = 0; i < 5; i++) {
    napi_valuetype t;
    if (napi_get_named_property(env, argv[0], names[i], &fns[i]) != napi_ok || napi_typeof(env, fns[i], &t) != napi_ok ||
        t != napi_function)
      return type_error(env, "init: every callback must be a function");
  }
  napi_ref *refs[5] = {&e->on_accept, &e->on_connected, &e->on_connect_failed, &e->on_closed, &e->on_exception};
  for (int i = 0; i < 5; i++) {
    if (e->has_callbacks) napi_delete_reference(env, *refs[i]);
    napi_create_reference(env, fns[i], 1, refs[i]);
  }
  e->has_callbacks = true;
  return undefined(env);
}

// bind(host, port, backlog) -> fd of a listening socket
static napi_value js_bind(napi_env env, napi_callback_info info) {
  ARGS(3);
  (void)e;
  char host[INET6_ADDRSTRLEN + 1];
  size_t len;
  int64_t port, backlog;
  if (napi_get_value_string_utf8(env, argv[0], host, sizeof host, &len) != napi_ok || !get_int(env, argv[1], 0, 65535, &port) ||
      !get_int(env, argv[2], 1, 65535, &backlog))
    return type_error(env, "bind(host, port, backlog): an IP address, a port and a backlog");
  int err = 0;
  int fd = fd_bind_listen(host, (int)port, (int)backlog, &err);
  if (fd < 0) {
    char what[128];
    snprintf(what, sizeof what, "listen %s:%d", host, (int)port);
    return throw_errno(env, err, what);
  }
  return number(env, fd);
}

// listen(fd) -> listener id; the engine owns fd from now on
static napi_value js_listen(napi_env env, napi_callback_info info) {
  ARGS(1);
  int64_t fd;
  if (!get_int(env, argv[0], 0, 1 << 30, &fd)) return type_error(env, "listen(fd): a descriptor");
  int err = 0;
  listener_t *l = listener_new(e, (int)fd, &err);
  if (!l) return throw_errno(env, err, "listen");
  return number(env, l->id);
}

static napi_value js_close_listener(napi_env env, napi_callback_info info) {
  ARGS(1);
  double id;
  if (!get_double(env, argv[0], &id)) return type_error(env, "closeListener(id)");
  listener_t *l = listener_find(e, id);
  if (l) listener_close(l);
  napi_value r;
  napi_get_boolean(env, l != NULL, &r);
  return r;
}

static napi_value js_pause_accept(napi_env env, napi_callback_info info) {
  ARGS(2);
  double id;
  bool paused;
  if (!get_double(env, argv[0], &id) || napi_get_value_bool(env, argv[1], &paused) != napi_ok)
    return type_error(env, "pauseAccept(id, paused)");
  listener_t *l = listener_find(e, id);
  if (l) listener_pause(l, paused);
  return undefined(env);
}

static napi_value js_local_port(napi_env env, napi_callback_info info) {
  ARGS(1);
  (void)e;
  int64_t fd;
  if (!get_int(env, argv[0], 0, 1 << 30, &fd)) return type_error(env, "localPort(fd)");
  int port = fd_local_port((int)fd);
  if (port < 0) return throw_errno(env, errno, "getsockname");
  return number(env, port);
}

// connect(sid, ip, port, connectMs, idleMs, proxyVersion) -> undefined, or the errno name of an immediate failure
static napi_value js_connect(napi_env env, napi_callback_info info) {
  ARGS(6);
  double sid;
  char ip[INET6_ADDRSTRLEN + 1];
  size_t len;
  int64_t port, cms, ims, proxy;
  if (!get_double(env, argv[0], &sid) || napi_get_value_string_utf8(env, argv[1], ip, sizeof ip, &len) != napi_ok ||
      !get_int(env, argv[2], 1, 65535, &port) || !get_int(env, argv[3], 0, UINT32_MAX, &cms) ||
      !get_int(env, argv[4], 0, UINT32_MAX, &ims) || !get_int(env, argv[5], 0, 2, &proxy))
    return type_error(env, "connect(session, ip, port, connectMs, idleMs, proxyVersion)");
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t sl;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    sl = sizeof *a4;
  } else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    sl = sizeof *a6;
  } else {
    return type_error(env, "connect: not an IP address");
  }
  session_t *s = session_find(e, sid);
  if (!s) return type_error(env, "connect: no such session");
  int err = session_connect(s, (struct sockaddr *)&ss, sl, (uint32_t)cms, (uint32_t)ims, (int)proxy);
  if (!err) return undefined(env);
  napi_value code;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  return code;
}

// closeSession(sid, reason) -> true if it was open; its `closed` event is emitted before this returns
static napi_value js_close_session(napi_env env, napi_callback_info info) {
  ARGS(2);
  double sid;
  char reason[64];
  size_t len;
  if (!get_double(env, argv[0], &sid) || napi_get_value_string_utf8(env, argv[1], reason, sizeof reason, &len) != napi_ok)
    return type_error(env, "closeSession(session, reason)");
  session_t *s = session_find(e, sid);
  if (s) session_close(s, "closed", reason, false);
  napi_value r;
  napi_get_boolean(env, s != NULL, &r);
  return r;
}

// bytes(sid) -> [from client, to client], or undefined once closed
static napi_value js_bytes(napi_env env, napi_callback_info info) {
  ARGS(1);
  double sid;
  if (!get_double(env, argv[0], &sid)) return type_error(env, "bytes(session)");
  session_t *s = session_find(e, sid);
  if (!s) return undefined(env);
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, number(env, (double)s->up.read));
  napi_set_element(env, arr, 1, number(env, (double)s->down.written));
  return arr;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  engine_t *e;
  napi_get_cb_info(env, info, &argc, NULL, NULL, NULL);
  napi_get_instance_data(env, (void **)&e);
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "sessions", number(env, (double)e->sessions));
  napi_set_named_property(env, o, "pipesInUse", number(env, (double)e->pipes.in_use));
  napi_set_named_property(env, o, "pipesIdle", number(env, (double)e->pipes.idle_count));
  size_t n = 0;
  for (listener_t *l = e->listeners; l; l = l->next) n++;
  napi_set_named_property(env, o, "listeners", number(env, (double)n));
  return o;
}

static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  int err = fd_socketpair(fds);
  if (err) return throw_errno(env, err, "socketpair");
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, number(env, fds[0]));
  napi_set_element(env, arr, 1, number(env, fds[1]));
  return arr;
}

// sendFds(sock, [fd...])
static napi_value js_send_fds(napi_env env, napi_callback_info info) {
  ARGS(2);
  (void)e;
  int64_t sock;
  uint32_t n;
  bool is_array = false;
  napi_is_array(env, argv[1], &is_array);
  if (!get_int(env, argv[0], 0, 1 << 30, &sock) || !is_array || napi_get_array_length(env, argv[1], &n) != napi_ok || n == 0 ||
      n > FDPASS_MAX)
    return type_error(env, "sendFds(socket, descriptors): 1 to 64 descriptors");
  int fds[FDPASS_MAX];
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    int64_t fd;
    napi_get_element(env, argv[1], i, &v);
    if (!get_int(env, v, 0, 1 << 30, &fd)) return type_error(env, "sendFds: not a descriptor");
    fds[i] = (int)fd;
  }
  int err = fd_send((int)sock, fds, n);
  if (err) return throw_errno(env, err, "sendmsg");
  return undefined(env);
}

// recvFds(sock) -> [fd...]; throws EAGAIN when nothing is queued
static napi_value js_recv_fds(napi_env env, napi_callback_info info) {
  ARGS(1);
  (void)e;
  int64_t sock;
  if (!get_int(env, argv[0], 0, 1 << 30, &sock)) return type_error(env, "recvFds(socket)");
  int fds[FDPASS_MAX];
  size_t n = 0;
  int err = fd_recv((int)sock, fds, &n);
  if (err) return throw_errno(env, err, "recvmsg");
  napi_value arr;
  napi_create_array_with_length(env, n, &arr);
  for (size_t i = 0; i < n; i++) napi_set_element(env, arr, (uint32_t)i, number(env, fds[i]));
  return arr;
}

static napi_value js_close_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  (void)e;
  int64_t fd;
  if (!get_int(env, argv[0], 0, 1 << 30, &fd)) return type_error(env, "closeFd(fd)");
  close((int)fd);
  return undefined(env);
}

// dupFd(fd) -> a close-on-exec copy
static napi_value js_dup_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  (void)e;
  int64_t fd;
  if (!get_int(env, argv[0], 0, 1 << 30, &fd)) return type_error(env, "dupFd(fd)");
  int r = fcntl((int)fd, F_DUPFD_CLOEXEC, 3);
  if (r < 0) return throw_errno(env, errno, "dup");
  return number(env, r);
}

// proxyHeaderLocal(version) -> Buffer: what a health check sends first
static napi_value js_proxy_local(napi_env env, napi_callback_info info) {
  ARGS(1);
  (void)e;
  int64_t v;
  if (!get_int(env, argv[0], 1, 2, &v)) return type_error(env, "proxyHeaderLocal(1 | 2)");
  uint8_t h[PROXY_HEADER_MAX];
  size_t n = proxy_header_local((int)v, h);
  napi_value buf;
  void *data;
  napi_create_buffer_copy(env, n, h, &data, &buf);
  return buf;
}

// ---- lifetime --------------------------------------------------------------------------

static void teardown(void *arg) {
  engine_t *e = arg;
  e->shutting_down = true;
  while (e->listeners) listener_close(e->listeners);
  for (uint32_t i = 0; i < e->table_size; i++)
    if (e->table[i]) session_close(e->table[i], "closed", "", true);
  pipes_destroy(&e->pipes);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  engine_t *e = data;
  free(e->buf);
  free(e->table);
  free(e->free_slots);
  // `e` itself stays: handles closing during teardown may still point at it.
}

NAPI_MODULE_INIT() {
  engine_t *e = calloc(1, sizeof *e);
  uint8_t *buf = malloc(BUF_SIZE);
  if (!e || !buf) {
    free(e);
    free(buf);
    napi_throw_error(env, "ENOMEM", "relay engine: out of memory");
    return NULL;
  }
  e->env = env;
  e->buf = buf;
  e->buf_size = BUF_SIZE;
  napi_get_uv_event_loop(env, &e->loop);
  napi_value name;
  napi_create_string_utf8(env, "baton.relay", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &e->async);
  wheel_init(&e->wheel, e->loop, session_expire);
  pipes_init(&e->pipes, MAX_PIPES);
  napi_set_instance_data(env, e, finalize, NULL);
  napi_add_env_cleanup_hook(env, teardown, e);
  struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"init", js_init},
      {"bind", js_bind},
      {"listen", js_listen},
      {"closeListener", js_close_listener},
      {"pauseAccept", js_pause_accept},
      {"localPort", js_local_port},
      {"connect", js_connect},
      {"closeSession", js_close_session},
      {"bytes", js_bytes},
      {"stats", js_stats},
      {"socketpair", js_socketpair},
      {"sendFds", js_send_fds},
      {"recvFds", js_recv_fds},
      {"closeFd", js_close_fd},
      {"dupFd", js_dup_fd},
      {"proxyHeaderLocal", js_proxy_local},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  return exports;
}
