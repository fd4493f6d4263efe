#include "node/node.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/crypto/key_file.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "sync/where.h"

namespace tongban::node {
namespace {

// A dialled PeerConnection, as the driver sees it.
class ConnectionLink : public sync::DriverLink {
 public:
  explicit ConnectionLink(std::unique_ptr<sync::PeerConnection> c) : connection_(std::move(c)) {}
  std::optional<absl::Status> result() const override { return connection_->result(); }
  void Stop() override { connection_->Stop().IgnoreError(); }

 private:
  std::unique_ptr<sync::PeerConnection> connection_;
};

absl::StatusOr<sync::Roster> LoadRoster(const Config& config) {
  const crypto::Suite& suite = crypto::GetSuite(config.suite);
  TB_ASSIGN_OR_RETURN(std::unique_ptr<crypto::PublicKey> root,
                      crypto::ReadPublicKeyFile(suite, config.root_public_key));
  TB_ASSIGN_OR_RETURN(std::string bytes, crypto::ReadSmallFile(config.roster, /*secret=*/false));
  v1::SignedRoster signed_roster;
  if (!signed_roster.ParseFromString(bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.roster, ": not a signed roster (make one with tongbanctl roster sign)"));
  }
  absl::StatusOr<sync::Roster> roster = sync::Roster::Verify(signed_roster, *root);
  if (!roster.ok()) return Prefixed(config.roster, roster.status());
  return roster;
}

// The roster must list this node with the key it signs with.
absl::Status CheckOwnEntry(const sync::Roster& roster, const Config& config,
                           const crypto::PrivateKey& key) {
  const v1::NodeEntry* self = roster.Find(config.code);
  if (self == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        config.roster, ": node ", config.code, " is not in roster v", roster.version(),
        "; add it with tongbanctl roster add-node"));
  }
  const std::string key_id = key.public_key().KeyId();
  if (roster.FindSigningKey(config.code, key_id) == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        config.roster, ": roster v", roster.version(), " does not list node ", config.code,
        "'s signing key ", key_id, " (", config.data_dir,
        "/signing.pub); add it with tongbanctl roster add-node --replace"));
  }
  if (self->status() != v1::NodeEntry::NODE_STATUS_ACTIVE) {
    TB_LOG(WARNING) << "this node is not active in roster v" << roster.version()
                    << ": peers will refuse its sessions";
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Node>> Node::Start(const Config& config, const Clock* clock) {
  TB_ASSIGN_OR_RETURN(sync::Roster roster, LoadRoster(config));
  std::unique_ptr<Node> node(new Node(config, clock, std::move(roster)));
  TB_ASSIGN_OR_RETURN(node->tls_.ca_pem, crypto::ReadSmallFile(config.ca, /*secret=*/false));
  TB_ASSIGN_OR_RETURN(node->tls_.cert_pem,
                      crypto::ReadSmallFile(config.certificate, /*secret=*/false));
  TB_ASSIGN_OR_RETURN(node->tls_.key_pem, crypto::ReadSmallFile(config.private_key, /*secret=*/true));

  const crypto::Suite& suite = crypto::GetSuite(config.suite);
  const std::string signing_path = config.data_dir + "/signing.key";
  std::error_code ec;
  if (!std::filesystem::exists(signing_path, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        signing_path, ": no signing key; generate it with tongbanctl keys generate --suite ",
        crypto::SuiteName(config.suite), " --out ", config.data_dir, "/signing"));
  }
  const std::string storage_path = config.data_dir + "/storage.key";
  if (!std::filesystem::exists(storage_path, ec)) {
    TB_RETURN_IF_ERROR(crypto::GenerateStorageKeyFile(suite, storage_path));
    TB_LOG(INFO) << "created storage key " << storage_path << " (back it up with the data)";
  }
  LocalNodeOptions local;
  local.data_dir = config.data_dir;
  local.suite = config.suite;
  local.create_keys = false;
  local.writer.node = config.code;
  local.writer.national = config.national;
  local.writer.retention = config.retention;
  local.writer.relay = config.role == NodeRole::kNational;
  TB_ASSIGN_OR_RETURN(node->local_, LocalNode::Open(local, clock));
  TB_RETURN_IF_ERROR(CheckOwnEntry(node->roster_, config, node->local_->signing_key()));

  Node* raw = node.get();
  sync::ExchangeServer::Options server;
  server.address = config.peer_listen;
  server.tls = node->tls_;
  server.writer = node->writer();
  server.check = [raw](const std::string& peer) { return raw->Admit(peer); };
  server.sessions = [raw](const std::string& peer) { return raw->NewSession(peer); };
  if (config.role == NodeRole::kNational) {
    server.where = [raw](const std::string& asker, const std::string& person) {
      return sync::AnswerWhere(*raw->store(), asker, person, raw->clock_->Now(),
                               raw->config_.retention);
    };
  }
  TB_ASSIGN_OR_RETURN(node->server_, sync::ExchangeServer::Start(std::move(server)));

  sync::DriverOptions driver;
  driver.self = config.code;
  driver.national = config.national;
  driver.retry_initial = config.retry_initial;
  driver.retry_max = config.retry_max;
  driver.idle_close = config.idle_close;
  driver.seed = absl::ToUnixNanos(absl::Now());
  node->driver_ = std::make_unique<sync::PeerDriver>(
      node->store(), node->writer(), &node->peers_, clock, driver,
      [raw] {
        std::vector<std::string> out;
        for (const v1::NodeEntry& n : raw->roster_.roster().nodes()) {
          if (n.code() == raw->config_.code || n.endpoints().empty()) continue;
          if (n.status() != v1::NodeEntry::NODE_STATUS_ACTIVE) continue;
          out.push_back(n.code());
        }
        return out;
      },
      [raw](const std::string& peer) -> std::unique_ptr<sync::DriverLink> {
        const v1::NodeEntry* entry = raw->roster_.Find(peer);
        if (entry == nullptr || entry->endpoints().empty()) return nullptr;
        sync::PeerConnection::Options o;
        o.peer = peer;
        o.target = entry->endpoints(0);
        o.tls = raw->tls_;
        o.session = raw->NewSession(peer);
        o.writer = raw->writer();
        return std::make_unique<ConnectionLink>(sync::PeerConnection::Start(std::move(o)));
      });
  node->driver_->Start();
  TB_LOG(INFO) << "node started code=" << config.code << " role=" << NodeRoleName(config.role)
               << " suite=" << crypto::SuiteName(config.suite) << " roster=v"
               << node->roster_.version() << " peer_port=" << node->server_->port();
  return node;
}

