// FaultInjection makes the disk under a Store misbehave on command, for
// tests of what the store promises when the disk fails (DESIGN.md section
// 10: "Disk full, RocksDB error: writes fail cleanly with an alert; no
// corruption; recovery when space returns"), as leveldb's tests wrap its Env.
//
// It sits between the store's encryption and the real file system, so it
// sees what reaches the disk: every write and sync of every file RocksDB
// writes (the write-ahead log, table files, the MANIFEST, and the small
// CURRENT, OPTIONS, IDENTITY and LOCK files), each of which can be chosen by
// kind. Faults:
//
//   FailNextWrites(n, after)
//                      after `after` more successful writes to chosen files,
//                      the next n fail with an I/O error ("injected write
//                      fault"); later ones succeed (a sweep over `after`
//                      puts the fault at every write of a scenario in turn)
//   FailNextSyncs(n, after)
//                      the same for syncs (fsync, fdatasync, range syncs)
//   FillDisk()         the disk is full: every write to a chosen file fails
//                      with ENOSPC (RocksDB's NoSpace; the store reports
//                      kResourceExhausted) until Heal()
//   Heal()             ends every fault: counts still pending, and a full disk
//
// and counts of what it saw and what it failed, so that a test can arm a
// fault at an exact point (after the writes of an open, say) and show that
// the fault it meant was the one that happened.
//
// Use: make one, pass it in StoreOptions::faults (production passes none:
// the store then has no wrapper at all), open the store, arm faults. The same
// handle can be passed to the store reopened in the same folder. Store and
// Writer are fail-stop (storage/store.h, storage/writer.h): after the first
// failed write they refuse every later one with that error, whatever the
// disk does next, until reopened.
//
// Example (tests/storage/fault_injection_test.cc):
//   FaultInjection faults;
//   StoreOptions options = ...;
//   options.faults = &faults;
//   auto store = Store::Open(options);
//   faults.SetFileKinds(kWalFile);   // only the write-ahead log
//   faults.FillDisk();
//   store->Commit(batch, true);      // kResourceExhausted
//
// Thread safety: all methods may be called from any thread, concurrently
// with the store's I/O (RocksDB writes from its own threads).
#pragma once

#include <cstdint>
#include <memory>

namespace tongban::storage {

// Kinds of files, as a bit set.
using FileKinds = uint32_t;
inline constexpr FileKinds kWalFile = 1 << 0;       // NNNNNN.log, the write-ahead log
inline constexpr FileKinds kTableFile = 1 << 1;     // NNNNNN.sst, written by flushes
inline constexpr FileKinds kManifestFile = 1 << 2;  // MANIFEST-NNNNNN
inline constexpr FileKinds kOtherFile = 1 << 3;     // CURRENT, OPTIONS-*, IDENTITY, ...
inline constexpr FileKinds kAllFiles = kWalFile | kTableFile | kManifestFile | kOtherFile;

// The kind of the file at `path` (by its name, as RocksDB names them).
FileKinds FileKindOf(const char* path);

struct FaultCounts {
  // Writes (appends) and syncs of files of the chosen kinds, failed ones
  // included, since the handle was made.
  uint64_t writes = 0;
  uint64_t syncs = 0;
  // Of those, the ones failed on purpose.
  uint64_t failed_writes = 0;
  uint64_t failed_syncs = 0;
};

class FaultInjection {
 public:
  FaultInjection();
  ~FaultInjection();
  FaultInjection(const FaultInjection&) = delete;
  FaultInjection& operator=(const FaultInjection&) = delete;

  // Faults (and counts) touch only files of `kinds` from now on. Default:
  // kAllFiles.
  void SetFileKinds(FileKinds kinds);
  // After `after` more successful writes to files of the chosen kinds, the
  // next `n` fail; later ones succeed. Replaces a fault still pending.
  void FailNextWrites(int n, int after = 0);
  // The same for syncs.
  void FailNextSyncs(int n, int after = 0);
  // Every write to a file of the chosen kinds fails with ENOSPC until Heal().
  void FillDisk();
  // Writes and syncs succeed again.
  void Heal();

  FaultCounts counts() const;

  // The state the file system wrapper (storage/fault_env.cc) consults; not
  // for tests.
  struct State;
  const std::shared_ptr<State>& state() const { return state_; }

 private:
  const std::shared_ptr<State> state_;
};

}  // namespace tongban::storage
