#include "troupe/scheduler/thread_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <chrono>
#include <semaphore>
#include <stdexcept>
#include <thread>
#include <utility>

#include "troupe/scheduler/cpu_relax.hpp"
#include "troupe/scheduler/work_queue.hpp"

namespace troupe {

struct thread_pool::worker {
  thread_pool* pool = nullptr;
  std::size_t index = 0;
  // The hot hand-off slot. The owner sets and takes it; the watchdog takes
  // it only when the owner has been stuck in one turn for a while.
  std::atomic<resumable*> next{nullptr};
  std::atomic<std::uint64_t> turns{0};  // owner-written turn counter (the watchdog's stuck detection)
  unsigned hot_streak = 0;          // owner only
  unsigned tick = 0;                // owner only
  std::uint64_t rng = 0;            // owner only
  work_queue<resumable, 256> local; // owner pushes, anyone pops
  std::counting_semaphore<> wake{0};
  std::thread thread;
  // Odd while the worker watches pollers (from the start to the end of a
  // search); remove_poller waits for it to change.
  std::atomic<std::uint64_t> poll_epoch{0};
  idle_poller* watched[max_pollers] = {};  // owner only: what this search watches
  std::size_t watching = 0;
};

namespace {
thread_local thread_pool::worker* tls_worker = nullptr;
constexpr unsigned max_hot_streak = 32;  // next-slot runs in a row before the queue gets a turn
constexpr unsigned inject_check_every = 61;
constexpr std::size_t inject_batch = 32;
constexpr auto stuck_check = std::chrono::milliseconds(2);
} // namespace

void pool_options::validate() const {
  if (threads > 1024) throw std::invalid_argument("pool_options: threads must be at most 1024 (0 = one per core)");
}

thread_pool::thread_pool(pool_options opts) : opts_(std::move(opts)) {
  opts_.validate();
  std::size_t n = opts_.threads;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto w = std::make_unique<worker>();
    w->pool = this;
    w->index = i;
    w->rng = 0x9E3779B97F4A7C15ull * (i + 1);
    workers_.push_back(std::move(w));
  }
  watchdog_ = std::thread([this] { watch(); });
  pthread_setname_np(watchdog_.native_handle(), "troupe/watch");
  for (auto& w : workers_) {
    w->thread = std::thread([this, wp = w.get()] { run(*wp); });
    std::string tname = opts_.name.substr(0, 10) + "/" + std::to_string(w->index);
    pthread_setname_np(w->thread.native_handle(), tname.c_str());
  }
}

thread_pool::~thread_pool() { stop(); }

