#include "protocol/handshake.hpp"

#include <algorithm>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "troupe/proto/troupe.pb.h"

namespace troupe::transport {

namespace {
constexpr std::size_t challenge_bytes = 32;
constexpr std::string_view magic = "troupe";
constexpr std::string_view auth_label = "troupe-auth-1";
constexpr std::size_t max_name_bytes = 255;
constexpr std::size_t max_listen_host_bytes = 255;  // a host name or an address
} // namespace

std::uint64_t random_id(const char* what) {
  std::uint64_t v = 0;
  while (v == 0) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) {
      throw std::runtime_error(std::string("troupe: no random bytes for ") + what);
    }
  }
  return v;
}

handshake::handshake(role r, std::string name, std::uint64_t incarnation, std::string cookie, std::uint32_t max_frame,
                     link_query holds_link)
    : role_(r),
      name_(std::move(name)),
      incarnation_(incarnation),
      cookie_(std::move(cookie)),
      max_frame_(max_frame),
      query_(std::move(holds_link)) {
  challenge_.resize(challenge_bytes);
  if (RAND_bytes(reinterpret_cast<unsigned char*>(challenge_.data()), static_cast<int>(challenge_bytes)) != 1) {
    throw std::runtime_error("troupe: no random bytes for the handshake challenge");
  }
}

void handshake::start(std::string& out) {
  wire::Hello h;
  h.set_magic(std::string(magic));
  h.set_version(protocol_version);
  h.set_node_name(name_);
  h.set_incarnation(incarnation_);
  h.set_challenge(challenge_);
  h.set_max_frame_bytes(max_frame_);
  h.set_listen_host(listen_host_);
  h.set_listen_port(listen_port_);
  append_frame(out, frame_kind::hello, h);
}

std::string handshake::proof(char role_char, std::string_view challenge_a, std::string_view challenge_b,
                             std::string_view name_a, std::string_view name_b, std::uint64_t incarnation_a,
                             std::uint64_t incarnation_b, const link_state& link, std::string_view listen_host,
                             std::uint16_t listen_port) const {
  std::string data;
  data.reserve(auth_label.size() + 1 + challenge_a.size() + challenge_b.size() + name_a.size() + name_b.size() +
               listen_host.size() + 44);
  data.append(auth_label);
  data.push_back(role_char);
  data.append(challenge_a);
  data.append(challenge_b);
  data.append(name_a);
  data.push_back('\0');
  data.append(name_b);
  data.push_back('\0');
  data.append(listen_host);
  data.push_back('\0');
  for (std::uint64_t v : {incarnation_a, incarnation_b, link.session, link.delivered, std::uint64_t{listen_port}}) {
    for (int i = 0; i < 8; ++i) data.push_back(static_cast<char>(v >> (8 * i)));
  }
  data.push_back(link.holds_live ? '1' : '0');
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), cookie_.data(), static_cast<int>(cookie_.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len) == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(mac), len);
}

handshake::status handshake::fail(std::string reason, std::string& out, bool auth) {
  reason_ = std::move(reason);
  auth_failure_ = auth;
  wire::Refuse r;
  r.set_reason(reason_);
  append_frame(out, frame_kind::refuse, r);
  state_ = status::failed;
  return state_;
}

handshake::status handshake::on_hello(const frame_view& f, std::string& out) {
  if (got_hello_) return fail("protocol error: a second HELLO", out);
  wire::Hello h;
  if (!h.ParseFromArray(f.body.data(), static_cast<int>(f.body.size()))) return fail("malformed HELLO", out);
  if (h.magic() != magic) return fail("not a troupe node (bad magic)", out);
  if (h.version() != protocol_version) {
    return fail("incompatible protocol version " + std::to_string(h.version()) + "; this node speaks version " +
                    std::to_string(protocol_version),
                out);
  }
  if (h.node_name().empty() || h.node_name().size() > max_name_bytes) return fail("bad node name in HELLO", out);
  if (h.challenge().size() != challenge_bytes) return fail("bad challenge in HELLO", out);
  if (h.listen_port() > 65535 || h.listen_host().size() > max_listen_host_bytes ||
      h.listen_host().find('\0') != std::string::npos) {
    return fail("bad listen address in HELLO", out);
  }
  // Two nodes of one name would be one identity; and a peer claiming our
  // own name could replay our proof between two connections.
  if (h.node_name() == name_) return fail("the peer uses this node's own name '" + name_ + "'", out);
  got_hello_ = true;
  peer_name_ = h.node_name();
  peer_incarnation_ = h.incarnation();
  peer_max_frame_ = h.max_frame_bytes();
  peer_challenge_ = h.challenge();
  peer_listen_host_ = h.listen_host();
  peer_listen_port_ = static_cast<std::uint16_t>(h.listen_port());
  wire::Auth a;
  const char me = role_ == role::connector ? 'C' : 'A';
  if (role_ == role::connector && query_) link_ = query_(peer_name_, peer_incarnation_);
  a.set_holds_link(link_.holds_live);
  a.set_resume_session(link_.session);
  a.set_delivered(link_.delivered);
  a.set_proof(proof(me, peer_challenge_, challenge_, name_, peer_name_, incarnation_, peer_incarnation_, link_,
                    listen_host_, listen_port_));
  append_frame(out, frame_kind::auth, a);
  return state_;
}

