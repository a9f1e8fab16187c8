// The native relay engine: shared types of its parts.
//
// Policy stays in TypeScript (which server, retries, counters' meaning); this
// engine is mechanism only: it owns every data-plane socket (listeners,
// accepted clients, connects to servers) and moves bytes between them on the
// process's own libuv loop. No threads, no locks: every function here runs on
// the loop thread.
//
// Parts, one job each:
//   addon.c        N-API glue: JS calls in, per-session events out
//   listener.c     listening sockets, accept4 in a loop
//   session.c      connect, relay, half-close, backpressure, close
//   pipes.c        the pool of splice(2) pipes
//   wheel.c        the coarse timer wheel (connect and idle timeouts)
//   proxy_header.c PROXY protocol v1/v2 headers
//   fdpass.c       binding sockets, passing descriptors to workers
#ifndef BATON_ENGINE_H
#define BATON_ENGINE_H

#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct engine engine_t;
typedef struct session session_t;
typedef struct listener listener_t;

// ---- wheel.c ---------------------------------------------------------------

// A node in the timer wheel. Invariant: a node is linked into at most one
// list at a time (a wheel slot, or the local list being expired); `linked`
// says whether it is in one. `due` is a lower bound: the owner's callback
// decides whether the deadline really passed (idle deadlines move with
// traffic without touching the wheel).
typedef struct wheel_node {
  struct wheel_node *next, *prev;
  uint64_t due;
  bool linked;
} wheel_node_t;

#define WHEEL_TICK_MS 10
#define WHEEL_SLOTS 1024

typedef struct wheel {
  uv_timer_t timer;
  wheel_node_t slots[WHEEL_SLOTS];  // sentinels of circular lists
  uint64_t tick;                    // last tick processed
  size_t count;                     // nodes linked in slots
  // Returns 0 when the owner expired (and unlinked or freed) the node, or a
  // new due time to link it again.
  uint64_t (*expire)(wheel_node_t *node, uint64_t now);
} wheel_t;

void wheel_init(wheel_t *w, uv_loop_t *loop, uint64_t (*expire)(wheel_node_t *, uint64_t));
void wheel_add(wheel_t *w, wheel_node_t *n, uint64_t due);
void wheel_remove(wheel_t *w, wheel_node_t *n);
void wheel_close(wheel_t *w);

// ---- pipes.c ---------------------------------------------------------------

typedef struct pipe_pair {
  int rd, wr;
} pipe_pair_t;

// A pipe's capacity and the most one splice moves. 256 KiB (four times the
// kernel's default) halves the wakeups per byte of a bulk transfer: measured
// side by side with HAProxy on loopback, one stream went from 0.88x to 0.97x
// its throughput and 8 streams from 1.01x to 1.13x, at 0.73x its CPU per GB
// (1 MiB gained nothing more). Pipes exist only while bulk bytes are in
// flight, so at most `max` of them are this large at once; where the kernel
// refuses the size (an unprivileged user past fs.pipe-user-pages-soft) the
// pipe keeps what it has and splices simply move less per call.
#define PIPE_BYTES (256 * 1024)

typedef struct pipe_pool {
  pipe_pair_t *idle;
  size_t idle_count, idle_cap;
  size_t in_use;
  size_t max;  // maxpipes: at most this many pipes exist at once
} pipe_pool_t;

void pipes_init(pipe_pool_t *p, size_t max);
// Takes a pipe (empty); false when the pool is exhausted or pipe2 fails.
bool pipes_get(pipe_pool_t *p, pipe_pair_t *out);
// Gives a pipe back; a pipe that may hold bytes (dirty) is closed instead.
void pipes_put(pipe_pool_t *p, pipe_pair_t *pp, bool dirty);
// Closes every idle pipe (the engine has no session left: it holds no pipe at rest).
void pipes_destroy(pipe_pool_t *p);

// ---- proxy_header.c ----------------------------------------------------------

#define PROXY_HEADER_MAX 232  // v1 is at most 107 bytes, v2 with TCP6 52
// Writes a PROXY header (version 1 or 2) for a connection from `src` to
// `dst` into out; returns its length, or 0 for an unknown version. Families
// other than IPv4/IPv6 give v1 "UNKNOWN" / v2 UNSPEC.
size_t proxy_header(int version, const struct sockaddr *src, const struct sockaddr *dst, uint8_t *out);
// The header a health check sends: v1 "PROXY UNKNOWN", v2 LOCAL.
size_t proxy_header_local(int version, uint8_t *out);

