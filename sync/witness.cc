#include "sync/witness.h"

#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/merkle/cosignature.h"
#include "common/merkle/rotation.h"
#include "common/merkle/tree.h"
#include "common/status_macros.h"
#include "sync/evidence.h"
#include "sync/signing_keys.h"

namespace tongban::sync {
namespace {

std::string LogName(const storage::LogId& log) { return absl::StrCat(log.origin, "/", log.epoch); }

bool IsNodeCode(absl::string_view code) {
  return code.size() == 6 && code.find_first_not_of("0123456789") == absl::string_view::npos;
}

merkle::Cosignature FromProto(const v1::Cosignature& c) {
  return {c.witness(), c.key_id(), c.cosigned_at_micros(), c.signature()};
}

v1::Cosignature ToProto(const merkle::Cosignature& c) {
  v1::Cosignature out;
  out.set_witness(c.witness);
  out.set_key_id(c.key_id);
  out.set_cosigned_at_micros(c.time_micros);
  out.set_signature(c.signature);
  return out;
}

std::string Bytes(const crypto::Digest& d) { return std::string(crypto::AsStringView(d)); }

absl::StatusOr<crypto::Digest> ToDigest(absl::string_view bytes, absl::string_view what) {
  if (bytes.size() != crypto::kDigestSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", bytes.size(), " bytes, want ", crypto::kDigestSize));
  }
  crypto::Digest d;
  std::memcpy(d.data(), bytes.data(), d.size());
  return d;
}

std::string ShortRoot(const crypto::Digest& d) {
  return HexEncode(crypto::AsStringView(d)).substr(0, 16);
}

}  // namespace

// --- Witness ---

Witness::Witness(const storage::Store* store, const crypto::PrivateKey* key, const Clock* clock,
                 std::string self)
    : store_(store), clock_(clock), self_(std::move(self)), key_(key) {}

void Witness::SetKey(const crypto::PrivateKey* key) {
  absl::MutexLock lock(&mu_);
  key_ = key;
  cache_.clear();
}

absl::StatusOr<std::optional<v1::CosignedCheckpoint>> Witness::Latest(const storage::LogId& log) {
  TB_ASSIGN_OR_RETURN(std::optional<v1::SignedCheckpoint> latest, store_->LatestCheckpoint(log));
  if (!latest.has_value()) return std::nullopt;
  const std::pair<std::string, uint64_t> key{log.origin, log.epoch};
  const crypto::PrivateKey* signing_key = nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.checkpoint().body() == latest->body()) {
      return it->second;
    }
    signing_key = key_;
  }
  // Signed outside the lock; two askers racing on a new checkpoint may both
  // sign it, which is harmless.
  TB_ASSIGN_OR_RETURN(merkle::Cosignature cosignature,
                      merkle::Cosign(latest->body(), self_, clock_->Now(), *signing_key));
  v1::CosignedCheckpoint out;
  *out.mutable_checkpoint() = *std::move(latest);
  *out.mutable_cosignature() = ToProto(cosignature);
  absl::MutexLock lock(&mu_);
  ++cosignatures_;
  cache_[key] = out;
  return out;
}

