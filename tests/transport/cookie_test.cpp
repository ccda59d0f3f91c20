// The cookie: where it comes from, and the weak or exposed ones that are
// refused where they are given.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "transport_fixture.hpp"
#include "troupe/transport/cookie.hpp"

namespace transport_test {
namespace {

/// A fresh private directory for cookie files, removed at the end.
struct cookie_dir {
  cookie_dir() {
    ::unsetenv("TROUPE_COOKIE");
    std::filesystem::remove_all(dir);
    std::filesystem::create_directory(dir);
    ::chmod(dir.c_str(), 0700);
  }
  ~cookie_dir() { std::filesystem::remove_all(dir); }
  /// Writes `secret` into `name`, mode 0600; its path.
  std::string file(const std::string& name, const std::string& secret) const {
    const std::string path = (dir / name).string();
    std::ofstream(path) << secret << "\n";
    ::chmod(path.c_str(), 0600);
    return path;
  }
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("troupe-cookie-" + std::to_string(::getpid()));
};

/// The message of the runtime_error `f` throws ("" when it throws none).
template <class F>
std::string refusal(F&& f) {
  try {
    (void)f();
  } catch (const std::exception& ex) {
    return ex.what();
  }
  return "";
}

bool says(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(Cookie, CreatedPrivateOnFirstUseAndRefusedWhenOthersCanRead) {
  cookie_dir d;
  const std::string path = (d.dir / "made" / "cookie").string();
  const std::string secret = troupe::transport::load_cookie(path);
  EXPECT_EQ(secret.size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(troupe::transport::load_cookie(path), secret);  // stable
  ::chmod(path.c_str(), 0644);
  const std::string why = refusal([&] { return troupe::transport::load_cookie(path); });
  EXPECT_TRUE(says(why, "chmod 600")) << "a world-readable cookie was accepted: " << why;
  ::setenv("TROUPE_COOKIE", "from-the-environment", 1);
  EXPECT_EQ(troupe::transport::load_cookie(path), "from-the-environment");
  ::unsetenv("TROUPE_COOKIE");
}

TEST(Cookie, ShorterThanSixteenBytesIsRefusedWhereverItComesFrom) {
  cookie_dir d;
  // As an option: refused where it is given.
  troupe::node_options o = node_opts("alpha");
  o.cookie = "summer2024";
  const std::string as_option = refusal([&] { o.validate(); return 0; });
  EXPECT_TRUE(says(as_option, "10 bytes")) << as_option;
  EXPECT_TRUE(says(as_option, "openssl rand -hex 32")) << as_option;
  troupe::actor_system sys{two_threads()};
  EXPECT_THROW(troupe::node(sys, o), std::invalid_argument);
  // In the environment, and in a file.
  ::setenv("TROUPE_COOKIE", "short", 1);
  EXPECT_TRUE(says(refusal([] { return troupe::transport::load_cookie(); }), "TROUPE_COOKIE is 5 bytes"));
  ::unsetenv("TROUPE_COOKIE");
  const std::string path = d.file("weak", "x");
  EXPECT_TRUE(says(refusal([&] { return troupe::transport::load_cookie(path); }), "1 bytes; a cookie needs at least 16"));
  EXPECT_EQ(troupe::transport::load_cookie(d.file("good", "0123456789abcdef")), "0123456789abcdef");
}

TEST(Cookie, ALinkAFileOfAnotherUserOrADirectoryOthersCanWriteIsRefused) {
  cookie_dir d;
  const std::string real = d.file("real", "0123456789abcdef-the-real-one");
  const std::string link = (d.dir / "link").string();
  ASSERT_EQ(::symlink(real.c_str(), link.c_str()), 0);
  EXPECT_TRUE(says(refusal([&] { return troupe::transport::load_cookie(link); }), "symbolic link"));
  if (::geteuid() == 0) {  // only root can give a file away
    const std::string foreign = d.file("foreign", "0123456789abcdef-not-mine");
    ASSERT_EQ(::chown(foreign.c_str(), 65534, 65534), 0);
    EXPECT_TRUE(says(refusal([&] { return troupe::transport::load_cookie(foreign); }), "belongs to another user"));
  }
  ::chmod(d.dir.c_str(), 0777);  // anyone could put another file in its place
  const std::string open_dir = refusal([&] { return troupe::transport::load_cookie(real); });
  EXPECT_TRUE(says(open_dir, "writable by others")) << open_dir;
  ::chmod(d.dir.c_str(), 0700);
  EXPECT_EQ(troupe::transport::load_cookie(real), "0123456789abcdef-the-real-one");
}

} // namespace
} // namespace transport_test
