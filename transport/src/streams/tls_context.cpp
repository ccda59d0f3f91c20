#include "streams/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace troupe::transport {

namespace {

[[noreturn]] void refuse(const std::string& what) {
  throw std::invalid_argument("troupe::node_options: tls." + what);
}

/// OpenSSL's last error, as text (and the queue cleared).
std::string openssl_error() {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  const char* r = ERR_reason_error_string(e);
  return r ? r : "error " + std::to_string(e);
}

void load_crls(X509_STORE* store, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "re");
  if (!f) refuse("crl_file '" + path + "' cannot be read");
  int n = 0;
  while (X509_CRL* crl = PEM_read_X509_CRL(f, nullptr, nullptr, nullptr)) {
    X509_STORE_add_crl(store, crl);
    X509_CRL_free(crl);
    ++n;
  }
  std::fclose(f);
  ERR_clear_error();  // the end of the file
  if (n == 0) refuse("crl_file '" + path + "' holds no PEM revocation list");
  X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
}

/// A server's ticket for a connecting stream: into the store (see ticket_target).
int on_new_session(SSL* ssl, SSL_SESSION* s) {
  auto* t = static_cast<ticket_target*>(SSL_get_app_data(ssl));
  if (t == nullptr || t->ctx == nullptr || t->key.empty()) return 0;
  t->ctx->keep_session(t->key, s);
  return 1;  // the store took the reference
}

/// Checks that `cert` (this node's) chains to the CA in `ctx`'s store now.
void check_own_chain(SSL_CTX* ctx, X509* cert, const std::string& path) {
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx, &chain);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> v(X509_STORE_CTX_new(), &X509_STORE_CTX_free);
  if (!v || X509_STORE_CTX_init(v.get(), SSL_CTX_get_cert_store(ctx), cert, chain) != 1) {
    refuse("certificate_file '" + path + "': cannot check it: " + openssl_error());
  }
  X509_STORE_CTX_set_purpose(v.get(), X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(v.get()) != 1) {
    refuse("certificate_file '" + path + "' does not verify against ca_file: " +
           X509_verify_cert_error_string(X509_STORE_CTX_get_error(v.get())));
  }
}

/// Session tickets: one per full handshake, kept by the connecting side
/// per dial address (on_new_session); none at all without `resume`.
void configure_sessions(SSL_CTX* c, bool resume) {
  // Mutual authentication makes a session's context matter to OpenSSL's
  // server side: without one it refuses to resume.
  static constexpr unsigned char sid_context[] = "troupe";
  SSL_CTX_set_session_id_context(c, sid_context, sizeof sid_context - 1);
  if (resume) {
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_BOTH | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, &on_new_session);
    SSL_CTX_set_num_tickets(c, 1);
  } else {
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(c, 0);
  }
}

} // namespace

std::vector<std::string> uri_names(X509* cert) {
  std::vector<std::string> out;
  if (cert == nullptr) return out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_URI) continue;
    const ASN1_IA5STRING* u = n->d.uniformResourceIdentifier;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(u)), ASN1_STRING_length(u));
  }
  GENERAL_NAMES_free(names);
  return out;
}

tls_context::tls_context(const tls_options& o, std::string node_name)
    : opts_(o), node_name_(std::move(node_name)), resume_(o.resume_sessions) {
  loaded_ = stamps();
  ctx_ = load();
}

tls_context::~tls_context() {
  for (auto& [key, s] : sessions_) SSL_SESSION_free(s);
}

std::vector<tls_context::stamp> tls_context::stamps() const {
  std::vector<stamp> out;
  for (const std::string* p : {&opts_.certificate_file, &opts_.private_key_file, &opts_.ca_file, &opts_.crl_file}) {
    stamp s;
    struct stat st {};
    if (!p->empty() && ::stat(p->c_str(), &st) == 0) {
      s.mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec;
      s.size = static_cast<long long>(st.st_size);
      s.inode = st.st_ino;
    }
    out.push_back(s);
  }
  return out;
}

