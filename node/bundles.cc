// Node's offline exchange: node/bundles.h.
#include "node/bundles.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/seal_to.h"
#include "common/ids/citizen_id.h"
#include "common/log.h"
#include "common/merkle/checkpoint.h"
#include "common/status_macros.h"
#include "node/node.h"
#include "sync/bundle.h"
#include "sync/peers.h"
#include "tongban/v1/store.pb.h"

namespace tongban::node {

namespace {

using LogKey = std::pair<std::string, uint64_t>;

// Persons a peer may have asked for at once; more are dropped (asked again
// with its next bundle).
constexpr size_t kMaxRequests = 100000;
constexpr size_t kMaxPersonBytes = 18;

std::string LogName(const std::string& origin, uint64_t epoch) {
  return absl::StrCat(origin, "/", epoch);
}

absl::StatusOr<v1::BundlePeer> LoadBundlePeer(const storage::Store& store,
                                              const std::string& peer) {
  v1::BundlePeer state;
  TB_ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                      store.Get(storage::Cf::kDefault, storage::BundlePeerKey(peer)));
  if (bytes.has_value() && !state.ParseFromString(*bytes)) {
    return absl::DataLossError(absl::StrCat("bundle state of peer ", peer, " does not parse"));
  }
  return state;
}

absl::Status SaveBundlePeer(storage::Store& store, const std::string& peer,
                            const v1::BundlePeer& state) {
  storage::Batch batch(store);
  batch.PutBundlePeer(peer, state.SerializeAsString());
  return store.Commit(batch, /*sync=*/true);
}

v1::Hello HelloOf(const v1::BundlePeer& state, const std::string& peer) {
  v1::Hello hello;
  if (!state.received_hello().empty()) hello.ParseFromString(state.received_hello());
  hello.set_node(peer);
  return hello;
}

// The peer's stated position in `log`, or a zero one.
v1::Position AssumedOf(const v1::BundleManifest& manifest, const LogKey& log) {
  for (const v1::Position& p : manifest.assumes()) {
    if (p.origin() == log.first && p.epoch() == log.second) return p;
  }
  return v1::Position();
}

// Pass 1: every record of the file, its shape and the signature, before
// anything is applied. Returns the manifest.
absl::StatusOr<v1::BundleManifest> CheckWhole(const std::string& path,
                                              const sync::BundleFileHeader& file,
                                              const crypto::Suite& suite,
                                              absl::string_view file_key,
                                              const crypto::PublicKey& sender_key) {
  TB_ASSIGN_OR_RETURN(std::unique_ptr<sync::BundleReader> reader,
                      sync::BundleReader::Open(path, file, suite, file_key, sender_key));
  std::optional<v1::BundleManifest> manifest;
  uint64_t index = 0;
  while (true) {
    TB_ASSIGN_OR_RETURN(std::optional<v1::BundleRecordShape> record, reader->NextShape());
    if (!record.has_value()) break;
    const auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat("bundle record ", index, ": ", what));
    };
    if (manifest.has_value()) return bad("follows the manifest");
    if (record->has_manifest()) {
      manifest = record->manifest();
    } else if (!record->has_message()) {
      return bad("neither a message nor the manifest");
    } else {
      using Shape = v1::BundleRecordShape::MessageShape;
      const Shape::MsgCase kind = record->message().msg_case();
      if ((index == 0) != (kind == Shape::kHello)) {
        return bad("a bundle starts with its sender's Hello, once");
      }
      if (kind != Shape::kHello && kind != Shape::kBatch && kind != Shape::kFetchPerson &&
          kind != Shape::kFetchDone) {
        return bad("a message a bundle does not carry");
      }
    }
    ++index;
  }
  if (!manifest.has_value()) return absl::InvalidArgumentError("bundle has no manifest");
  return *manifest;
}

}  // namespace

absl::StatusOr<ExportedBundle> Node::ExportBundle(const std::string& to,
                                                  const std::string& since_ack,
                                                  const BundleSink& sink,
                                                  const BundleProgressFn& progress) {
  absl::MutexLock lock(&bundle_mu_);
  if (to == config_.code) return absl::InvalidArgumentError("a bundle is for another node");
  TB_RETURN_IF_ERROR(roster_->CheckPeer(to));
  if (!since_ack.empty()) {
    TB_ASSIGN_OR_RETURN(sync::BundleFileHeader file, sync::ReadBundleHeader(since_ack));
    if (file.header.sender() != to) {
      return absl::InvalidArgumentError(absl::StrCat("--since-ack: the bundle is from node ",
                                                     file.header.sender(),
                                                     ", not from the recipient ", to));
    }
    TB_RETURN_IF_ERROR(ImportBundleLocked(since_ack).status());
  }
  // Events appended until now go out with this bundle: wait until they are
  // signed (the feed sends only what a checkpoint covers).
  TB_ASSIGN_OR_RETURN(uint64_t last, local_->store()->LastSeq(local_->writer()->log()));
  if (last > 0) TB_RETURN_IF_ERROR(local_->writer()->WaitForCheckpoint(last, absl::Seconds(30)));
  return WriteBundle(to, /*data=*/true, sink, progress);
}

