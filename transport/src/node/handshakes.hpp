#pragma once
// Private to the transport: the connections in their handshake, oldest
// first, bounded per source address and in all. A stranger's connection
// holds a slot until it authenticates; when a bound is reached, the oldest
// connection accepted from that address (for the global bound: from any
// address) makes room for the new one. So a flood cannot keep a legitimate
// node out, even one connecting from the flood's own address: its
// handshake takes milliseconds, while the flood's connections wait to be
// evicted. The node's own dials are never evicted, and established
// connections are not here at all. Under the node's lock.

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace troupe::transport {

class connection;

class handshake_table {
 public:
  handshake_table(std::size_t max_total, std::size_t max_per_address) noexcept
      : max_total_(max_total), max_per_address_(max_per_address) {}

  /// Adds `c`, accepted from `address` (empty: a dial of ours, or a local
  /// stream, never evicted). Returns the connection evicted to make room,
  /// or `c` itself when nothing can be (the table holds only our dials).
  std::shared_ptr<connection> add(std::shared_ptr<connection> c, const std::string& address);
  /// `c` left its handshake (established, or ended).
  void remove(const connection& c) noexcept;
  [[nodiscard]] std::vector<std::shared_ptr<connection>> all() const;
  [[nodiscard]] std::size_t size() const noexcept { return order_.size(); }
  /// Connections from `address` in their handshake now.
  [[nodiscard]] std::size_t from(const std::string& address) const;
  void clear() noexcept;

 private:
  struct entry {
    std::shared_ptr<connection> c;
    std::string address;
  };
  using iterator = std::list<entry>::iterator;
  /// The oldest evictable entry (from `address`, or from any when empty).
  iterator oldest(const std::string* address);
  void erase(iterator it) noexcept;

  std::size_t max_total_;
  std::size_t max_per_address_;
  std::list<entry> order_;  // oldest first
  std::unordered_map<const connection*, iterator> index_;
  std::unordered_map<std::string, std::size_t> per_address_;
};

} // namespace troupe::transport
