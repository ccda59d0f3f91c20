#pragma once
// Private to the transport: failed authentications by source address, and
// the wait they cost the next connection from there. Each failure doubles
// the wait (10 ms after the first, at most 2 s); a minute without one
// forgets the address. A guesser from one address then gets a few dozen
// tries a minute instead of thousands a second, while other addresses are
// not slowed at all. At most 4096 addresses are remembered (the stalest
// goes first). Its own lock; any thread.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace troupe::transport {

class auth_penalties {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t max_addresses = 4096;
  static constexpr std::chrono::milliseconds first_wait{10};
  static constexpr std::chrono::milliseconds max_wait{2000};
  static constexpr std::chrono::seconds forget_after{60};

  /// A connection from `address` failed to authenticate (a wrong cookie).
  void failed(const std::string& address, clock::time_point now = clock::now());
  /// How long a new connection from `address` waits before its handshake.
  [[nodiscard]] std::chrono::milliseconds wait_for(const std::string& address, clock::time_point now = clock::now());

 private:
  struct record {
    unsigned failures = 0;
    clock::time_point last{};
  };
  std::mutex mx_;
  std::unordered_map<std::string, record> by_address_;
};

} // namespace troupe::transport
