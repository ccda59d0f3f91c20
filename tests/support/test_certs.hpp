#pragma once
// Certificates made at test time with OpenSSL: a cluster CA in a private
// temporary directory, node certificates naming troupe://<cluster>/<node>
// (or anything else a test needs them to name), with any validity window,
// and revocation lists. EC P-256 keys: quick to make.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace troupe::test {


/// A certificate authority that writes what it makes into a directory.
class test_ca {
 public:
  struct issued {
    std::string cert;  ///< PEM file: the certificate
    std::string key;   ///< PEM file: its key
    long serial = 0;
  };

  /// A CA called `name` (files `name`.pem, its key kept in memory) for `cluster`.
  test_ca(std::string dir, std::string name = "ca", std::string cluster = "troupe")
      : dir_(std::move(dir)), name_(std::move(name)), cluster_(std::move(cluster)), key_(new_key()) {
    cert_.reset(X509_new());
    setup(cert_.get(), "troupe test CA " + name_, -3600, 24 * 3600);
    X509_set_issuer_name(cert_.get(), X509_get_subject_name(cert_.get()));
    X509_set_pubkey(cert_.get(), key_.get());
    extend(cert_.get(), cert_.get(), NID_basic_constraints, "critical,CA:TRUE");
    extend(cert_.get(), cert_.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    extend(cert_.get(), cert_.get(), NID_subject_key_identifier, "hash");
    X509_sign(cert_.get(), key_.get(), EVP_sha256());
    write_cert(ca_file(), cert_.get());
  }

  [[nodiscard]] std::string ca_file() const { return dir_ + "/" + name_ + ".pem"; }

  /// A certificate for the node `node` (files `file`.pem and `file`.key,
  /// `file` defaulting to `node`), valid from `from` to `until` seconds
  /// from now, naming `uri` (default troupe://<cluster>/<node>).
  issued node(const std::string& node, long from = -3600, long until = 24 * 3600, std::string uri = {},
              std::string file = {}) {
    if (uri.empty()) uri = "troupe://" + cluster_ + "/" + node;
    if (file.empty()) file = node;
    auto key = new_key();
    cert_ptr c(X509_new());
    const long serial = next_serial_++;
    setup(c.get(), node, from, until, serial);
    X509_set_issuer_name(c.get(), X509_get_subject_name(cert_.get()));
    X509_set_pubkey(c.get(), key.get());
    extend(c.get(), cert_.get(), NID_basic_constraints, "critical,CA:FALSE");
    extend(c.get(), cert_.get(), NID_key_usage, "critical,digitalSignature");
    extend(c.get(), cert_.get(), NID_ext_key_usage, "serverAuth,clientAuth");
    extend(c.get(), cert_.get(), NID_subject_alt_name, ("URI:" + uri).c_str());
    X509_sign(c.get(), key_.get(), EVP_sha256());
    issued out{dir_ + "/" + file + ".pem", dir_ + "/" + file + ".key", serial};
    write_cert(out.cert, c.get());
    std::FILE* f = std::fopen(out.key.c_str(), "w");
    if (!f) throw std::runtime_error("cannot write " + out.key);
    PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    ::chmod(out.key.c_str(), 0600);
    return out;
  }

  /// A revocation list revoking `serials`, written to `name`-crl.pem (its path).
  std::string crl(const std::vector<long>& serials) {
    std::unique_ptr<X509_CRL, decltype(&X509_CRL_free)> crl(X509_CRL_new(), &X509_CRL_free);
    X509_CRL_set_version(crl.get(), 1);
    X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(cert_.get()));
    std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> now(X509_gmtime_adj(nullptr, -60), &ASN1_TIME_free);
    std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> next(X509_gmtime_adj(nullptr, 24 * 3600), &ASN1_TIME_free);
    X509_CRL_set1_lastUpdate(crl.get(), now.get());
    X509_CRL_set1_nextUpdate(crl.get(), next.get());
    for (long s : serials) {
      X509_REVOKED* r = X509_REVOKED_new();
      ASN1_INTEGER* n = ASN1_INTEGER_new();
      ASN1_INTEGER_set(n, s);
      X509_REVOKED_set_serialNumber(r, n);
      X509_REVOKED_set_revocationDate(r, now.get());
      X509_CRL_add0_revoked(crl.get(), r);
      ASN1_INTEGER_free(n);
    }
    X509_CRL_sort(crl.get());
    X509_CRL_sign(crl.get(), key_.get(), EVP_sha256());
    const std::string path = dir_ + "/" + name_ + "-crl.pem";
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f) throw std::runtime_error("cannot write " + path);
    PEM_write_X509_CRL(f, crl.get());
    std::fclose(f);
    return path;
  }

 private:
  struct key_free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  struct cert_free {
    void operator()(X509* c) const { X509_free(c); }
  };
  using key_ptr = std::unique_ptr<EVP_PKEY, key_free>;
  using cert_ptr = std::unique_ptr<X509, cert_free>;

  static key_ptr new_key() {
    key_ptr k(EVP_EC_gen("P-256"));
    if (!k) throw std::runtime_error("cannot make a key");
    return k;
  }
  static void setup(X509* c, const std::string& cn, long from, long until, long serial = 1) {
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial);
    X509_gmtime_adj(X509_getm_notBefore(c), from);
    X509_gmtime_adj(X509_getm_notAfter(c), until);
    X509_NAME* n = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  }
  static void extend(X509* c, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, c, nullptr, nullptr, 0);
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (e == nullptr) throw std::runtime_error(std::string("bad extension ") + value);
    X509_add_ext(c, e, -1);
    X509_EXTENSION_free(e);
  }
  static void write_cert(const std::string& path, X509* c) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f) throw std::runtime_error("cannot write " + path);
    PEM_write_X509(f, c);
    std::fclose(f);
  }

  std::string dir_;
  std::string name_;
  std::string cluster_;
  key_ptr key_;
  cert_ptr cert_;
  long next_serial_ = 100;
};

} // namespace troupe::test
