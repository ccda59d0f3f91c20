#pragma once
// Private to the transport: the inbound message path. A MESSAGE (or a
// TRANSFER) from the peer is checked (its type, its receiver, its credit),
// and queued for a published actor undecoded: the actor decodes it in its
// own turn. Consecutive messages for one actor go in one mailbox push.
//
// Owned by the reader (the I/O thread, or the read token's holder): no lock.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "node/directory.hpp"
#include "protocol/frame.hpp"
#include "link/flow_credit.hpp"
#include "protocol/control_codec.hpp"

namespace troupe::transport {

class connection;

class inbound_path {
 public:
  /// Takes frames up to `max_frame` bytes (the credit limit follows).
  inbound_path(connection& c, std::uint32_t max_frame) noexcept : c_(c), limit_(credit_limit(max_frame)) {}
  ~inbound_path();
  inbound_path(const inbound_path&) = delete;
  inbound_path& operator=(const inbound_path&) = delete;

  /// A MESSAGE frame: the hot path. False when it ends the connection (a bad frame).
  bool on_message(const frame_view& f);
  /// A TRANSFER frame (its buffer was passed ahead of it).
  bool on_transfer(const frame_view& f);
  /// Pushes the pending chain into its mailbox: before anything that must
  /// come after the messages read so far (a control frame, an answer).
  void flush() noexcept;
  /// Counts the messages of a read (at its end).
  void count_read() noexcept;
  /// The published actor `id` when its publication grants `needs`; else
  /// nullptr, with `*refused` (when given) set when the actor is there but
  /// does not grant it.
  detail::actor_cell* exposed_cell(std::uint64_t id, remote_control needs = remote_control::none,
                                   bool* refused = nullptr);
  /// The connection ended: the cached actors are let go.
  void end() noexcept;
  /// Grants the peer what its idle accounts gathered below a credit step
  /// (see receive_account::return_leftover). Any thread (the heartbeat).
  void return_idle_credit() noexcept;

 private:
  struct type_in {
    std::string name;
    std::uint64_t gen = ~std::uint64_t{0};
    bool known = false;
    // The last receiver of this type and its decoder (valid for `gen`).
    const exposed_actor* actor = nullptr;
    const detail::message_decoder* decoder = nullptr;
  };
  /// A published actor as the connection sees it: the actor, and the
  /// account of credit owed to the peer for it.
  struct target {
    std::shared_ptr<exposed_actor> ex;
    receive_account* account = nullptr;
  };
  /// Messages read for one actor, pushed together.
  struct chain {
    detail::actor_cell* cell = nullptr;
    detail::wire_envelope* first = nullptr;
    detail::wire_envelope* last = nullptr;
    std::uint32_t count = 0;
  };
  static constexpr std::uint32_t max_chain = 64;

  /// The type a MESSAGE names (defining it on first use); nullptr after a bad frame.
  type_in* type_of(const envelope_view& v, std::uint64_t gen) {
    if (last_type_ != nullptr && v.type_name.empty() && last_type_id_ == v.type_id && last_type_->gen == gen &&
        last_type_->known) [[likely]] {
      return last_type_;  // a run of one type
    }
    return type_of_slow(v, gen);
  }
  type_in* type_of_slow(const envelope_view& v, std::uint64_t gen);
  /// The published actor `id` (cached for generation `gen`), or nullptr.
  /// The exposed actor `id`, unless it is not there or stopped (a cached
  /// route to an actor that stopped since is dropped here, once).
  const target* exposed(std::uint64_t id, std::uint64_t gen) {
    const target* t = gen == gen_ && last_ != nullptr && last_->first == id ? &last_->second  // a run to one actor
                                                                           : exposed_slow(id, gen);
    if (t != nullptr && t->ex->cell->box().is_closed()) [[unlikely]] return stopped(id);
    return t;
  }
  /// `id` stopped since it was cached: the directory forgets it, and with
  /// the generation it bumps, the readers' caches do. nullptr.
  const target* stopped(std::uint64_t id);
  const target* exposed_slow(std::uint64_t id, std::uint64_t gen);
  receive_account* account_for(std::uint64_t id);
  /// Checks a TRANSFER's payload; false after a bad frame.
  bool check_transfer(const type_in& t, std::string_view payload, control::transfer& out);
  /// The published actor a message goes to, with its decoder set in `ti`;
  /// nullptr when it goes nowhere: dropped (counted, its credit and any
  /// `loan` given back, an ask answered) or a bad frame (the connection ends).
  const target* route(const envelope_view& v, type_in& ti, std::uint64_t gen, std::int64_t units,
                      const control::transfer* loan);
  /// An ask's reply slot, from the decoder (or an error answered at once).
  void answer_to(detail::envelope* e, const type_in& t, std::uint64_t request);
  void queue(const target& to, detail::wire_envelope* e) noexcept;
  /// A message that no actor takes: counted, its `units` of credit given
  /// back, an ask answered with `why`.
  void drop(std::uint64_t receiver, const target* to, std::uint64_t request, std::int64_t units, const std::string& why);
  /// The peer's handle of `receiver` names an actor that is not here (it
  /// stopped, or never was): a DOWN with monitor 0 closes it there, so its
  /// senders get `dead`. Once per actor (up to max_told_gone actors).
  void tell_gone(std::uint64_t receiver);
  static constexpr std::size_t max_told_gone = 4096;

  connection& c_;
  std::int64_t limit_;  // credit units the peer may have sent one actor and not had granted back
  std::unordered_map<std::uint32_t, type_in> types_;
  type_in* last_type_ = nullptr;  // the last type used, and its id
  std::uint32_t last_type_id_ = 0;
  std::unordered_map<std::uint64_t, target> cache_;
  std::unordered_set<std::uint64_t> told_gone_;  // the reader's
  const std::pair<const std::uint64_t, target>* last_ = nullptr;  // the last hit in cache_
  std::uint64_t gen_ = ~std::uint64_t{0};
  // Flow credit owed to the peer, per local actor it sends to (one reference
  // each). Under accounts_mx_: the reader adds, the heartbeat sweeps.
  std::mutex accounts_mx_;
  std::unordered_map<std::uint64_t, receive_account*> accounts_;
  chain chain_;
  std::uint64_t messages_ = 0;  // counted when a read ends
};

} // namespace troupe::transport
