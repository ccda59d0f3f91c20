#pragma once
/// @file Forward declarations for the mailbox component.

namespace troupe {
struct mpsc_node;
class mpsc_queue;
class mailbox;
struct mailbox_options;
enum class overflow : unsigned char;
enum class admission : unsigned char;
} // namespace troupe
