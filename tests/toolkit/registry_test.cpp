#include "toolkit.hpp"

namespace toolkit {
namespace {

TEST(Registry, PutGetAndTypedLookup) {
  troupe::actor_system sys;
  auto v = sys.spawn<victim>();
  EXPECT_FALSE(sys.registry().put("v", v));
  EXPECT_EQ(sys.registry().get("v"), troupe::any_ref(v));
  EXPECT_EQ(sys.registry().get<victim>("v"), v);
  EXPECT_FALSE(sys.registry().get<watcher>("v"));  // wrong type: empty
  EXPECT_FALSE(sys.registry().get("missing"));
}

TEST(Registry, ClashIsAnErrorResult) {
  troupe::actor_system sys;
  auto a = sys.spawn<victim>();
  auto b = sys.spawn<victim>();
  ASSERT_FALSE(sys.registry().put("name", a));
  EXPECT_EQ(sys.registry().put("name", b), troupe::errc::name_taken);
  EXPECT_FALSE(sys.registry().put("name", a));  // the same actor again is fine
  EXPECT_EQ(sys.registry().put("", a), troupe::errc::invalid_name);
  EXPECT_EQ(sys.registry().put("x", troupe::any_ref{}), troupe::errc::actor_stopped);
  EXPECT_EQ(std::error_code(troupe::errc::name_taken).message(), "name is held by another live actor");
}

TEST(Registry, NameIsFreedWhenTheActorStops) {
  troupe::actor_system sys;
  auto a = sys.spawn<victim>();
  ASSERT_FALSE(sys.registry().put("svc", a));
  ASSERT_FALSE(sys.registry().put("svc-alias", a));
  a.tell(quit{});
  ASSERT_TRUE(troupe::test::wait_until([&] { return sys.registry().size() == 0; }, troupe::test::long_wait));
  EXPECT_FALSE(sys.registry().get("svc"));
  EXPECT_EQ(sys.registry().put("svc", a), troupe::errc::actor_stopped);
  auto b = sys.spawn<victim>();
  EXPECT_FALSE(sys.registry().put("svc", b));
}

TEST(Registry, ANameIsFreeOnceTheDownOfItsActorArrives) {
  // Whoever learns of the stop (await_stopped, a monitor's `down`) may bind
  // a successor to the name at once: it was freed before the `down` left.
  troupe::actor_system sys(troupe::system_config{.threads = 2});
  for (int round = 0; round < 1000; ++round) {
    auto a = sys.spawn<victim>();
    ASSERT_FALSE(sys.registry().put("svc", a));
    a.tell(quit{});
    ASSERT_TRUE(sys.await_stopped(a, troupe::test::long_wait).has_value());
    ASSERT_FALSE(sys.registry().get("svc")) << "round " << round;
    auto b = sys.spawn<victim>();
    ASSERT_EQ(sys.registry().put("svc", b), std::error_code()) << "round " << round;
    ASSERT_TRUE(sys.registry().erase("svc"));
    b.tell(quit{});
  }
}

TEST(Registry, EraseUnbinds) {
  troupe::actor_system sys;
  auto a = sys.spawn<victim>();
  ASSERT_FALSE(sys.registry().put("n", a));
  EXPECT_TRUE(sys.registry().erase("n"));
  EXPECT_FALSE(sys.registry().erase("n"));
  EXPECT_FALSE(sys.registry().get("n"));
}

} // namespace
} // namespace toolkit
