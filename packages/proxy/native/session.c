// A session: one accepted client, the connect to the server JavaScript
// picked (again after each failure it reports), then the relay both ways.
//
// Invariants:
// - Nothing is read from the client before the server connection exists
//   (and its PROXY header, if any, is queued first): a retry needs no replay.
// - Bytes held for a direction (a partial send, or a pipe not yet emptied)
//   stop reads from that direction's source until they are delivered:
//   memory per session is bounded by the shared buffer size or one pipe.
// - Half-close: EOF from a side is passed on as shutdown(SHUT_WR) once every
//   byte before it is delivered; the session closes when both directions
//   are shut, or at the first error on either socket.
// - Every send uses MSG_NOSIGNAL: a peer that went away is an error value
//   (EPIPE), never a signal.
// - A session is freed only when its open reference and every side handle's
//   close callback are gone; a closed session is out of the id table at
//   once, so JavaScript can never reach it again.
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READS_PER_EVENT 16  // fairness: at most this many reads per readiness event
#define SLOT_BITS 24
#define SLOT_MASK ((1u << SLOT_BITS) - 1)

// ---- id table ----------------------------------------------------------------

static bool table_add(engine_t *e, session_t *s) {
  if (e->free_count == 0) {
    uint32_t size = e->table_size ? e->table_size * 2 : 1024;
    if (size > SLOT_MASK) return false;
    session_t **t = realloc(e->table, size * sizeof *t);
    if (!t) return false;
    e->table = t;
    uint32_t *f = realloc(e->free_slots, size * sizeof *f);
    if (!f) return false;
    e->free_slots = f;
    for (uint32_t i = size; i > e->table_size; i--) {
      t[i - 1] = NULL;
      f[e->free_count++] = i - 1;
    }
    e->table_size = size;
  }
  uint32_t slot = e->free_slots[--e->free_count];
  e->table[slot] = s;
  s->slot = slot;
  // Ids stay below 2^53 (exact as a JS number) and are not reused for 2^29 sessions per slot.
  e->generation = (e->generation + 1) & ((1u << 29) - 1);
  s->id = (double)(((uint64_t)e->generation << SLOT_BITS) | slot);
  return true;
}

static void table_remove(engine_t *e, session_t *s) {
  if (e->table[s->slot] != s) return;
  e->table[s->slot] = NULL;
  e->free_slots[e->free_count++] = s->slot;
}

session_t *session_find(engine_t *e, double id) {
  if (!(id >= 0)) return NULL;
  uint64_t v = (uint64_t)id;
  uint32_t slot = (uint32_t)(v & SLOT_MASK);
  if (slot >= e->table_size) return NULL;
  session_t *s = e->table[slot];
  return s && s->id == id ? s : NULL;
}

// ---- lifetime ------------------------------------------------------------------

void session_ref(session_t *s) { s->refs++; }

void session_unref(session_t *s) {
  if (--s->refs == 0) free(s);
}

static void on_side_closed(uv_handle_t *h) {
  side_t *sd = h->data;
  session_t *s = sd->s;
  free(sd);
  session_unref(s);
}

static side_t *side_new(session_t *s, int fd) {
  side_t *sd = calloc(1, sizeof *sd);
  if (!sd) return NULL;
  if (uv_poll_init(s->e->loop, &sd->poll, fd) != 0) {
    free(sd);
    return NULL;
  }
  sd->poll.data = sd;
  sd->s = s;
  sd->fd = fd;
  s->refs++;
  return sd;
}

// Stops polling first (libuv forbids closing a polled descriptor), closes the
// descriptor now, frees the handle once libuv is done with it.
static void side_close(side_t *sd) {
  uv_poll_stop(&sd->poll);
  close(sd->fd);
  sd->fd = -1;
  uv_close((uv_handle_t *)&sd->poll, on_side_closed);
}

