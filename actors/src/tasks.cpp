// Coroutine handlers (task.hpp): the frames an actor's handlers left
// waiting, started, finished and, when the actor stops, destroyed.
#include <exception>
#include <string>

#include "troupe/actors/task.hpp"

namespace troupe::detail {

namespace {
std::string what_escaped() {
  try {
    throw;
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

void unlink(cell_extras& x, task_promise_base& p) noexcept {
  if (p.prev != nullptr) {
    p.prev->next = p.next;
  } else {
    x.tasks = p.next;
  }
  if (p.next != nullptr) p.next->prev = p.prev;
  p.prev = p.next = nullptr;
}
} // namespace

void task_promise_base::unhandled_exception() {
  if (!is_root()) {
    error = std::current_exception();  // rethrown by the awaiter
    return;
  }
  // The handler's own frame: its ask fails after the actor's `down`s, and
  // the exception fails the actor (the frame waits, registered, for the
  // stop that destroys it).
  cell->fail_after_down(std::exchange(reply, nullptr), ask_error::exception, what_escaped());
  throw;
}

void start_task(actor_cell& self, task_promise_base& p, std::coroutine_handle<> h, reply_slot_base* reply,
                bool exclusive) {
  p.cell = &self;
  p.root = &p;
  p.self = h;
  p.reply = reply;
  p.exclusive = exclusive;
  cell_extras* x = nullptr;
  try {
    x = &self.extras();
  } catch (...) {
    h.destroy();  // fails the ask (the promise's destructor)
    throw;
  }
  p.next = x->tasks;
  if (x->tasks != nullptr) x->tasks->prev = &p;
  x->tasks = &p;
  h.resume();
}

void finish_task(task_promise_base& p) noexcept {
  unlink(*p.cell->extras_if_any(), p);
  p.self.destroy();
}

void destroy_tasks(actor_cell& self) noexcept {
  cell_extras& x = *self.extras_if_any();
  while (task_promise_base* p = x.tasks) {
    unlink(x, *p);
    self.fail_after_down(std::exchange(p->reply, nullptr), ask_error::actor_stopped,
                         "the actor stopped while its handler waited");
    p->self.destroy();
  }
}

} // namespace troupe::detail
