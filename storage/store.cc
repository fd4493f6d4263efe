#include "storage/store.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "storage/encryption.h"
#include "storage/rocksdb_status.h"

namespace tongban::storage {
namespace {

constexpr const char* kCfNames[] = {"default", "log",    "tree",    "checkpoints", "records",
                                    "links",   "routes", "cursors", "counters"};
static_assert(sizeof(kCfNames) / sizeof(kCfNames[0]) == static_cast<size_t>(Cf::kCount));

rocksdb::Slice ToSlice(absl::string_view s) { return {s.data(), s.size()}; }
absl::string_view ToView(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

std::string Be64(uint64_t v) {
  std::string out;
  AppendBe64(&out, v);
  return out;
}

bool HasPrefix(const rocksdb::Slice& key, absl::string_view prefix) {
  return key.size() >= prefix.size() && std::memcmp(key.data(), prefix.data(), prefix.size()) == 0;
}

}  // namespace

// --- Batch ---

Batch::Batch(const Store& store)
    : store_(&store), batch_(std::make_unique<rocksdb::WriteBatch>()) {}
Batch::~Batch() = default;

size_t Batch::count() const { return batch_->Count(); }
size_t Batch::bytes() const { return batch_->GetDataSize(); }

void Batch::Put(Cf cf, absl::string_view key, absl::string_view value) {
  const rocksdb::Status s = batch_->Put(store_->cf(cf), ToSlice(key), ToSlice(value));
  assert(s.ok());  // Only fails past 4 GiB, which no batch of ours reaches.
  (void)s;
}

void Batch::Delete(Cf cf, absl::string_view key) {
  const rocksdb::Status s = batch_->Delete(store_->cf(cf), ToSlice(key));
  assert(s.ok());
  (void)s;
}

void Batch::PutEvent(const LogId& log, uint64_t seq, absl::string_view body) {
  Put(Cf::kLog, EventKey(log, seq), body);
}

void Batch::PutNode(const LogId& log, merkle::NodeId node, const crypto::Digest& d) {
  Put(Cf::kTree, NodeKey(log, node), crypto::AsStringView(d));
}

void Batch::PutCheckpoint(const LogId& log, uint64_t tree_size,
                          const v1::SignedCheckpoint& checkpoint) {
  checkpoint.SerializeToString(&scratch_);
  Put(Cf::kCheckpoints, CheckpointKey(log, tree_size), scratch_);
}

void Batch::PutRecord(absl::string_view record_key, const v1::RecordState& state) {
  state.SerializeToString(&scratch_);
  Put(Cf::kRecords, record_key, scratch_);
  IndexName(record_key, state);
  // The statistics counters' change feed (workflows/stats.h): a new key per
  // write, so the follower deletes only the marks it counted.
  if (record_key.size() >= kPersonSize) {
    Put(Cf::kDefault,
        StatsDirtyKey(store_->next_dirty_token_.fetch_add(1), record_key.substr(0, kPersonSize)),
        "");
  }
}

void Batch::IndexName(absl::string_view record_key, const v1::RecordState& state) {
  if (record_key.size() <= kPersonSize ||
      static_cast<unsigned char>(record_key[kPersonSize]) != v1::RECORD_KIND_PERSON_BASICS) {
    return;
  }
  // Every head's name, so that a person whose basics are in conflict is
  // found under either; a name no longer held stays indexed and the reader
  // checks each hit against the record.
  const absl::string_view person = record_key.substr(0, kPersonSize);
  const absl::string_view record_id = record_key.substr(kPersonSize + 1);
  for (const v1::RecordState::Head& head : state.heads()) {
    v1::RecordValue value;
    if (head.operation() != v1::OPERATION_UPSERT || !value.ParseFromString(head.payload()) ||
        !value.has_person_basics()) {
      continue;
    }
    const v1::PersonBasics& b = value.person_basics();
    Put(Cf::kDefault,
        NameIndexKey(b.name(), b.birth_date().year(), b.birth_date().month(), b.birth_date().day(),
                     person),
        record_id);
  }
}

void Batch::PutStatsCounter(absl::string_view name, absl::string_view values) {
  Put(Cf::kDefault, StatsCounterKey(name), values);
}
void Batch::AddStatsCounter(absl::string_view name, absl::string_view deltas) {
  const std::string key = StatsCounterKey(name);
  const rocksdb::Status s = batch_->Merge(store_->cf(Cf::kDefault), ToSlice(key), ToSlice(deltas));
  assert(s.ok());
  (void)s;
}
void Batch::PutStatsFacts(absl::string_view person, absl::string_view facts) {
  Put(Cf::kDefault, StatsFactsKey(person), facts);
}
void Batch::DeleteStatsFacts(absl::string_view person) {
  Delete(Cf::kDefault, StatsFactsKey(person));
}
void Batch::DeleteStatsDirty(absl::string_view mark) {
  absl::string_view person;
  if (DecodeStatsDirtyKey(mark, &person)) Delete(Cf::kDefault, mark);
}

void Batch::PutLinks(absl::string_view person, const std::map<std::string, v1::PersonLink>& links) {
  v1::PersonLinks all;
  for (const auto& [node, link] : links) (*all.mutable_links())[node] = link;
  all.SerializeToString(&scratch_);
  Put(Cf::kLinks, LinkKey(person), scratch_);
}

void Batch::PutRoute(absl::string_view peer, const LogId& log, uint64_t seq) {
  Put(Cf::kRoutes, RouteKey(peer, log, seq), "");
}

void Batch::PutCounter(absl::string_view name, uint64_t value) {
  Put(Cf::kCounters, name, Be64(value));
}

void Batch::PutAcked(absl::string_view peer, const LogId& log, uint64_t seq) {
  Put(Cf::kDefault, AckedKey(peer, log), Be64(seq));
}

void Batch::PutBundlePeer(absl::string_view peer, absl::string_view bundle_peer) {
  Put(Cf::kDefault, BundlePeerKey(peer), bundle_peer);
}

void Batch::PutHold(absl::string_view peer, absl::string_view why) {
  Put(Cf::kDefault, HoldKey(peer), why);
}

void Batch::DeleteHold(absl::string_view peer) { Delete(Cf::kDefault, HoldKey(peer)); }

void Batch::DeleteBackfill(absl::string_view peer, absl::string_view person) {
  Delete(Cf::kDefault, BackfillKey(peer, person));
}

void Batch::PutEvidence(const LogId& log, int64_t detected_at_micros,
                        const v1::EquivocationEvidence& evidence) {
  evidence.SerializeToString(&scratch_);
  Put(Cf::kDefault, EvidenceKey(log, detected_at_micros), scratch_);
}

void Batch::PutLockout(absl::string_view operator_name, const v1::LockoutState& state) {
  Put(Cf::kDefault, LockoutKey(operator_name), state.SerializeAsString());
}

void Batch::PutFrozen(const LogId& log, absl::string_view why) {
  Put(Cf::kDefault, FrozenKey(log), why);
}

void Batch::PutOwnEpoch(uint64_t epoch) { Put(Cf::kDefault, kOwnEpochKey, absl::StrCat(epoch)); }

void Batch::PutKeyRotation(const LogId& log, uint64_t seq, const v1::SignedKeyRotation& rotation) {
  Put(Cf::kDefault, KeyRotationKey(log, seq), rotation.SerializeAsString());
}

void Batch::PutRestart(const LogId& log, absl::string_view cosigned_restart) {
  Put(Cf::kDefault, RestartKey(log), cosigned_restart);
}

// --- Store ---

Store::Store(std::string path, crypto::SuiteId suite) : path_(std::move(path)), suite_(suite) {}

Store::~Store() {
  if (db_ != nullptr) {
    for (rocksdb::ColumnFamilyHandle* h : handles_) {
      if (h != nullptr) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    db_->Close().PermitUncheckedError();
  }
}

namespace {

// The statistics counters' merge (Batch::AddStatsCounter): values are be64
// two's-complement integers, added element by element (the shorter padded
// with zeros), so the follower adds to a counter without reading it.
class AddValuesOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    const absl::string_view a = existing == nullptr
                                    ? absl::string_view()
                                    : absl::string_view(existing->data(), existing->size());
    const absl::string_view b(value.data(), value.size());
    if (a.size() % 8 != 0 || b.size() % 8 != 0) return false;
    new_value->clear();
    for (size_t i = 0; i < std::max(a.size(), b.size()); i += 8) {
      const uint64_t x = i < a.size() ? DecodeBe64(a.substr(i)) : 0;
      const uint64_t y = i < b.size() ? DecodeBe64(b.substr(i)) : 0;
      AppendBe64(new_value, x + y);
    }
    return true;
  }
  const char* Name() const override { return "tongban.AddValues"; }
};

// RocksDB's own messages, into the node's log instead of a LOG file in the
// data folder: a text file there is one more writer on the disk that fills,
// and Debian's librocksdb7.8 keeps assertions on, so the line after a
// failed LOG write aborted the process (disk_full_test). Warnings and
// errors only (its info chatter is flush and compaction statistics), with
// every long run of digits masked: a message may quote a key in hex, and
// keys hold citizen IDs.
class NodeLogger : public rocksdb::Logger {
 public:
  NodeLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < rocksdb::InfoLogLevel::WARN_LEVEL || level == rocksdb::InfoLogLevel::HEADER_LEVEL) {
      return;
    }
    char buffer[1024];
    const int n = vsnprintf(buffer, sizeof(buffer), format, ap);
    if (n < 0) return;
    const std::string text = MaskDigitRuns(
        absl::string_view(buffer, std::min<size_t>(static_cast<size_t>(n), sizeof(buffer) - 1)));
    if (level == rocksdb::InfoLogLevel::WARN_LEVEL) {
      TB_LOG(WARNING) << "rocksdb: " << text;
    } else {
      TB_LOG(ERROR) << "rocksdb: " << text;
    }
  }

