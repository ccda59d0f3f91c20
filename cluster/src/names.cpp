#include "names.hpp"

#include "troupe/actors/error.hpp"

namespace troupe::cluster_detail {

void names::put(const std::string& name, std::function<void(result<bool>)> done) {
  if (m_->lease() == 0) return done(failure{errc::refused, "not joined yet (or fenced): no lease to hold a name under"});
  claim(name, 0, 0, std::move(done));
}

void names::claim(const std::string& name, std::int64_t rewrite, int tries, std::function<void(result<bool>)> done) {
  // Create-if-absent (or rewrite our own record, while it is that one);
  // otherwise read who holds it. One round trip.
  etcd::TxnRequest txn;
  auto* cmp = txn.add_compare();
  cmp->set_key(key(name));
  cmp->set_result(etcd::Compare::EQUAL);
  if (rewrite == 0) {
    cmp->set_target(etcd::Compare::CREATE);
    cmp->set_create_revision(0);
  } else {
    cmp->set_target(etcd::Compare::MOD);
    cmp->set_mod_revision(rewrite);
  }
  auto* put = txn.add_success()->mutable_request_put();
  put->set_key(key(name));
  put->set_value(m_->holder_record());
  put->set_lease(m_->lease());
  txn.add_failure()->mutable_request_range()->set_key(key(name));
  m_->store().txn(txn, [self = shared_from_this(), name, tries, done = std::move(done)](result<etcd::TxnResponse> r) {
    if (!r) return done(failure{r.error(), std::string(r.message())});
    if (r->succeeded()) {
      self->held_[name] = true;
      return done(true);
    }
    const auto& rs = r->responses();
    if (tries >= 3) return done(failure{errc::refused, "the name " + name + " kept changing hands"});
    if (rs.empty() || rs[0].response_range().kvs().empty()) return self->claim(name, 0, tries + 1, done);
    const auto& kv = rs[0].response_range().kvs(0);
    cluster_records::holder h;
    if (h.ParseFromString(kv.value()) && self->m_->is_this_node(h)) {
      return self->claim(name, kv.mod_revision(), tries + 1, done);  // ours (an earlier lease, or a put again)
    }
    done(failure{errc::name_taken, "the name " + name + " is held by member " + h.node()});
  });
}

void names::holder(const std::string& name, std::function<void(result<std::string>)> done) {
  etcd::RangeRequest req;
  req.set_key(key(name));
  m_->store().range(req, [name, done = std::move(done)](result<etcd::RangeResponse> r) {
    if (!r) return done(failure{r.error(), std::string(r.message())});
    cluster_records::holder h;
    if (r->kvs().empty() || !h.ParseFromString(r->kvs(0).value())) {
      return done(failure{errc::not_published, "no member holds the name " + name});
    }
    done(h.node());
  });
}

void names::remove(const std::string& name) {
  if (held_.erase(name) == 0) return;
  etcd::DeleteRangeRequest del;
  del.set_key(key(name));
  m_->store().remove(del, [](const result<etcd::DeleteRangeResponse>&) {
    // Not removed (etcd unreachable): it goes with our lease.
  });
}

void names::rejoined() {
  for (const auto& [name, held] : held_) {
    claim(name, 0, 0, [name](const result<bool>&) {});
  }
}

} // namespace troupe::cluster_detail
