#include "admin/admin.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "admin/totp.h"
#include "common/crypto/key_file.h"
#include "common/hex.h"
#include "common/ids/citizen_id.h"
#include "common/ids/region.h"
#include "common/log.h"
#include "common/pki/pki.h"
#include "common/status_macros.h"
#include "records/dates.h"
#include "storage/keys.h"
#include "sync/bundle.h"
#include "sync/session.h"
#include "sync/where.h"
#include "workflows/certificate_payload.h"
#include "workflows/csv.h"
#include "workflows/current.h"
#include "workflows/deadlines.h"
#include "workflows/import_batch.h"
#include "workflows/stats.h"

namespace tongban::admin {
namespace {

absl::Status Authorize(const Operator& op, Permission permission) {
  return admin::Authorize(op.name, op.role, permission);
}

int64_t Micros(absl::Time t) { return t == absl::InfinitePast() ? 0 : absl::ToUnixMicros(t); }

// A call refused because its audit entry could not be written. A full disk
// keeps its code (kResourceExhausted: refused, not unreachable); any other
// cause is kUnavailable.
absl::Status AuditUnwritable(absl::string_view action, const absl::Status& why) {
  return absl::Status(
      absl::IsResourceExhausted(why) ? why.code() : absl::StatusCode::kUnavailable,
      absl::StrCat("the audit log cannot be written, so ", action, " is refused: ", why.message()));
}

}  // namespace

AdminApi::AdminApi(node::Node* node, AskWhere ask_where, AccountControl accounts)
    : node_(node), accounts_(accounts), ask_where_(std::move(ask_where)), started_(absl::Now()) {}

absl::StatusOr<std::string> AdminApi::Person(absl::string_view raw) const {
  const absl::CivilDay today = records::ChinaDay(node_->clock()->Now());
  absl::StatusOr<ids::CitizenId> id = ids::CheckCitizenId(raw, ids::Sex::kUnspecified, today);
  if (!id.ok()) return Prefixed("person", id.status());
  return id->normalized;
}

template <typename T>
absl::StatusOr<T> AdminApi::Audited(const Operator& op, Permission permission,
                                    const std::string& action, const std::string& person,
                                    const std::string& reason,
                                    const std::function<absl::StatusOr<T>()>& body) {
  absl::Status allowed = Authorize(op, permission);
  absl::StatusOr<T> result = allowed.ok() ? body() : absl::StatusOr<T>(allowed);
  // The audit log wants a purpose whenever a person is named.
  const std::string purpose = reason.empty() && !person.empty() ? "(none given)" : reason;
  absl::StatusOr<storage::AuditEntry> logged =
      node_->audit_log()->Append(OperatorAuditEntry(op, action, person, purpose, result.status()));
  if (!logged.ok()) {
    return AuditUnwritable(action, logged.status());
  }
  return result;
}

absl::StatusOr<v1::StatusReply> AdminApi::Status(const Operator& op, const v1::StatusRequest&) {
  TB_RETURN_IF_ERROR(Authorize(op, Permission::kReadStatistics));
  v1::StatusReply reply;
  const node::Config& config = node_->config();
  reply.set_node(config.code);
  reply.set_role(std::string(node::NodeRoleName(config.role)));
  reply.set_suite(std::string(crypto::SuiteName(config.suite)));
  reply.set_signing_key_id(node_->signing_key().public_key().KeyId());
  const sync::Roster roster = node_->roster();  // copies share the parsed roster
  reply.set_roster_version(roster.version());
  const storage::WriterStats stats = node_->writer()->stats();
  reply.set_log_size(stats.last_seq);
  reply.set_signed_size(stats.signed_size);
  reply.set_disk_bytes(node_->store()->DiskBytes());
  reply.set_started_at_micros(absl::ToUnixMicros(started_));
  if (const absl::Status ready = node_->Readiness(); !ready.ok()) {
    reply.set_writes_refused(std::string(ready.message()));
  }
  reply.set_operator_(op.name);
  reply.set_operator_role(std::string(RoleName(op.role)));
  for (const v1::NodeEntry& n : roster.roster().nodes()) {
    if (n.code() == config.code) continue;
    TB_ASSIGN_OR_RETURN(bool pending, sync::HasPendingFor(*node_->store(), node_->writer()->log(),
                                                          n.code(), config.national));
    if (pending) reply.add_pending_peers(n.code());
  }
  TB_ASSIGN_OR_RETURN(std::vector<storage::LogId> logs, node_->store()->CheckpointLogs());
  for (const storage::LogId& log : logs) {
    if (log == node_->writer()->log()) continue;
    reply.set_logs_held(reply.logs_held() + 1);
  }
  TB_ASSIGN_OR_RETURN(std::vector<storage::LogId> frozen_logs, sync::FrozenLogs(*node_->store()));
  const uint32_t frozen = static_cast<uint32_t>(frozen_logs.size());
  for (const storage::LogId& log : frozen_logs) {
    reply.add_frozen_logs(absl::StrCat(log.origin, "/", log.epoch));
  }
  TB_ASSIGN_OR_RETURN(uint64_t ahead, node_->store()->GetCounter("clock/events_ahead"));
  reply.set_events_ahead(ahead);
  reply.set_frozen_origins(frozen);
  reply.set_roster_issued_at_micros(roster.roster().issued_at_micros());
  if (std::optional<analytics::MirrorStatus> a = node_->analytics(); a.has_value()) {
    reply.set_analytics_on(true);
    reply.set_analytics_connected(a->connected);
    reply.set_analytics_behind_events(a->behind_events);
    reply.set_analytics_lag_seconds(absl::ToDoubleSeconds(a->lag));
    reply.set_analytics_rows_written(a->rows_written);
    reply.set_analytics_last_error(a->last_error);
  }
  if (auto cert = pki::Certificate::FromPem(node_->tls().cert_pem); cert.ok()) {
    reply.set_certificate_not_after_micros(absl::ToUnixMicros(cert->not_after()));
  }
  if (auto ca = pki::Certificate::FromPem(node_->tls().ca_pem); ca.ok()) {
    reply.set_ca_not_after_micros(absl::ToUnixMicros(ca->not_after()));
  }
  if (!config.operator_ca.empty()) {
    if (auto pem = crypto::ReadSmallFile(config.operator_ca, /*secret=*/false); pem.ok()) {
      if (auto op_ca = pki::Certificate::FromPem(*pem); op_ca.ok()) {
        reply.set_operator_ca_not_after_micros(absl::ToUnixMicros(op_ca->not_after()));
      }
    }
  }
  return reply;
}

absl::StatusOr<v1::PeersReply> AdminApi::Peers(const Operator& op, const v1::PeersRequest&) {
  TB_RETURN_IF_ERROR(Authorize(op, Permission::kReadPeers));
  v1::PeersReply reply;
  const node::Config& config = node_->config();
  const storage::LogId own = node_->writer()->log();
  const std::map<std::string, sync::PeerStatus> live = node_->peers().All();
  const std::map<std::string, sync::DriverPeer> driver = node_->driver_state();
  TB_ASSIGN_OR_RETURN(uint64_t own_size, node_->store()->LastSeq(own));
  TB_ASSIGN_OR_RETURN(const std::vector<storage::LogId> frozen, sync::FrozenLogs(*node_->store()));
  const sync::Roster roster = node_->roster();
  for (const v1::NodeEntry& n : roster.roster().nodes()) {
    if (n.code() == config.code) continue;
    v1::PeerInfo* p = reply.add_peers();
    p->set_code(n.code());
    p->set_name(n.name());
    p->set_status(n.status() == v1::NodeEntry::NODE_STATUS_ACTIVE      ? "active"
                  : n.status() == v1::NodeEntry::NODE_STATUS_SUSPENDED ? "suspended"
                                                                       : "revoked");
    if (auto it = live.find(n.code()); it != live.end()) {
      const sync::PeerStatus& s = it->second;
      p->set_connected(s.sessions > 0);
      if (s.sessions > 0) p->set_connected_since_micros(Micros(s.connected_since));
      p->set_last_batch_micros(Micros(s.last_batch));
      p->set_last_error(s.last_error);
      p->set_last_error_micros(Micros(s.last_error_at));
      for (const auto& [log, reason] : s.refuses) p->add_refuses(absl::StrCat(log, ": ", reason));
      p->set_batches_skipped(s.batches_skipped);
      p->set_clock_ahead_micros(absl::ToInt64Microseconds(s.clock_ahead));
      if (s.clock_skew.has_value()) {
        p->set_clock_skew_known(true);
        p->set_clock_skew_micros(absl::ToInt64Microseconds(*s.clock_skew));
      }
      p->set_events_ahead(s.events_ahead);
      p->set_input_queued_bytes(s.input_queued_bytes);
      p->set_input_peak_bytes(s.input_peak_bytes);
    }
    if (auto it = driver.find(n.code()); it != driver.end()) {
      p->set_next_attempt_micros(Micros(it->second.next_attempt));
    }
    // Outbound: the whole log for the national node; routed events for
    // a county (counted up to a bound, to keep the call cheap).
    TB_ASSIGN_OR_RETURN(uint64_t acked, sync::AckedBy(*node_->store(), n.code(), own));
    if (n.code() == config.national) {
      p->set_behind_outbound(own_size > acked ? own_size - acked : 0);
    } else {
      TB_ASSIGN_OR_RETURN(std::vector<uint64_t> routed,
                          node_->store()->ScanRoute(n.code(), own, acked, 100000));
      p->set_behind_outbound(routed.size());
    }
    // Inbound: what we know exists of the peer's log beyond what we hold.
    const storage::LogId theirs{n.code(), 1};
    TB_ASSIGN_OR_RETURN(auto latest, node_->store()->CheckpointAtOrBelow(theirs, ~uint64_t{0}));
    TB_ASSIGN_OR_RETURN(uint64_t held, node_->store()->LastSeq(theirs));
    if (latest.has_value() && config.role == node::NodeRole::kNational && latest->first > held) {
      p->set_behind_inbound(latest->first - held);
    }
    TB_ASSIGN_OR_RETURN(std::optional<std::string> hold, sync::HoldOf(*node_->store(), n.code()));
    if (hold.has_value()) p->set_held(*hold);
    TB_ASSIGN_OR_RETURN(
        std::optional<std::string> bundles,
        node_->store()->Get(storage::Cf::kDefault, storage::BundlePeerKey(n.code())));
    if (bundles.has_value()) {
      v1::BundlePeer b;
      if (!b.ParseFromString(*bundles)) {
        return absl::DataLossError(
            absl::StrCat("bundle state of peer ", n.code(), " does not parse"));
      }
      p->set_bundle_exported_id(b.exported_id());
      p->set_bundle_exported_micros(b.exported_at_micros());
      p->set_bundle_exported_events(b.exported_events());
      p->set_bundle_acked_id(b.acked_id());
      p->set_bundle_acked_micros(b.acked_at_micros());
      p->set_bundle_received_id(b.received_id());
      p->set_bundle_received_micros(b.received_at_micros());
    }
    p->set_frozen(std::any_of(frozen.begin(), frozen.end(), [&](const storage::LogId& log) {
      return log.origin == n.code();  // any epoch of its log
    }));
  }
  return reply;
}

absl::StatusOr<v1::ClearHoldReply> AdminApi::ClearHold(const Operator& op,
                                                       const v1::ClearHoldRequest& r) {
  return Audited<v1::ClearHoldReply>(
      op, Permission::kManagePeers, "peer.clear_hold", "", absl::StrCat("peer ", r.peer()),
      [&]() -> absl::StatusOr<v1::ClearHoldReply> {
        TB_RETURN_IF_ERROR(sync::ClearHold(*node_->store(), r.peer()));
        return v1::ClearHoldReply();
      });
}

absl::StatusOr<v1::BackupReply> AdminApi::Backup(const Operator& op, const v1::BackupRequest& r) {
  constexpr size_t kMaxBackupReason = 200;
  std::string purpose = "backup";
  if (!r.reason().empty()) absl::StrAppend(&purpose, ": ", r.reason().substr(0, kMaxBackupReason));
  return Audited<v1::BackupReply>(
      op, Permission::kManageConfig, "node.backup", "", purpose,
      [&]() -> absl::StatusOr<v1::BackupReply> {
        const std::string& dir = node_->config().backup_dir;
        const uint32_t keep = node_->config().backup_keep;
        // Retention is applied inside CreateBackup (storage/backup.cc says
        // why: same lock, same engine), right after the backup succeeds.
        TB_ASSIGN_OR_RETURN(
            storage::CreatedBackup made,
            node_->store()->CreateBackup(dir, node_->config().code, node_->clock()->Now(), keep));
        const storage::BackupEntry& b = made.backup;
        v1::BackupReply reply;
        reply.set_backup_id(b.id);
        reply.set_dir(dir);
        reply.set_size_bytes(b.size_bytes);
        reply.set_files(b.files);
        reply.set_checkpoint_size(b.metadata.checkpoint_size);
        reply.set_created_micros(b.metadata.created_micros);
        reply.set_backup_keep(keep);
        for (uint32_t id : made.removed) reply.add_removed_backup_ids(id);
        if (!made.removed.empty()) {
          absl::StrAppend(&purpose, " (removed ", made.removed.size(), " older)");
        }
        // The backup is made: a failed removal is reported, not an error.
        if (!made.purge.ok()) {
          TB_LOG(WARNING) << "backup " << b.id << " made, but " << made.purge;
          reply.set_purge_error(std::string(made.purge.message()));
          absl::StrAppend(&purpose, " (removing older backups failed)");
        }
        return reply;
      });
}

absl::StatusOr<v1::RotateKeyReply> AdminApi::RotateKey(const Operator& op,
                                                       const v1::RotateKeyRequest& r) {
  constexpr size_t kMaxReason = 200;
  std::string purpose = "key rotation";
  if (!r.reason().empty()) absl::StrAppend(&purpose, ": ", r.reason().substr(0, kMaxReason));
  return Audited<v1::RotateKeyReply>(
      op, Permission::kManageConfig, "node.key_rotate", "", purpose,
      [&]() -> absl::StatusOr<v1::RotateKeyReply> {
        const std::string old_id = node_->signing_key().public_key().KeyId();
        TB_ASSIGN_OR_RETURN(storage::Appended entry, node_->RotateSigningKey());
        const crypto::PrivateKey& now = node_->signing_key();
        v1::RotateKeyReply reply;
        reply.set_old_key_id(old_id);
        reply.set_new_key_id(now.public_key().KeyId());
        reply.set_epoch(entry.id.epoch());
        reply.set_seq(entry.id.seq());
        reply.set_public_key_pem(now.public_key().Pem());
        absl::StrAppend(&purpose, " (key ", old_id, " to ", reply.new_key_id(), " at seq ",
                        reply.seq(), ")");
        return reply;
      });
}

namespace {

v1::BundleSummary SummaryOf(const v1::BundleHeader& header, const v1::BundleManifest& manifest,
                            uint64_t bytes, uint32_t answers) {
  v1::BundleSummary s;
  *s.mutable_header() = header;
  s.mutable_header()->clear_sealed_key();
  *s.mutable_manifest() = manifest;
  s.set_bytes(bytes);
  s.set_answers(answers);
  return s;
}

// Removes the spool file when it goes out of scope.
struct SpoolFile {
  std::string path;
  ~SpoolFile() {
    if (!path.empty()) std::remove(path.c_str());
  }
};

}  // namespace

absl::Status AdminApi::MayExchangeBundles(const Operator& op) const {
  return Authorize(op, Permission::kExchangeBundles);
}

absl::StatusOr<std::string> AdminApi::NewSpoolFile() const {
  const std::string dir = absl::StrCat(node_->config().data_dir, "/bundle-spool");
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", std::strerror(errno)));
  }
  TB_ASSIGN_OR_RETURN(std::string random, crypto::RandomBytes(8));
  return absl::StrCat(dir, "/", HexEncode(random), ".bundle");
}

