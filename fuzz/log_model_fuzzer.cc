// A model-checking target for the log (storage/writer.h over storage/store.h),
// as RocksDB's fuzzers check the DB against a std::map: the input is a
// program of steps (FuzzedDataProvider) over one node's log in a fresh
// folder, run against an in-memory model of what was acknowledged, and the
// two are compared after every step:
//
//   append     a record change (one of a few persons, kinds and record ids);
//              if acknowledged, its event is the next seq of the log and the
//              model keeps its stored bytes
//   reopen     the writer and store closed and opened again on the folder
//   crash      a write or sync fault armed after N more writes or syncs
//              (storage/fault_injection.h): the store and writer go
//              fail-stop at that point, as after a crash, and the next
//              reopen recovers
//
// Compared after every step: the log holds every acknowledged event, at its
// seq, byte for byte; its last seq is at least the acknowledged count and at
// most the attempted count (an append that failed may or may not be there,
// never anything else); and every seq up to the last one is readable.
// After a reopen, the appends left unsettled are settled: present or not.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "fuzz/fixtures.h"
#include "storage/fault_injection.h"
#include "storage/store.h"
#include "storage/writer.h"
#include "tests/testutil/records.h"

namespace tongban::fuzz {
namespace {

constexpr char kNode[] = "620102";
// Steps per input: a reopen costs about half a second under ASan (opening
// RocksDB), so programs stay short and many.
constexpr int kMaxSteps = 24;

class LogModel {
 public:
  explicit LogModel(crypto::SuiteId suite) : key_(FixedKey(suite, kOriginRole)) {
    options_.path = dir_.File("store");
    options_.suite = suite;
    options_.storage_key = FixedStorageKey(crypto::GetSuite(suite).symmetric_key_size());
    options_.faults = &faults_;
    Open();
  }
  ~LogModel() { Close(); }

  void Run(FuzzedDataProvider& in) {
    for (int step = 0; step < kMaxSteps && in.remaining_bytes() > 0; ++step) {
      switch (in.ConsumeIntegralInRange<int>(0, 5)) {
        case 0:
        case 1:
        case 2: Append(in); break;
        case 3: Reopen(); break;
        case 4: faults_.FailNextWrites(1, in.ConsumeIntegralInRange<int>(0, 8)); break;
        case 5: faults_.FailNextSyncs(1, in.ConsumeIntegralInRange<int>(0, 4)); break;
      }
      Compare();
    }
  }

 private:
  void Open() {
    faults_.Heal();
    auto store = storage::Store::Open(options_);
    if (!store.ok()) abort();  // nothing armed, nothing corrupt: it must open
    store_ = *std::move(store);
    storage::WriterOptions wo;
    wo.node = kNode;
    auto writer = storage::Writer::Open(store_.get(), key_.get(), wo, &clock_);
    if (!writer.ok()) abort();
    writer_ = *std::move(writer);
  }
  void Close() {
    writer_.reset();
    store_.reset();
  }
  void Reopen() {
    Close();
    // Whatever was attempted and not acknowledged is settled now: present
    // or not, and the model learns which.
    Open();
    Compare();
    const uint64_t last = LastSeq();
    for (uint64_t seq = acked_.size() + 1; seq <= last; ++seq) acked_.push_back(Event(seq));
    attempted_ = acked_.size();
  }

  void Append(FuzzedDataProvider& in) {
    const int person = in.ConsumeIntegralInRange<int>(0, 3);
    const std::string id = testutil::MakeId(kNode, "19900101", person * 2 + 1);
    storage::RecordChange c;
    switch (in.ConsumeIntegralInRange<int>(0, 2)) {
      case 0: c = testutil::Basics(id, in.ConsumeRandomLengthString(8)); break;
      case 1:
        c = testutil::Service(id, kNode, "svc-" + std::to_string(in.ConsumeIntegral<uint8_t>()));
        break;
      case 2: c = testutil::Outflow(id, "440305"); break;
    }
    ++attempted_;
    absl::StatusOr<storage::Appended> a = writer_->Append(c);
    clock_.Advance(absl::Milliseconds(in.ConsumeIntegralInRange<int>(0, 5000)));
    if (!a.ok()) return;
    if (a->unchanged) {
      --attempted_;
      return;
    }
    // Acknowledged: it is the next event of the log, unless an earlier
    // attempt that failed made it in (then that one is settled first).
    const uint64_t seq = a->id.seq();
    if (seq <= acked_.size() || seq > attempted_) abort();
    for (uint64_t s = acked_.size() + 1; s <= seq; ++s) acked_.push_back(Event(s));
  }

  uint64_t LastSeq() {
    absl::StatusOr<uint64_t> last = store_->LastSeq({kNode, 1});
    if (!last.ok()) abort();
    return *last;
  }
  std::string Event(uint64_t seq) {
    absl::StatusOr<std::string> e = store_->GetEvent({kNode, 1}, seq);
    if (!e.ok()) abort();  // a seq at or below the last one is always readable
    return *e;
  }

  void Compare() {
    const uint64_t last = LastSeq();
    if (last < acked_.size() || last > attempted_) abort();
    for (uint64_t seq = 1; seq <= acked_.size(); ++seq) {
      if (Event(seq) != acked_[seq - 1]) abort();
    }
    for (uint64_t seq = acked_.size() + 1; seq <= last; ++seq) (void)Event(seq);
  }

  TempDir dir_;
  FakeClock clock_;
  storage::FaultInjection faults_;
  storage::StoreOptions options_;
  std::unique_ptr<crypto::PrivateKey> key_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::Writer> writer_;
  std::vector<std::string> acked_;  // the stored bytes of each acknowledged event, by seq - 1
  uint64_t attempted_ = 0;          // appends that may have reached the log
};

}  // namespace
}  // namespace tongban::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  tongban::fuzz::LogModel model(tongban::fuzz::SuiteOf(in.ConsumeIntegral<uint8_t>()));
  model.Run(in);
  return 0;
}
