#pragma once
/// @file Work that arrives without a system call (a shared-memory ring):
/// idle pool workers poll it while they search for work, so a message from
/// another process is picked up and run on a warm worker with no wake-up.

namespace troupe {

/// Registered with `thread_pool::add_poller`. The pool calls these from
/// its workers, any number at once: `watch(true)` when a worker starts
/// searching for work, `poll()` while it searches, `watch(false)` when it
/// stops (it found work or is about to sleep). A poller that was watched
/// must, in `watch(false)`, look once more (the producer may have seen the
/// watch and skipped its doorbell).
class idle_poller {
 public:
  /// One more (on) or one fewer (off) worker watches.
  virtual void watch(bool on) noexcept = 0;
  /// Takes what has arrived, scheduling the work it makes; true when it
  /// found anything.
  virtual bool poll() noexcept = 0;

 protected:
  ~idle_poller() = default;
};

} // namespace troupe