// ---- session.c -------------------------------------------------------------

// One socket of a session and its poll handle. Allocated apart from the
// session because a retry replaces the server socket while the old handle is
// still closing.
typedef struct side {
  uv_poll_t poll;
  session_t *s;
  int fd;
  int events;  // events the poll handle is started with (0: stopped)
} side_t;

// One direction of the relay. Invariants: bytes are held either in `pend`
// (a partial send from the shared buffer) or in `pipe` (spliced), never in
// both; while any are held the source is not read (backpressure); `shut`
// (SHUT_WR sent to the destination) only after `eof` and nothing held.
typedef struct dir {
  bool to_client;
  uint8_t *pend;
  size_t pend_len, pend_off;
  pipe_pair_t pipe;
  bool has_pipe;
  size_t in_pipe;
  bool splice;  // the last recv filled the buffer: next reads go through a pipe
  bool eof, shut;
  uint64_t read, written;
} dir_t;

enum session_state { S_PICKING, S_CONNECTING, S_RELAY, S_CLOSED };

struct session {
  engine_t *e;
  double id;
  uint32_t slot;
  uint32_t refs;  // 1 while open + one per side handle still closing
  enum session_state state;
  side_t *client, *server;
  dir_t up, down;  // up: client -> server, down: server -> client
  struct sockaddr_storage peer, local;
  wheel_node_t timer;
  uint64_t connect_due;  // S_CONNECTING: connect deadline
  uint64_t last_active;
  uint32_t idle_ms;  // 0: no idle timeout
  int proxy;         // PROXY header version for this server, 0: none
  double listener_id;
};

session_t *session_new(engine_t *e, int fd, const struct sockaddr *peer, socklen_t len, double listener_id);
// Starts a connect; returns 0, or the errno of a failure seen at once (the
// session is back in S_PICKING then).
int session_connect(session_t *s, const struct sockaddr *to, socklen_t len, uint32_t connect_ms, uint32_t idle_ms, int proxy);
// Closes both sockets; reports 'closed' events unless `quiet`.
void session_close(session_t *s, const char *reason, const char *detail, bool quiet);
session_t *session_find(engine_t *e, double id);
uint64_t session_expire(wheel_node_t *n, uint64_t now);

// ---- listener.c ------------------------------------------------------------

struct listener {
  uv_poll_t poll;
  engine_t *e;
  double id;
  int fd;
  bool paused;
  bool closed;
  listener_t *next;
  uv_timer_t retry;  // after EMFILE/ENFILE: accept again later
};

listener_t *listener_new(engine_t *e, int fd, int *err);
void listener_pause(listener_t *l, bool paused);
void listener_close(listener_t *l);
listener_t *listener_find(engine_t *e, double id);

// ---- addon.c: the engine and its events --------------------------------------

struct engine {
  napi_env env;
  uv_loop_t *loop;
  napi_ref on_accept, on_connected, on_connect_failed, on_closed, on_exception;
  napi_async_context async;
  bool has_callbacks;
  bool shutting_down;  // env teardown: no more JS events
  wheel_t wheel;
  pipe_pool_t pipes;
  uint8_t *buf;  // the one relay buffer, reused by every session
  size_t buf_size;
  session_t **table;  // id slot -> session
  uint32_t table_size, *free_slots, free_count;
  uint32_t generation;
  size_t sessions;
  listener_t *listeners;
  double next_listener_id;
};

// Events to JavaScript. Each keeps the session alive across the call and
// never lets an exception out: one thrown by a handler closes that session
// (reason "internal-error") and is handed to the exception callback.
void emit_accept(engine_t *e, session_t *s, const char *addr);
void emit_connected(engine_t *e, session_t *s);
void emit_connect_failed(engine_t *e, session_t *s, bool timed_out, const char *detail);
void emit_closed(engine_t *e, session_t *s, const char *reason, const char *detail);

void session_ref(session_t *s);
void session_unref(session_t *s);
uint64_t engine_now(engine_t *e);
const char *errno_name(int err);

#endif
