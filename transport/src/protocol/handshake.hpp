#pragma once
// Private to the transport. The connection handshake as a pure state machine (no I/O), so that
// every transport shares it and a fuzzer can drive it.
//
// Both sides send HELLO at once (with where they accept TCP connections);
// each answers the other's HELLO with AUTH, an HMAC-SHA256 proof over both
// challenges, both names, both incarnations, its role, its listen address
// and (the connector's) whether it holds a live connection with the peer
// already or a session it resumes, keyed with the shared cookie. A peer using this node's own
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
// 6: frames after the handshake are numbered and acknowledged; AUTH and
// WELCOME resume a session on a new connection. 7: HELLO carries the
// node's TCP listen address, covered by its proof.
inline constexpr std::uint32_t protocol_version = 7;

/// A random non-zero id (a node's incarnation, a session's). @throws
/// std::runtime_error naming `what` when OpenSSL has no random bytes.
[[nodiscard]] std::uint64_t random_id(const char* what);

class handshake {
 public:
  enum class role : std::uint8_t { connector, acceptor };
  enum class status : std::uint8_t {
    in_progress,    ///< keep feeding frames
    authenticated,  ///< acceptor only: the peer proved the cookie; call welcome() or refuse()
    established,    ///< done: the connection carries traffic
    failed,         ///< reason() says why; close the connection
  };

  /// What a connector holds with the peer of a name and incarnation.
  struct link_state {
    bool holds_live = false;      ///< a live connection (this is a second connect)
    std::uint64_t session = 0;    ///< an interrupted session it resumes (0: none)
    std::uint64_t delivered = 0;  ///< the last frame of that session it delivered
  };
  /// Connector: asked once, when the peer's HELLO arrives.
  using link_query = std::function<link_state(const std::string& name, std::uint64_t incarnation)>;

  handshake(role r, std::string name, std::uint64_t incarnation, std::string cookie, std::uint32_t max_frame,
            link_query holds_link = {});

  /// Before start(): HELLO says this node accepts TCP connections at
  /// `host`:`port` (default: it does not).
  void advertise(std::string host, std::uint16_t port) {
    listen_host_ = std::move(host);
    listen_port_ = port;
  }
  /// Appends this side's HELLO to `out`.
  void start(std::string& out);
  /// Feeds one frame from the peer; may append frames to `out`.
  status on_frame(const frame_view& f, std::string& out);
  /// Acceptor, after `authenticated`: accept the peer into a new session
  /// (session() names it).
  void welcome(std::string& out);
  /// Acceptor, after `authenticated`: accept the peer back into the session
  /// its AUTH named, of which this side delivered frames up to `delivered`.
  void welcome_back(std::string& out, std::uint64_t delivered);
  /// Refuses the peer with `reason` (sent to it), ending in `failed`.
  void refuse(std::string reason, std::string& out);

  [[nodiscard]] status state() const noexcept { return state_; }
  /// True once the peer's HELLO arrived.
  [[nodiscard]] bool heard_peer() const noexcept { return got_hello_; }
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
  /// Where the peer said it accepts TCP connections (port 0: it does not);
  /// its word once peer_verified() (the proof covers it).
  [[nodiscard]] const std::string& peer_listen_host() const noexcept { return peer_listen_host_; }
  [[nodiscard]] std::uint16_t peer_listen_port() const noexcept { return peer_listen_port_; }
  [[nodiscard]] role side() const noexcept { return role_; }
  /// Connector: what its AUTH said (see link_query).
  [[nodiscard]] bool holds_link() const noexcept { return link_.holds_live; }
  /// Connector: the session its AUTH offered to resume (0: none).
  [[nodiscard]] std::uint64_t offered_session() const noexcept { return link_.session; }
  /// Acceptor, once peer_verified(): the session the connector resumes (0:
  /// none), and the last frame of it the connector delivered.
  [[nodiscard]] std::uint64_t peer_session() const noexcept { return peer_link_.session; }
  /// The last frame of the session the peer delivered (the acceptor: from
  /// AUTH; the connector: from a WELCOME that resumed).
  [[nodiscard]] std::uint64_t peer_delivered() const noexcept { return peer_link_.delivered; }
  /// Once established: the session's id, and whether it is one resumed.
  [[nodiscard]] std::uint64_t session() const noexcept { return session_; }
  [[nodiscard]] bool resumed() const noexcept { return resumed_; }
  /// Acceptor, once peer_verified(): the connector said it holds a live
  /// connection with this node (a second connect, not a redial).
  [[nodiscard]] bool peer_holds_link() const noexcept { return peer_link_.holds_live; }

 private:
  status fail(std::string reason, std::string& out, bool auth = false);
  status on_refuse(const frame_view& f);
  status on_hello(const frame_view& f, std::string& out);
  /// The prover (a) proves the cookie over both challenges, names and
  /// incarnations, its link state and its listen address.
  [[nodiscard]] std::string proof(char role_char, std::string_view challenge_a, std::string_view challenge_b,
                                  std::string_view name_a, std::string_view name_b, std::uint64_t incarnation_a,
                                  std::uint64_t incarnation_b, const link_state& link, std::string_view listen_host,
                                  std::uint16_t listen_port) const;
  status on_welcome(const frame_view& f, std::string& out);
  void send_welcome(std::string& out, std::uint64_t session, bool resumed, std::uint64_t delivered);

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
  std::string listen_host_;
  std::uint16_t listen_port_ = 0;
  std::string peer_listen_host_;
  std::uint16_t peer_listen_port_ = 0;
  bool got_hello_ = false;
  link_state link_;       // connector: what its AUTH said
  link_state peer_link_;  // acceptor: what the peer's AUTH said (connector: delivered from WELCOME)
  std::uint64_t session_ = 0;
  bool resumed_ = false;
  bool verified_ = false;
  bool auth_failure_ = false;
  status state_ = status::in_progress;
  std::string reason_;
  std::string peer_refusal_;
};

} // namespace troupe::transport
