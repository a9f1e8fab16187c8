// Listening sockets: accept4 in a loop on readiness, a session per client.
//
// Invariants:
// - The engine owns the descriptor it was given: it is closed exactly once,
//   by listener_close.
// - At most ACCEPTS_PER_EVENT clients per readiness event, so one busy
//   listener cannot starve the relay.
// - Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): accepting
//   stops for RETRY_MS instead of spinning on a ready socket; the clients
//   wait in the kernel's queue, none is refused by us.
// - A listener closed from JavaScript during an accept event stops that loop;
//   its memory goes once both of its handles are closed.
#include "engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACCEPTS_PER_EVENT 64
#define RETRY_MS 100

static void on_readable(uv_poll_t *h, int status, int events);

static void on_retry(uv_timer_t *t) {
  listener_t *l = t->data;
  if (!l->closed && !l->paused) uv_poll_start(&l->poll, UV_READABLE, on_readable);
}

static void report_accept_error(listener_t *l, int err) {
  engine_t *e = l->e;
  if (e->shutting_down || !e->has_callbacks) return;
  napi_env env = e->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value code, msg, error, fn, global, result;
  char text[128];
  snprintf(text, sizeof text, "accept: %s", strerror(err));
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_get_reference_value(env, e->on_exception, &fn);
  napi_get_global(env, &global);
  if (napi_call_function(env, global, fn, 1, &error, &result) != napi_ok) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);
  }
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  listener_t *l = h->data;
  if (status < 0) return;  // a poll error on a listener: the next readiness retries
  // JavaScript may pause the listener (a client limit) or close it from the
  // accept callback: both end this loop before the next accept4.
  for (int i = 0; i < ACCEPTS_PER_EVENT && !l->closed && !l->paused; i++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      // The client gave up while queued, or a transient network error: next one.
      if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == ENETDOWN || err == ENOPROTOOPT || err == EHOSTDOWN ||
          err == ENONET || err == EHOSTUNREACH || err == EOPNOTSUPP || err == ENETUNREACH || err == EPERM)
        continue;
      uv_poll_stop(&l->poll);
      uv_timer_start(&l->retry, on_retry, RETRY_MS, 0);
      report_accept_error(l, err);
      return;
    }
    session_t *s = session_new(l->e, fd, (struct sockaddr *)&ss, len, l->id);
    if (!s) {
      close(fd);
      continue;
    }
    char addr[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
    else if (ss.ss_family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof addr);
    emit_accept(l->e, s, addr);
  }
}

listener_t *listener_new(engine_t *e, int fd, int *err) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    *err = errno;
    return NULL;
  }
  (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
  listener_t *l = calloc(1, sizeof *l);
  if (!l) {
    *err = ENOMEM;
    return NULL;
  }
  int rc = uv_poll_init(e->loop, &l->poll, fd);
  if (rc != 0) {
    free(l);
    *err = -rc;
    return NULL;
  }
  l->poll.data = l;
  l->e = e;
  l->fd = fd;
  l->id = ++e->next_listener_id;
  uv_timer_init(e->loop, &l->retry);
  l->retry.data = l;
  uv_unref((uv_handle_t *)&l->retry);
  l->next = e->listeners;
  e->listeners = l;
  uv_poll_start(&l->poll, UV_READABLE, on_readable);
  return l;
}

void listener_pause(listener_t *l, bool paused) {
  if (l->closed || l->paused == paused) return;
  l->paused = paused;
  if (paused) {
    uv_poll_stop(&l->poll);
    uv_timer_stop(&l->retry);
  } else {
    uv_poll_start(&l->poll, UV_READABLE, on_readable);
  }
}

listener_t *listener_find(engine_t *e, double id) {
  for (listener_t *l = e->listeners; l; l = l->next)
    if (l->id == id) return l;
  return NULL;
}

// Two handles close: the second close callback frees.
static void on_closed(uv_handle_t *h) {
  listener_t *l = h->data;
  if (l->fd == -2) free(l);
  else l->fd = -2;
}

void listener_close(listener_t *l) {
  if (l->closed) return;
  l->closed = true;
  for (listener_t **p = &l->e->listeners; *p; p = &(*p)->next) {
    if (*p == l) {
      *p = l->next;
      break;
    }
  }
  uv_poll_stop(&l->poll);
  uv_timer_stop(&l->retry);
  close(l->fd);
  l->fd = -1;
  uv_close((uv_handle_t *)&l->poll, on_closed);
  uv_close((uv_handle_t *)&l->retry, on_closed);
}
