#include "link/transfers.hpp"

#include <utility>

namespace troupe::transport {

namespace {
/// A shared_bytes whose memory a same-host peer handed over, counted on a
/// credit account like a wire_envelope.
struct transfer_envelope final : detail::envelope {
  transfer_envelope(shared_bytes&& v, receive_account* a,
                    void (*r)(detail::actor_cell&, detail::envelope*, shared_bytes&)) noexcept;
  shared_bytes value;
  receive_account* account;
  void (*run)(detail::actor_cell&, detail::envelope*, shared_bytes&);
};

void invoke_transfer(detail::actor_cell& self, detail::envelope* e) {
  auto* t = static_cast<transfer_envelope*>(e);
  t->run(self, e, t->value);
}

void destroy_transfer(detail::envelope* e) noexcept {
  auto* t = static_cast<transfer_envelope*>(e);
  if (t->account != nullptr) t->account->consumed_and_release(transfer_cost);
  delete t;
}

// A spill mailbox writes a received buffer to disk as its bytes.
void encode_transfer(const detail::envelope& e, std::string& out) {
  const shared_bytes& b = static_cast<const transfer_envelope&>(e).value;
  out.append(b.data(), b.size());
}

constexpr detail::wire_ops transfer_wire{&wire_name<shared_bytes>, &encode_transfer, nullptr};
constexpr detail::message_ops transfer_ops{&invoke_transfer, &destroy_transfer, &typeid(shared_bytes), nullptr,
                                           &transfer_wire, detail::envelope_form::other};

transfer_envelope::transfer_envelope(shared_bytes&& v, receive_account* a,
                                     void (*r)(detail::actor_cell&, detail::envelope*, shared_bytes&)) noexcept
    : envelope(&transfer_ops), value(std::move(v)), account(a), run(r) {
  if (account != nullptr) account->retain();
}

class connection_lender final : public bytes_lender {
 public:
  explicit connection_lender(std::weak_ptr<frame_poster> to) : to_(std::move(to)) {}
  void give_back(std::uint64_t id) noexcept override {
    post_to(to_, [&](std::string& f) { control::append_return(f, id); });
  }

 private:
  std::weak_ptr<frame_poster> to_;
};
} // namespace

std::uint64_t lent_buffers::lend(shared_bytes&& b) {
  std::lock_guard lock(mx_);
  const std::uint64_t loan = next_++;
  lent_.emplace(loan, std::move(b));
  return loan;
}

shared_bytes lent_buffers::take_back(std::uint64_t loan) {
  std::lock_guard lock(mx_);
  auto it = lent_.find(loan);
  if (it == lent_.end()) return {};
  shared_bytes b = std::move(it->second);
  lent_.erase(it);
  return b;
}

void lent_buffers::end() noexcept {
  std::unordered_map<std::uint64_t, shared_bytes> lent;
  {
    std::lock_guard lock(mx_);
    lent.swap(lent_);
  }
  for (auto& [loan, b] : lent) detail::shared_bytes_access::never_reuse(b);
}

detail::envelope* adopt_transfer(int fd, const control::transfer& t, const detail::message_decoder& to,
                                 receive_account* account, std::shared_ptr<bytes_lender> lender) {
  using access = detail::shared_bytes_access;
  shared_bytes b = access::adopt(fd, static_cast<std::size_t>(t.size));
  access::on_loan(b, std::move(lender), t.loan);  // given back (a RETURN frame) when dropped here
  return new transfer_envelope(std::move(b), account, to.run_bytes);
}

std::shared_ptr<bytes_lender> make_lender(std::weak_ptr<frame_poster> to) {
  return std::make_shared<connection_lender>(std::move(to));
}

} // namespace troupe::transport