handshake::status handshake::on_frame(const frame_view& f, std::string& out) {
  if (state_ == status::failed || state_ == status::established) return state_;
  switch (static_cast<frame_kind>(f.kind)) {
    case frame_kind::hello: return on_hello(f, out);
    case frame_kind::auth: {
      if (!got_hello_) return fail("protocol error: AUTH before HELLO", out);
      if (verified_) return fail("protocol error: a second AUTH", out);
      wire::Auth a;
      if (!a.ParseFromArray(f.body.data(), static_cast<int>(f.body.size()))) return fail("malformed AUTH", out);
      const char peer_role = role_ == role::connector ? 'A' : 'C';
      const link_state claimed{a.holds_link(), a.resume_session(), a.delivered()};
      const std::string expected =
          proof(peer_role, challenge_, peer_challenge_, peer_name_, name_, peer_incarnation_, incarnation_, claimed,
                peer_listen_host_, peer_listen_port_);
      if (expected.empty() || a.proof().size() != expected.size() ||
          CRYPTO_memcmp(a.proof().data(), expected.data(), expected.size()) != 0) {
        return fail("authentication failed: the nodes do not share the same cookie", out, true);
      }
      verified_ = true;
      if (role_ == role::acceptor) {
        peer_link_ = claimed;
        state_ = status::authenticated;
      }
      return state_;
    }
    case frame_kind::welcome: return on_welcome(f, out);
    case frame_kind::refuse: return on_refuse(f);
    default:
      return fail("protocol error: frame kind " + std::to_string(f.kind) + " before the handshake ended", out);
  }
}

handshake::status handshake::on_refuse(const frame_view& f) {
  wire::Refuse r;
  peer_refusal_ = r.ParseFromArray(f.body.data(), static_cast<int>(f.body.size())) ? r.reason() : "(unreadable)";
  peer_refusal_.resize(std::min<std::size_t>(peer_refusal_.size(), 512));
  // Before the peer's AUTH was verified this is anybody's word: the log says so.
  reason_ = std::string(verified_ ? "refused by the peer: " : "refused by the unauthenticated peer: ") + peer_refusal_;
  auth_failure_ = peer_refusal_.find("authentication") != std::string::npos;
  state_ = status::failed;
  return state_;
}

handshake::status handshake::on_welcome(const frame_view& f, std::string& out) {
  if (role_ != role::connector || !verified_) return fail("protocol error: WELCOME out of order", out);
  wire::Welcome w;
  if (!w.ParseFromArray(f.body.data(), static_cast<int>(f.body.size())) || w.session() == 0) {
    return fail("malformed WELCOME", out);
  }
  if (w.resumed() && w.session() != link_.session) return fail("WELCOME resumes a session not offered", out);
  session_ = w.session();
  resumed_ = w.resumed();
  peer_link_.delivered = w.delivered();
  state_ = status::established;
  return state_;
}

void handshake::welcome(std::string& out) { send_welcome(out, random_id("a session id"), false, 0); }

void handshake::welcome_back(std::string& out, std::uint64_t delivered) {
  send_welcome(out, peer_link_.session, true, delivered);
}

void handshake::send_welcome(std::string& out, std::uint64_t session, bool resumed, std::uint64_t delivered) {
  if (state_ != status::authenticated) return;
  wire::Welcome w;
  w.set_session(session);
  w.set_resumed(resumed);
  w.set_delivered(delivered);
  append_frame(out, frame_kind::welcome, w);
  session_ = session;
  resumed_ = resumed;
  state_ = status::established;
}

void handshake::refuse(std::string reason, std::string& out) { fail(std::move(reason), out); }

} // namespace troupe::transport