absl::StatusOr<v1::WitnessReply> Witness::Answer(const v1::WitnessRequest& request) {
  if (request.logs_size() > kMaxWitnessLogs) {
    return absl::InvalidArgumentError(absl::StrCat("witness request names ", request.logs_size(),
                                                   " logs; at most ", kMaxWitnessLogs,
                                                   " per request"));
  }
  std::unique_ptr<crypto::Hasher> hasher = crypto::GetSuite(store_->suite()).NewHasher();
  v1::WitnessReply reply;
  // This node's own key rotations, for an asker whose roster does not list
  // the key it cosigns with now.
  TB_ASSIGN_OR_RETURN(const std::vector<storage::KeyRotationEntry> own,
                      store_->KeyRotations(self_));
  for (const storage::KeyRotationEntry& r : own) *reply.add_witness_key_rotations() = r.rotation;
  for (int i = 0; i < request.logs_size(); ++i) {
    const v1::WitnessRequest::Held& held = request.logs(i);
    if (!IsNodeCode(held.origin())) {
      return absl::InvalidArgumentError(absl::StrCat("witness request log ", i + 1, ": origin \"",
                                                     held.origin(),
                                                     "\" is not a 6-digit node code"));
    }
    const storage::LogId log{held.origin(), held.epoch()};
    v1::WitnessReply::Entry* entry = reply.add_entries();
    entry->set_origin(log.origin);
    entry->set_epoch(log.epoch);
    TB_ASSIGN_OR_RETURN(std::optional<v1::CosignedCheckpoint> latest, Latest(log));
    if (!latest.has_value()) continue;
    TB_ASSIGN_OR_RETURN(const merkle::Checkpoint cp,
                        merkle::ParseCheckpoint(latest->checkpoint().body()));
    *entry->mutable_witnessed() = *std::move(latest);
    TB_ASSIGN_OR_RETURN(const std::vector<storage::KeyRotationEntry> rotations,
                        store_->KeyRotations(log.origin));
    for (const storage::KeyRotationEntry& r : rotations) {
      if (r.log.epoch < log.epoch || (r.log.epoch == log.epoch && r.seq <= cp.tree_size)) {
        *entry->add_key_rotations() = r.rotation;
      }
    }
    const uint64_t from = held.tree_size();
    if (from == 0 || from >= cp.tree_size) continue;
    // This node keeps the whole log, so it can prove how the asker's tree
    // size extends to the witnessed one.
    const merkle::NodeReader tree = store_->NodeReaderFor(log);
    absl::StatusOr<std::vector<crypto::Digest>> proof =
        merkle::ConsistencyProof(*hasher, from, cp.tree_size, tree);
    if (!proof.ok()) {
      return Prefixed(
          absl::StrCat("log ", LogName(log), ": consistency proof ", from, " -> ", cp.tree_size),
          proof.status());
    }
    absl::StatusOr<crypto::Digest> old_root = merkle::RangeHash(*hasher, 0, from, tree);
    if (!old_root.ok()) {
      return Prefixed(absl::StrCat("log ", LogName(log), ": root at ", from), old_root.status());
    }
    entry->set_consistency_from(from);
    for (const crypto::Digest& d : *proof) entry->add_consistency(Bytes(d));
    entry->set_old_root(Bytes(*old_root));
  }
  return reply;
}

uint64_t Witness::cosignatures() const {
  absl::MutexLock lock(&mu_);
  return cosignatures_;
}

// --- WitnessChecker ---

absl::string_view WitnessVerdictName(WitnessVerdict verdict) {
  switch (verdict) {
    case WitnessVerdict::kConsistent: return "consistent";
    case WitnessVerdict::kNotHeld: return "not_held";
    case WitnessVerdict::kWitnessBehind: return "witness_behind";
    case WitnessVerdict::kEquivocation: return "equivocation";
    case WitnessVerdict::kUnproven: return "unproven";
    case WitnessVerdict::kOwnLogBehind: return "own_log_behind";
    case WitnessVerdict::kOwnLogForked: return "own_log_forked";
  }
  return "unknown";
}

// One reply entry with every signature verified and every hash sized.
struct WitnessChecker::Verified {
  storage::LogId log;
  uint64_t held_size = 0;
  std::optional<v1::CosignedCheckpoint> cosigned;
  merkle::Checkpoint checkpoint;  // the witnessed one, if any
  std::vector<crypto::Digest> proof;
  std::optional<crypto::Digest> old_root;
};

WitnessChecker::WitnessChecker(storage::Store* store, const crypto::Suite& suite, KeyLookup keys,
                               const Clock* clock, WitnessCheckerOptions options)
    : store_(store),
      suite_(suite),
      keys_(std::move(keys)),
      clock_(clock),
      options_(std::move(options)) {}

absl::StatusOr<v1::WitnessRequest> WitnessChecker::Request(std::vector<storage::LogId> logs) const {
  if (logs.empty()) {
    TB_ASSIGN_OR_RETURN(logs, store_->CheckpointLogs());
  }
  if (logs.size() > static_cast<size_t>(kMaxWitnessLogs)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "witness request: ", logs.size(), " logs; at most ", kMaxWitnessLogs, " per request"));
  }
  v1::WitnessRequest request;
  for (const storage::LogId& log : logs) {
    v1::WitnessRequest::Held* held = request.add_logs();
    held->set_origin(log.origin);
    held->set_epoch(log.epoch);
    TB_ASSIGN_OR_RETURN(auto latest, store_->CheckpointAtOrBelow(log, ~uint64_t{0}));
    held->set_tree_size(latest.has_value() ? latest->first : 0);
  }
  return request;
}

