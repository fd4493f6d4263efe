#include "storage/audit_log.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/ids/region.h"
#include "common/status_macros.h"
#include "storage/keys.h"

namespace tongban::storage {
namespace {

constexpr uint8_t kEntryVersion = 1;
constexpr size_t kFixedSize = 1 + 8 + 8 + crypto::kDigestSize;
constexpr absl::string_view kCheckpointHeader = "tongban-audit/v1\n";
constexpr uint64_t kAuditEpoch = 1;
constexpr size_t kHeadSize = 8 + crypto::kDigestSize + 8 + 8;
constexpr size_t kMaxQueryLimit = 10000;
constexpr char kByOperator = 'o';
constexpr char kByPerson = 'p';

constexpr const char* kFieldNames[] = {"operator", "role",    "action",
                                       "person",   "purpose", "outcome"};

struct FieldRule {
  size_t max;
  bool required;
};
constexpr FieldRule kFieldRules[] = {{kAuditMaxShortField, true}, {32, true},
                                     {kAuditMaxShortField, true}, {32, false},
                                     {kAuditMaxLongField, false}, {kAuditMaxLongField, true}};

std::vector<const std::string*> Fields(const AuditEntry& e) {
  return {&e.operator_name, &e.role, &e.action, &e.person, &e.purpose, &e.outcome};
}

absl::Status ValidateEntry(const AuditEntry& e) {
  const std::vector<const std::string*> fields = Fields(e);
  for (size_t i = 0; i < fields.size(); ++i) {
    if (kFieldRules[i].required && fields[i]->empty()) {
      return absl::InvalidArgumentError(absl::StrCat("audit entry: ", kFieldNames[i], " is empty"));
    }
    if (fields[i]->size() > kFieldRules[i].max) {
      return absl::InvalidArgumentError(absl::StrCat("audit entry: ", kFieldNames[i], " is ",
                                                     fields[i]->size(), " bytes, at most ",
                                                     kFieldRules[i].max, " allowed"));
    }
  }
  if (!e.person.empty() && e.purpose.empty()) {
    return absl::InvalidArgumentError(
        "audit entry: purpose is empty; an access to a person's data must say why");
  }
  return absl::OkStatus();
}

void AppendBe(std::string* out, uint64_t v, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t DecodeBe(absl::string_view in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | static_cast<uint8_t>(in[i]);
  return v;
}

crypto::Digest DigestFrom(absl::string_view bytes) {
  crypto::Digest d;
  std::memcpy(d.data(), bytes.data(), d.size());
  return d;
}

std::string EncodeHead(uint64_t size, const crypto::Digest& chain, int64_t last_time,
                       uint64_t signed_size) {
  std::string out;
  AppendBe64(&out, size);
  const absl::string_view c = crypto::AsStringView(chain);
  out.append(c.data(), c.size());
  AppendBe64(&out, static_cast<uint64_t>(last_time));
  AppendBe64(&out, signed_size);
  return out;
}

absl::Time FromMicros(int64_t micros) { return absl::FromUnixMicros(micros); }

}  // namespace

std::string AuditOutcome(const absl::Status& status) {
  if (status.ok()) return "OK";
  std::string out = absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
  if (out.size() > kAuditMaxLongField) out.resize(kAuditMaxLongField);
  return out;
}

AuditEntry MakeAuditEntry(std::string who, absl::string_view role, absl::string_view action,
                          absl::string_view person, absl::string_view purpose,
                          const absl::Status& outcome) {
  AuditEntry e;
  e.operator_name = std::move(who);
  e.role = std::string(role);
  e.action = std::string(action);
  e.person = std::string(person);
  e.purpose = std::string(purpose);
  e.outcome = AuditOutcome(outcome);
  return e;
}

AuditEntry PeerAuditEntry(absl::string_view node_code, absl::string_view action,
                          absl::string_view person, absl::string_view purpose,
                          const absl::Status& outcome) {
  return MakeAuditEntry(absl::StrCat("node:", node_code), "peer", action, person, purpose, outcome);
}

std::string EncodeAuditEntry(const AuditEntry& entry, const crypto::Digest& prev) {
  std::string out;
  out.push_back(static_cast<char>(kEntryVersion));
  AppendBe64(&out, entry.seq);
  AppendBe64(&out, static_cast<uint64_t>(absl::ToUnixMicros(entry.time)));
  const absl::string_view p = crypto::AsStringView(prev);
  out.append(p.data(), p.size());
  for (const std::string* field : Fields(entry)) {
    assert(field->size() <= 0xffff);
    AppendBe(&out, field->size(), 2);
    out.append(*field);
  }
  return out;
}

absl::StatusOr<DecodedAuditEntry> DecodeAuditEntry(absl::string_view bytes) {
  if (bytes.size() < kFixedSize || static_cast<uint8_t>(bytes[0]) != kEntryVersion) {
    return absl::DataLossError(
        bytes.empty() ? "empty" : absl::StrCat("not a version ", kEntryVersion, " entry"));
  }
  DecodedAuditEntry out;
  out.entry.seq = DecodeBe64(bytes.substr(1));
  out.entry.time = FromMicros(static_cast<int64_t>(DecodeBe64(bytes.substr(9))));
  out.prev = DigestFrom(bytes.substr(17));
  absl::string_view rest = bytes.substr(kFixedSize);
  AuditEntry& e = out.entry;
  std::string* fields[] = {&e.operator_name, &e.role, &e.action, &e.person, &e.purpose, &e.outcome};
  for (size_t i = 0; i < 6; ++i) {
    if (rest.size() < 2 || rest.size() - 2 < DecodeBe(rest, 2)) {
      return absl::DataLossError(absl::StrCat("field ", kFieldNames[i], " is cut short"));
    }
    const size_t len = DecodeBe(rest, 2);
    fields[i]->assign(rest.data() + 2, len);
    rest.remove_prefix(2 + len);
  }
  if (!rest.empty()) {
    return absl::DataLossError(absl::StrCat(rest.size(), " bytes after the last field"));
  }
  return out;
}

std::string EncodeAuditCheckpoint(const merkle::Checkpoint& c) {
  return absl::StrCat(kCheckpointHeader, merkle::EncodeCheckpoint(c));
}

absl::StatusOr<merkle::Checkpoint> VerifyAuditCheckpoint(const v1::SignedCheckpoint& sc,
                                                         const crypto::Suite& suite,
                                                         const crypto::PublicKey& key) {
  const absl::string_view body = sc.body();
  if (!absl::StartsWith(body, kCheckpointHeader)) {
    return absl::InvalidArgumentError(
        "audit checkpoint: the first line is not \"tongban-audit/v1\"");
  }
  absl::StatusOr<merkle::Checkpoint> c =
      merkle::ParseCheckpoint(body.substr(kCheckpointHeader.size()));
  if (!c.ok()) return Prefixed("audit checkpoint", c.status());
  if (c->suite != suite.id() || key.suite() != suite.id()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "audit checkpoint: signed under suite ", crypto::SuiteName(c->suite), ", key is ",
        crypto::SuiteName(key.suite()), ", verifying with ", suite.name()));
  }
  if (c->key_id != key.KeyId()) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit checkpoint: signed by key ", c->key_id, ", not by ", key.KeyId()));
  }
  absl::Status sig = suite.NewVerifier(key)->Verify(body, sc.signature());
  if (!sig.ok()) return Prefixed("audit checkpoint", sig);
  return c;
}