// long-function: one pass over what a session would send, in order.
absl::StatusOr<ExportedBundle> Node::WriteBundle(const std::string& to, bool data,
                                                 const BundleSink& sink,
                                                 const BundleProgressFn& progress) {
  storage::Store& store = *local_->store();
  const sync::Roster roster = roster_->current();
  const v1::NodeEntry* entry = roster.Find(to);
  if (entry == nullptr || entry->signing_keys().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", to, " has no signing key in roster v", roster.version()));
  }
  // The recipient's newest roster key (its own files keep retired ones).
  const v1::SigningKey* newest = &entry->signing_keys(0);
  for (const v1::SigningKey& k : entry->signing_keys()) {
    if (k.valid_from_seq() >= newest->valid_from_seq()) newest = &k;
  }
  const crypto::PublicKey* recipient_key = roster_->FindSigningKey(to, newest->key_id());
  if (recipient_key == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("roster key of node ", to, " not found"));
  }
  TB_ASSIGN_OR_RETURN(v1::BundlePeer state, LoadBundlePeer(store, to));
  const v1::Hello hello = HelloOf(state, to);

  v1::BundleHeader header;
  header.set_sender(config_.code);
  header.set_recipient(to);
  header.set_created_micros(absl::ToUnixMicros(clock_->Now()));
  TB_ASSIGN_OR_RETURN(std::unique_ptr<sync::BundleWriter> writer,
                      sync::BundleWriter::Start(local_->suite(), header, *recipient_key,
                                                local_->signing_key(), sink));
  std::unique_ptr<sync::Session> session = NewSession(to, /*offline=*/true);
  TB_ASSIGN_OR_RETURN(std::vector<v1::SyncMessage> start, session->Start());
  v1::BundleRecord record;
  *record.mutable_message() = start.at(0);  // our Hello: where we stand in what `to` sends us
  TB_RETURN_IF_ERROR(writer->Add(record));

  const storage::LogId own = local_->writer()->log();
  uint64_t own_position = 0;  // the recipient's cursor in our log after this bundle
  for (const v1::Position& p : hello.positions()) {
    if (p.origin() == own.origin && p.epoch() == own.epoch) own_position = p.seq();
  }
  v1::BundleManifest manifest;
  *manifest.mutable_assumes() = hello.positions();
  manifest.set_acknowledges(state.received_id());
  ExportedBundle out;
  std::set<std::string> answered;
  if (data) {
    std::vector<v1::SyncMessage> ignored;
    v1::SyncMessage m;
    *m.mutable_hello() = hello;
    TB_RETURN_IF_ERROR(session->OnMessage(m, &ignored));
    m.mutable_credit()->set_batches(64);
    TB_RETURN_IF_ERROR(session->OnMessage(m, &ignored));
    for (const std::string& person : state.requests()) {
      m.mutable_fetch_person()->set_person(person);
      TB_RETURN_IF_ERROR(session->OnMessage(m, &ignored));
    }
    BundleProgress shown;
    TB_ASSIGN_OR_RETURN(auto latest, store.CheckpointAtOrBelow(own, ~uint64_t{0}));
    if (latest.has_value() && latest->first > own_position) {
      shown.events_estimate = latest->first - own_position;
    }
    std::map<LogKey, v1::BundleRange> ranges;
    while (true) {
      TB_ASSIGN_OR_RETURN(std::optional<v1::SyncMessage> next, session->NextBatch());
      if (!next.has_value()) break;
      if (next->has_batch()) {
        const v1::Batch& b = next->batch();
        v1::BundleRange& r = ranges[{b.origin(), b.epoch()}];
        r.set_origin(b.origin());
        r.set_epoch(b.epoch());
        r.set_contiguous(b.contiguous());
        r.set_batches(r.batches() + 1);
        r.set_events(r.events() + b.events_size());
        if (b.events_size() > 0) {
          if (r.first_seq() == 0) r.set_first_seq(b.events(0).seq());
          r.set_last_seq(std::max(r.last_seq(), b.events(b.events_size() - 1).seq()));
        }
        TB_ASSIGN_OR_RETURN(merkle::Checkpoint cp, merkle::ParseCheckpoint(b.checkpoint().body()));
        r.set_checkpoint_size(std::max(r.checkpoint_size(), cp.tree_size));
        if (b.origin() == own.origin && b.epoch() == own.epoch && !b.backfill()) {
          own_position = std::max({own_position, b.watermark(),
                                   b.events_size() > 0 ? b.events(b.events_size() - 1).seq() : 0});
        }
        manifest.set_batches(manifest.batches() + 1);
        manifest.set_events(manifest.events() + b.events_size());
        m.mutable_credit()->set_batches(1);
        TB_RETURN_IF_ERROR(session->OnMessage(m, &ignored));
      } else if (next->has_fetch_done()) {
        answered.insert(next->fetch_done().person());
        ++out.answers;
      } else {
        continue;  // the session's own requests: written below, for every marker
      }
      *record.mutable_message() = *std::move(next);
      TB_RETURN_IF_ERROR(writer->Add(record));
      shown.events = manifest.events();
      shown.batches = manifest.batches();
      shown.bytes = writer->bytes_written();
      if (progress) progress(shown);
    }
    for (auto& [key, r] : ranges) *manifest.add_ranges() = std::move(r);
  }
  // Histories to fetch from `to`: asked once `to` holds the registration
  // that linked us (it refuses otherwise, and a refusal is final).
  const std::string prefix = storage::BackfillPrefix(to);
  TB_ASSIGN_OR_RETURN(auto markers, store.Scan(storage::Cf::kDefault, prefix));
  for (const auto& [key, value] : markers) {
    uint64_t registered = 0;
    if (!value.empty() && !absl::SimpleAtoi(value, &registered)) {
      return absl::DataLossError("backfill marker does not parse");
    }
    if (registered > own_position) continue;
    record.mutable_message()->mutable_fetch_person()->set_person(key.substr(prefix.size()));
    TB_RETURN_IF_ERROR(writer->Add(record));
    manifest.set_requests(manifest.requests() + 1);
  }
  *record.mutable_manifest() = manifest;
  TB_RETURN_IF_ERROR(writer->Add(record));
  TB_RETURN_IF_ERROR(writer->Finish());

  out.header = writer->header();
  out.header.clear_sealed_key();
  out.manifest = std::move(manifest);
  out.bytes = writer->bytes_written();
  // What was answered is not asked again; the rest stays for the next one.
  google::protobuf::RepeatedPtrField<std::string> left;
  for (const std::string& p : state.requests()) {
    if (answered.count(p) == 0) *left.Add() = p;
  }
  *state.mutable_requests() = std::move(left);
  state.set_exported_id(out.header.bundle_id());
  state.set_exported_at_micros(out.header.created_micros());
  state.set_exported_events(out.manifest.events());
  state.set_exported_bytes(out.bytes);
  TB_RETURN_IF_ERROR(SaveBundlePeer(store, to, state));
  TB_RETURN_IF_ERROR(store.Increment("bundle/exported", 1));
  TB_RETURN_IF_ERROR(store.Increment("bundle/events_exported", out.manifest.events()));
  TB_LOG(INFO) << "bundle " << out.header.bundle_id() << " for node " << to << ": "
               << out.manifest.events() << " events in " << out.manifest.batches() << " batches, "
               << out.manifest.requests() << " requests, " << out.bytes << " bytes"
               << (data ? "" : " (acknowledgement)");
  return out;
}