absl::StatusOr<WitnessChecker::Verified> WitnessChecker::VerifyEntry(
    const v1::WitnessRequest::Held& asked, const v1::WitnessReply::Entry& entry,
    const merkle::KeyHistory* witness_keys) const {
  Verified v;
  v.log = {asked.origin(), asked.epoch()};
  v.held_size = asked.tree_size();
  const std::string where = absl::StrCat("witness reply for log ", LogName(v.log));
  auto invalid = [&where](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", why));
  };
  if (entry.origin() != asked.origin() || entry.epoch() != asked.epoch()) {
    return invalid(absl::StrCat("the entry is for log ", entry.origin(), "/", entry.epoch()));
  }
  if (!entry.has_witnessed()) return v;
  const v1::CosignedCheckpoint& witnessed = entry.witnessed();
  const v1::Cosignature& cosignature = witnessed.cosignature();
  if (cosignature.witness() != options_.witness) {
    return invalid(absl::StrCat("cosigned by node ", cosignature.witness(), ", not by the witness ",
                                options_.witness));
  }
  const crypto::PublicKey* witness_key = keys_(options_.witness, cosignature.key_id());
  if (witness_key == nullptr && witness_keys != nullptr) {
    witness_key = witness_keys->Find(cosignature.key_id());
  }
  if (witness_key == nullptr) {
    return invalid(absl::StrCat("the roster has no key ", cosignature.key_id(), " of the witness ",
                                options_.witness));
  }
  absl::StatusOr<merkle::Checkpoint> cp = merkle::VerifyCosignature(
      FromProto(cosignature), witnessed.checkpoint().body(), *witness_key);
  if (!cp.ok()) return invalid(cp.status().message());
  if (cp->origin != v.log.origin || cp->epoch != v.log.epoch) {
    return invalid(absl::StrCat("the witnessed checkpoint is of log ", cp->origin, "/", cp->epoch));
  }
  const crypto::PublicKey* origin_key = keys_(cp->origin, cp->key_id);
  std::optional<merkle::KeyHistory> history;  // owns the key it gives
  if (origin_key == nullptr && !entry.key_rotations().empty()) {
    // A key this node has not seen: the origin's rotations, each signed by
    // the key it retires, lead to it from the roster.
    absl::StatusOr<merkle::KeyHistory> h =
        VerifiedKeyHistory(cp->origin, suite_.id(), keys_, entry.key_rotations());
    if (!h.ok()) return invalid(h.status().message());
    history = *std::move(h);
    absl::StatusOr<const crypto::PublicKey*> k =
        history->KeyFor(cp->key_id, {cp->epoch, cp->tree_size});
    if (!k.ok()) return invalid(k.status().message());
    origin_key = *k;
  }
  if (origin_key == nullptr) {
    return invalid(absl::StrCat("the roster has no key ", cp->key_id, " of origin ", cp->origin));
  }
  absl::Status signed_by_origin =
      merkle::VerifyCheckpoint({witnessed.checkpoint().body(), witnessed.checkpoint().signature()},
                               suite_, *origin_key)
          .status();
  if (!signed_by_origin.ok()) {
    return invalid(absl::StrCat("origin signature: ", signed_by_origin.message()));
  }
  v.checkpoint = *std::move(cp);
  v.cosigned = witnessed;
  const bool wants_proof = v.held_size > 0 && v.held_size < v.checkpoint.tree_size;
  if (!wants_proof) {
    if (entry.consistency_from() != 0) {
      return invalid(absl::StrCat("a consistency proof from size ", entry.consistency_from(),
                                  " that was not asked for"));
    }
    return v;
  }
  if (entry.consistency_from() != v.held_size) {
    return invalid(absl::StrCat("the consistency proof starts at size ", entry.consistency_from(),
                                ", not at our size ", v.held_size));
  }
  for (const std::string& h : entry.consistency()) {
    TB_ASSIGN_OR_RETURN(crypto::Digest d, ToDigest(h, absl::StrCat(where, ": a proof hash")));
    v.proof.push_back(d);
  }
  TB_ASSIGN_OR_RETURN(v.old_root, ToDigest(entry.old_root(), absl::StrCat(where, ": old_root")));
  return v;
}