absl::StatusOr<merkle::Checkpoint> VerifyAuditGrowth(const v1::SignedCheckpoint& older,
                                                     const v1::SignedCheckpoint& newer,
                                                     absl::Span<const crypto::Digest> proof,
                                                     const crypto::Suite& suite,
                                                     const crypto::PublicKey& key) {
  TB_ASSIGN_OR_RETURN(merkle::Checkpoint old_c, VerifyAuditCheckpoint(older, suite, key));
  TB_ASSIGN_OR_RETURN(merkle::Checkpoint new_c, VerifyAuditCheckpoint(newer, suite, key));
  if (old_c.origin != new_c.origin) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit checkpoints of two nodes: ", old_c.origin, " and ", new_c.origin));
  }
  std::unique_ptr<crypto::Hasher> hasher = suite.NewHasher();
  absl::Status consistent = merkle::VerifyConsistency(*hasher, old_c.tree_size, new_c.tree_size,
                                                      old_c.root, new_c.root, proof);
  if (!consistent.ok()) {
    return Prefixed(absl::StrCat("audit log of ", new_c.origin, " from size ", old_c.tree_size,
                                 " to ", new_c.tree_size, " did not only grow"),
                    consistent);
  }
  return new_c;
}

// --- AuditLog ---

AuditLog::AuditLog(Store* store, const crypto::PrivateKey* key, const Clock* clock,
                   AuditLogOptions options)
    : store_(store),
      key_(key),
      clock_(clock),
      options_(std::move(options)),
      suite_(crypto::GetSuite(store->suite())),
      signer_(key->NewSigner()),
      hasher_(suite_.NewHasher()) {}