static void nodelay(int fd) {
  int one = 1;
  // Best effort: a socket that refuses TCP_NODELAY still relays.
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

session_t *session_new(engine_t *e, int fd, const struct sockaddr *peer, socklen_t len, double listener_id) {
  session_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->e = e;
  s->refs = 1;
  s->state = S_PICKING;
  s->listener_id = listener_id;
  s->up.to_client = false;
  s->down.to_client = true;
  if (len > sizeof s->peer) len = sizeof s->peer;
  memcpy(&s->peer, peer, len);
  socklen_t llen = sizeof s->local;
  if (getsockname(fd, (struct sockaddr *)&s->local, &llen) != 0) s->local.ss_family = AF_UNSPEC;
  if (!table_add(e, s)) {
    free(s);
    return NULL;
  }
  s->client = side_new(s, fd);
  if (!s->client) {
    table_remove(e, s);
    free(s);
    return NULL;
  }
  nodelay(fd);
  s->last_active = engine_now(e);
  e->sessions++;
  return s;
}

// ---- helpers ---------------------------------------------------------------------

static inline bool held(const dir_t *d) { return d->pend_off < d->pend_len || d->in_pipe > 0; }
static inline int src_fd(session_t *s, dir_t *d) { return d->to_client ? s->server->fd : s->client->fd; }
static inline int dst_fd(session_t *s, dir_t *d) { return d->to_client ? s->client->fd : s->server->fd; }
static inline void activity(session_t *s) { s->last_active = engine_now(s->e); }

// An error on the socket a direction reads from (src) or writes to (!src).
static void fail(session_t *s, dir_t *d, bool src, int err) {
  bool client = d->to_client ? !src : src;
  session_close(s, client ? "client-error" : "server-error", errno_name(err), false);
}

static void drop_pend(dir_t *d) {
  free(d->pend);
  d->pend = NULL;
  d->pend_len = d->pend_off = 0;
}

// Holds `len` bytes the destination did not take; false when out of memory.
static bool hold(dir_t *d, const uint8_t *data, size_t len) {
  uint8_t *p = malloc(len);
  if (!p) return false;
  memcpy(p, data, len);
  free(d->pend);
  d->pend = p;
  d->pend_len = len;
  d->pend_off = 0;
  return true;
}

static void shut(session_t *s, dir_t *d) {
  // ENOTCONN (the peer already reset) is not an error here: the read side reports it.
  (void)shutdown(dst_fd(s, d), SHUT_WR);
  d->shut = true;
}

// Delivers what the direction holds; false when the session closed.
static bool flush(session_t *s, dir_t *d) {
  int to = dst_fd(s, d);
  bool wrote = false;
  while (d->pend_off < d->pend_len) {
    ssize_t w = send(to, d->pend + d->pend_off, d->pend_len - d->pend_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      d->pend_off += (size_t)w;
      d->written += (uint64_t)w;
      wrote = true;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    fail(s, d, false, w < 0 ? errno : EPIPE);
    return false;
  }
  if (d->pend && d->pend_off >= d->pend_len) drop_pend(d);
  while (d->in_pipe > 0) {
    ssize_t w = splice(d->pipe.rd, NULL, to, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (w > 0) {
      d->in_pipe -= (size_t)w;
      d->written += (uint64_t)w;
      wrote = true;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    fail(s, d, false, w < 0 ? errno : EPIPE);
    return false;
  }
  if (d->has_pipe && d->in_pipe == 0) {
    // Empty again: the pipe goes back to the pool; `splice` stays set so
    // the next read of a bulk transfer takes one again.
    pipes_put(&s->e->pipes, &d->pipe, false);
    d->has_pipe = false;
  }
  if (wrote) activity(s);
  if (!held(d) && d->eof && !d->shut) shut(s, d);
  return true;
}

// Reads from the direction's source and passes the bytes on; false when the session closed.
static bool pump(session_t *s, dir_t *d) {
  engine_t *e = s->e;
  int from = src_fd(s, d), to = dst_fd(s, d);
  for (int i = 0; i < READS_PER_EVENT && !held(d) && !d->eof; i++) {
    if (d->splice && !d->has_pipe) {
      if (pipes_get(&e->pipes, &d->pipe)) d->has_pipe = true;
      else d->splice = false;  // pool exhausted: the shared buffer instead
    }
    if (d->has_pipe) {
      ssize_t r = splice(from, NULL, d->pipe.wr, NULL, PIPE_BYTES, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (r > 0) {
        d->in_pipe += (size_t)r;
        d->read += (uint64_t)r;
        activity(s);
        if (!flush(s, d)) return false;
        if ((size_t)r < PIPE_BYTES) break;  // drained (see the short-read note below)
        continue;
      }
      if (r == 0) {
        d->eof = true;
        break;
      }
      if (errno == EINTR) continue;
      // The pipe is empty here (nothing held): give it back.
      pipes_put(&e->pipes, &d->pipe, false);
      d->has_pipe = false;
      d->splice = false;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINVAL || errno == ENOSYS) continue;  // no splice for this socket: the buffer path
      fail(s, d, true, errno);
      return false;
    }
    ssize_t r = recv(from, e->buf, e->buf_size, 0);
    if (r > 0) {
      d->read += (uint64_t)r;
      activity(s);
      d->splice = (size_t)r == e->buf_size && e->pipes.max > 0;
      ssize_t w = send(to, e->buf, (size_t)r, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          fail(s, d, false, errno);
          return false;
        }
        w = 0;
      }
      d->written += (uint64_t)w;
      if (w < r && !hold(d, e->buf + w, (size_t)(r - w))) {
        session_close(s, "internal-error", "ENOMEM", false);
        return false;
      }
      // A short read means the socket's queue was emptied: the next recv
      // would only say EAGAIN (one wasted syscall per message, a third of
      // the relay's syscalls on request/response traffic). The poll is
      // level-triggered, so bytes or an EOF that arrive later wake it again.
      if ((size_t)r < e->buf_size) break;
      continue;
    }
    if (r == 0) {
      d->eof = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    fail(s, d, true, errno);
    return false;
  }
  if (d->eof && !held(d) && !d->shut) shut(s, d);
  return true;
}

// Events a side's poll needs: read while its direction holds nothing and saw
// no EOF; write while the direction towards it holds bytes.
static int wanted(session_t *s, side_t *sd) {
  bool client = sd == s->client;
  dir_t *in = client ? &s->up : &s->down;
  dir_t *out = client ? &s->down : &s->up;
  int ev = 0;
  if (!in->eof && !held(in)) ev |= UV_READABLE;
  if (held(out)) ev |= UV_WRITABLE;
  return ev;
}

static void on_poll(uv_poll_t *h, int status, int events);

static void set_events(side_t *sd, int ev) {
  if (ev == sd->events) return;
  sd->events = ev;
  if (ev == 0) uv_poll_stop(&sd->poll);
  else uv_poll_start(&sd->poll, ev, on_poll);
}

// Applies the relay's wishes to both polls; closes the session when both directions are done.
static void update(session_t *s) {
  if (s->state != S_RELAY) return;
  if (s->up.shut && s->down.shut) {
    session_close(s, "done", "", false);
    return;
  }
  set_events(s->client, wanted(s, s->client));
  set_events(s->server, wanted(s, s->server));
}

// ---- connect ----------------------------------------------------------------------

int session_connect(session_t *s, const struct sockaddr *to, socklen_t len, uint32_t connect_ms, uint32_t idle_ms, int proxy) {
  if (s->state != S_PICKING) return EINVAL;
  int fd = socket(to->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  nodelay(fd);
  if (connect(fd, to, len) != 0 && errno != EINPROGRESS) {
    int err = errno;
    close(fd);
    return err;
  }
  side_t *sd = side_new(s, fd);
  if (!sd) {
    close(fd);
    return ENOMEM;
  }
  s->server = sd;
  s->idle_ms = idle_ms;
  s->proxy = proxy;
  s->state = S_CONNECTING;
  // Writable means the connect finished, either way (SO_ERROR tells which).
  set_events(sd, UV_WRITABLE);
  if (connect_ms > 0) {
    s->connect_due = engine_now(s->e) + connect_ms;
    wheel_add(&s->e->wheel, &s->timer, s->connect_due);
  }
  return 0;
}

static void connect_failed(session_t *s, bool timed_out, const char *detail) {
  wheel_remove(&s->e->wheel, &s->timer);
  side_close(s->server);
  s->server = NULL;
  s->state = S_PICKING;
  // JavaScript picks the next server (session_connect) or closes the session.
  emit_connect_failed(s->e, s, timed_out, detail);
}

static void established(session_t *s) {
  engine_t *e = s->e;
  wheel_remove(&e->wheel, &s->timer);
  s->state = S_RELAY;
  s->last_active = engine_now(e);
  if (s->proxy) {
    uint8_t header[PROXY_HEADER_MAX];
    size_t n = proxy_header(s->proxy, (struct sockaddr *)&s->peer, (struct sockaddr *)&s->local, header);
    // Queued before any client byte: the client is not read while it is held.
    if (n > 0 && !hold(&s->up, header, n)) {
      session_close(s, "internal-error", "ENOMEM", false);
      return;
    }
  }
  if (s->idle_ms > 0) wheel_add(&e->wheel, &s->timer, s->last_active + s->idle_ms);
  emit_connected(e, s);
  update(s);
}

// ---- events ---------------------------------------------------------------------

/*
 * The socket's own error. libuv reports EPOLLERR as UV_EBADF (and stops the
 * handle), so a refused connect or a reset would otherwise read "EBADF":
 * SO_ERROR holds the real cause. Returns 0 when the socket has none and
 * libuv reported none either.
 */
static int socket_error(int fd, int status) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0 && status < 0) err = -status;
  return err;
}

static void on_poll(uv_poll_t *h, int status, int events) {
  side_t *sd = h->data;
  session_t *s = sd->s;
  session_ref(s);
  if (s->state == S_CONNECTING && sd == s->server) {
    int err = socket_error(sd->fd, status);
    if (err) connect_failed(s, false, errno_name(err));
    else established(s);
  } else if (s->state == S_RELAY) {
    bool client = sd == s->client;
    dir_t *in = client ? &s->up : &s->down;
    dir_t *out = client ? &s->down : &s->up;
    if (status < 0) {
      session_close(s, client ? "client-error" : "server-error", errno_name(socket_error(sd->fd, status)), false);
    } else {
      bool open = true;
      if (events & UV_WRITABLE) open = flush(s, out);
      if (open && (events & UV_READABLE)) open = pump(s, in);
      if (open) update(s);
    }
  }
  session_unref(s);
}

uint64_t session_expire(wheel_node_t *n, uint64_t now) {
  session_t *s = (session_t *)((char *)n - offsetof(session_t, timer));
  if (s->state == S_CONNECTING) {
    if (now < s->connect_due) return s->connect_due;
    session_ref(s);
    connect_failed(s, true, "connect timed out");
    session_unref(s);
    return 0;
  }
  if (s->state == S_RELAY && s->idle_ms > 0) {
    uint64_t due = s->last_active + s->idle_ms;
    if (now < due) return due;
    session_close(s, "idle-timeout", "no traffic in either direction", false);
  }
  return 0;
}

void session_close(session_t *s, const char *reason, const char *detail, bool quiet) {
  if (s->state == S_CLOSED) return;
  engine_t *e = s->e;
  s->state = S_CLOSED;
  wheel_remove(&e->wheel, &s->timer);
  side_close(s->client);
  if (s->server) side_close(s->server);
  for (dir_t *d = &s->up; d; d = d == &s->up ? &s->down : NULL) {
    if (d->has_pipe) pipes_put(&e->pipes, &d->pipe, d->in_pipe > 0);
    d->has_pipe = false;
    d->in_pipe = 0;
    drop_pend(d);
  }
  table_remove(e, s);
  // No session left: no pipe stays open at rest (the pool refills under load).
  if (--e->sessions == 0) pipes_destroy(&e->pipes);
  // The side handles' close callbacks still hold references: `s` outlives the event.
  if (!quiet) emit_closed(e, s, reason, detail);
  session_unref(s);
}