 private:
  // Runs of 12 or more digits (an ID, or a key in hex) become "<digits>".
  static std::string MaskDigitRuns(absl::string_view in) {
    std::string out;
    size_t i = 0;
    while (i < in.size()) {
      size_t j = i;
      while (j < in.size() && (absl::ascii_isdigit(in[j]) || in[j] == 'X' || in[j] == 'x')) ++j;
      if (j - i >= 12) {
        out += "<digits>";
      } else {
        out.append(in.data() + i, j == i ? 1 : j - i);
      }
      i = j == i ? i + 1 : j;
    }
    return out;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("storage path: empty");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("storage path ", options.path, ": ", ec.message()));
  }
  const crypto::Suite& suite = crypto::GetSuite(options.suite);
  std::unique_ptr<Store> store(new Store(options.path, options.suite));
  TB_ASSIGN_OR_RETURN(store->env_, NewEncryptedEnv(suite, options.storage_key, options.faults));

  rocksdb::DBOptions db_options;
  db_options.env = store->env_.get();
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.info_log = std::make_shared<NodeLogger>();
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // One budget for every column family's memtables, so memory stays
  // bounded whatever the backlog (nine families of their own size each
  // would not).
  db_options.db_write_buffer_size = options.write_buffer_bytes;

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf_options.write_buffer_size =
      std::clamp<size_t>(options.write_buffer_bytes / 3, size_t{4} << 20, size_t{32} << 20);
  // Most point lookups on the write path miss (a new record, a person with
  // no links yet): a memtable bloom filter answers those without a skiplist
  // search.
  cf_options.memtable_whole_key_filtering = true;
  cf_options.memtable_prefix_bloom_size_ratio = 0.05;
  cf_options.merge_operator = std::make_shared<AddValuesOperator>();

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : kCfNames) descriptors.emplace_back(name, cf_options);
  // Keys appended in order under a common prefix (one origin's log, one
  // peer's route) insert with a per-prefix hint instead of a search from
  // the top of the memtable's skiplist.
  auto hint = [&](Cf c, size_t prefix) {
    descriptors[static_cast<int>(c)].options.memtable_insert_with_hint_prefix_extractor.reset(
        rocksdb::NewFixedPrefixTransform(prefix));
  };
  hint(Cf::kLog, kLogIdSize);
  hint(Cf::kTree, kLogIdSize + 1);
  hint(Cf::kCheckpoints, kLogIdSize);
  hint(Cf::kRoutes, kNodeCodeSize + kLogIdSize);
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s =
      rocksdb::DB::Open(db_options, options.path, descriptors, &store->handles_, &raw);
  if (!s.ok()) {
    return Prefixed(absl::StrCat("open storage ", options.path), FromRocksStatus(s));
  }
  store->db_.reset(raw);
  // Batches address column families by id; they must match our order.
  for (size_t i = 0; i < store->handles_.size(); ++i) {
    if (store->handles_[i]->GetID() != i) {
      return absl::DataLossError(absl::StrCat("storage ", options.path, ": column family ",
                                              kCfNames[i], " has id ", store->handles_[i]->GetID(),
                                              ", expected ", i));
    }
  }
  TB_RETURN_IF_ERROR(store->CheckFormat());
  TB_RETURN_IF_ERROR(store->IndexNamesOnce());
  // Dirty marks go on after the last one left (workflows/stats.h).
  {
    std::string last_mark;
    TB_RETURN_IF_ERROR(store->ScanFrom(
        Cf::kDefault, kStatsDirtyPrefix, absl::StrCat(kStatsDirtyPrefix, std::string(9, '\xff')),
        /*reverse=*/true, [&](absl::string_view key, absl::string_view) {
          last_mark.assign(key.data(), key.size());
          return false;
        }));
    if (last_mark.size() >= kStatsDirtyPrefix.size() + 8) {
      store->next_dirty_token_ = DecodeBe64(last_mark.substr(kStatsDirtyPrefix.size())) + 1;
    }
  }
  TB_LOG(INFO) << "storage opened path=" << options.path << " suite=" << suite.name();
  return store;
}