AuditLog::~AuditLog() = default;

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(Store* store,
                                                         const crypto::PrivateKey* key,
                                                         const Clock* clock,
                                                         AuditLogOptions options) {
  TB_RETURN_IF_ERROR(Prefixed("audit log node code", ids::ValidateNodeCode(options.node_code)));
  if (options.checkpoint_every == 0) {
    return absl::InvalidArgumentError("audit log: checkpoint_every must be at least 1");
  }
  if (key->suite() != store->suite()) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit log: the signing key is for suite ", crypto::SuiteName(key->suite()),
                     ", the store is under ", crypto::SuiteName(store->suite())));
  }
  std::unique_ptr<AuditLog> log(new AuditLog(store, key, clock, std::move(options)));
  TB_ASSIGN_OR_RETURN(std::optional<std::string> head, store->Get(Cf::kDefault, kAuditHeadKey));
  absl::MutexLock lock(&log->mu_);
  if (head.has_value()) {
    if (head->size() != kHeadSize) {
      return absl::DataLossError(
          absl::StrCat("audit log head is ", head->size(), " bytes, expected ", kHeadSize));
    }
    Head& h = log->head_;
    h.size = DecodeBe64(*head);
    h.chain = DigestFrom(absl::string_view(*head).substr(8));
    h.last_time_micros = static_cast<int64_t>(DecodeBe64(absl::string_view(*head).substr(40)));
    h.signed_size = DecodeBe64(absl::string_view(*head).substr(48));
  }
  absl::StatusOr<merkle::Frontier> frontier =
      merkle::Frontier::Load(log->head_.size, log->Reader());
  if (!frontier.ok()) return Prefixed("audit log tree", frontier.status());
  log->frontier_ = *std::move(frontier);
  return log;
}

merkle::NodeReader AuditLog::Reader() const {
  return [this](merkle::NodeId node) -> absl::StatusOr<crypto::Digest> {
    TB_ASSIGN_OR_RETURN(std::optional<std::string> v,
                        store_->Get(Cf::kDefault, AuditNodeKey(node)));
    if (!v.has_value() || v->size() != crypto::kDigestSize) {
      return absl::DataLossError(absl::StrCat("audit tree node level ", node.level, " index ",
                                              node.index,
                                              v.has_value() ? " has a bad size" : " missing"));
    }
    return DigestFrom(*v);
  };
}

AuditLog::Head AuditLog::head() const {
  absl::MutexLock lock(&mu_);
  return head_;
}

uint64_t AuditLog::size() const { return head().size; }