absl::StatusOr<v1::BundleSummary> AdminApi::ExportBundle(const Operator& op,
                                                         const v1::ExportBundleRequest& r,
                                                         const node::BundleSink& sink,
                                                         const node::BundleProgressFn& progress) {
  constexpr size_t kMaxReason = 200;
  std::string purpose = absl::StrCat("bundle for ", r.to().substr(0, 6));
  if (!r.reason().empty()) absl::StrAppend(&purpose, ": ", r.reason().substr(0, kMaxReason));
  return Audited<v1::BundleSummary>(
      op, Permission::kExchangeBundles, "bundle.export", "", purpose,
      [&]() -> absl::StatusOr<v1::BundleSummary> {
        if (absl::Status code = ids::ValidateNodeCode(r.to()); !code.ok()) {
          return absl::InvalidArgumentError(absl::StrCat("--to: ", code.message()));
        }
        SpoolFile ack;
        if (!r.since_ack().empty()) {
          TB_ASSIGN_OR_RETURN(ack.path, NewSpoolFile());
          TB_RETURN_IF_ERROR(crypto::WriteNewFile(ack.path, r.since_ack(), 0600));
        }
        TB_ASSIGN_OR_RETURN(node::ExportedBundle made,
                            node_->ExportBundle(r.to(), ack.path, sink, progress));
        absl::StrAppend(&purpose, " (", made.header.bundle_id(), ", ", made.manifest.events(),
                        " events)");
        return SummaryOf(made.header, made.manifest, made.bytes, made.answers);
      });
}