namespace {
// Set once every person's basics are in the name index (keys.h "names/").
constexpr absl::string_view kNamesIndexedKey = "meta/names_indexed";
}  // namespace

absl::Status Store::CheckFormat() {
  const std::string want_format = absl::StrCat(kFormatVersion);
  const std::string want_suite(crypto::SuiteName(suite_));
  TB_ASSIGN_OR_RETURN(std::optional<std::string> format, Get(Cf::kDefault, "meta/format"));
  TB_ASSIGN_OR_RETURN(std::optional<std::string> suite, Get(Cf::kDefault, "meta/suite"));
  if (!format.has_value()) {
    Batch batch(*this);
    batch.Put(Cf::kDefault, "meta/format", want_format);
    batch.Put(Cf::kDefault, "meta/suite", want_suite);
    batch.Put(Cf::kDefault, kNamesIndexedKey, "1");  // a new store indexes as it goes
    return Commit(batch, /*sync=*/true);
  }
  if (*format != want_format) {
    return absl::FailedPreconditionError(absl::StrCat("storage ", path_, ": disk format ", *format,
                                                      ", this build reads format ", want_format));
  }
  if (suite != want_suite) {
    return absl::FailedPreconditionError(absl::StrCat("storage ", path_, ": written under suite '",
                                                      suite.value_or(""),
                                                      "', configured suite is '", want_suite, "'"));
  }
  return absl::OkStatus();
}