absl::Status AuditLog::AddCheckpoint(Batch& batch, const merkle::Frontier& frontier,
                                     int64_t now_micros) {
  merkle::Checkpoint c;
  c.suite = suite_.id();
  c.origin = options_.node_code;
  c.epoch = kAuditEpoch;
  c.tree_size = frontier.size();
  c.root = frontier.Root(*hasher_);
  c.time_micros = now_micros;
  c.key_id = key_->public_key().KeyId();
  v1::SignedCheckpoint sc;
  sc.set_body(EncodeAuditCheckpoint(c));
  TB_ASSIGN_OR_RETURN(*sc.mutable_signature(), signer_->Sign(sc.body()));
  batch.Put(Cf::kDefault, AuditCheckpointKey(c.tree_size), sc.SerializeAsString());
  return absl::OkStatus();
}

absl::StatusOr<AuditEntry> AuditLog::Append(AuditEntry entry) {
  std::vector<AuditEntry> one;
  one.push_back(std::move(entry));
  TB_ASSIGN_OR_RETURN(std::vector<AuditEntry> stored, AppendAll(std::move(one)));
  return std::move(stored.front());
}

absl::StatusOr<std::vector<AuditEntry>> AuditLog::AppendAll(std::vector<AuditEntry> entries) {
  for (size_t i = 0; i < entries.size(); ++i) {
    absl::Status valid = ValidateEntry(entries[i]);
    if (!valid.ok()) {
      return entries.size() == 1 ? valid : Prefixed(absl::StrCat("entry ", i + 1), valid);
    }
  }
  if (entries.empty()) return entries;
  absl::MutexLock lock(&mu_);
  const int64_t now = absl::ToUnixMicros(clock_->Now());
  // Work on copies: a failed commit leaves memory as the disk is.
  Head head = head_;
  merkle::Frontier frontier = frontier_;
  Batch batch(*store_);
  for (AuditEntry& entry : entries) {
    entry.seq = head.size + 1;
    head.last_time_micros = std::max(now, head.last_time_micros);
    entry.time = FromMicros(head.last_time_micros);
    const std::string bytes = EncodeAuditEntry(entry, head.chain);
    head.chain = merkle::LeafHash(*hasher_, bytes);
    head.size = entry.seq;
    batch.Put(Cf::kDefault, AuditEntryKey(entry.seq), bytes);
    batch.Put(Cf::kDefault, AuditIndexKey(kByOperator, entry.operator_name, entry.seq), "");
    if (!entry.person.empty()) {
      batch.Put(Cf::kDefault, AuditIndexKey(kByPerson, entry.person, entry.seq), "");
    }
    frontier.Append(*hasher_, head.chain, [&](merkle::NodeId node, const crypto::Digest& d) {
      batch.Put(Cf::kDefault, AuditNodeKey(node), crypto::AsStringView(d));
    });
  }
  if (head.size - head.signed_size >= options_.checkpoint_every) {
    TB_RETURN_IF_ERROR(AddCheckpoint(batch, frontier, now));
    head.signed_size = head.size;
  }
  batch.Put(Cf::kDefault, kAuditHeadKey,
            EncodeHead(head.size, head.chain, head.last_time_micros, head.signed_size));
  TB_RETURN_IF_ERROR(Prefixed("audit log append", store_->Commit(batch, /*sync=*/true)));
  frontier_ = std::move(frontier);
  head_ = head;
  return entries;
}

absl::StatusOr<std::optional<v1::SignedCheckpoint>> AuditLog::Checkpoint() {
  {
    absl::MutexLock lock(&mu_);
    if (head_.size > head_.signed_size) {
      Batch batch(*store_);
      TB_RETURN_IF_ERROR(AddCheckpoint(batch, frontier_, absl::ToUnixMicros(clock_->Now())));
      batch.Put(Cf::kDefault, kAuditHeadKey,
                EncodeHead(head_.size, head_.chain, head_.last_time_micros, head_.size));
      TB_RETURN_IF_ERROR(Prefixed("audit log checkpoint", store_->Commit(batch, /*sync=*/true)));
      head_.signed_size = head_.size;
    }
  }
  return LatestCheckpoint();
}

