#pragma once
// Private to the transport: a node's TLS credentials (node_options::tls)
// as an OpenSSL context, and the session tickets it keeps for redials.
//
// One SSL_CTX serves both directions (a node dials and accepts): TLS 1.3
// only, AEAD suites only, the peer's certificate required and verified
// against the CA (and the CRL when given). A node's name is its
// certificate's: the URI subject alternative name troupe://<cluster>/<node>,
// checked for this node when the files load and for a peer once its
// handshake names it (the connection does that, see names_peer()).
//
// Reload builds a whole new context and swaps it in; streams made before
// keep the one they started with (SSL objects hold their context). Tickets
// the old context issued are not honoured by the new one, so a certificate
// revoked in the reload cannot come back through a resumed session.
//
// Threads: any (the context and the ticket store are under a mutex).

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "troupe/transport/node_options.hpp"

namespace troupe::transport {

class tls_context;

/// Where the tickets of a connecting stream go: the SSL's app data (owned
/// by the stream, which outlives its SSL).
struct ticket_target {
  tls_context* ctx = nullptr;
  std::string key;  ///< the dial address
};

/// The URI names (subject alternative names) of `cert`.
[[nodiscard]] std::vector<std::string> uri_names(X509* cert);

class tls_context {
 public:
  /// Loads the files of `o` for the node `node_name`. @throws
  /// std::invalid_argument naming the file and what is wrong with it
  /// (unreadable, not PEM, key not matching, not naming this node,
  /// not issued by the CA, expired).
  tls_context(const tls_options& o, std::string node_name);
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  /// Loads the files again when one changed since the last load (any
  /// time when `force`): true when new credentials are in use, false when
  /// nothing changed. @throws std::invalid_argument as the constructor
  /// (the credentials in use stay).
  bool reload(bool force);

  /// A new SSL object for one stream, from the credentials in use; the
  /// connecting side (`connector`) resumes the session kept for
  /// `session_key` (a dial address) when there is one.
  [[nodiscard]] SSL* new_ssl(bool connector, const std::string& session_key);
  /// A ticket the server sent for `session_key`: kept (one per key, the
  /// newest) for the next dial there. Takes the reference.
  void keep_session(const std::string& session_key, SSL_SESSION* s);

  /// "troupe://<cluster>/<name>": what a peer called `name` must be named.
  [[nodiscard]] std::string name_of(std::string_view name) const;
  [[nodiscard]] bool resumes() const noexcept { return resume_; }

 private:
  struct stamp {
    long long mtime_ns = 0;
    long long size = -1;
    unsigned long long inode = 0;
    friend bool operator==(const stamp&, const stamp&) = default;
  };
  [[nodiscard]] std::vector<stamp> stamps() const;
  /// A context from the files, checked. @throws std::invalid_argument
  [[nodiscard]] std::shared_ptr<SSL_CTX> load() const;

  static constexpr std::size_t max_sessions = 1024;

  const tls_options opts_;
  const std::string node_name_;
  const bool resume_;
  mutable std::mutex mx_;
  std::shared_ptr<SSL_CTX> ctx_;
  std::vector<stamp> loaded_;  // the files as they were when ctx_ was made
  std::unordered_map<std::string, SSL_SESSION*> sessions_;
};

} // namespace troupe::transport