void thread_pool::stop() {
  if (stopping_.exchange(true)) {
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    return;
  }
  {
    std::lock_guard lock(watchdog_mx_);
    watchdog_stop_ = true;
    watchdog_cv_.notify_all();
  }
  if (watchdog_.joinable()) watchdog_.join();
  for (auto& w : workers_) w->wake.release();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

bool thread_pool::add_poller(idle_poller* p) {
  std::lock_guard lock(pollers_mx_);
  for (std::size_t i = 0; i < max_pollers; ++i) {
    if (pollers_[i].load(std::memory_order_relaxed) != nullptr) continue;
    pollers_[i].store(p, std::memory_order_release);
    if (poller_slots_.load(std::memory_order_relaxed) <= i) poller_slots_.store(i + 1, std::memory_order_release);
    return true;
  }
  return false;
}

void thread_pool::remove_poller(idle_poller* p) {
  {
    std::lock_guard lock(pollers_mx_);
    for (auto& slot : pollers_) {
      if (slot.load(std::memory_order_relaxed) == p) slot.store(nullptr, std::memory_order_release);
    }
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // A worker that saw `p` is in a search: wait until that search is over.
  for (auto& w : workers_) {
    const std::uint64_t e = w->poll_epoch.load(std::memory_order_acquire);
    if ((e & 1) == 0) continue;
    while (w->poll_epoch.load(std::memory_order_acquire) == e) std::this_thread::yield();
  }
}

void thread_pool::begin_watch(worker& w) noexcept {
  const std::size_t slots = poller_slots_.load(std::memory_order_acquire);
  // One watcher at a time: more would only take CPU from the work.
  if (slots == 0 || watcher_.load(std::memory_order_relaxed) || watcher_.exchange(true, std::memory_order_acquire)) return;
  w.poll_epoch.store(w.poll_epoch.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with remove_poller
  w.watching = 0;
  for (std::size_t i = 0; i < slots; ++i) {
    if (idle_poller* p = pollers_[i].load(std::memory_order_acquire)) {
      p->watch(true);
      w.watched[w.watching++] = p;
    }
  }
  if (w.watching == 0) {
    w.poll_epoch.store(w.poll_epoch.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    watcher_.store(false, std::memory_order_release);
  }
}

bool thread_pool::poll_watched(worker& w) noexcept {
  bool found = false;
  for (std::size_t i = 0; i < w.watching; ++i) found = w.watched[i]->poll() || found;
  return found;
}

void thread_pool::end_watch(worker& w) noexcept {
  if (w.watching == 0) return;
  for (std::size_t i = 0; i < w.watching; ++i) w.watched[i]->watch(false);
  w.watching = 0;
  w.poll_epoch.store(w.poll_epoch.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  watcher_.store(false, std::memory_order_release);
}

bool thread_pool::on_worker() const noexcept { return tls_worker != nullptr && tls_worker->pool == this; }

pool_stats thread_pool::stats() const noexcept {
  return {steals_.load(std::memory_order_relaxed), parks_.load(std::memory_order_relaxed),
          injected_total_.load(std::memory_order_relaxed), injected_size_.load(std::memory_order_relaxed)};
}

void thread_pool::schedule(resumable* r) noexcept {
  worker* w = tls_worker;
  if (w != nullptr && w->pool == this) {
    push_local(*w, r);
    return;
  }
  {
    std::lock_guard lock(inject_mx_);
    injected_.push_back(r);
    injected_size_.store(injected_.size(), std::memory_order_relaxed);
  }
  injected_total_.fetch_add(1, std::memory_order_relaxed);
  notify_one();
}

void thread_pool::schedule_hot(resumable* r) noexcept {
  worker* w = tls_worker;
  if (w == nullptr || w->pool != this) {
    schedule(r);
    return;
  }
  // Thieves only ever take a non-empty slot, so filling an empty one needs
  // no read-modify-write.
  if (w->next.load(std::memory_order_relaxed) == nullptr) {
    w->next.store(r, std::memory_order_release);
  } else if (resumable* displaced = w->next.exchange(r, std::memory_order_acq_rel)) {
    push_local(*w, displaced);
  }
  // One relaxed load per hand-off while the watchdog is awake; waking it
  // happens at most once per idle period of it (a few hundred times a second).
  if (!watchdog_armed_.load(std::memory_order_relaxed)) arm_watchdog();
}

void thread_pool::arm_watchdog() noexcept {
  if (watchdog_armed_.exchange(true, std::memory_order_acq_rel)) return;
  std::lock_guard lock(watchdog_mx_);
  watchdog_cv_.notify_one();
}

void thread_pool::watch() {
  // Moves an actor waiting in the hot slot of a worker stuck in one long
  // turn (its turn counter unchanged since the last look) to the injection
  // queue, where any other worker can take it.
  std::vector<std::uint64_t> seen(workers_.size(), 0);
  std::unique_lock lock(watchdog_mx_);
  while (!watchdog_stop_) {
    if (!watchdog_armed_.load(std::memory_order_acquire)) {
      watchdog_cv_.wait(lock, [&] { return watchdog_stop_ || watchdog_armed_.load(std::memory_order_acquire); });
      continue;
    }
    watchdog_cv_.wait_for(lock, stuck_check);
    if (watchdog_stop_) break;
    bool busy = false;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      worker& w = *workers_[i];
      const std::uint64_t turns = w.turns.load(std::memory_order_relaxed);
      const bool stuck = turns == seen[i];
      seen[i] = turns;
      if (w.next.load(std::memory_order_relaxed) == nullptr) continue;
      busy = true;
      if (!stuck) continue;
      if (resumable* r = w.next.exchange(nullptr, std::memory_order_acq_rel)) {
        steals_.fetch_add(1, std::memory_order_relaxed);
        lock.unlock();
        schedule(r);  // from this thread: the injection queue, and a wake-up
        lock.lock();
      }
    }
    if (!busy) {
      // Go to sleep; a hand-off that raced with this look re-arms at once.
      watchdog_armed_.store(false, std::memory_order_seq_cst);
      if (any_hot_slot_busy()) watchdog_armed_.store(true, std::memory_order_relaxed);
    }
  }
}

void thread_pool::push_local(worker& w, resumable* r) noexcept {
  if (!w.local.try_push(r)) {
    std::lock_guard lock(inject_mx_);
    injected_.push_back(r);
    injected_size_.store(injected_.size(), std::memory_order_relaxed);
  }
  notify_one();
}

void thread_pool::notify_one() noexcept {
  // Pairs with the fence in park(): either we see the parked worker, or it
  // sees the work we just queued.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (idle_count_.load(std::memory_order_relaxed) == 0) return;
  // A searching worker will find the work; it re-checks after it parks.
  if (searching_.load(std::memory_order_relaxed) != 0) return;
  worker* w = nullptr;
  {
    std::lock_guard lock(idle_mx_);
    if (idle_.empty()) return;
    w = idle_.back();
    idle_.pop_back();
    idle_count_.store(idle_.size(), std::memory_order_relaxed);
  }
  w->wake.release();
}

resumable* thread_pool::pop_injected(worker& w) {
  if (injected_size_.load(std::memory_order_relaxed) == 0) return nullptr;
  std::unique_lock lock(inject_mx_);
  if (injected_.empty()) return nullptr;
  resumable* r = injected_.front();
  injected_.pop_front();
  // Take a share of the rest into the local queue: one lock per batch, and
  // the other workers can steal from there.
  std::size_t batch = std::min<std::size_t>(injected_.size() / workers_.size(), inject_batch);
  bool moved = false;
  while (batch-- > 0 && w.local.try_push(injected_.front())) {
    injected_.pop_front();
    moved = true;
  }
  injected_size_.store(injected_.size(), std::memory_order_relaxed);
  lock.unlock();
  if (moved) notify_one();  // what we moved can be stolen: make sure somebody looks
  return r;
}

resumable* thread_pool::steal(worker& w) {
  const std::size_t n = workers_.size();
  if (n < 2) return nullptr;
  w.rng ^= w.rng << 13;
  w.rng ^= w.rng >> 7;
  w.rng ^= w.rng << 17;
  const std::size_t start = w.rng % n;
  for (std::size_t i = 0; i < n; ++i) {
    worker& victim = *workers_[(start + i) % n];
    if (&victim == &w) continue;
    if (resumable* r = victim.local.try_pop()) {
      steals_.fetch_add(1, std::memory_order_relaxed);
      return r;
    }
  }
  return nullptr;
}

bool thread_pool::any_hot_slot_busy() const noexcept {
  for (const auto& v : workers_) {
    if (v->next.load(std::memory_order_relaxed) != nullptr) return true;
  }
  return false;
}

resumable* thread_pool::find_work(worker& w, bool take_next) {
  if (take_next && w.next.load(std::memory_order_relaxed) != nullptr) {
    if (resumable* hot = w.next.exchange(nullptr, std::memory_order_acq_rel)) {
      if (w.hot_streak < max_hot_streak || w.local.maybe_empty()) {
        ++w.hot_streak;
        return hot;
      }
      push_local(w, hot);  // let the queue have a turn; the hot one goes to the back
    }
  }
  w.hot_streak = 0;
  if (++w.tick % inject_check_every == 0) {
    if (resumable* r = pop_injected(w)) return r;
  }
  if (resumable* r = w.local.try_pop()) return r;
  if (resumable* r = pop_injected(w)) return r;
  return steal(w);
}

bool thread_pool::cancel_park(worker& w) {
  std::lock_guard lock(idle_mx_);
  auto it = std::find(idle_.begin(), idle_.end(), &w);
  if (it == idle_.end()) return false;  // somebody already woke us
  idle_.erase(it);
  idle_count_.store(idle_.size(), std::memory_order_relaxed);
  return true;
}

resumable* thread_pool::park(worker& w) {
  searching_.fetch_add(1, std::memory_order_relaxed);
  // The watcher polls shared-memory connections while it searches: a
  // message from another process is then run here, with no wake-up.
  begin_watch(w);
  for (std::size_t i = 0; i < opts_.spin_rounds; ++i) {
    // What a poller takes in is scheduled on this worker: look again at once.
    // (A poller runs on this worker: what it wakes may be in our hot slot.)
    if (w.watching != 0 && poll_watched(w)) i = 0;
    if (resumable* r = find_work(w, true)) {
      end_watch(w);
      searching_.fetch_sub(1, std::memory_order_relaxed);
      // Wake-ups were skipped while we searched: pass one on if more is queued.
      if (!w.local.maybe_empty() || injected_size_.load(std::memory_order_relaxed) != 0) notify_one();
      return r;
    }
    for (int k = 0; k < 16; ++k) cpu_relax();
  }
  end_watch(w);  // its last look may schedule work: found below
  searching_.fetch_sub(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(idle_mx_);
    idle_.push_back(&w);
    idle_count_.store(idle_.size(), std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (resumable* r = find_work(w, true); r != nullptr || stopping_.load()) {
    if (!cancel_park(w)) w.wake.acquire();  // consume the wake-up meant for us
    return r;
  }
  parks_.fetch_add(1, std::memory_order_relaxed);
  w.wake.acquire();  // an idle pool uses no CPU
  return nullptr;
}

void thread_pool::run(worker& w) {
  tls_worker = &w;
  while (!stopping_.load(std::memory_order_relaxed)) {
    resumable* r = find_work(w, true);
    if (r == nullptr) {
      r = park(w);
      if (r == nullptr) continue;
    }
    w.turns.store(w.turns.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (r->resume() == resumable::result::yield) push_local(w, r);
  }
  tls_worker = nullptr;
}

} // namespace troupe