absl::StatusOr<v1::ImportBundleReply> AdminApi::ImportBundle(const Operator& op,
                                                             const std::string& path) {
  std::string purpose = "bundle";
  return Audited<v1::ImportBundleReply>(
      op, Permission::kExchangeBundles, "bundle.import", "", purpose,
      [&]() -> absl::StatusOr<v1::ImportBundleReply> {
        if (absl::StatusOr<sync::BundleFileHeader> file = sync::ReadBundleHeader(path); file.ok()) {
          absl::StrAppend(&purpose, " ", file->header.bundle_id().substr(0, 32), " from ",
                          file->header.sender().substr(0, 6));
        }
        TB_ASSIGN_OR_RETURN(node::ImportedBundle got, node_->ImportBundle(path));
        absl::StrAppend(&purpose, " (", got.events_applied, " events applied)");
        v1::ImportBundleReply reply;
        *reply.mutable_bundle() = SummaryOf(got.header, got.manifest, 0, 0);
        reply.set_batches_applied(got.batches_applied);
        reply.set_events_applied(got.events_applied);
        reply.set_batches_not_applied(got.batches_not_applied);
        for (std::string& m : got.missing) reply.add_missing(std::move(m));
        for (std::string& n : got.notes) reply.add_notes(std::move(n));
        reply.set_newest(got.newest);
        reply.set_requests(got.requests);
        reply.set_ack(std::move(got.ack));
        reply.set_ack_id(got.ack_id);
        return reply;
      });
}