absl::StatusOr<std::optional<v1::SignedCheckpoint>> AuditLog::LatestCheckpoint() const {
  const uint64_t signed_size = head().signed_size;
  if (signed_size == 0) return std::nullopt;
  TB_ASSIGN_OR_RETURN(std::optional<std::string> v,
                      store_->Get(Cf::kDefault, AuditCheckpointKey(signed_size)));
  v1::SignedCheckpoint sc;
  if (!v.has_value() || !sc.ParseFromString(*v)) {
    return absl::DataLossError(absl::StrCat("audit checkpoint at size ", signed_size,
                                            v.has_value() ? " does not parse" : " is missing"));
  }
  return sc;
}

absl::StatusOr<AuditEntry> AuditLog::GetEntry(uint64_t seq, crypto::Digest* prev) const {
  TB_ASSIGN_OR_RETURN(std::optional<std::string> v, store_->Get(Cf::kDefault, AuditEntryKey(seq)));
  if (!v.has_value()) {
    return absl::DataLossError(absl::StrCat("audit entry ", seq, " is missing"));
  }
  absl::StatusOr<DecodedAuditEntry> d = DecodeAuditEntry(*v);
  if (!d.ok()) return Prefixed(absl::StrCat("audit entry ", seq), d.status());
  if (d->entry.seq != seq) {
    return absl::DataLossError(
        absl::StrCat("audit entry ", seq, ": stored bytes are entry ", d->entry.seq));
  }
  if (prev != nullptr) *prev = d->prev;
  return std::move(d->entry);
}

absl::StatusOr<AuditEntry> AuditLog::Get(uint64_t seq) const {
  const uint64_t n = size();
  if (seq == 0 || seq > n) {
    return absl::NotFoundError(
        absl::StrCat("audit entry ", seq, ": the log holds entries 1 to ", n));
  }
  return GetEntry(seq, nullptr);
}

absl::StatusOr<uint64_t> AuditLog::FirstSeqAtOrAfter(absl::Time t, uint64_t size) const {
  if (t == absl::InfinitePast()) return 1;
  if (t == absl::InfiniteFuture()) return size + 1;
  // Times are non-decreasing in seq, so binary search.
  uint64_t lo = 1, hi = size + 1;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    TB_ASSIGN_OR_RETURN(AuditEntry e, GetEntry(mid, nullptr));
    if (e.time >= t) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

absl::StatusOr<std::vector<AuditEntry>> AuditLog::Query(const AuditQuery& q) const {
  if (q.limit == 0 || q.limit > kMaxQueryLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("audit query: limit ", q.limit, " is not in 1 to ", kMaxQueryLimit));
  }
  for (const auto* value : {&q.operator_name, &q.person}) {
    if (value->has_value() && (*value)->size() > 255) {
      return absl::InvalidArgumentError("audit query: operator or person longer than 255 bytes");
    }
  }
  std::vector<AuditEntry> out;
  const uint64_t size = this->size();
  // The seq range [first, last] the time range and the cursor allow.
  TB_ASSIGN_OR_RETURN(const uint64_t first_in_time, FirstSeqAtOrAfter(q.from, size));
  TB_ASSIGN_OR_RETURN(const uint64_t after_time, FirstSeqAtOrAfter(q.to, size));
  uint64_t first = first_in_time;
  uint64_t last = after_time - 1;
  if (q.cursor != 0) {
    if (q.newest_first) {
      last = std::min(last, q.cursor - 1);
    } else {
      first = std::max(first, q.cursor + 1);
    }
  }
  if (first > last) return out;

  auto matches = [&](const AuditEntry& e) {
    return (!q.operator_name.has_value() || e.operator_name == *q.operator_name) &&
           (!q.person.has_value() || e.person == *q.person);
  };
  if (!q.operator_name.has_value() && !q.person.has_value()) {
    for (uint64_t i = 0; i <= last - first && out.size() < q.limit; ++i) {
      TB_ASSIGN_OR_RETURN(AuditEntry e, GetEntry(q.newest_first ? last - i : first + i, nullptr));
      out.push_back(std::move(e));
    }
    return out;
  }
  // Walk the more selective index (a person's entries are fewer than an
  // operator's) and filter on the other field.
  const char index = q.person.has_value() ? kByPerson : kByOperator;
  const std::string& value = q.person.has_value() ? *q.person : *q.operator_name;
  const std::string prefix = AuditIndexPrefix(index, value);
  absl::Status status;
  TB_RETURN_IF_ERROR(store_->ScanFrom(
      Cf::kDefault, prefix, AuditIndexKey(index, value, q.newest_first ? last : first),
      q.newest_first, [&](absl::string_view key, absl::string_view) {
        if (key.size() != prefix.size() + 8) {
          status = absl::DataLossError("audit index key of bad size");
          return false;
        }
        const uint64_t seq = DecodeBe64(key.substr(prefix.size()));
        if (seq < first || seq > last) return false;
        absl::StatusOr<AuditEntry> e = GetEntry(seq, nullptr);
        if (!e.ok()) {
          status = e.status();
          return false;
        }
        if (matches(*e)) out.push_back(*std::move(e));
        return out.size() < q.limit;
      }));
  TB_RETURN_IF_ERROR(status);
  return out;
}

