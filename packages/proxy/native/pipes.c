// The pool of pipes for splice(2). A session takes a pipe only while bulk
// bytes are in flight and gives it back once the pipe is empty again
// (HAProxy's heuristic), so idle sessions hold no pipe; at most `max` pipes
// exist at once (HAProxy's maxpipes), beyond that bulk goes through the
// shared buffer.
//
// Invariants:
// - A pipe in the idle list is empty: only pipes given back clean are kept;
//   a pipe that may still hold bytes is closed.
// - in_use + idle_count <= max.
// - Idle pipes are kept only while some session is open: when the last one
//   closes the engine empties the pool (pipes_destroy), so an idle engine
//   holds exactly its listening descriptors.
#include "engine.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define IDLE_KEEP 64  // idle pipes kept for reuse; more are closed

void pipes_init(pipe_pool_t *p, size_t max) {
  p->idle = NULL;
  p->idle_count = p->idle_cap = 0;
  p->in_use = 0;
  p->max = max;
}

bool pipes_get(pipe_pool_t *p, pipe_pair_t *out) {
  if (p->idle_count > 0) {
    *out = p->idle[--p->idle_count];
    p->in_use++;
    return true;
  }
  if (p->in_use >= p->max) return false;
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return false;
  // Best effort (see PIPE_BYTES): a pipe left smaller only splices less per call.
  (void)fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES);
  out->rd = fds[0];
  out->wr = fds[1];
  p->in_use++;
  return true;
}

void pipes_put(pipe_pool_t *p, pipe_pair_t *pp, bool dirty) {
  p->in_use--;
  if (!dirty && p->idle_count < IDLE_KEEP) {
    if (p->idle_count == p->idle_cap) {
      size_t cap = p->idle_cap ? p->idle_cap * 2 : 8;
      pipe_pair_t *n = realloc(p->idle, cap * sizeof *n);
      if (n) {
        p->idle = n;
        p->idle_cap = cap;
      }
    }
    if (p->idle_count < p->idle_cap) {
      p->idle[p->idle_count++] = *pp;
      return;
    }
  }
  close(pp->rd);
  close(pp->wr);
}

void pipes_destroy(pipe_pool_t *p) {
  for (size_t i = 0; i < p->idle_count; i++) {
    close(p->idle[i].rd);
    close(p->idle[i].wr);
  }
  free(p->idle);
  p->idle = NULL;
  p->idle_count = p->idle_cap = 0;
}
