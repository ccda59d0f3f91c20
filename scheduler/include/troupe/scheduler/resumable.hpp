#pragma once
/// @file What the scheduler runs: anything that can take a turn.
///
/// The scheduler knows nothing of messages. Whoever makes a resumable
/// runnable hands it to a `thread_pool` (or a `dedicated_thread`) exactly
/// once; the scheduler calls `resume()` on one thread at a time.

namespace troupe {

/// A unit of work that runs in turns.
class resumable {
 public:
  /// What the scheduler does after a turn.
  enum class result : unsigned char {
    /// Nothing more to do now. The scheduler forgets the object and must not
    /// touch it again (it may already be destroyed); whoever makes it
    /// runnable later schedules it again.
    idle,
    /// More work is waiting: the scheduler queues the object at the back of
    /// a run queue (fairness: others run first).
    yield,
  };

  /// Runs one turn. Called by one scheduler thread at a time.
  virtual result resume() = 0;

 protected:
  resumable() = default;
  resumable(const resumable&) = default;
  resumable& operator=(const resumable&) = default;
  ~resumable() = default;
};

} // namespace troupe