namespace {

using SizedCheckpoints = std::vector<std::pair<uint64_t, v1::SignedCheckpoint>>;

// The audit log's stored checkpoints up to `max_size`, in size order.
absl::StatusOr<SizedCheckpoints> ReadAuditCheckpoints(const Store& store, uint64_t max_size) {
  SizedCheckpoints checkpoints;
  TB_ASSIGN_OR_RETURN(auto stored, store.Scan(Cf::kDefault, AuditCheckpointKey(0).substr(
                                                                0, kAuditPrefix.size() + 2)));
  for (auto& [k, v] : stored) {
    const uint64_t cp_size = DecodeBe64(absl::string_view(k).substr(kAuditPrefix.size() + 2));
    if (cp_size > max_size) break;  // appended after the snapshot
    v1::SignedCheckpoint sc;
    if (!sc.ParseFromString(v)) {
      return absl::DataLossError(
          absl::StrCat("audit checkpoint at size ", cp_size, " does not parse"));
    }
    checkpoints.emplace_back(cp_size, std::move(sc));
  }
  return checkpoints;
}

// One walk of AuditLog::Verify over the entries in seq order: Entry() for
// each stored one, then Finish(). Each returns the first damage found.
class AuditWalk {
 public:
  AuditWalk(const crypto::Suite& suite, const AuditLog::KeyById& keys, const std::string& node_code,
            merkle::NodeReader read, SizedCheckpoints checkpoints)
      : suite_(suite),
        keys_(keys),
        node_code_(node_code),
        read_(std::move(read)),
        checkpoints_(std::move(checkpoints)),
        hasher_(suite.NewHasher()) {}

  // The entry stored under `seq` (the walk expects entries_walked() + 1).
  absl::Status Entry(uint64_t seq, absl::string_view bytes);
  // After the last entry: the walk reached `size` and ended at `chain`.
  absl::Status Finish(uint64_t size, const crypto::Digest& chain) const;

  uint64_t entries_walked() const { return report_.entries; }
  const AuditVerifyReport& report() const { return report_; }

 private:
  absl::Status Damaged(uint64_t seq, absl::string_view what) const {
    return absl::DataLossError(absl::StrCat("audit entry ", seq, ": ", what));
  }
  // The entry's own bytes: decode, seq, recorded leaf, chain and time.
  absl::Status CheckEntry(uint64_t seq, absl::string_view bytes, const crypto::Digest& leaf);
  // The stored interior nodes (which proofs read) must be the ones the
  // entries give.
  absl::Status AppendLeaf(uint64_t seq, const crypto::Digest& leaf);
  // Every stored checkpoint at size `seq` signs the tree the entries give.
  absl::Status CheckCheckpointsAt(uint64_t seq);