Node::~Node() { Stop(); }

void Node::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (driver_ != nullptr) driver_->Stop();
  if (server_ != nullptr) server_->Stop();
  driver_.reset();
  server_.reset();
  local_.reset();  // the writer finishes and signs what is queued
  TB_LOG(INFO) << "node stopped code=" << config_.code;
}

absl::Status Node::Admit(const std::string& peer) const {
  TB_RETURN_IF_ERROR(roster_.CheckPeer(peer));
  absl::StatusOr<std::optional<std::string>> held = sync::HoldOf(*local_->store(), peer);
  if (!held.ok()) return held.status();
  if (held->has_value()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "node ", peer, " is held after sending invalid data (", **held,
        "); an operator of node ", config_.code, " must clear the hold"));
  }
  return absl::OkStatus();
}

std::unique_ptr<sync::Session> Node::NewSession(const std::string& peer) {
  const sync::Roster roster = roster_;  // copies share the parsed roster
  auto verifier = std::make_unique<sync::BatchVerifier>(
      local_->suite(), [roster](absl::string_view origin, absl::string_view key_id) {
        return roster.FindSigningKey(origin, key_id);
      });
  sync::SessionOptions options;
  options.self = config_.code;
  options.national = config_.national;
  options.retention = config_.retention;
  options.limits.max_events = config_.batch_events;
  options.limits.max_bytes = config_.batch_bytes;
  options.credit = config_.credit;
  options.peers = &peers_;
  return std::make_unique<sync::Session>(local_->store(), local_->writer(), std::move(verifier),
                                         clock_, options, peer);
}

}  // namespace tongban::node
