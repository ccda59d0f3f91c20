#pragma once
/// @file How a node is set up. Every option is checked where it is given
/// (the node constructor): a bad value throws std::invalid_argument.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "troupe/observe/metrics_server.hpp"

namespace troupe {

/// Mutual TLS 1.3 on a node's TCP links (node_options::tls). Both ends
/// present a certificate from the cluster's CA that names them; the cookie
/// handshake then runs inside the encrypted channel as a second check.
/// Make a CA and node certificates with `scripts/troupe-certs`.
struct tls_options {
  /// PEM: this node's certificate, then any intermediates. It must name the
  /// node with the URI subject alternative name troupe://<cluster>/<node name>.
  std::string certificate_file{};
  /// PEM: the certificate's private key, unencrypted (keep it mode 0600).
  std::string private_key_file{};
  /// PEM: the CA certificate(s) a peer's certificate must chain to.
  std::string ca_file{};
  /// PEM: certificate revocation list(s) of the CA (empty: none). When
  /// given, a peer whose certificate is revoked is refused.
  std::string crl_file{};
  /// The cluster's name in certificate names (troupe://<cluster>/<node>):
  /// 1..64 bytes of letters, digits, '-', '_' and '.'.
  std::string cluster = "troupe";
  /// Reconnects resume the TLS session from a ticket (one round trip and no
  /// certificate checks less). Tickets are not honoured across a reload.
  bool resume_sessions = true;
  /// How often the four files are looked at; when one changed, they are
  /// loaded again and new connections use them (connections up keep theirs).
  /// 0: only node::reload_tls().
  std::chrono::milliseconds reload_check{10000};
};

struct node_options {
  /// The default of `max_frame_bytes`: 16 MiB.
  static constexpr std::uint32_t default_max_frame = 16u << 20;

