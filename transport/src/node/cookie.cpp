#include "troupe/transport/cookie.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace troupe::transport {

namespace {
[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("troupe: cookie file " + path + ": " + what);
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("troupe: no random bytes for a new cookie (OpenSSL RAND_bytes failed)");
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : raw) {
    hex.push_back(digits[c >> 4]);
    hex.push_back(digits[c & 15]);
  }
  return hex;
}

void create(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) fail(path, "cannot create " + dir + ": " + std::strerror(errno));
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return;  // another process created it first
    fail(path, std::string("cannot create: ") + std::strerror(errno));
  }
  const std::string secret = random_hex(32) + "\n";
  const bool ok = ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(secret.size());
  ::close(fd);
  if (!ok) fail(path, "cannot write the new cookie");
}

/// The directory holding the cookie: this user's, a real directory, not
/// writable by others (who could swap the file).
void check_directory(const std::string& path) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) fail(path, "cannot inspect " + dir + ": " + std::strerror(errno));
  if (S_ISLNK(st.st_mode)) fail(path, dir + " is a symbolic link");
  if (!S_ISDIR(st.st_mode)) fail(path, dir + " is not a directory");
  if (st.st_uid != ::geteuid() && st.st_uid != 0) fail(path, dir + " belongs to another user");
  if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0) {
    fail(path, dir + " is writable by others; run: chmod go-w " + dir);
  }
}
} // namespace

std::string weak_cookie(const std::string& cookie, const std::string& source) {
  if (cookie.size() >= min_cookie_bytes) return {};
  return source + " is " + std::to_string(cookie.size()) + " bytes; a cookie needs at least " +
         std::to_string(min_cookie_bytes) + " (make one with: openssl rand -hex 32)";
}

namespace {
std::string checked(std::string cookie, const std::string& source) {
  if (auto why = weak_cookie(cookie, source); !why.empty()) throw std::runtime_error("troupe: " + why);
  return cookie;
}
} // namespace

std::string default_cookie_path() {
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : ".") + "/.troupe/cookie";
}

std::string load_cookie(const std::string& given) {
  if (const char* env = std::getenv("TROUPE_COOKIE")) return checked(env, "TROUPE_COOKIE");
  const std::string path = given.empty() ? default_cookie_path() : given;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) fail(path, std::strerror(errno));
    create(path);
    if (::lstat(path.c_str(), &st) != 0) fail(path, std::strerror(errno));
  }
  check_directory(path);
  if (S_ISLNK(st.st_mode)) fail(path, "is a symbolic link (give the file itself)");
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  if (st.st_uid != ::geteuid()) fail(path, "belongs to another user");
  if ((st.st_mode & 077) != 0) fail(path, "readable by group or others; run: chmod 600 " + path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) fail(path, std::string("cannot read: ") + std::strerror(errno));
  std::string secret;
  char buf[256];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    secret.append(buf, static_cast<std::size_t>(n));
    if (secret.size() > 4096) break;
  }
  ::close(fd);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
  return checked(std::move(secret), "the cookie in " + path);
}

} // namespace troupe::transport