std::shared_ptr<SSL_CTX> tls_context::load() const {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()), &SSL_CTX_free);
  if (!ctx) refuse("cannot make an OpenSSL context: " + openssl_error());
  SSL_CTX* c = ctx.get();
  // TLS 1.3 only: its suites are all AEAD with forward secrecy; there is no
  // anonymous or export suite to fall back to.
  SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
  SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);

  if (SSL_CTX_use_certificate_chain_file(c, opts_.certificate_file.c_str()) != 1) {
    refuse("certificate_file '" + opts_.certificate_file + "' cannot be used: " + openssl_error());
  }
  if (SSL_CTX_use_PrivateKey_file(c, opts_.private_key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
      refuse("private_key_file '" + opts_.private_key_file + "' cannot be used: " + openssl_error());
    }
    ERR_clear_error();
    refuse("private_key_file '" + opts_.private_key_file + "' is not the key of certificate_file '" +
           opts_.certificate_file + "'");
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    refuse("private_key_file '" + opts_.private_key_file + "' is not the key of certificate_file '" +
           opts_.certificate_file + "'");
  }
  if (SSL_CTX_load_verify_locations(c, opts_.ca_file.c_str(), nullptr) != 1) {
    refuse("ca_file '" + opts_.ca_file + "' cannot be used: " + openssl_error());
  }
  if (!opts_.crl_file.empty()) load_crls(SSL_CTX_get_cert_store(c), opts_.crl_file);

  // This node's certificate must name it and verify, or every peer would
  // refuse it later with a vaguer reason.
  X509* own = SSL_CTX_get0_certificate(c);
  const std::string want = name_of(node_name_);
  const auto names = uri_names(own);
  if (std::find(names.begin(), names.end(), want) == names.end()) {
    std::string have;
    for (const auto& n : names) have += (have.empty() ? "" : ", ") + n;
    refuse("certificate_file '" + opts_.certificate_file + "' does not name this node " + want + " (it names " +
           (have.empty() ? std::string("no troupe:// URI") : have) +
           "); make one with scripts/troupe-certs node <dir> " + node_name_);
  }
  check_own_chain(c, own, opts_.certificate_file);

  configure_sessions(c, resume_);
  return ctx;
}

bool tls_context::reload(bool force) {
  auto now = stamps();
  {
    std::lock_guard guard(mx_);
    if (!force && now == loaded_) return false;
  }
  auto fresh = load();  // throws: what is in use stays
  std::lock_guard guard(mx_);
  ctx_ = std::move(fresh);
  loaded_ = std::move(now);
  for (auto& [key, s] : sessions_) SSL_SESSION_free(s);
  sessions_.clear();
  return true;
}

SSL* tls_context::new_ssl(bool connector, const std::string& session_key) {
  std::lock_guard guard(mx_);
  SSL* ssl = SSL_new(ctx_.get());
  if (ssl == nullptr) return nullptr;
  if (connector) {
    SSL_set_connect_state(ssl);
    if (resume_) {
      if (auto it = sessions_.find(session_key); it != sessions_.end()) {
        SSL_set_session(ssl, it->second);  // TLS 1.3 tickets are for one use: it goes
        SSL_SESSION_free(it->second);
        sessions_.erase(it);
      }
    }
  } else {
    SSL_set_accept_state(ssl);
  }
  return ssl;
}

void tls_context::keep_session(const std::string& session_key, SSL_SESSION* s) {
  std::lock_guard guard(mx_);
  if (auto it = sessions_.find(session_key); it != sessions_.end()) {
    SSL_SESSION_free(it->second);
    it->second = s;
    return;
  }
  if (sessions_.size() >= max_sessions) {
    SSL_SESSION_free(sessions_.begin()->second);
    sessions_.erase(sessions_.begin());
  }
  sessions_.emplace(session_key, s);
}

std::string tls_context::name_of(std::string_view name) const {
  return "troupe://" + opts_.cluster + "/" + std::string(name);
}

} // namespace troupe::transport