absl::Status AdminApi::AppendsAllowed() const {
  if (std::optional<std::string> blocked = node_->appends_blocked(); blocked.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat("appends are blocked: ", *blocked));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::WriteReply> AdminApi::Write(const Operator& op, const v1::WriteRequest& r) {
  absl::StatusOr<std::string> person = Person(r.person());
  return Audited<v1::WriteReply>(
      op, Permission::kWriteRecords, "record.write", person.value_or(""),
      absl::StrCat(v1::RecordKind_Name(r.kind()), " ", r.record_id(),
                   r.reason().empty() ? "" : ": ", r.reason()),
      [&]() -> absl::StatusOr<v1::WriteReply> {
        if (!person.ok()) return person.status();
        TB_RETURN_IF_ERROR(AppendsAllowed());
        // Times and deadlines are this node's, kept from the first version.
        v1::WriteRequest request = r;
        if (workflows::IsWorkflowKind(r.kind())) {
          TB_ASSIGN_OR_RETURN(
              std::optional<v1::RecordValue> current,
              workflows::NewestValue(*node_->store(),
                                     storage::RecordKey(*person, r.kind(), r.record_id())));
          workflows::StampWorkflowTimes(node_->config().deadlines, node_->clock()->Now(),
                                        current.has_value() ? &*current : nullptr, &request);
        }
        TB_RETURN_IF_ERROR(
            workflows::CheckWorkflowWrite(*node_->store(), node_->config().code, *person, request));
        TB_ASSIGN_OR_RETURN(storage::Appended appended,
                            node_->writer()->Append(workflows::ChangeFrom(request, *person)));
        v1::WriteReply reply;
        *reply.mutable_event() = appended.id;
        reply.set_person_masked(ids::MaskId(appended.person));
        workflows::AddFindings(appended, reply.mutable_findings());
        for (const std::string& a : appended.audience) reply.add_audience(a);
        return reply;
      });
}

absl::StatusOr<v1::PersonReply> AdminApi::GetPerson(const Operator& op,
                                                    const v1::PersonRequest& r) {
  absl::StatusOr<std::string> person = Person(r.person());
  return Audited<v1::PersonReply>(
      op, Permission::kReadPersons, "person.read", person.value_or(""), r.reason(),
      [&]() -> absl::StatusOr<v1::PersonReply> {
        if (!person.ok()) return person.status();
        if (r.reason().empty()) {
          return absl::InvalidArgumentError("reason: say why you read this person's records");
        }
        v1::PersonReply reply;
        reply.set_person(*person);
        TB_ASSIGN_OR_RETURN(auto records, node_->store()->ListRecords(*person));
        for (auto& [key, state] : records) {
          v1::Record* rec = reply.add_records();
          rec->set_kind(static_cast<v1::RecordKind>(key.first));
          rec->set_record_id(key.second);
          for (const auto& head : state.heads()) {
            v1::RecordValue* value = rec->add_values();
            if (!value->ParseFromString(head.payload())) {
              return absl::DataLossError(
                  absl::StrCat("record ", key.second, ": stored value does not parse"));
            }
          }
          *rec->mutable_state() = std::move(state);
        }
        TB_ASSIGN_OR_RETURN(records::Links links, node_->store()->GetLinks(*person));
        for (auto& [node, link] : links) (*reply.mutable_links())[node] = link;
        if (reply.records().empty()) {
          return absl::NotFoundError(absl::StrCat(
              "node ", node_->config().code, " holds no records of person ", ids::MaskId(*person)));
        }
        return reply;
      });
}

absl::StatusOr<v1::HistoryReply> AdminApi::PersonHistory(const Operator& op,
                                                         const v1::PersonRequest& r) {
  absl::StatusOr<std::string> person = Person(r.person());
  return Audited<v1::HistoryReply>(
      op, Permission::kReadPersons, "person.history", person.value_or(""), r.reason(),
      [&]() -> absl::StatusOr<v1::HistoryReply> {
        if (!person.ok()) return person.status();
        if (r.reason().empty()) {
          return absl::InvalidArgumentError("reason: say why you read this person's records");
        }
        v1::HistoryReply reply;
        reply.set_person(*person);
        TB_ASSIGN_OR_RETURN(auto records, node_->store()->ListRecords(*person));
        std::vector<std::pair<std::pair<int64_t, std::string>, v1::HistoryEntry>> entries;
        for (const auto& [key, state] : records) {
          for (const v1::EventId& id : state.history()) {
            TB_ASSIGN_OR_RETURN(std::string bytes,
                                node_->store()->GetEvent({id.origin(), id.epoch()}, id.seq()));
            v1::HistoryEntry e;
            *e.mutable_event() = id;
            if (!e.mutable_body()->ParseFromString(bytes) ||
                !e.mutable_value()->ParseFromString(e.body().payload())) {
              return absl::DataLossError("a stored event does not parse");
            }
            const int64_t at = e.body().hlc().physical_micros();
            entries.push_back({{at, absl::StrCat(id.origin(), "/", id.seq())}, std::move(e)});
          }
        }
        std::sort(entries.begin(), entries.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        for (auto& [unused, e] : entries) *reply.add_entries() = std::move(e);
        return reply;
      });
}

absl::StatusOr<v1::WhereReplyAdmin> AdminApi::Where(const Operator& op,
                                                    const v1::WhereRequestAdmin& r) {
  absl::StatusOr<std::string> person = Person(r.person());
  return Audited<v1::WhereReplyAdmin>(
      op, Permission::kReadPersons, "person.where", person.value_or(""), r.reason(),
      [&]() -> absl::StatusOr<v1::WhereReplyAdmin> {
        if (!person.ok()) return person.status();
        if (r.reason().empty()) {
          return absl::InvalidArgumentError(
              "reason: say why you ask where this person's records are");
        }
        absl::StatusOr<v1::WhereReply> answer;
        if (node_->config().role == node::NodeRole::kNational) {
          // The national node answers its own operators from every link.
          TB_ASSIGN_OR_RETURN(records::Links links, node_->store()->GetLinks(*person));
          answer = sync::HoldersOf(links);
        } else {
          answer = ask_where_(*person);
        }
        if (!answer.ok()) return answer.status();
        v1::WhereReplyAdmin reply;
        for (const auto& h : answer->holders()) {
          v1::WhereHolder* out = reply.add_holders();
          out->set_node(h.node());
          out->set_role(h.role());
          out->set_ended(h.ended());
        }
        return reply;
      });
}

absl::StatusOr<v1::AuditReply> AdminApi::Audit(const Operator& op, const v1::AuditRequest& r) {
  // The trail names persons: reading it is itself audited.
  return Audited<v1::AuditReply>(
      op, Permission::kReadAuditTrail, "audit.query", "", "audit trail query",
      [&]() -> absl::StatusOr<v1::AuditReply> {
        storage::AuditLog* log = node_->audit_log();
        v1::AuditReply reply;
        // The whole chain is verified before anything of it is shown.
        TB_ASSIGN_OR_RETURN(storage::AuditVerifyReport report, log->Verify(node_->OwnKeys()));
        reply.set_chain_verified(true);
        reply.set_size(report.entries);
        storage::AuditQuery q;
        if (r.from_micros() != 0) q.from = absl::FromUnixMicros(r.from_micros());
        if (r.to_micros() != 0) q.to = absl::FromUnixMicros(r.to_micros());
        if (!r.operator_().empty()) q.operator_name = r.operator_();
        if (!r.person().empty()) {
          TB_ASSIGN_OR_RETURN(std::string person, Person(r.person()));
          q.person = person;
        }
        q.newest_first = true;
        const size_t limit = r.limit() == 0 ? 100 : std::min<uint32_t>(r.limit(), 10000);
        q.limit = limit;
        std::vector<storage::AuditEntry> entries;
        // The action is filtered here, page by page of the indexed query.
        for (;;) {
          TB_ASSIGN_OR_RETURN(std::vector<storage::AuditEntry> page, log->Query(q));
          for (storage::AuditEntry& e : page) {
            if (entries.size() < limit && (r.action().empty() || e.action == r.action())) {
              entries.push_back(std::move(e));
            }
          }
          if (r.action().empty() || page.size() < q.limit || entries.size() >= limit) break;
          q.cursor = page.back().seq;
        }
        for (const storage::AuditEntry& e : entries) {
          v1::AuditEntry* out = reply.add_entries();
          out->set_seq(e.seq);
          out->set_at_micros(absl::ToUnixMicros(e.time));
          out->set_operator_(e.operator_name);
          out->set_role(e.role);
          out->set_action(e.action);
          out->set_person(e.person);
          out->set_reason(e.purpose);
          out->set_outcome(e.outcome);
        }
        return reply;
      });
}

namespace {

// The items of `items` that `r` asks for (all, --due or --overdue) into `out`.
template <typename Item, typename Request, typename Out>
void KeepAsked(std::vector<Item>& items, const Request& r, uint32_t remind_days, absl::Time now,
               Out* out) {
  const absl::Duration soon =
      absl::Hours(24 * (r.due_within_days() == 0 ? remind_days : r.due_within_days()));
  for (Item& item : items) {
    if (r.overdue() && item.state() != "overdue") continue;
    if (r.due() && !workflows::DueSoon(item.state(), item.due_on(), now, soon)) continue;
    *out->Add() = std::move(item);
  }
}

}  // namespace

absl::StatusOr<workflows::Tracked> AdminApi::Track(absl::Time now) const {
  const node::Config& config = node_->config();
  return workflows::TrackDeadlines(*node_->store(), config.code,
                                   config.role == node::NodeRole::kNational, config.deadlines, now);
}

absl::StatusOr<v1::InquiryListReply> AdminApi::ListInquiries(const Operator& op,
                                                             const v1::InquiryListRequest& r) {
  return Audited<v1::InquiryListReply>(
      op, Permission::kListDeadlines, "inquiry.list", "",
      r.overdue() ? "inquiries overdue"
      : r.due()   ? "inquiries due"
                  : "inquiries",
      [&]() -> absl::StatusOr<v1::InquiryListReply> {
        const absl::Time now = node_->clock()->Now();
        TB_ASSIGN_OR_RETURN(workflows::Tracked tracked, Track(now));
        v1::InquiryListReply reply;
        KeepAsked(tracked.inquiries, r, node_->config().deadlines.remind_days, now,
                  reply.mutable_items());
        return reply;
      });
}

absl::StatusOr<v1::NoticeListReply> AdminApi::ListNotices(const Operator& op,
                                                          const v1::NoticeListRequest& r) {
  return Audited<v1::NoticeListReply>(op, Permission::kListDeadlines, "notice.list", "",
                                      r.overdue() ? "notices overdue"
                                      : r.due()   ? "notices due"
                                                  : "notices",
                                      [&]() -> absl::StatusOr<v1::NoticeListReply> {
                                        const absl::Time now = node_->clock()->Now();
                                        TB_ASSIGN_OR_RETURN(workflows::Tracked tracked, Track(now));
                                        v1::NoticeListReply reply;
                                        KeepAsked(tracked.notices, r,
                                                  node_->config().deadlines.remind_days, now,
                                                  reply.mutable_items());
                                        return reply;
                                      });
}

absl::StatusOr<v1::StatsReply> AdminApi::Stats(const Operator& op, const v1::StatsRequest& r) {
  v1::StatsManyRequest one;
  *one.add_requests() = r;
  one.set_scan(r.scan());
  TB_ASSIGN_OR_RETURN(v1::StatsManyReply replies, StatsMany(op, one));
  return std::move(*replies.mutable_replies(0));
}

absl::StatusOr<v1::StatsManyReply> AdminApi::StatsMany(const Operator& op,
                                                       const v1::StatsManyRequest& r) {
  // Counts and region codes only: no personal data, so no audit entry.
  TB_RETURN_IF_ERROR(Authorize(op, Permission::kReadStatistics));
  if (r.requests().empty() || r.requests_size() > kMaxStatsQueries) {
    return absl::InvalidArgumentError(
        absl::StrCat("requests: ", r.requests_size(), " queries; give 1 to ", kMaxStatsQueries));
  }
  const absl::Time now = node_->clock()->Now();
  std::vector<workflows::StatsQuery> queries;
  for (v1::StatsRequest request : r.requests()) {
    if (request.period().empty()) {
      // The current month, China Standard Time.
      request.set_period_kind(v1::STATS_PERIOD_KIND_MONTH);
      request.set_period(records::ChinaTimeText(now, "%Y-%m"));
    }
    queries.push_back(workflows::StatsQueryFromRequest(request, node_->config().code, now));
  }
  // From the counters, brought up to date first (the node's follower runs
  // every second; this makes a reply include every write applied before
  // the call); a full scan only when asked for.
  std::vector<v1::StatsReply> replies;
  if (r.scan()) {
    TB_ASSIGN_OR_RETURN(replies, workflows::ComputeStatsMany(*node_->store(), queries));
  } else {
    TB_RETURN_IF_ERROR(workflows::UpdateStatsCounters(*node_->store()).status());
    TB_ASSIGN_OR_RETURN(replies, workflows::CountedStatsMany(*node_->store(), queries));
  }
  v1::StatsManyReply reply;
  for (v1::StatsReply& one : replies) *reply.add_replies() = std::move(one);
  return reply;
}

absl::StatusOr<v1::CertificatePayloadReply> AdminApi::CertificatePayload(
    const Operator& op, const v1::CertificatePayloadRequest& r) {
  absl::StatusOr<std::string> person = Person(r.person());
  return Audited<v1::CertificatePayloadReply>(
      op, Permission::kReadPersons, "certificate.payload", person.value_or(""),
      absl::StrCat("certificate ", r.number(), r.reason().empty() ? "" : ": ", r.reason()),
      [&]() -> absl::StatusOr<v1::CertificatePayloadReply> {
        if (!person.ok()) return person.status();
        if (r.number().empty())
          return absl::InvalidArgumentError("number: give the certificate number");
        const std::string self = node_->config().code;
        TB_ASSIGN_OR_RETURN(auto records, node_->store()->ListRecords(*person));
        std::optional<v1::Certificate> found;
        std::string found_id;
        std::set<std::string> superseded;  // record ids
        for (const auto& [key, state] : records) {
          if (key.first != v1::RECORD_KIND_CERTIFICATE) continue;
          bool retracted = false;
          TB_ASSIGN_OR_RETURN(std::optional<v1::Certificate> c,
                              workflows::CurrentCertificate(*node_->store(), state, &retracted));
          if (!c.has_value()) continue;
          if (!retracted && !c->supersedes().empty()) superseded.insert(c->supersedes());
          if (c->number() != r.number()) continue;
          if (retracted) {
            return absl::FailedPreconditionError(
                absl::StrCat("certificate ", r.number(), " was retracted"));
          }
          found = std::move(c);
          found_id = key.second;
        }
        const std::string where = absl::StrCat(" of person ", ids::MaskId(*person));
        if (!found.has_value()) {
          return absl::NotFoundError(
              absl::StrCat("node ", self, " holds no certificate ", r.number(), where));
        }
        if (found->issuer() != self) {
          return absl::FailedPreconditionError(
              absl::StrCat("certificate ", r.number(), where, " was issued by ", found->issuer(),
                           ", not by this node (", self, "): only its issuer signs its payload"));
        }
        if (found->revoked()) {
          return absl::FailedPreconditionError(
              absl::StrCat("certificate ", r.number(), " is revoked"));
        }
        if (superseded.count(found_id)) {
          return absl::FailedPreconditionError(
              absl::StrCat("certificate ", r.number(), " is superseded by a newer one"));
        }
        TB_ASSIGN_OR_RETURN(std::string payload,
                            workflows::SignCertificatePayload(
                                *found, *person, node_->clock()->Now(), node_->signing_key()));
        v1::CertificatePayloadReply reply;
        reply.set_text(workflows::CertificateText(payload));
        reply.set_payload(std::move(payload));
        reply.set_person_masked(ids::MaskId(*person));
        return reply;
      });
}

absl::StatusOr<v1::RevocationListReply> AdminApi::RevocationList(const Operator& op,
                                                                 const v1::RevocationListRequest&) {
  // Every role may read statistics; the list is for clerks and administrators.
  return Audited<v1::RevocationListReply>(
      op, Permission::kReadStatistics, "certificate.revocations", "", "revocation list export",
      [&]() -> absl::StatusOr<v1::RevocationListReply> {
        if (op.role != Role::kClerk && op.role != Role::kAdministrator) {
          return absl::PermissionDeniedError(
              absl::StrCat("operator ", op.name, " (", RoleName(op.role),
                           ") may not export the revocation list: clerks and administrators may"));
        }
        const node::Config& config = node_->config();
        if (config.role != node::NodeRole::kNational) {
          return absl::FailedPreconditionError(
              absl::StrCat("only the national node publishes the revocation list; this node is ",
                           node::NodeRoleName(config.role), " ", config.code));
        }
        TB_ASSIGN_OR_RETURN(auto rows, node_->store()->Scan(storage::Cf::kRecords, ""));
        // (person, record id) -> certificate, to resolve what supersedes names.
        std::map<std::pair<std::string, std::string>, v1::Certificate> certs;
        std::vector<workflows::RevokedCertificate> entries;
        std::vector<std::pair<std::string, std::string>> superseded;
        for (const auto& [key, bytes] : rows) {
          storage::RecordKeyParts parts;
          if (!storage::DecodeRecordKey(key, &parts) || parts.kind != v1::RECORD_KIND_CERTIFICATE) {
            continue;
          }
          v1::RecordState state;
          if (!state.ParseFromString(bytes)) {
            return absl::DataLossError("a stored certificate record state does not parse");
          }
          bool retracted = false;
          TB_ASSIGN_OR_RETURN(std::optional<v1::Certificate> c,
                              workflows::CurrentCertificate(*node_->store(), state, &retracted));
          if (!c.has_value()) continue;
          const std::string person(parts.person);
          if (retracted || c->revoked()) {
            entries.push_back({c->issuer(), c->number(), workflows::RevocationReason::kRevoked});
          } else if (!c->supersedes().empty()) {
            superseded.emplace_back(person, c->supersedes());
          }
          certs[{person, std::string(parts.record_id)}] = *std::move(c);
        }
        for (const auto& id : superseded) {
          auto it = certs.find(id);
          if (it == certs.end()) continue;
          entries.push_back(
              {it->second.issuer(), it->second.number(), workflows::RevocationReason::kSuperseded});
        }
        // A certificate both revoked and superseded is listed once, as
        // revoked: the list keeps the first of equal entries.
        const absl::Time now = node_->clock()->Now();
        const std::string key_id = node_->signing_key().public_key().KeyId();
        if (node_->roster().FindSigningKey(config.code, key_id) == nullptr) {
          // Verified offline against the roster alone (workflows/certificate_payload.h).
          return absl::FailedPreconditionError(
              absl::StrCat("the roster does not list this node's signing key ", key_id,
                           " (rotated): add it (tongbanctl roster add-key) and publish the roster, "
                           "then export the list"));
        }
        TB_ASSIGN_OR_RETURN(std::string list,
                            workflows::SignRevocationList(std::move(entries), config.code, now,
                                                          node_->signing_key()));
        v1::RevocationListReply reply;
        TB_ASSIGN_OR_RETURN(workflows::RevocationList parsed,
                            workflows::VerifyRevocationList(list, node_->roster()));
        reply.set_entries(static_cast<uint32_t>(parsed.entries.size()));
        reply.set_issued_at_micros(absl::ToUnixMicros(parsed.issued_at));
        reply.set_list(std::move(list));
        return reply;
      });
}

absl::StatusOr<v1::ImportReply> AdminApi::Import(const Operator& op, const v1::ImportRequest& r) {
  // The audit entry names the batch, not each person: it says how many.
  const std::vector<absl::StatusOr<std::string>> persons =
      workflows::ImportPersons(r, records::ChinaDay(node_->clock()->Now()));
  std::set<std::string> distinct;
  for (const auto& p : persons) {
    if (p.ok()) distinct.insert(*p);
  }
  const std::string purpose =
      absl::StrCat("import of ", r.file(), " lines ", r.first_line(), "-", r.last_line(), ": ",
                   r.rows_size(), " rows, ", distinct.size(), " persons");
  return Audited<v1::ImportReply>(
      op, Permission::kWriteRecords, "record.import", "", purpose,
      [&]() -> absl::StatusOr<v1::ImportReply> {
        if (r.rows_size() > kMaxImportBatch) {
          return absl::InvalidArgumentError(absl::StrCat(
              "rows: ", r.rows_size(), " rows in one batch, at most ", kMaxImportBatch));
        }
        TB_RETURN_IF_ERROR(AppendsAllowed());
        return workflows::WriteImportBatch(node_->writer(), r, persons);
      });
}

absl::StatusOr<v1::SearchPersonsReply> AdminApi::SearchPersons(const Operator& op,
                                                               const v1::SearchPersonsRequest& r) {
  const std::string name = storage::NormalizedName(r.name());
  std::vector<std::string> found;
  auto search = [&]() -> absl::StatusOr<v1::SearchPersonsReply> {
    if (name.empty()) return absl::InvalidArgumentError("name: give the person's name");
    const v1::Date& d = r.birth_date();
    const absl::CivilDay day(d.year(), d.month(), d.day());
    if (d.year() < 1 || d.year() > 9999 || day.year() != d.year() || day.month() != d.month() ||
        day.day() != d.day()) {
      return absl::InvalidArgumentError(absl::StrCat("birth_date: ", d.year(), "-", d.month(), "-",
                                                     d.day(), " is not a calendar date"));
    }
    if (r.reason().empty()) {
      return absl::InvalidArgumentError("reason: say why you look for this person");
    }
    const uint32_t limit =
        r.limit() == 0 ? kMaxSearchResults : std::min(r.limit(), kMaxSearchResults);
    // Read more hits than asked for: some may be earlier names.
    TB_ASSIGN_OR_RETURN(auto hits,
                        node_->store()->FindByName(name, d.year(), d.month(), d.day(), 4 * limit));
    v1::SearchPersonsReply reply;
    for (const auto& [person, record_id] : hits) {
      if (reply.persons_size() >= static_cast<int>(limit)) break;
      TB_ASSIGN_OR_RETURN(std::optional<v1::RecordState> state,
                          node_->store()->GetRecord(storage::RecordKey(
                              person, v1::RECORD_KIND_PERSON_BASICS, record_id)));
      if (!state.has_value()) continue;
      for (const v1::RecordState::Head& head : state->heads()) {
        v1::RecordValue v;
        if (head.operation() != v1::OPERATION_UPSERT || !v.ParseFromString(head.payload()) ||
            !v.has_person_basics()) {
          continue;
        }
        const v1::PersonBasics& b = v.person_basics();
        if (storage::NormalizedName(b.name()) != name || b.birth_date().year() != d.year() ||
            b.birth_date().month() != d.month() || b.birth_date().day() != d.day()) {
          continue;
        }
        v1::PersonMatch* m = reply.add_persons();
        m->set_person(person);
        m->set_name(b.name());
        m->set_sex(b.sex());
        *m->mutable_birth_date() = b.birth_date();
        m->set_hukou_region(b.hukou_region());
        found.push_back(person);
        break;
      }
    }
    return reply;
  };
  absl::Status allowed = Authorize(op, Permission::kReadPersons);
  absl::StatusOr<v1::SearchPersonsReply> result =
      allowed.ok() ? search() : absl::StatusOr<v1::SearchPersonsReply>(allowed);
  // The search, and whose data it disclosed: one entry per person found, so
  // that each one's access report shows it; all in one durable batch.
  std::vector<storage::AuditEntry> entries;
  entries.push_back(
      OperatorAuditEntry(op, "person.search", "",
                         absl::StrCat("name and birth date search, ", found.size(), " found",
                                      r.reason().empty() ? "" : ": ", r.reason()),
                         result.status()));
  for (const std::string& person : found) {
    entries.push_back(
        OperatorAuditEntry(op, "person.search", person, r.reason(), absl::OkStatus()));
  }
  absl::StatusOr<std::vector<storage::AuditEntry>> logged =
      node_->audit_log()->AppendAll(std::move(entries));
  if (!logged.ok()) {
    return AuditUnwritable("person.search", logged.status());
  }
  return result;
}

namespace {

// A version's text with every run of digits padded to 12, so that text
// order is version order ("0.9.1" before "0.10.0").
std::string VersionKey(absl::string_view v) {
  std::string key;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j < v.size() && absl::ascii_isdigit(v[j])) ++j;
    if (j == i) {
      key.push_back(v[i++]);
      continue;
    }
    if (j - i < 12) key.append(12 - (j - i), '0');
    key.append(v.data() + i, j - i);
    i = j;
  }
  return key;
}

// Sort keys of the fleet view; ties by code.
bool FleetLess(const node::FleetRow& a, const node::FleetRow& b, v1::FleetSort sort) {
  auto micros = [](absl::Time t, int64_t unknown) {
    return t == absl::InfinitePast() ? unknown : absl::ToUnixMicros(t);
  };
  auto key = [sort, &micros](const node::FleetRow& x) -> std::tuple<int64_t, std::string> {
    switch (sort) {
      case v1::FLEET_SORT_NAME: return {0, x.name};
      case v1::FLEET_SORT_LAST_SEEN: return {micros(x.last_seen, 0), ""};
      case v1::FLEET_SORT_BEHIND_OUTBOUND: return {static_cast<int64_t>(x.behind_outbound), ""};
      case v1::FLEET_SORT_BEHIND_INBOUND: return {static_cast<int64_t>(x.behind_inbound), ""};
      case v1::FLEET_SORT_LOG_SIZE: return {static_cast<int64_t>(x.log_size), ""};
      case v1::FLEET_SORT_HELD: return {x.held.empty() ? 0 : 1, x.held};
      case v1::FLEET_SORT_FROZEN: return {x.frozen ? 1 : 0, ""};
      case v1::FLEET_SORT_SOFTWARE_VERSION: return {0, VersionKey(x.software_version)};
      case v1::FLEET_SORT_ROSTER_VERSION: return {static_cast<int64_t>(x.roster_version), ""};
      case v1::FLEET_SORT_CHECKPOINT_TIME: return {micros(x.checkpoint_time, 0), ""};
      // Unknown last: the soonest known expiry is what an operator acts on.
      case v1::FLEET_SORT_CERT_EXPIRY:
        return {micros(x.cert_not_after, std::numeric_limits<int64_t>::max()), ""};
      default: return {0, ""};
    }
  };
  const auto ka = key(a), kb = key(b);
  if (ka != kb) return ka < kb;
  return a.code < b.code;
}

}  // namespace

