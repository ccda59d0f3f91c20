// W3C trace context: the text and wire forms, new ids, the thread's scope,
// and what an envelope's context costs (a small allocation, only when set).
#include "troupe/actors/trace.hpp"

#include <cstring>
#include <random>

#include "troupe/actors/envelope.hpp"

namespace troupe {
namespace {

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& a) noexcept {
  for (auto b : a) {
    if (b != 0) return false;
  }
  return true;
}

template <std::size_t N>
bool read_hex(std::string_view s, std::array<std::uint8_t, N>& out) noexcept {
  if (s.size() != 2 * N) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // the standard allows lowercase only
  };
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <std::size_t N>
void write_hex(std::string& out, const std::array<std::uint8_t, N>& a) {
  static constexpr char digits[] = "0123456789abcdef";
  for (auto b : a) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
}

} // namespace

bool trace_context::valid() const noexcept { return !all_zero(trace_id) && !all_zero(span_id); }

std::string trace_context::traceparent() const {
  std::string s = "00-";
  write_hex(s, trace_id);
  s += '-';
  write_hex(s, span_id);
  s += '-';
  write_hex(s, std::array<std::uint8_t, 1>{flags});
  return s;
}

std::optional<trace_context> trace_context::parse(std::string_view s) noexcept {
  // version 00 is exactly 55 characters: 00-<32>-<16>-<2>
  if (s.size() != 55 || s.substr(0, 3) != "00-" || s[35] != '-' || s[52] != '-') return std::nullopt;
  trace_context t;
  std::array<std::uint8_t, 1> f{};
  if (!read_hex(s.substr(3, 32), t.trace_id) || !read_hex(s.substr(36, 16), t.span_id) || !read_hex(s.substr(53, 2), f)) {
    return std::nullopt;
  }
  t.flags = f[0];
  if (!t.valid()) return std::nullopt;
  return t;
}

trace_context trace_context::new_trace() {
  trace_context t;
  const std::uint64_t a = detail::random_u64(), b = detail::random_u64() | 1;  // never all zero
  std::memcpy(t.trace_id.data(), &a, 8);
  std::memcpy(t.trace_id.data() + 8, &b, 8);
  t.span_id = detail::new_span_id();
  t.flags = 1;
  return t;
}

std::optional<trace_context> current_trace() noexcept {
  if (detail::tls_trace == nullptr) return std::nullopt;
  return *detail::tls_trace;
}

trace_scope::trace_scope(const trace_context& ctx) noexcept : ctx_(ctx), prev_(detail::tls_trace) {
  detail::tls_trace = &ctx_;
}

trace_scope::~trace_scope() { detail::tls_trace = prev_; }

namespace detail {

std::uint64_t random_u64() noexcept {
  thread_local std::uint64_t state = [] {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
  }();
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::array<std::uint8_t, 8> new_span_id() noexcept {
  std::array<std::uint8_t, 8> id{};
  const std::uint64_t v = random_u64() | 1;  // never zero
  std::memcpy(id.data(), &v, 8);
  return id;
}

void put_trace(std::string& out, const trace_context& t) {
  out.append(reinterpret_cast<const char*>(t.trace_id.data()), t.trace_id.size());
  out.append(reinterpret_cast<const char*>(t.span_id.data()), t.span_id.size());
  out += static_cast<char>(t.flags);
}

std::optional<trace_context> get_trace(std::string_view bytes) noexcept {
  if (bytes.size() != trace_wire_bytes) return std::nullopt;
  trace_context t;
  std::memcpy(t.trace_id.data(), bytes.data(), 16);
  std::memcpy(t.span_id.data(), bytes.data() + 16, 8);
  t.flags = static_cast<std::uint8_t>(bytes[24]);
  if (!t.valid()) return std::nullopt;
  return t;
}

void free_trace(trace_context* t) noexcept { delete t; }

void attach_trace(envelope* e) {
  if (e->trace == nullptr) e->trace = new trace_context(*tls_trace);
}

void adopt_wire_trace(envelope* e, std::string_view wire) {
  if (auto t = get_trace(wire)) e->trace = new trace_context(*t);
}

} // namespace detail
} // namespace troupe