absl::Status Store::IndexNamesOnce() {
  TB_ASSIGN_OR_RETURN(std::optional<std::string> done, Get(Cf::kDefault, kNamesIndexedKey));
  if (done.has_value()) return absl::OkStatus();
  // A store written before the index existed: index every person's basics
  // once, in batches.
  uint64_t indexed = 0;
  auto batch = std::make_unique<Batch>(*this);
  absl::Status failed;
  TB_RETURN_IF_ERROR(
      ScanFrom(Cf::kRecords, "", "", false, [&](absl::string_view key, absl::string_view bytes) {
        if (key.size() <= kPersonSize ||
            static_cast<unsigned char>(key[kPersonSize]) != v1::RECORD_KIND_PERSON_BASICS) {
          return true;
        }
        v1::RecordState state;
        if (!state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
          return true;
        }
        batch->IndexName(key, state);
        if (++indexed % 10000 == 0) {
          failed = Commit(*batch, /*sync=*/false);
          batch = std::make_unique<Batch>(*this);
        }
        return failed.ok();
      }));
  TB_RETURN_IF_ERROR(failed);
  batch->Put(Cf::kDefault, kNamesIndexedKey, "1");
  TB_RETURN_IF_ERROR(Commit(*batch, /*sync=*/true));
  if (indexed > 0) {
    TB_LOG(INFO) << "person-search index built for " << indexed << " persons";
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Store::FindByName(
    absl::string_view name, int year, int month, int day, size_t limit) const {
  const std::string prefix = NameIndexPrefix(name, year, month, day);
  std::vector<std::pair<std::string, std::string>> out;
  TB_RETURN_IF_ERROR(ScanFrom(
      Cf::kDefault, prefix, prefix, false, [&](absl::string_view key, absl::string_view v) {
        if (key.size() != prefix.size() + kPersonSize) return true;
        out.emplace_back(std::string(key.substr(prefix.size())), std::string(v));
        return out.size() < limit;
      }));
  return out;
}

namespace {

// RocksDB counts every key comparison and memtable step into a thread-local
// perf context by default (PerfLevel::kEnableCount); from the shared library
// each count is a __tls_get_addr call, about 3% of a bulk import's CPU in
// the writer's threads. Nothing here reads those counters.
void NoPerfCounters() {
  thread_local bool done = false;
  if (!done) {
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    done = true;
  }
}

}  // namespace

absl::Status Store::Commit(Batch& batch, bool sync) {
  assert(batch.store_ == this);
  {
    absl::MutexLock lock(&mu_);
    if (!failed_.ok()) return failed_;
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  NoPerfCounters();
  const rocksdb::Status s = db_->Write(wo, batch.batch_.get());
  absl::MutexLock lock(&mu_);
  if (!s.ok()) {
    const absl::Status err = Prefixed("storage write", FromRocksStatus(s));
    if (failed_.ok()) {
      failed_ = absl::Status(err.code(),
                             absl::StrCat(err.message(), " (storage stopped; reopen to recover)"));
      TB_LOG(ERROR) << "storage write failed, refusing further writes: " << err;
    }
    return err;
  }
  if (sync) ++synced_commits_;
  return absl::OkStatus();
}

uint64_t Store::synced_commits() const {
  absl::MutexLock lock(&mu_);
  return synced_commits_;
}

absl::StatusOr<std::vector<KeyRotationEntry>> Store::KeyRotations(absl::string_view origin) const {
  const std::string prefix = KeyRotationPrefix(origin);
  std::vector<KeyRotationEntry> found;
  absl::Status bad;
  TB_RETURN_IF_ERROR(ScanFrom(
      Cf::kDefault, prefix, prefix, /*reverse=*/false,
      [&](absl::string_view key, absl::string_view value) {
        const std::vector<absl::string_view> parts = absl::StrSplit(key.substr(prefix.size()), '/');
        uint64_t epoch = 0, seq = 0;
        v1::SignedKeyRotation r;
        if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &epoch) ||
            !absl::SimpleAtoi(parts[1], &seq) ||
            !r.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          bad = absl::DataLossError(absl::StrCat("stored key rotation ", key, " does not parse"));
          return false;
        }
        found.push_back(KeyRotationEntry{LogId{std::string(origin), epoch}, seq, std::move(r)});
        return true;
      }));
  TB_RETURN_IF_ERROR(bad);
  std::sort(found.begin(), found.end(), [](const KeyRotationEntry& a, const KeyRotationEntry& b) {
    return std::make_pair(a.log.epoch, a.seq) < std::make_pair(b.log.epoch, b.seq);
  });
  return found;
}

absl::StatusOr<uint64_t> Store::OwnEpoch() const {
  TB_ASSIGN_OR_RETURN(std::optional<std::string> stored, Get(Cf::kDefault, kOwnEpochKey));
  if (!stored.has_value()) return 1;
  uint64_t epoch = 0;
  if (!absl::SimpleAtoi(*stored, &epoch) || epoch == 0) {
    return absl::DataLossError(absl::StrCat("stored epoch \"", *stored, "\" does not parse"));
  }
  return epoch;
}

absl::StatusOr<std::optional<std::string>> Store::Get(Cf c, absl::string_view key) const {
  std::string value;
  NoPerfCounters();
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(c), ToSlice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocksStatus(s);
  return value;
}

absl::StatusOr<uint64_t> Store::LastSeq(const LogId& log) const {
  const std::string prefix = LogIdKey(log);
  std::string upper = prefix;
  AppendBe64(&upper, ~uint64_t{0});
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kLog)));
  it->SeekForPrev(ToSlice(upper));
  if (!it->status().ok()) return FromRocksStatus(it->status());
  if (!it->Valid() || !HasPrefix(it->key(), prefix)) return 0;
  return DecodeBe64(ToView(it->key()).substr(prefix.size()));
}

