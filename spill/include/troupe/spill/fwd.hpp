#pragma once
/// @file Forward declarations for the spill component.

namespace troupe::spill {
struct store_options;
struct store_stats;
struct record_view;
class store;
enum class append_result : unsigned char;
} // namespace troupe::spill
