#pragma once
// Private to the transport. The connection handshake as a pure state machine (no I/O), so that
// every transport shares it and a fuzzer can drive it.
//
// Both sides send HELLO at once; each answers the other's HELLO with AUTH,
// an HMAC-SHA256 proof over both challenges, both names, both incarnations,
// its role and (the connector's) whether it holds a live connection with the
// peer already, keyed with the shared cookie. A peer using this node's own
// name is refused. The accepting side, once it has verified the
// connecting side's proof, decides (a node may refuse a duplicate) and sends
// WELCOME or REFUSE; the connecting side is established on WELCOME. Any
// other frame before that ends the handshake as a failure. A REFUSE ends
// it in any state (anybody may close a connection), but only one that
// follows the peer's verified AUTH (`peer_verified()`) says anything about
// the peer.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "protocol/frame.hpp"

namespace troupe::transport {

/// The protocol version in HELLO; nodes talk only to equal versions.
// 2: flow credit counted in units (credit_cost). 3: credit is
// enforced, lent buffers are sealed against writable shared mappings and
// received privately. 4: a sender keeps one credit window per remote actor,
// so the receiver's limit is the window plus one message (no extra step).
// 5: the connector's AUTH says whether it still holds a live connection
// with the peer (so an acceptor can replace one only it still holds).
inline constexpr std::uint32_t protocol_version = 5;

class handshake {
 public:
  enum class role : std::uint8_t { connector, acceptor };
  enum class status : std::uint8_t {
    in_progress,    ///< keep feeding frames
    authenticated,  ///< acceptor only: the peer proved the cookie; call welcome() or refuse()
    established,    ///< done: the connection carries traffic
    failed,         ///< reason() says why; close the connection
  };

  /// Connector: does this node hold a live connection with the peer of
  /// this name and incarnation? Asked once, when the peer's HELLO arrives.
  using link_query = std::function<bool(const std::string& name, std::uint64_t incarnation)>;

  handshake(role r, std::string name, std::uint64_t incarnation, std::string cookie, std::uint32_t max_frame,
            link_query holds_link = {});

  /// Appends this side's HELLO to `out`.
  void start(std::string& out);
  /// Feeds one frame from the peer; may append frames to `out`.
  status on_frame(const frame_view& f, std::string& out);
  /// Acceptor, after `authenticated`: accept the peer.
  void welcome(std::string& out);
  /// Refuses the peer with `reason` (sent to it), ending in `failed`.
  void refuse(std::string reason, std::string& out);

  [[nodiscard]] status state() const noexcept { return state_; }
  /// Why the handshake failed (for logs, and REFUSE).
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }
  /// True when the failure is the peer's or our proof (a wrong cookie).
  [[nodiscard]] bool auth_failure() const noexcept { return auth_failure_; }
  /// True once the peer's AUTH proved that it holds the cookie. Whatever
  /// arrived before (a REFUSE, say) may have come from anybody.
  [[nodiscard]] bool peer_verified() const noexcept { return verified_; }
  /// The reason the peer's REFUSE gave, as it gave it (empty when it sent
  /// none). Only the peer's word once peer_verified().
  [[nodiscard]] const std::string& peer_refusal() const noexcept { return peer_refusal_; }
  [[nodiscard]] const std::string& peer_name() const noexcept { return peer_name_; }
  [[nodiscard]] std::uint64_t peer_incarnation() const noexcept { return peer_incarnation_; }
  [[nodiscard]] std::uint32_t peer_max_frame() const noexcept { return peer_max_frame_; }
  [[nodiscard]] role side() const noexcept { return role_; }
  /// Connector: what its AUTH said (see link_query).
  [[nodiscard]] bool holds_link() const noexcept { return holds_link_; }
  /// Acceptor, once peer_verified(): the connector said it holds a live
  /// connection with this node (a second connect, not a redial).
  [[nodiscard]] bool peer_holds_link() const noexcept { return peer_holds_link_; }

 private:
  status fail(std::string reason, std::string& out, bool auth = false);
  status on_refuse(const frame_view& f);
  [[nodiscard]] std::string proof(char role_char, std::string_view challenge_a, std::string_view challenge_b,
                                  std::string_view name_a, std::string_view name_b, std::uint64_t incarnation_a,
                                  std::uint64_t incarnation_b, bool holds_link) const;

  role role_;
  std::string name_;
  std::uint64_t incarnation_;
  std::string cookie_;
  std::uint32_t max_frame_;
  link_query query_;
  std::string challenge_;
  std::string peer_challenge_;
  std::string peer_name_;
  std::uint64_t peer_incarnation_ = 0;
  std::uint32_t peer_max_frame_ = 0;
  bool got_hello_ = false;
  bool holds_link_ = false;
  bool peer_holds_link_ = false;
  bool verified_ = false;
  bool auth_failure_ = false;
  status state_ = status::in_progress;
  std::string reason_;
  std::string peer_refusal_;
};

} // namespace troupe::transport