absl::StatusOr<std::string> Store::GetEvent(const LogId& log, uint64_t seq) const {
  TB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(Cf::kLog, EventKey(log, seq)));
  if (!v.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("event ", log.origin, "/", log.epoch, "/", seq, " not stored"));
  }
  return *std::move(v);
}

absl::Status Store::ScanEvents(
    const LogId& log, uint64_t first, uint64_t last,
    const std::function<absl::Status(uint64_t, absl::string_view)>& fn) const {
  if (first > last) return absl::OkStatus();
  const std::string prefix = LogIdKey(log);
  const std::string upper = EventKey(log, last == ~uint64_t{0} ? last : last + 1);
  rocksdb::ReadOptions ro;
  const rocksdb::Slice upper_slice = ToSlice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(Cf::kLog)));
  for (it->Seek(ToSlice(EventKey(log, first))); it->Valid(); it->Next()) {
    const uint64_t seq = DecodeBe64(ToView(it->key()).substr(prefix.size()));
    TB_RETURN_IF_ERROR(fn(seq, ToView(it->value())));
  }
  return FromRocksStatus(it->status());
}

absl::StatusOr<crypto::Digest> Store::GetNode(const LogId& log, merkle::NodeId node) const {
  TB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(Cf::kTree, NodeKey(log, node)));
  if (!v.has_value() || v->size() != crypto::kDigestSize) {
    return absl::DataLossError(absl::StrCat("tree node ", log.origin, "/", log.epoch, " level ",
                                            node.level, " index ", node.index,
                                            v.has_value() ? " has a bad size" : " missing"));
  }
  crypto::Digest d;
  std::memcpy(d.data(), v->data(), d.size());
  return d;
}