std::vector<const node::FleetRow*> FleetPage(const std::vector<node::FleetRow>& rows,
                                             v1::FleetSort sort, bool descending, size_t offset,
                                             size_t limit) {
  const size_t total = rows.size();
  const size_t first = std::min(offset, total);
  const size_t last = first + std::min(limit, total - first);
  std::vector<const node::FleetRow*> order;
  order.reserve(total);
  for (const node::FleetRow& row : rows) order.push_back(&row);
  if (sort == v1::FLEET_SORT_UNSPECIFIED) sort = v1::FLEET_SORT_CODE;
  auto less = [sort, descending](const node::FleetRow* a, const node::FleetRow* b) {
    return descending ? FleetLess(*b, *a, sort) : FleetLess(*a, *b, sort);
  };
  std::partial_sort(order.begin(), order.begin() + last, order.end(), less);
  return std::vector<const node::FleetRow*>(order.begin() + first, order.begin() + last);
}

absl::StatusOr<v1::FleetReply> AdminApi::Fleet(const Operator& op, const v1::FleetRequest& r) {
  TB_RETURN_IF_ERROR(Authorize(op, Permission::kReadPeers));
  if (!v1::FleetSort_IsValid(r.sort())) {
    return absl::InvalidArgumentError(absl::StrCat("sort: unknown order ", r.sort()));
  }
  std::shared_ptr<const node::FleetSnapshot> snapshot = node_->fleet();
  if (snapshot == nullptr) {
    return absl::UnavailableError("the fleet view is computed within seconds of start; ask again");
  }
  const uint32_t limit = r.limit() == 0 ? 50 : std::min(r.limit(), kMaxFleetPage);
  v1::FleetReply reply;
  reply.set_total(static_cast<uint32_t>(snapshot->rows.size()));
  reply.set_computed_at_micros(Micros(snapshot->computed_at));
  reply.set_roster_version(snapshot->roster_version);
  for (const node::FleetRow* row :
       FleetPage(snapshot->rows, r.sort(), r.descending(), r.offset(), limit)) {
    v1::FleetNode* n = reply.add_nodes();
    n->set_code(row->code);
    n->set_name(row->name);
    n->set_status(row->status);
    n->set_connected(row->connected);
    n->set_last_seen_micros(Micros(row->last_seen));
    n->set_behind_outbound(row->behind_outbound);
    n->set_behind_inbound(row->behind_inbound);
    n->set_log_size(row->log_size);
    n->set_held(row->held);
    n->set_frozen(row->frozen);
    n->set_software_version(row->software_version);
    n->set_roster_version(row->roster_version);
    n->set_checkpoint_size(row->checkpoint_size);
    n->set_checkpoint_micros(Micros(row->checkpoint_time));
    n->set_cert_not_after_micros(Micros(row->cert_not_after));
  }
  return reply;
}

