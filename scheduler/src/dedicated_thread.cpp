#include "troupe/scheduler/dedicated_thread.hpp"

#include <pthread.h>

namespace troupe {

dedicated_thread::dedicated_thread(resumable* r) : r_(r) {
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "troupe/dedicated");
}

dedicated_thread::~dedicated_thread() {
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();  // destroyed from its own last turn: nothing left to join
      return;
    }
    finish();
    thread_.join();
  }
}

void dedicated_thread::run() {
  id_.store(std::this_thread::get_id());
  for (;;) {
    wake_.acquire();
    if (done_.load(std::memory_order_acquire)) return;
    while (r_->resume() == resumable::result::yield) {
    }
    if (done_.load(std::memory_order_acquire)) return;
  }
}

} // namespace troupe