absl::StatusOr<crypto::Digest> Store::ReadNode(const LogId& log, merkle::NodeId node,
                                               crypto::Hasher& hasher) const {
  if (IsStoredLevel(node.level)) return GetNode(log, node);
  // The perfect subtree is `width` nodes of level `base`, combined.
  const uint32_t base = node.level - node.level % kStoredLevelStride;
  const uint64_t width = uint64_t{1} << (node.level - base);
  std::vector<crypto::Digest> parts;
  parts.reserve(width);
  const uint64_t first = node.index * width;
  if (base == 0) {
    TB_RETURN_IF_ERROR(
        ScanEvents(log, first + 1, first + width, [&](uint64_t, absl::string_view body) {
          parts.push_back(merkle::LeafHash(hasher, body));
          return absl::OkStatus();
        }));
    if (parts.size() != width) {
      return absl::DataLossError(absl::StrCat("log ", log.origin, "/", log.epoch, ": leaves ",
                                              first + 1, " to ", first + width,
                                              " are not all stored"));
    }
  } else {
    for (uint64_t k = 0; k < width; ++k) {
      TB_ASSIGN_OR_RETURN(crypto::Digest d, GetNode(log, {base, first + k}));
      parts.push_back(d);
    }
  }
  return merkle::RootOfLeaves(hasher, parts);
}

merkle::NodeReader Store::NodeReaderFor(const LogId& log) const {
  std::shared_ptr<crypto::Hasher> hasher = crypto::GetSuite(suite_).NewHasher();
  return [this, log, hasher](merkle::NodeId node) { return ReadNode(log, node, *hasher); };
}

absl::StatusOr<std::optional<v1::SignedCheckpoint>> Store::LatestCheckpoint(
    const LogId& log) const {
  TB_ASSIGN_OR_RETURN(auto found, CheckpointAtOrBelow(log, ~uint64_t{0}));
  if (!found.has_value()) return std::nullopt;
  return std::move(found->second);
}

absl::StatusOr<std::optional<std::pair<uint64_t, v1::SignedCheckpoint>>> Store::CheckpointAtOrBelow(
    const LogId& log, uint64_t max_size) const {
  return SeekCheckpoint(log, max_size, /*forward=*/false);
}

absl::StatusOr<std::optional<std::pair<uint64_t, v1::SignedCheckpoint>>> Store::CheckpointAtOrAbove(
    const LogId& log, uint64_t min_size) const {
  return SeekCheckpoint(log, min_size, /*forward=*/true);
}

absl::StatusOr<std::optional<std::pair<uint64_t, v1::SignedCheckpoint>>> Store::SeekCheckpoint(
    const LogId& log, uint64_t size, bool forward) const {
  const std::string prefix = LogIdKey(log);
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kCheckpoints)));
  if (forward) {
    it->Seek(ToSlice(CheckpointKey(log, size)));
  } else {
    it->SeekForPrev(ToSlice(CheckpointKey(log, size)));
  }
  if (!it->status().ok()) return FromRocksStatus(it->status());
  if (!it->Valid() || !HasPrefix(it->key(), prefix)) return std::nullopt;
  v1::SignedCheckpoint cp;
  if (!cp.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
    return absl::DataLossError("stored checkpoint does not parse");
  }
  return std::make_pair(DecodeBe64(ToView(it->key()).substr(prefix.size())), std::move(cp));
}