absl::StatusOr<std::vector<WitnessFinding>> WitnessChecker::Check(const v1::WitnessRequest& request,
                                                                  const v1::WitnessReply& reply) {
  if (reply.entries_size() != request.logs_size()) {
    return absl::InvalidArgumentError(absl::StrCat("witness reply has ", reply.entries_size(),
                                                   " entries for ", request.logs_size(),
                                                   " logs asked"));
  }
  // Everything verified before anything is kept.
  std::optional<merkle::KeyHistory> witness_keys;
  if (!reply.witness_key_rotations().empty()) {
    absl::StatusOr<merkle::KeyHistory> h =
        VerifiedKeyHistory(options_.witness, suite_.id(), keys_, reply.witness_key_rotations());
    if (!h.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("witness reply: the witness's key rotations: ", h.status().message()));
    }
    witness_keys = *std::move(h);
  }
  std::vector<Verified> verified;
  for (int i = 0; i < request.logs_size(); ++i) {
    TB_ASSIGN_OR_RETURN(Verified v, VerifyEntry(request.logs(i), reply.entries(i),
                                                witness_keys ? &*witness_keys : nullptr));
    verified.push_back(std::move(v));
  }
  if (witness_keys.has_value()) {
    // Kept, so that what else the witness signs (a restart record's
    // countersignature) verifies here too (SigningKeys).
    storage::Batch batch(*store_);
    for (const v1::SignedKeyRotation& s : reply.witness_key_rotations()) {
      absl::StatusOr<merkle::KeyRotation> r = merkle::ParseKeyRotation(s.body());
      if (r.ok()) batch.PutKeyRotation({options_.witness, r->epoch}, r->seq, s);
    }
    TB_RETURN_IF_ERROR(store_->Commit(batch, /*sync=*/false));
  }
  std::vector<WitnessFinding> findings(verified.size());
  for (size_t i = 0; i < verified.size(); ++i) {
    TB_RETURN_IF_ERROR(Compare(verified[i], &findings[i]));
    const WitnessVerdict verdict = findings[i].verdict;
    if (verdict == WitnessVerdict::kConsistent) continue;
    TB_LOG(WARNING) << "witness " << options_.witness << ", log " << LogName(findings[i].log)
                    << ": " << WitnessVerdictName(verdict) << ": " << findings[i].detail;
    if (verdict != WitnessVerdict::kNotHeld && verdict != WitnessVerdict::kWitnessBehind) {
      TB_RETURN_IF_ERROR(
          store_->Increment(absl::StrCat("witness/", WitnessVerdictName(verdict)), 1));
    }
  }
  return findings;
}

absl::Status WitnessChecker::Compare(const Verified& v, WitnessFinding* finding) {
  finding->log = v.log;
  finding->held_size = v.held_size;
  if (!v.cosigned.has_value()) {
    finding->verdict = WitnessVerdict::kNotHeld;
    finding->detail = "the witness holds no checkpoint of this log";
    return absl::OkStatus();
  }
  finding->witnessed = v.cosigned;
  const uint64_t h = v.held_size;
  const uint64_t w = v.checkpoint.tree_size;
  finding->witnessed_size = w;
  std::optional<v1::SignedCheckpoint> held_signed;
  merkle::Checkpoint held;
  if (h > 0) {
    TB_ASSIGN_OR_RETURN(held_signed, store_->GetCheckpoint(v.log, h));
    if (!held_signed.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("log ", LogName(v.log), ": our checkpoint at tree size ", h,
                       " that the witness was asked about is no longer stored; ask again"));
    }
    TB_ASSIGN_OR_RETURN(held, merkle::ParseCheckpoint(held_signed->body()));
  }
  if (v.log.origin == options_.self) return CompareOwn(v, held, finding);
  if (h == 0) {
    finding->verdict = WitnessVerdict::kConsistent;
    finding->detail = absl::StrCat("we hold no checkpoint of this log; the witness holds size ", w);
    return absl::OkStatus();
  }
  if (w < h) {
    finding->verdict = WitnessVerdict::kWitnessBehind;
    finding->detail = absl::StrCat("the witness holds size ", w, ", we hold ", h);
    return absl::OkStatus();
  }
  std::unique_ptr<crypto::Hasher> hasher = suite_.NewHasher();
  bool conclusive = false;
  if (w == h) {
    if (held.root == v.checkpoint.root) {
      finding->verdict = WitnessVerdict::kConsistent;
      return absl::OkStatus();
    }
    conclusive = true;  // the origin signed two roots for one size
    finding->detail =
        absl::StrCat("the origin signed two roots for tree size ", h, ": ", ShortRoot(held.root),
                     "... here, ", ShortRoot(v.checkpoint.root), "... at the witness");
  } else {
    if (merkle::VerifyConsistency(*hasher, h, w, held.root, v.checkpoint.root, v.proof).ok()) {
      finding->verdict = WitnessVerdict::kConsistent;
      return absl::OkStatus();
    }
    // The proof binds the root at size h of the tree the origin signed at
    // size w: if it verifies from the witness's old root, which differs from
    // ours, the origin signed two histories.
    conclusive =
        v.old_root.has_value() && *v.old_root != held.root &&
        merkle::VerifyConsistency(*hasher, h, w, *v.old_root, v.checkpoint.root, v.proof).ok();
    finding->detail = conclusive
                          ? absl::StrCat("the origin's checkpoint of size ", w,
                                         " held by the witness does not extend ours of size ", h,
                                         " (its tree has root ", ShortRoot(*v.old_root),
                                         "... at size ", h, ", ours ", ShortRoot(held.root), "...)")
                          : absl::StrCat("the witness's consistency proof from size ", h, " to ", w,
                                         " does not verify; evidence kept, nothing frozen");
  }
  finding->verdict = conclusive ? WitnessVerdict::kEquivocation : WitnessVerdict::kUnproven;
  Equivocation evidence;
  evidence.held = *held_signed;
  evidence.received = v.cosigned->checkpoint();
  evidence.consistency_from = w > h ? h : 0;
  for (const crypto::Digest& d : v.proof) evidence.consistency.push_back(Bytes(d));
  evidence.conclusive = conclusive;
  return KeepEvidence(*store_, v.log, evidence, options_.witness, clock_->Now());
}

