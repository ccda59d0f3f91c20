// Tests of troupe/spill/store_options.hpp and of what store::open refuses:
// bad options, a path that cannot be a directory, a directory already open.
#include "troupe/spill/store_options.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <string>

#include "spill/spill_test_support.hpp"
#include "troupe/spill/store.hpp"

namespace {

using troupe::spill::store;
using troupe::spill::store_options;
using troupe::spill::test::temp_dir;

/// The message of the std::invalid_argument `o.validate()` throws, or "" if none.
std::string refusal(const store_options& o) {
  try {
    o.validate();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

store_options good() { return {.dir = "/tmp/x", .disk_capacity_bytes = 1 << 20, .segment_bytes = 64 * 1024}; }

TEST(StoreOptions, GoodOptionsPass) {
  EXPECT_NO_THROW(good().validate());
  store_options o = good();
  o.segment_bytes = store_options::min_segment_bytes;
  EXPECT_NO_THROW(o.validate());
  o.segment_bytes = o.disk_capacity_bytes;  // one segment may use the whole capacity
  EXPECT_NO_THROW(o.validate());
}

TEST(StoreOptions, DefaultSegmentIsFourMiB) { EXPECT_EQ(store_options{}.segment_bytes, 4u << 20); }

TEST(StoreOptions, EmptyDirRefused) {
  store_options o = good();
  o.dir.clear();
  EXPECT_NE(refusal(o).find("dir"), std::string::npos) << refusal(o);
}

TEST(StoreOptions, ZeroCapacityRefused) {
  store_options o = good();
  o.disk_capacity_bytes = 0;
  EXPECT_NE(refusal(o).find("disk_capacity_bytes"), std::string::npos) << refusal(o);
}

TEST(StoreOptions, SegmentBelowFourKiBRefused) {
  store_options o = good();
  o.segment_bytes = store_options::min_segment_bytes - 1;
  EXPECT_NE(refusal(o).find("segment_bytes"), std::string::npos) << refusal(o);
  o.segment_bytes = 0;
  EXPECT_NE(refusal(o).find("segment_bytes"), std::string::npos) << refusal(o);
}

TEST(StoreOptions, SegmentAboveCapacityRefused) {
  store_options o = good();
  o.segment_bytes = o.disk_capacity_bytes + 1;
  EXPECT_NE(refusal(o).find("segment_bytes"), std::string::npos) << refusal(o);
}

TEST(StoreOpen, BadOptionsRefusedBeforeTouchingTheDisk) {
  temp_dir t;
  store_options o{.dir = t.path() / "never", .disk_capacity_bytes = 0};
  EXPECT_THROW((void)store::open(o), std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(t.path() / "never"));
}

TEST(StoreOpen, CreatesMissingDirectoriesWithMode0700) {
  temp_dir t;
  const auto dir = t.path() / "a" / "b";
  auto s = store::open({.dir = dir, .disk_capacity_bytes = 1 << 20, .segment_bytes = 4096});
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(s->empty());
}

TEST(StoreOpen, PathThatIsAFileThrowsWithErrnoText) {
  temp_dir t;
  const auto file = t.path() / "plain";
  std::ofstream(file) << "x";
  for (const auto& dir : {file, file / "sub"}) {
    try {
      (void)store::open({.dir = dir, .disk_capacity_bytes = 1 << 20, .segment_bytes = 4096});
      ADD_FAILURE() << "opened " << dir;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("Not a directory"), std::string::npos) << e.what();
    }
  }
}

TEST(StoreOpen, UnwritableDirectoryThrows) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  temp_dir t;
  const auto dir = t.path() / "ro";
  std::filesystem::create_directory(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  EXPECT_THROW((void)store::open({.dir = dir, .disk_capacity_bytes = 1 << 20, .segment_bytes = 4096}),
               std::runtime_error);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
}

TEST(StoreOpen, SecondStoreOnTheSameDirectoryIsRefused) {
  temp_dir t;
  auto first = store::open({.dir = t.path(), .disk_capacity_bytes = 1 << 20, .segment_bytes = 4096});
  try {
    (void)store::open({.dir = t.path(), .disk_capacity_bytes = 1 << 20, .segment_bytes = 4096});
    ADD_FAILURE() << "a second store opened the same directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("already open"), std::string::npos) << e.what();
  }
  first.reset();
  EXPECT_NO_THROW((void)store::open({.dir = t.path(), .disk_capacity_bytes = 1 << 20, .segment_bytes = 4096}));
}

} // namespace
