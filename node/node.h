// Node is one running tongband: the node core (LocalNode), the federation's
// roster and TLS identity, the Exchange server for peers, the peer driver
// that dials them, and the table of peer states that operators read. The
// daemon's main, the system test and the demo all run this class.
//
// Start checks, before anything listens:
//   - the roster verifies against the federation root key and lists this
//     node; the node's signing key (data_dir/signing.key, from `tongbanctl
//     keys generate --out DATA_DIR/signing`) is one of its roster keys;
//   - the TLS certificate and key files are readable (the key 0600);
//   - the storage key is created on first start (data_dir/storage.key).
// Each failure is one error naming the file or the roster entry to fix.
//
// Stop is graceful: the driver closes the sessions it dialled, the server
// ends the sessions peers dialled (a batch being applied finishes; one not
// yet applied is dropped and sent again next time, since the sender reads
// from its durable log), then the writer finishes queued appends and signs
// them, and the store closes. Nothing is half-applied: every apply is one
// atomic write batch.
//
// Thread safety: the accessors are safe from any thread; Stop too.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "node/config.h"
#include "node/local_node.h"
#include "sync/driver.h"
#include "sync/peers.h"
#include "sync/roster.h"
#include "sync/transport.h"

namespace tongban::node {

class Node {
 public:
  // `clock` is not owned and must outlive the node.
  static absl::StatusOr<std::unique_ptr<Node>> Start(const Config& config, const Clock* clock);
  ~Node();  // Stop()

  // Graceful stop; idempotent.
  void Stop();

  const Config& config() const { return config_; }
  int peer_port() const { return server_->port(); }
  storage::Store* store() { return local_->store(); }
  storage::Writer* writer() { return local_->writer(); }
  const crypto::Suite& suite() const { return local_->suite(); }
  const sync::Roster& roster() const { return roster_; }
  const sync::PeerTable& peers() const { return peers_; }
  std::map<std::string, sync::DriverPeer> driver_state() const { return driver_->Snapshot(); }

 private:
  Node(Config config, const Clock* clock, sync::Roster roster)
      : config_(std::move(config)), clock_(clock), roster_(std::move(roster)) {}
  std::unique_ptr<sync::Session> NewSession(const std::string& peer);
  absl::Status Admit(const std::string& peer) const;

  const Config config_;
  const Clock* const clock_;
  const sync::Roster roster_;
  sync::TlsIdentity tls_;
  sync::PeerTable peers_;
  // Declaration order is construction order; the destructor stops them in
  // reverse after Stop().
  std::unique_ptr<LocalNode> local_;
  std::unique_ptr<sync::ExchangeServer> server_;
  std::unique_ptr<sync::PeerDriver> driver_;
  bool stopped_ = false;
};

}  // namespace tongban::node