absl::StatusOr<std::optional<v1::SignedCheckpoint>> Store::GetCheckpoint(const LogId& log,
                                                                         uint64_t tree_size) const {
  TB_ASSIGN_OR_RETURN(std::optional<std::string> v,
                      Get(Cf::kCheckpoints, CheckpointKey(log, tree_size)));
  if (!v.has_value()) return std::nullopt;
  v1::SignedCheckpoint cp;
  if (!cp.ParseFromString(*v)) {
    return absl::DataLossError("stored checkpoint does not parse");
  }
  return cp;
}

absl::StatusOr<std::optional<v1::RecordState>> Store::GetRecord(
    absl::string_view record_key) const {
  TB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(Cf::kRecords, record_key));
  if (!v.has_value()) return std::nullopt;
  v1::RecordState state;
  if (!state.ParseFromString(*v)) {
    return absl::DataLossError("stored record state does not parse");
  }
  return state;
}

absl::StatusOr<std::vector<std::pair<std::pair<int, std::string>, v1::RecordState>>>
Store::ListRecords(absl::string_view person) const {
  const std::string prefix = RecordPrefix(person);
  std::vector<std::pair<std::pair<int, std::string>, v1::RecordState>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kRecords)));
  for (it->Seek(ToSlice(prefix)); it->Valid() && HasPrefix(it->key(), prefix); it->Next()) {
    const absl::string_view rest = ToView(it->key()).substr(prefix.size());
    if (rest.empty()) return absl::DataLossError("record key without kind");
    v1::RecordState state;
    if (!state.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("stored record state does not parse");
    }
    out.push_back({{static_cast<uint8_t>(rest[0]), std::string(rest.substr(1))}, std::move(state)});
  }
  TB_RETURN_IF_ERROR(FromRocksStatus(it->status()));
  return out;
}

absl::StatusOr<std::map<std::string, v1::PersonLink>> Store::GetLinks(
    absl::string_view person) const {
  std::map<std::string, v1::PersonLink> out;
  TB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(Cf::kLinks, LinkKey(person)));
  if (!v.has_value()) return out;
  v1::PersonLinks all;
  if (!all.ParseFromString(*v)) {
    return absl::DataLossError("stored person links do not parse");
  }
  for (auto& [node, link] : *all.mutable_links()) out.emplace(node, std::move(link));
  return out;
}

absl::StatusOr<std::vector<uint64_t>> Store::ScanRoute(absl::string_view peer, const LogId& log,
                                                       uint64_t after, size_t limit) const {
  const std::string prefix = RoutePrefix(peer, log);
  std::vector<uint64_t> out;
  if (after == ~uint64_t{0}) return out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kRoutes)));
  for (it->Seek(ToSlice(RouteKey(peer, log, after + 1)));
       it->Valid() && HasPrefix(it->key(), prefix) && out.size() < limit; it->Next()) {
    out.push_back(DecodeBe64(ToView(it->key()).substr(prefix.size())));
  }
  TB_RETURN_IF_ERROR(FromRocksStatus(it->status()));
  return out;
}

absl::StatusOr<std::vector<LogId>> Store::RouteLogs(absl::string_view peer) const {
  std::vector<LogId> out;
  const std::string prefix(peer);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kRoutes)));
  // One seek per log: after finding a log, jump past all of its seqs.
  for (it->Seek(ToSlice(prefix)); it->Valid() && HasPrefix(it->key(), prefix);) {
    const absl::string_view key = ToView(it->key());
    if (key.size() < prefix.size() + kLogIdSize) return absl::DataLossError("bad route key");
    out.push_back(DecodeLogId(key.substr(prefix.size())));
    it->Seek(ToSlice(RouteKey(peer, out.back(), ~uint64_t{0}) + '\xff'));
  }
  TB_RETURN_IF_ERROR(FromRocksStatus(it->status()));
  return out;
}