  /// The node's name, unique among the nodes it talks to (1..255 bytes).
  /// Default: "node-<pid>".
  std::string name{};
  /// Where to accept connections; `listen = false` for a node that only connects.
  bool listen = true;
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;  ///< 0: an ephemeral port (see node::port())
  /// Also listen on this Unix socket path (empty: none). The socket file is
  /// made mode 0600; a stale one from an earlier run is replaced.
  std::string listen_unix{};
  /// Also accept shared-memory connections (node::connect_shm) through this
  /// Unix socket path (empty: none). Mode 0600 like `listen_unix`; the
  /// socket only carries the handshake and the segment's descriptors.
  std::string listen_shm{};
  /// Size of each of the two rings of a shared-memory connection (this
  /// node's when it connects or starts a worker): a power of two from
  /// 4 KiB to 1 GiB. Frames larger than a ring stream through it.
  std::size_t shm_ring_bytes = std::size_t{1} << 20;
  /// The largest rings a peer connecting over shared memory may hand this
  /// node to map: the connector chooses the size, the side that accepts
  /// caps it (a larger one is refused). A power of
  /// two from 4 KiB to 1 GiB, default 16 MiB.
  std::size_t max_shm_ring_bytes = std::size_t{16} << 20;
  /// The shared secret, at least 16 bytes (`openssl rand -hex 32` makes a
  /// good one). Empty: TROUPE_COOKIE (the same rule), else `cookie_file`.
  std::string cookie{};
  /// Empty: ~/.troupe/cookie (created, mode 0600, 32 random bytes, on first
  /// use). It must be this user's own file, no link, private (0600), in a
  /// directory no one else can write.
  std::string cookie_file{};
  /// The largest frame accepted (and sent); a larger one closes the
  /// connection. A frame's buffer grows as its bytes arrive, not as its
  /// length announces.
  std::uint32_t max_frame_bytes = default_max_frame;
  /// Message type ids one peer may define in a session (each costs a table
  /// entry for the session's life); one more ends the session for good (a
  /// bad frame). Nodes define one id per type they send.
  std::size_t max_peer_message_types = 4096;
  /// Monitors one peer may hold on this node's actors in a session (each
  /// costs an entry in the watched actor's list, about 100 bytes); one more
  /// ends the session for good (a bad frame). What a peer watched is
  /// forgotten when its session ends.
  std::size_t max_peer_monitors = 65536;
  /// Remote actors one peer may link to this node's actors from in a
  /// session (each costs a proxy here); one more ends the session for good.
  std::size_t max_peer_links = 65536;
  /// The largest `shared_bytes` a same-host peer may hand over without a
  /// copy (a TRANSFER); a larger one closes the connection (counted in
  /// bad_frames): the peer's memfd may be sparse, costing it nothing and
  /// this process a page for each page its actors touch. A buffer above
  /// this node's own value is sent as a copy instead (so nodes with equal
  /// settings never refuse each other), subject to the peer's
  /// max_frame_bytes. Default 1 GiB.
  std::size_t max_transfer_bytes = std::size_t{1} << 30;
  /// Reuse a buffer lent to a same-host peer (a TRANSFER) once the peer
  /// gives it back. The peer can never write into it (it is sealed before
  /// it is lent), but a peer that broke its word and kept its mapping could
  /// read what this process writes there next. False: each returned buffer
  /// is freed, and every transfer pays for fresh pages (several times
  /// slower for 1 MiB buffers than reuse).
  bool reuse_returned_buffers = true;
  /// A connection that has not finished its handshake by then is closed.
  std::chrono::milliseconds handshake_timeout{5000};
  /// Connections in their handshake at once, in all and from one address.
  /// A connection past either bound makes room by closing the oldest one
  /// accepted (from that address, for the second) that is still in its
  /// handshake, so a flood of strangers cannot keep a real node out; this
  /// node's own dials and its established connections are never touched.
  /// Each costs a read buffer of a few hundred bytes until it authenticates.
  std::size_t max_handshakes = 1024;
  std::size_t max_handshakes_per_address = 64;
  /// How often an established connection sends a heartbeat.
  std::chrono::milliseconds heartbeat_interval{500};
  /// A peer heard nothing from for this long is declared down.
  std::chrono::milliseconds heartbeat_timeout{2000};
  /// A connection whose unsent output has not moved for this long is
  /// closed (counted in `write_stalls`): the peer is not reading. (It is
  /// also closed at once when the output a peer's own requests made, such
  /// as replies and credit, passes 4 MiB plus twice `max_frame_bytes`:
  /// a peer that writes but never reads cannot make this process hold
  /// unbounded output.)
  std::chrono::milliseconds write_timeout{10000};
  /// What a link promises about messages once `tell` answered ok.
  enum class delivery_mode : std::uint8_t {
    /// Every frame is numbered and kept until the peer acknowledges it; a
    /// connection that breaks (a cut, a reset, a heartbeat timeout, a frame
    /// out of sequence) is an interruption: the session resumes on a new
    /// connection, resending what the peer did not get, so that messages
    /// arrive exactly once and in order while both processes live. Only a
    /// peer gone for good (or not back within `down_after`) turns what it
    /// did not acknowledge into counted dead letters.
    reliable,
    /// No resend buffer: a broken connection ends the session at once, and
    /// what was in flight on it may be lost (what was not yet written is
    /// counted as dead letters).
    at_most_once,
  };
  delivery_mode delivery = delivery_mode::reliable;
  /// Reliable delivery: an interrupted link that is not back this long
  /// after it broke ends for good (node_down, dead letters). Taken as at
  /// least `heartbeat_timeout` when shorter.
  std::chrono::milliseconds down_after{5000};
  /// Reconnect to peers this node connected to, after they go down, with
  /// exponential backoff from `reconnect_min` to `reconnect_max`.
  bool reconnect = true;
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5000};
  /// Outgoing queue bound per remote actor (mute_sender backpressure on
  /// local senders while the connection cannot keep up).
  std::size_t remote_mailbox_capacity = 8192;
  /// TLS 1.3 with mutual authentication on TCP links, in both directions:
  /// a peer without a certificate from `tls->ca_file` naming it, or one
  /// speaking plaintext or an older TLS, is refused (counted in
  /// tls_failures). Off by default so a first program needs no
  /// certificates: turn it on whenever links leave the machine. Unix
  /// sockets, pipes and shared memory never use it (see local_peer_uids).
  std::optional<tls_options> tls{};
  /// Peers on Unix sockets and shared memory must run as one of these user
  /// ids (checked with SO_PEERCRED on both sides, before the cookie); empty:
  /// only this process's effective user.
  std::vector<std::uint32_t> local_peer_uids{};
  /// Logs a line of the node's counters (node::stats()) this often; 0: never.
  std::chrono::milliseconds metrics_log_interval{0};
  /// Serves the process's metrics (the actor system's, this node's and its
  /// links') over HTTP at `/metrics` in the Prometheus text format; off when
  /// unset. `{.port = 9464}` listens on loopback; see node::metrics_port.
  std::optional<metrics_endpoint_options> metrics{};

  /// @throws std::invalid_argument naming the option and the rule.
  void validate() const;
};

} // namespace troupe
