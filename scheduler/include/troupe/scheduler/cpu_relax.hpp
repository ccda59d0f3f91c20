#pragma once
/// @file A pause for spin loops: tells the core this thread is spinning
/// (saves power, gives a hyper-thread sibling the pipeline). Any thread.

namespace troupe {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

} // namespace troupe