absl::StatusOr<v1::AccessReportReply> AdminApi::AccessReport(const Operator& op,
                                                             const v1::AccessReportRequest& r) {
  absl::StatusOr<std::string> person = Person(r.person());
  return Audited<v1::AccessReportReply>(
      op, Permission::kReadAuditTrail, "audit.access_report", person.value_or(""), r.reason(),
      [&]() -> absl::StatusOr<v1::AccessReportReply> {
        if (!person.ok()) return person.status();
        storage::AuditLog* log = node_->audit_log();
        TB_RETURN_IF_ERROR(log->Verify(node_->OwnKeys()).status());
        v1::AccessReportReply reply;
        reply.set_chain_verified(true);
        reply.set_person_masked(ids::MaskId(*person));
        std::string csv = absl::StrCat(workflows::kUtf8Bom,
                                       "seq,time (UTC+8),operator,role,action,reason,outcome\r\n");
        storage::AuditQuery q;
        q.person = *person;
        if (r.from_micros() != 0) q.from = absl::FromUnixMicros(r.from_micros());
        if (r.to_micros() != 0) q.to = absl::FromUnixMicros(r.to_micros());
        q.limit = 10000;
        for (;;) {
          TB_ASSIGN_OR_RETURN(std::vector<storage::AuditEntry> page, log->Query(q));
          for (const storage::AuditEntry& e : page) {
            v1::AuditEntry* out = reply.add_entries();
            out->set_seq(e.seq);
            out->set_at_micros(absl::ToUnixMicros(e.time));
            out->set_operator_(e.operator_name);
            out->set_role(e.role);
            out->set_action(e.action);
            out->set_person(e.person);
            out->set_reason(e.purpose);
            out->set_outcome(e.outcome);
            const std::string when = records::ChinaTimeText(e.time);
            absl::StrAppend(&csv, e.seq, ",", when, ",", workflows::CsvField(e.operator_name), ",",
                            workflows::CsvField(e.role), ",", workflows::CsvField(e.action), ",",
                            workflows::CsvField(e.purpose), ",", workflows::CsvField(e.outcome),
                            "\r\n");
          }
          if (page.size() < q.limit) break;
          q.cursor = page.back().seq;
        }
        reply.set_csv(std::move(csv));
        return reply;
      });
}