  const crypto::Suite& suite_;
  const AuditLog::KeyById& keys_;
  const std::string& node_code_;
  const merkle::NodeReader read_;
  const SizedCheckpoints checkpoints_;
  std::unique_ptr<crypto::Hasher> hasher_;
  merkle::Frontier frontier_;
  crypto::Digest chain_{};
  int64_t last_time_ = std::numeric_limits<int64_t>::min();
  size_t next_checkpoint_ = 0;
  AuditVerifyReport report_;
};

absl::Status AuditWalk::Entry(uint64_t seq, absl::string_view bytes) {
  const uint64_t expect = report_.entries + 1;
  if (seq != expect) {
    return Damaged(expect, seq > expect ? absl::StrCat("missing (deleted); the next stored "
                                                       "entry is ",
                                                       seq)
                                        : "stored under a bad key");
  }
  const crypto::Digest leaf = merkle::LeafHash(*hasher_, bytes);
  TB_RETURN_IF_ERROR(CheckEntry(seq, bytes, leaf));
  TB_RETURN_IF_ERROR(AppendLeaf(seq, leaf));
  ++report_.entries;
  return CheckCheckpointsAt(seq);
}

absl::Status AuditWalk::CheckEntry(uint64_t seq, absl::string_view bytes,
                                   const crypto::Digest& leaf) {
  absl::StatusOr<DecodedAuditEntry> d = DecodeAuditEntry(bytes);
  if (!d.ok()) return Damaged(seq, absl::StrCat("does not decode: ", d.status().message()));
  if (d->entry.seq != seq) {
    return Damaged(seq, absl::StrCat("holds the bytes of entry ", d->entry.seq,
                                     " (entries moved or reordered)"));
  }
  absl::StatusOr<crypto::Digest> recorded = read_({0, seq - 1});
  if (!recorded.ok()) return Damaged(seq, recorded.status().message());
  if (*recorded != leaf) {
    return Damaged(seq,
                   "changed since it was appended: its hash differs from the one "
                   "recorded in the tree");
  }
  if (d->prev != chain_) {
    return Damaged(seq, seq == 1 ? "the first entry does not start the chain"
                                 : "does not link to the hash of entry " + std::to_string(seq - 1) +
                                       " (that entry or this one was changed)");
  }
  const int64_t time = absl::ToUnixMicros(d->entry.time);
  if (time < last_time_) return Damaged(seq, "earlier than the entry before it");
  last_time_ = time;
  chain_ = leaf;
  return absl::OkStatus();
}

absl::Status AuditWalk::AppendLeaf(uint64_t seq, const crypto::Digest& leaf) {
  absl::Status status;
  frontier_.Append(*hasher_, leaf, [&](merkle::NodeId node, const crypto::Digest& d) {
    if (node.level == 0 || !status.ok()) return;
    absl::StatusOr<crypto::Digest> stored_node = read_(node);
    if (!stored_node.ok() || *stored_node != d) {
      status = Damaged(seq, absl::StrCat("the stored tree node level ", node.level, " index ",
                                         node.index, " above it differs from the entries"));
    }
  });
  return status;
}

absl::Status AuditWalk::CheckCheckpointsAt(uint64_t seq) {
  while (next_checkpoint_ < checkpoints_.size() && checkpoints_[next_checkpoint_].first == seq) {
    const v1::SignedCheckpoint& sc = checkpoints_[next_checkpoint_].second;
    absl::StatusOr<merkle::Checkpoint> named =
        absl::StartsWith(sc.body(), kCheckpointHeader)
            ? merkle::ParseCheckpoint(absl::string_view(sc.body()).substr(kCheckpointHeader.size()))
            : absl::InvalidArgumentError("the first line is not \"tongban-audit/v1\"");
    if (!named.ok())
      return Prefixed(absl::StrCat("audit checkpoint at size ", seq), named.status());
    const crypto::PublicKey* key = keys_(named->key_id);
    if (key == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("audit checkpoint at size ", seq,
                                                     ": signed by key ", named->key_id,
                                                     ", which this node does not hold"));
    }
    absl::StatusOr<merkle::Checkpoint> c = VerifyAuditCheckpoint(sc, suite_, *key);
    if (!c.ok()) return Prefixed(absl::StrCat("audit checkpoint at size ", seq), c.status());
    if (c->tree_size != seq || c->origin != node_code_ || c->root != frontier_.Root(*hasher_)) {
      return absl::DataLossError(
          absl::StrCat("audit checkpoint at size ", seq,
                       ": does not match the entries (size, node or root differs)"));
    }
    ++report_.checkpoints;
    report_.signed_size = seq;
    ++next_checkpoint_;
  }
  return absl::OkStatus();
}

