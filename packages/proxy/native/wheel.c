// The coarse timer wheel: every connect and idle timeout of every session on
// one uv_timer_t, instead of a timer per socket.
//
// Invariants:
// - Slot i holds the nodes whose `due` tick is congruent to i modulo
//   WHEEL_SLOTS; a node due more than one revolution ahead is looked at once
//   per revolution and linked again (the owner's callback returns its due).
// - The timer runs only while some node is linked, so an idle engine costs
//   nothing and never keeps the loop alive (the timer is unref'd).
// - Expiry detaches a slot's list first: callbacks may unlink or free any
//   node, including ones further down the detached list.
// - Precision is one tick (WHEEL_TICK_MS) late at most, never early.
#include "engine.h"

static void list_init(wheel_node_t *h) { h->next = h->prev = h; }

static void unlink_node(wheel_node_t *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->next = n->prev = n;
  n->linked = false;
}

static void link_tail(wheel_node_t *h, wheel_node_t *n) {
  n->prev = h->prev;
  n->next = h;
  h->prev->next = n;
  h->prev = n;
  n->linked = true;
}

static void on_tick(uv_timer_t *t) {
  wheel_t *w = t->data;
  uint64_t now = uv_now(t->loop);
  uint64_t target = now / WHEEL_TICK_MS;
  // After a long stall, one revolution visits every slot once: enough.
  if (target - w->tick > WHEEL_SLOTS) w->tick = target - WHEEL_SLOTS;
  while (w->tick < target) {
    w->tick++;
    wheel_node_t *slot = &w->slots[w->tick % WHEEL_SLOTS];
    if (slot->next == slot) continue;
    wheel_node_t local;
    list_init(&local);
    // Move the whole slot to `local`.
    local.next = slot->next;
    local.prev = slot->prev;
    local.next->prev = &local;
    local.prev->next = &local;
    list_init(slot);
    while (local.next != &local) {
      wheel_node_t *n = local.next;
      unlink_node(n);
      w->count--;
      if (n->due > now) {
        wheel_add(w, n, n->due);
        continue;
      }
      uint64_t again = w->expire(n, now);
      if (again) wheel_add(w, n, again);
    }
  }
  if (w->count == 0) uv_timer_stop(&w->timer);
}

void wheel_init(wheel_t *w, uv_loop_t *loop, uint64_t (*expire)(wheel_node_t *, uint64_t)) {
  for (size_t i = 0; i < WHEEL_SLOTS; i++) list_init(&w->slots[i]);
  w->count = 0;
  w->expire = expire;
  w->tick = uv_now(loop) / WHEEL_TICK_MS;
  uv_timer_init(loop, &w->timer);
  w->timer.data = w;
  uv_unref((uv_handle_t *)&w->timer);
}

void wheel_add(wheel_t *w, wheel_node_t *n, uint64_t due) {
  if (n->linked) wheel_remove(w, n);
  n->due = due;
  uint64_t tick = (due + WHEEL_TICK_MS - 1) / WHEEL_TICK_MS;
  // A node due in the past or now goes to the next tick: never "behind" the wheel.
  if (tick <= w->tick) tick = w->tick + 1;
  link_tail(&w->slots[tick % WHEEL_SLOTS], n);
  if (w->count++ == 0) {
    w->tick = uv_now(w->timer.loop) / WHEEL_TICK_MS;
    if (tick <= w->tick) {
      // The wheel's clock moved on while it was stopped: relink.
      unlink_node(n);
      tick = w->tick + 1;
      link_tail(&w->slots[tick % WHEEL_SLOTS], n);
    }
    uv_timer_start(&w->timer, on_tick, WHEEL_TICK_MS, WHEEL_TICK_MS);
  }
}

void wheel_remove(wheel_t *w, wheel_node_t *n) {
  if (!n->linked) return;
  unlink_node(n);
  // Nodes on a detached expiry list are still counted until popped.
  w->count--;
}

void wheel_close(wheel_t *w) {
  uv_timer_stop(&w->timer);
  uv_close((uv_handle_t *)&w->timer, NULL);
}
