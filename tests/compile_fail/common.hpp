// Shared set-up of the compile-fail cases: each case compiles once with
// TROUPE_CF_CONTROL defined (the good form: must compile) and once without
// (the bad form: must fail with troupe's static_assert message).
#pragma once
#include <troupe/troupe.hpp>

#include <functional>
#include <memory>
#include <string_view>
#include <tuple>

struct unrelated {};

struct target : troupe::actor<target> {
  void on(int) {}
  void on(std::unique_ptr<int>) {}
  void on(std::shared_ptr<const int>) {}
  void on(std::shared_ptr<int>) {}
  void on(int*) {}
  void on(std::string_view) {}
  void on(std::string) {}
  void on(std::reference_wrapper<int>) {}
  void on(std::tuple<int&>) {}
  void on(std::tuple<int>) {}
  void on(std::vector<int*>) {}
  void on(std::vector<int>) {}
};