absl::Status AuditWalk::Finish(uint64_t size, const crypto::Digest& chain) const {
  if (report_.entries < size) {
    return absl::DataLossError(absl::StrCat("audit entries ", report_.entries + 1, " to ", size,
                                            " are missing (deleted)"));
  }
  if (next_checkpoint_ < checkpoints_.size()) {
    return absl::DataLossError(absl::StrCat("audit checkpoint at size ",
                                            checkpoints_[next_checkpoint_].first,
                                            " covers no stored entry"));
  }
  if (chain_ != chain) {
    return absl::DataLossError(
        absl::StrCat("audit entry ", size, ": does not hash to the log's head"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AuditVerifyReport> AuditLog::Verify(const crypto::PublicKey& key) const {
  return Verify([&key](absl::string_view) { return &key; });
}

absl::StatusOr<AuditVerifyReport> AuditLog::Verify(const KeyById& keys) const {
  const Head head = this->head();
  TB_ASSIGN_OR_RETURN(SizedCheckpoints checkpoints, ReadAuditCheckpoints(*store_, head.size));
  if (head.signed_size > 0 &&
      (checkpoints.empty() || checkpoints.back().first != head.signed_size)) {
    return absl::DataLossError(absl::StrCat("audit checkpoint at size ", head.signed_size,
                                            " (the latest, per the head) is missing"));
  }
  AuditWalk walk(suite_, keys, options_.node_code, Reader(), std::move(checkpoints));
  absl::Status status;
  const std::string entry_prefix = AuditEntryKey(0).substr(0, kAuditPrefix.size() + 2);
  TB_RETURN_IF_ERROR(store_->ScanFrom(
      Cf::kDefault, entry_prefix, AuditEntryKey(1), /*reverse=*/false,
      [&](absl::string_view entry_key, absl::string_view bytes) {
        if (walk.entries_walked() + 1 > head.size) return false;
        status = walk.Entry(DecodeBe64(entry_key.substr(entry_prefix.size())), bytes);
        return status.ok();
      }));
  TB_RETURN_IF_ERROR(status);
  TB_RETURN_IF_ERROR(walk.Finish(head.size, head.chain));
  return walk.report();
}

absl::StatusOr<std::vector<crypto::Digest>> AuditLog::InclusionProof(uint64_t seq,
                                                                     uint64_t size) const {
  const uint64_t n = this->size();
  if (seq == 0 || seq > size || size > n) {
    return absl::InvalidArgumentError(absl::StrCat("audit inclusion proof of entry ", seq,
                                                   " in size ", size, ": the log holds ", n));
  }
  std::unique_ptr<crypto::Hasher> hasher = suite_.NewHasher();
  return merkle::InclusionProof(*hasher, seq - 1, size, Reader());
}

absl::StatusOr<std::vector<crypto::Digest>> AuditLog::ConsistencyProof(uint64_t old_size,
                                                                       uint64_t new_size) const {
  const uint64_t n = size();
  if (old_size > new_size || new_size > n) {
    return absl::InvalidArgumentError(absl::StrCat("audit consistency proof from size ", old_size,
                                                   " to ", new_size, ": the log holds ", n));
  }
  std::unique_ptr<crypto::Hasher> hasher = suite_.NewHasher();
  return merkle::ConsistencyProof(*hasher, old_size, new_size, Reader());
}

}  // namespace tongban::storage
