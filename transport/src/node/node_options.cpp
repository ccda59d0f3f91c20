#include <sys/un.h>

#include <stdexcept>

#include "streams/shm_segment.hpp"
#include "troupe/actors/shared_bytes.hpp"
#include "troupe/mailbox/mailbox.hpp"
#include "troupe/transport/cookie.hpp"
#include "troupe/transport/node_options.hpp"

namespace troupe {

void node_options::validate() const {
  auto bad = [](const std::string& what) { throw std::invalid_argument("troupe::node_options: " + what); };
  if (name.size() > 255) bad("name is longer than 255 bytes");
  if (listen && listen_host.empty()) bad("listen_host is empty");
  if (!cookie.empty()) {
    if (auto why = transport::weak_cookie(cookie, "cookie"); !why.empty()) bad(why);
  }
  if (max_frame_bytes < 1024) bad("max_frame_bytes must be at least 1024");
  if (max_peer_message_types == 0 || max_peer_message_types > (std::size_t{1} << 20)) {
    bad("max_peer_message_types must be between 1 and 1048576");
  }
  if (max_frame_bytes > (1u << 30)) bad("max_frame_bytes must be at most 1 GiB");
  if (max_peer_monitors == 0 || max_peer_monitors > (std::size_t{1} << 24)) {
    bad("max_peer_monitors must be between 1 and 16777216");
  }
  if (max_peer_links == 0 || max_peer_links > (std::size_t{1} << 24)) bad("max_peer_links must be between 1 and 16777216");
  if (handshake_timeout.count() <= 0) bad("handshake_timeout must be positive");
  if (max_handshakes == 0 || max_handshakes > 65536) bad("max_handshakes must be between 1 and 65536");
  if (max_handshakes_per_address == 0 || max_handshakes_per_address > max_handshakes) {
    bad("max_handshakes_per_address must be between 1 and max_handshakes");
  }
  if (heartbeat_interval.count() <= 0) bad("heartbeat_interval must be positive");
  if (heartbeat_timeout <= heartbeat_interval) bad("heartbeat_timeout must be longer than heartbeat_interval");
  if (write_timeout <= heartbeat_interval) bad("write_timeout must be longer than heartbeat_interval");
  if (down_after.count() <= 0) bad("down_after must be positive");
  if (delivery != delivery_mode::reliable && delivery != delivery_mode::at_most_once) bad("delivery is not a known mode");
  if (reconnect_min.count() <= 0 || reconnect_max < reconnect_min) bad("need 0 < reconnect_min <= reconnect_max");
  if (listen_unix.size() >= sizeof(sockaddr_un::sun_path)) bad("listen_unix is longer than a Unix socket path may be");
  if (listen_shm.size() >= sizeof(sockaddr_un::sun_path)) bad("listen_shm is longer than a Unix socket path may be");
  if (!listen_shm.empty() && listen_shm == listen_unix) bad("listen_shm and listen_unix must be different paths");
  if (shm_ring_bytes < transport::shm::min_ring_bytes || shm_ring_bytes > transport::shm::max_ring_bytes ||
      (shm_ring_bytes & (shm_ring_bytes - 1)) != 0) {
    bad("shm_ring_bytes must be a power of two from 4 KiB to 1 GiB");
  }
  if (max_shm_ring_bytes < transport::shm::min_ring_bytes || max_shm_ring_bytes > transport::shm::max_ring_bytes ||
      (max_shm_ring_bytes & (max_shm_ring_bytes - 1)) != 0) {
    bad("max_shm_ring_bytes must be a power of two from 4 KiB to 1 GiB");
  }
  if (metrics_log_interval.count() < 0) bad("metrics_log_interval must not be negative");
  if (metrics) metrics->validate();
  if (remote_mailbox_capacity == 0 || remote_mailbox_capacity > mailbox::max_capacity) {
    bad("remote_mailbox_capacity must be between 1 and " + std::to_string(mailbox::max_capacity) + " (mailbox::max_capacity)");
  }
  if (tls) {
    if (tls->certificate_file.empty()) bad("tls.certificate_file is empty");
    if (tls->private_key_file.empty()) bad("tls.private_key_file is empty");
    if (tls->ca_file.empty()) bad("tls.ca_file is empty");
    if (tls->cluster.empty() || tls->cluster.size() > 64 ||
        tls->cluster.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
            std::string::npos) {
      bad("tls.cluster must be 1..64 bytes of letters, digits, '-', '_' and '.'");
    }
    if (tls->reload_check.count() < 0) bad("tls.reload_check must not be negative");
  }
  if (max_transfer_bytes < shared_bytes::transfer_threshold || max_transfer_bytes > (std::size_t{1} << 40)) {
    bad("max_transfer_bytes must be between 64 KiB (shared_bytes::transfer_threshold) and 1 TiB");
  }
}

} // namespace troupe