absl::Status WitnessChecker::CompareOwn(const Verified& v, const merkle::Checkpoint& held,
                                        WitnessFinding* finding) {
  const uint64_t h = v.held_size;
  const uint64_t w = v.checkpoint.tree_size;
  std::unique_ptr<crypto::Hasher> hasher = suite_.NewHasher();
  if (w > h) {
    // We signed a checkpoint of size w once (the witness holds it, with our
    // signature) and hold less: events h+1..w were lost.
    finding->verdict = WitnessVerdict::kOwnLogBehind;
    finding->detail =
        absl::StrCat("the witness holds our checkpoint of size ", w, " but our log holds ", h,
                     ": events ", h + 1, "..", w,
                     " are missing here (restored from a backup?): do not append before they "
                     "are fetched back");
    if (h > 0 &&
        !merkle::VerifyConsistency(*hasher, h, w, held.root, v.checkpoint.root, v.proof).ok() &&
        v.old_root.has_value() &&
        merkle::VerifyConsistency(*hasher, h, w, *v.old_root, v.checkpoint.root, v.proof).ok()) {
      finding->verdict = WitnessVerdict::kOwnLogForked;
      finding->detail =
          absl::StrCat("the witness holds our checkpoint of size ", w, ", whose tree has root ",
                       ShortRoot(*v.old_root), "... at size ", h, " where ours has ",
                       ShortRoot(held.root), "...: our log forked; do not append");
    }
    return absl::OkStatus();
  }
  crypto::Digest ours = held.root;
  if (w < h) {
    absl::StatusOr<crypto::Digest> root =
        merkle::RangeHash(*hasher, 0, w, store_->NodeReaderFor(v.log));
    if (!root.ok()) {
      return Prefixed(absl::StrCat("our log ", LogName(v.log), ": root at size ", w),
                      root.status());
    }
    ours = *root;
  }
  if (ours == v.checkpoint.root) {
    finding->verdict = WitnessVerdict::kConsistent;
    return absl::OkStatus();
  }
  finding->verdict = WitnessVerdict::kOwnLogForked;
  finding->detail = absl::StrCat("the witness holds our checkpoint of size ", w, " with root ",
                                 ShortRoot(v.checkpoint.root), "..., our log has ", ShortRoot(ours),
                                 "... at that size: our log forked; do not append");
  return absl::OkStatus();
}

bool WitnessChecker::MustStopAppending(const std::vector<WitnessFinding>& findings) {
  for (const WitnessFinding& f : findings) {
    if (f.verdict == WitnessVerdict::kOwnLogBehind || f.verdict == WitnessVerdict::kOwnLogForked) {
      return true;
    }
  }
  return false;
}

}  // namespace tongban::sync
