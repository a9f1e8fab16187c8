// One datagram to systemd's notify socket ($NOTIFY_SOCKET), the sd_notify(3)
// protocol: READY=1 once Baton serves, RELOADING=1 / READY=1 around a
// reload, STOPPING=1 on the way out.
//
// Why this file exists: the protocol needs an AF_UNIX SOCK_DGRAM socket, and
// Node has unix stream sockets only; the npm packages that add datagram
// sockets are unmaintained native addons. This is the smallest addon that
// sends one message: socket, sendto, close.
//
// Invariants:
// - send(path, message) opens a fresh SOCK_CLOEXEC socket per message and
//   closes it on every path, so no descriptor outlives the call.
// - A path starting with '@' names the abstract namespace (leading NUL), as
//   systemd documents for $NOTIFY_SOCKET.
// - Every failure throws an Error whose `code` is the errno name (or EINVAL
//   for bad arguments); a short send is an error, never silently accepted.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static napi_value throw_errno(napi_env env, int err, const char* what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  const char* code = err == ENOENT         ? "ENOENT"
                     : err == ECONNREFUSED ? "ECONNREFUSED"
                     : err == EACCES       ? "EACCES"
                     : err == EPERM        ? "EPERM"
                     : err == EAGAIN       ? "EAGAIN"
                     : err == EMFILE       ? "EMFILE"
                     : err == EMSGSIZE     ? "EMSGSIZE"
                     : err == ENOBUFS      ? "ENOBUFS"
                                           : "EIO";
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value type_error(napi_env env, const char* msg) {
  napi_throw_type_error(env, "EINVAL", msg);
  return NULL;
}

// send(path: string, message: string) -> undefined
static napi_value send_message(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    return type_error(env, "send(path, message): two strings expected");
  }
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t path_len = 0;
  // sun_path holds at most sizeof - 1 bytes plus the NUL napi writes.
  if (napi_get_value_string_utf8(env, argv[0], addr.sun_path, sizeof addr.sun_path, &path_len) != napi_ok) {
    return type_error(env, "send(path, message): path must be a string");
  }
  if (path_len == 0 || path_len >= sizeof addr.sun_path - 1) {
    return type_error(env, "send(path, message): path must be 1-106 bytes");
  }
  if (addr.sun_path[0] != '/' && addr.sun_path[0] != '@') {
    return type_error(env, "send(path, message): path must be absolute or start with @");
  }
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + (addr.sun_path[0] == '\0' ? 0 : 1));

  char message[4096];
  size_t message_len = 0;
  if (napi_get_value_string_utf8(env, argv[1], message, sizeof message, &message_len) != napi_ok) {
    return type_error(env, "send(path, message): message must be a string");
  }
  if (message_len == 0 || message_len >= sizeof message - 1) {
    return type_error(env, "send(path, message): message must be 1-4094 bytes");
  }

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  ssize_t sent;
  do {
    sent = sendto(fd, message, message_len, MSG_NOSIGNAL, (const struct sockaddr*)&addr, addr_len);
  } while (sent < 0 && errno == EINTR);
  int err = errno;
  if (close(fd) != 0 && sent >= 0) return throw_errno(env, errno, "close");
  if (sent < 0) return throw_errno(env, err, "sendto");
  if ((size_t)sent != message_len) return throw_errno(env, EMSGSIZE, "sendto (short send)");
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "send", NAPI_AUTO_LENGTH, send_message, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "send", fn) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