absl::StatusOr<v1::MetricsHistoryReply> AdminApi::MetricsHistory(const Operator& op,
                                                                 const v1::MetricsHistoryRequest&) {
  TB_RETURN_IF_ERROR(Authorize(op, Permission::kReadStatistics));
  v1::MetricsHistoryReply reply;
  for (const node::MetricsSample& s : node_->metrics_history()) {
    v1::MetricsSample* out = reply.add_samples();
    out->set_at_micros(absl::ToUnixMicros(s.at));
    out->set_own_events(s.own_events);
    out->set_events_applied(s.events_applied);
    out->set_events_sent(s.events_sent);
    out->set_behind_outbound(s.behind_outbound);
    out->set_behind_inbound(s.behind_inbound);
    out->set_max_lag_seconds(s.max_lag_seconds);
    out->set_peers_connected(s.peers_connected);
  }
  return reply;
}

// --- Operator accounts ---

namespace {

constexpr size_t kMaxAccountReason = 500;

absl::string_view ActionName(v1::OperatorAction action) {
  switch (action) {
    case v1::OPERATOR_ACTION_DISABLE: return "disable";
    case v1::OPERATOR_ACTION_ENABLE: return "enable";
    case v1::OPERATOR_ACTION_RESET_PASSWORD: return "reset_password";
    case v1::OPERATOR_ACTION_UNLOCK: return "unlock";
    case v1::OPERATOR_ACTION_ENROLL_TOTP: return "enroll_totp";
    default: return "unknown";
  }
}

}  // namespace