absl::StatusOr<std::vector<LogId>> Store::CheckpointLogs() const {
  std::vector<LogId> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kCheckpoints)));
  // One seek per log: after finding a log, jump past all of its sizes.
  for (it->SeekToFirst(); it->Valid();) {
    const absl::string_view key = ToView(it->key());
    if (key.size() < kLogIdSize) return absl::DataLossError("bad checkpoint key");
    out.push_back(DecodeLogId(key));
    it->Seek(ToSlice(CheckpointKey(out.back(), ~uint64_t{0}) + '\xff'));
  }
  TB_RETURN_IF_ERROR(FromRocksStatus(it->status()));
  return out;
}

absl::StatusOr<std::vector<std::pair<LogId, std::string>>> Store::Cursors(
    absl::string_view peer) const {
  std::vector<std::pair<LogId, std::string>> out;
  const std::string prefix(peer);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kCursors)));
  for (it->Seek(ToSlice(prefix)); it->Valid() && HasPrefix(it->key(), prefix); it->Next()) {
    const absl::string_view key = ToView(it->key());
    if (key.size() != prefix.size() + kLogIdSize) return absl::DataLossError("bad cursor key");
    out.emplace_back(DecodeLogId(key.substr(prefix.size())), it->value().ToString());
  }
  TB_RETURN_IF_ERROR(FromRocksStatus(it->status()));
  return out;
}

absl::StatusOr<uint64_t> Store::GetCounter(absl::string_view name) const {
  TB_ASSIGN_OR_RETURN(std::optional<std::string> v, Get(Cf::kCounters, name));
  if (!v.has_value()) return 0;
  if (v->size() != 8) return absl::DataLossError("counter of bad size");
  return DecodeBe64(*v);
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Store::Scan(
    Cf c, absl::string_view prefix) const {
  std::vector<std::pair<std::string, std::string>> out;
  TB_RETURN_IF_ERROR(ScanFrom(c, prefix, prefix, /*reverse=*/false,
                              [&](absl::string_view key, absl::string_view value) {
                                out.emplace_back(key, value);
                                return true;
                              }));
  return out;
}

absl::Status Store::ScanFrom(
    Cf c, absl::string_view prefix, absl::string_view start, bool reverse,
    const std::function<bool(absl::string_view, absl::string_view)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(c)));
  if (reverse) {
    it->SeekForPrev(ToSlice(start));
  } else {
    it->Seek(ToSlice(start));
  }
  while (it->Valid() && HasPrefix(it->key(), prefix) &&
         fn(ToView(it->key()), ToView(it->value()))) {
    if (reverse) {
      it->Prev();
    } else {
      it->Next();
    }
  }
  return FromRocksStatus(it->status());
}

absl::Status Store::Increment(absl::string_view name, uint64_t delta) {
  absl::MutexLock lock(&counter_mu_);
  TB_ASSIGN_OR_RETURN(uint64_t value, GetCounter(name));
  Batch batch(*this);
  batch.PutCounter(name, value + delta);
  return Commit(batch, /*sync=*/false);
}

absl::StatusOr<std::map<std::string, uint64_t>> Store::ListCounters(
    absl::string_view prefix) const {
  std::map<std::string, uint64_t> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), cf(Cf::kCounters)));
  for (it->Seek(ToSlice(prefix)); it->Valid() && HasPrefix(it->key(), prefix); it->Next()) {
    if (it->value().size() != 8) return absl::DataLossError("counter of bad size");
    out[it->key().ToString()] = DecodeBe64(ToView(it->value()));
  }
  TB_RETURN_IF_ERROR(FromRocksStatus(it->status()));
  return out;
}

absl::StatusOr<std::optional<v1::LockoutState>> Store::GetLockout(
    absl::string_view operator_name) const {
  TB_ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                      Get(Cf::kDefault, LockoutKey(operator_name)));
  if (!bytes.has_value()) return std::nullopt;
  v1::LockoutState state;
  if (!state.ParseFromString(*bytes)) {
    return absl::DataLossError(
        absl::StrCat("storage: lock-out state of operator ", operator_name, " does not parse"));
  }
  return state;
}

absl::Status Store::Flush() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return Prefixed("storage flush", FromRocksStatus(db_->Flush(fo, handles_)));
}

uint64_t Store::DiskBytes() const {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path_, ec)) {
    if (entry.is_regular_file(ec)) total += entry.file_size(ec);
  }
  return total;
}

}  // namespace tongban::storage