absl::StatusOr<ImportedBundle> Node::ImportBundle(const std::string& path) {
  absl::MutexLock lock(&bundle_mu_);
  absl::StatusOr<ImportedBundle> imported = ImportBundleLocked(path);
  if (!imported.ok()) {
    TB_LOG(WARNING) << "bundle " << path << " refused: " << imported.status().message();
    TB_RETURN_IF_ERROR(local_->store()->Increment("bundle/refused", 1));
  }
  return imported;
}

// long-function: the checks in the order node/bundles.h gives, then one
// session over the bundle's messages.
absl::StatusOr<ImportedBundle> Node::ImportBundleLocked(const std::string& path) {
  storage::Store& store = *local_->store();
  TB_ASSIGN_OR_RETURN(sync::BundleFileHeader file, sync::ReadBundleHeader(path));
  const v1::BundleHeader& h = file.header;
  const std::string suite(local_->suite().name());
  if (h.suite() != suite) {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle is of the ", h.suite(), " suite; this federation uses ", suite));
  }
  if (h.recipient() != config_.code) {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle is for node ", h.recipient(), ", not for this node ", config_.code));
  }
  if (h.sender() == config_.code) {
    return absl::InvalidArgumentError("bundle was made by this node");
  }
  TB_RETURN_IF_ERROR(Admit(h.sender()));
  const crypto::PrivateKey* own_key = local_->OwnPrivateKey(h.recipient_key_id());
  if (own_key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("bundle is encrypted to key ",
                                                   h.recipient_key_id(), ", which node ",
                                                   config_.code, " does not hold"));
  }
  absl::StatusOr<std::string> file_key = crypto::OpenSealed(*own_key, h.sealed_key());
  if (!file_key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("bundle's file key does not open with key ",
                                                   h.recipient_key_id(), ": ",
                                                   file_key.status().message()));
  }
  const crypto::PublicKey* sender_key = signing_keys_->Find(h.sender(), h.sender_key_id());
  if (sender_key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("bundle is signed with key ", h.sender_key_id(),
                                                   ", no key of node ", h.sender(), " known here"));
  }
  TB_ASSIGN_OR_RETURN(v1::BundleManifest manifest,
                      CheckWhole(path, file, local_->suite(), *file_key, *sender_key));

  // The bundle is whole and the sender's: apply it as a session would.
  ImportedBundle out;
  out.header = h;
  out.header.clear_sealed_key();
  out.manifest = manifest;
  TB_ASSIGN_OR_RETURN(std::unique_ptr<sync::BundleReader> reader,
                      sync::BundleReader::Open(path, file, local_->suite(), *file_key, *sender_key,
                                               /*signature_checked=*/true));
  std::unique_ptr<sync::Session> session = NewSession(h.sender(), /*offline=*/true);
  TB_RETURN_IF_ERROR(session->Start().status());
  const bool contiguous_here = config_.code == config_.national;
  std::set<LogKey> checked;
  std::map<LogKey, std::string> skipped;  // log -> why
  std::set<std::string> requests;
  v1::Hello hello;
  // Answers of the session: a Resync means a batch built for a position
  // this node no longer holds; a LogRefused, a log refused here.
  const auto note = [&](const std::vector<v1::SyncMessage>& answers, const v1::Batch* batch) {
    for (const v1::SyncMessage& a : answers) {
      if (a.has_resync()) {
        const v1::Position& p = a.resync();
        const uint64_t top =
            batch == nullptr
                ? 0
                : std::max(batch->watermark(), batch->events_size() > 0
                                                   ? batch->events(batch->events_size() - 1).seq()
                                                   : 0);
        ++out.batches_not_applied;
        if (batch != nullptr && top <= p.seq()) continue;  // already held: a no-op
        out.notes.push_back(absl::StrCat(LogName(p.origin(), p.epoch()),
                                         ": a batch built for another position (this node "
                                         "holds up to seq ",
                                         p.seq(), ", checkpoint ", p.checkpoint_size(),
                                         "): not applied; export again with --since-ack"));
      } else if (a.has_log_refused()) {
        out.notes.push_back(absl::StrCat(LogName(a.log_refused().origin(), a.log_refused().epoch()),
                                         ": ", a.log_refused().message()));
      }
    }
  };
  std::vector<v1::SyncMessage> answers;
  while (true) {
    TB_ASSIGN_OR_RETURN(std::optional<v1::BundleRecord> record, reader->Next());
    if (!record.has_value() || record->has_manifest()) break;
    const v1::SyncMessage& m = record->message();
    answers.clear();
    if (m.has_fetch_person()) {
      // A request names a normalized ID (18 characters); anything longer
      // is not kept (the sender's next bundle asks again if it must).
      const std::string& person = m.fetch_person().person();
      if (person.size() <= kMaxPersonBytes && requests.size() < kMaxRequests) {
        requests.insert(person);
      }
      continue;
    }
    if (m.has_hello()) hello = m.hello();
    if (m.has_batch() && !m.batch().backfill()) {
      const v1::Batch& b = m.batch();
      const LogKey key{b.origin(), b.epoch()};
      if (skipped.count(key) != 0) {
        ++out.batches_not_applied;
        continue;
      }
      if (checked.insert(key).second && b.origin() != config_.code) {
        // The first batch of each log: does this node hold what the bundle
        // assumed? Applying beyond a gap would move the cursor past events
        // it never received.
        const storage::LogId log{b.origin(), b.epoch()};
        const v1::Position assumed = AssumedOf(manifest, key);
        uint64_t have = 0;
        const size_t missing_before = out.missing.size();
        if (contiguous_here && b.contiguous()) {
          TB_ASSIGN_OR_RETURN(have, store.LastSeq(log));
          const uint64_t first = b.events_size() > 0 ? b.events(0).seq() : have + 1;
          if (first > have + 1) {
            out.missing.push_back(
                absl::StrCat(LogName(key.first, key.second), ": seqs ", have + 1, "..", first - 1));
          }
        } else if (!b.contiguous()) {
          TB_ASSIGN_OR_RETURN(
              std::optional<std::string> cursor,
              store.Get(storage::Cf::kCursors, storage::CursorKey(h.sender(), log)));
          v1::Position p;
          if (cursor.has_value() && !p.ParseFromString(*cursor)) {
            return absl::DataLossError("a cursor does not parse");
          }
          have = p.seq();
          if (assumed.seq() > have) {
            out.missing.push_back(absl::StrCat(LogName(key.first, key.second), ": seqs ", have + 1,
                                               "..", assumed.seq()));
          }
        }
        if (out.missing.size() > missing_before) {
          skipped[key] = out.missing.back();
          ++out.batches_not_applied;
          continue;
        }
      }
    }
    absl::Status handled = session->OnMessage(m, &answers);
    if (!handled.ok()) {
      return absl::Status(handled.code(), absl::StrCat("bundle ", h.bundle_id(), " from node ",
                                                       h.sender(), ": ", handled.message()));
    }
    note(answers, m.has_batch() ? &m.batch() : nullptr);
  }
  answers.clear();
  TB_RETURN_IF_ERROR(session->FinishApplying(&answers));
  note(answers, nullptr);
  out.batches_applied = session->stats().batches_applied;
  out.events_applied = session->stats().events_applied;
  out.batches_not_applied += session->stats().batches_skipped;

  // What the sender said: its acknowledgements (as session Acks), and, if
  // this is its newest bundle, where it stands for the next export.
  for (const v1::Position& p : hello.positions()) {
    if (p.seq() == 0) continue;
    TB_RETURN_IF_ERROR(sync::StoreAck(store, h.sender(), {p.origin(), p.epoch()}, p.seq()));
  }
  TB_ASSIGN_OR_RETURN(v1::BundlePeer state, LoadBundlePeer(store, h.sender()));
  out.newest = h.created_micros() > state.received_created_micros();
  const int64_t now = absl::ToUnixMicros(clock_->Now());
  if (out.newest) {
    state.set_received_id(h.bundle_id());
    state.set_received_created_micros(h.created_micros());
    state.set_received_at_micros(now);
    state.set_received_events(manifest.events());
    state.set_received_hello(hello.SerializeAsString());
    if (!manifest.acknowledges().empty()) {
      state.set_acked_id(manifest.acknowledges());
      state.set_acked_at_micros(now);
    }
  }
  for (const std::string& p : state.requests()) requests.insert(p);
  state.clear_requests();
  for (const std::string& p : requests) {
    if (static_cast<size_t>(state.requests_size()) >= kMaxRequests) break;
    *state.add_requests() = p;
  }
  out.requests = static_cast<uint32_t>(requests.size());
  TB_RETURN_IF_ERROR(SaveBundlePeer(store, h.sender(), state));
  TB_RETURN_IF_ERROR(store.Increment("bundle/imported", 1));
  TB_RETURN_IF_ERROR(store.Increment("bundle/events_imported", out.events_applied));
  TB_LOG(INFO) << "bundle " << h.bundle_id() << " from node " << h.sender()
               << " imported: " << out.events_applied << " events in " << out.batches_applied
               << " batches, " << out.batches_not_applied << " batches not applied, "
               << out.missing.size() << " logs missing prerequisites";

  // The acknowledgement: a bundle with our Hello (and requests) only.
  std::string ack;
  TB_ASSIGN_OR_RETURN(ExportedBundle made, WriteBundle(
                                               h.sender(), /*data=*/false,
                                               [&ack](absl::string_view bytes) {
                                                 ack.append(bytes.data(), bytes.size());
                                                 return absl::OkStatus();
                                               },
                                               nullptr));
  out.ack = std::move(ack);
  out.ack_id = made.header.bundle_id();
  return out;
}

}  // namespace tongban::node