v1::OperatorInfo AdminApi::InfoOf(const OperatorAccount& account) const {
  v1::OperatorInfo info;
  info.set_name(account.name);
  info.set_role(std::string(RoleName(account.role)));
  info.set_disabled(account.disabled);
  info.set_totp(!account.totp_secret.empty());
  const Authenticator::Lockout lockout = accounts_.authenticator->LockoutOf(account.name);
  info.set_failures(static_cast<uint32_t>(lockout.failures));
  if (lockout.locked_until > node_->clock()->Now()) {
    info.set_locked_until_micros(absl::ToUnixMicros(lockout.locked_until));
  }
  return info;
}

absl::StatusOr<v1::OperatorsReply> AdminApi::ListOperators(const Operator& op,
                                                           const v1::OperatorsRequest&) {
  TB_RETURN_IF_ERROR(Authorize(op, Permission::kManageOperators));
  if (accounts_.accounts == nullptr || accounts_.authenticator == nullptr) {
    return absl::FailedPreconditionError("this node has no operator accounts");
  }
  v1::OperatorsReply reply;
  for (const OperatorAccount& a : accounts_.accounts->List()) *reply.add_operators() = InfoOf(a);
  return reply;
}

absl::StatusOr<v1::ManageOperatorReply> AdminApi::ManageOperator(
    const Operator& op, const v1::ManageOperatorRequest& r) {
  std::string purpose = absl::StrCat("operator ", r.name().substr(0, 64));
  if (!r.reason().empty()) {
    absl::StrAppend(&purpose, ": ", r.reason().substr(0, kMaxAccountReason));
  }
  return Audited<v1::ManageOperatorReply>(op, Permission::kManageOperators,
                                          absl::StrCat("operator.", ActionName(r.action())), "",
                                          purpose, [&] { return ChangeAccount(op, r); });
}

absl::StatusOr<v1::ManageOperatorReply> AdminApi::ChangeAccount(
    const Operator& op, const v1::ManageOperatorRequest& r) {
  if (accounts_.accounts == nullptr || accounts_.authenticator == nullptr) {
    return absl::FailedPreconditionError("this node has no operator accounts");
  }
  TB_RETURN_IF_ERROR(Prefixed("name", pki::ValidateOperatorName(r.name())));
  if (r.reason().size() > kMaxAccountReason) {
    return absl::InvalidArgumentError(
        absl::StrCat("reason: longer than ", kMaxAccountReason, " bytes"));
  }
  if (!r.new_password().empty() && r.action() != v1::OPERATOR_ACTION_RESET_PASSWORD) {
    return absl::InvalidArgumentError("new_password: only for a password reset");
  }
  if (!accounts_.accounts->Find(r.name()).has_value()) {
    return absl::NotFoundError(absl::StrCat("no operator account ", r.name()));
  }
  v1::ManageOperatorReply reply;
  std::function<absl::Status(OperatorAccount&)> change;
  switch (r.action()) {
    case v1::OPERATOR_ACTION_DISABLE:
      if (r.name() == op.name) {
        return absl::FailedPreconditionError(
            "an administrator cannot disable their own account; another administrator can");
      }
      change = [](OperatorAccount& a) {
        a.disabled = true;
        return absl::OkStatus();
      };
      break;
    case v1::OPERATOR_ACTION_ENABLE:
      change = [](OperatorAccount& a) {
        a.disabled = false;
        return absl::OkStatus();
      };
      break;
    case v1::OPERATOR_ACTION_RESET_PASSWORD: {
      TB_RETURN_IF_ERROR(Prefixed("new password", CheckPasswordPolicy(r.new_password())));
      // Hashed before the accounts file is locked: it takes a fraction of a
      // second.
      TB_ASSIGN_OR_RETURN(std::string hash, HashPassword(node_->config().suite, r.new_password()));
      change = [hash](OperatorAccount& a) {
        a.password_hash = hash;
        return absl::OkStatus();
      };
      break;
    }
    case v1::OPERATOR_ACTION_UNLOCK:
      TB_RETURN_IF_ERROR(accounts_.authenticator->Unlock(r.name()));
      break;
    case v1::OPERATOR_ACTION_ENROLL_TOTP: {
      TB_ASSIGN_OR_RETURN(std::string secret, GenerateTotpSecret());
      reply.set_totp_uri(TotpUri(absl::StrCat("Tongban ", node_->config().code), r.name(), secret));
      change = [secret](OperatorAccount& a) {
        a.totp_secret = secret;
        return absl::OkStatus();
      };
      break;
    }
    default:
      return absl::InvalidArgumentError(
          "action: expected disable, enable, reset-password, unlock or enroll-totp");
  }
  if (change) TB_RETURN_IF_ERROR(accounts_.accounts->Update(r.name(), change));
  std::optional<OperatorAccount> after = accounts_.accounts->Find(r.name());
  if (!after.has_value()) {
    return absl::NotFoundError(absl::StrCat("no operator account ", r.name()));
  }
  *reply.mutable_operator_() = InfoOf(*after);
  return reply;
}

}  // namespace tongban::admin
