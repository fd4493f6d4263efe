// A county whose disk fills (node/node.h, Disk space), as separate tongband
// processes: the county runs with its data folder on a small tmpfs of its
// own (a mount namespace made by unshare(1), so no root is needed where
// user namespaces are allowed), and the test fills that filesystem through
// /proc/PID/root while a clerk works.
//
//  * Below [storage] min_free_mib: writes are refused with a clear error,
//    /healthz and the metrics say so, reads (audited) go on, and once space
//    returns writes are taken again by themselves and reach the national
//    node.
//  * min_free_mib = 0 and the disk filled to the last byte: the store stops
//    on the failed commit; once space returns the daemon restarts its node
//    by itself, every acknowledged write is there at the county and the
//    national node, and the next writes follow on.
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testutil/http.h"
#include "tests/testutil/process_federation.h"
#include "tests/testutil/prometheus_text.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/wait.h"

namespace tongban {
namespace {

using testutil::kOrigin;
constexpr char kNational[] = "000000";
constexpr int kDiskMib = 64;

class DiskFullTest : public testutil::ProcessFederationTest {
 protected:
  DiskFullTest() : ProcessFederationTest({kNational, kOrigin}) {}

  // The federation, the national node, and the county on a kDiskMib tmpfs
  // with [storage] min_free_mib = `min_free_mib` and metrics on.
  void StartAll(int min_free_mib) {
    ASSERT_NO_FATAL_FAILURE(SetUpFederation());
    metrics_port_ = testutil::FreePortBlock(1);
    ASSERT_GT(metrics_port_, 0);
    {
      std::ofstream conf(NodeDir(kOrigin) + "/tongband.conf", std::ios::app);
      // The smallest memtables: a memtable that cannot be flushed meets
      // the full disk after a few MiB of writes.
      conf << "\n[storage]\nmin_free_mib = " << min_free_mib
           << "\nwrite_buffer_mib = 8\n\n[metrics]\nlisten = \"127.0.0.1:" << metrics_port_
           << "\"\n";
    }
    Start(kNational);
    data_ = NodeDir(kOrigin) + "/data";
    // The data folder's contents (keys made by the setup) move onto the
    // tmpfs, which lives as long as the county's process.
    std::vector<std::string> wrapper = {"/usr/bin/unshare"};
    if (geteuid() != 0) wrapper.insert(wrapper.end(), {"--user", "--map-root-user"});
    wrapper.insert(wrapper.end(),
                   {"--mount", "--propagation", "private", "/bin/sh", "-c",
                    absl::StrCat("set -e; d=$1; shift; mv \"$d\" \"$d.seed\"; mkdir \"$d\"; ",
                                 "mount -t tmpfs -o size=", kDiskMib,
                                 "m tongban-test-disk \"$d\"; cp -a \"$d.seed/.\" \"$d/\"; ",
                                 "rm -rf \"$d.seed\"; exec \"$@\""),
                    "sh", data_});
    Start(kOrigin, wrapper);
    ASSERT_TRUE(WaitReady(kNational));
    ASSERT_TRUE(WaitReady(kOrigin))
        << "the county did not start on its tmpfs; see " << NodeDir(kOrigin) << "/tongband.log";
    ASSERT_LT(Free(), uint64_t{kDiskMib} << 20) << "the county's data folder is not on its tmpfs";
  }

  void TearDown() override {
    if (HasFailure()) {
      std::ifstream log(NodeDir(kOrigin) + "/tongband.log");
      std::vector<std::string> lines;
      for (std::string line; std::getline(log, line);) lines.push_back(line);
      const size_t from = lines.size() > 40 ? lines.size() - 40 : 0;
      std::string tail;
      for (size_t i = from; i < lines.size(); ++i) absl::StrAppend(&tail, lines[i], "\n");
      ADD_FAILURE() << "the county's log ends:\n" << tail;
    }
    ProcessFederationTest::TearDown();
  }

  // The county's data folder as the test sees it: through its process's
  // root, in its mount namespace.
  std::string Disk() { return absl::StrCat("/proc/", pid(kOrigin), "/root", data_); }

  uint64_t Free() {
    struct statvfs fs {};
    EXPECT_EQ(statvfs(Disk().c_str(), &fs), 0) << Disk();
    return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  }

  // Writes a filler file until `leave` bytes are free (or the disk is full).
  void Fill(uint64_t leave) {
    std::FILE* f = std::fopen((Disk() + "/filler").c_str(), "ab");
    ASSERT_NE(f, nullptr);
    const std::string chunk(64 << 10, '\0');
    for (uint64_t free = Free(); free > leave; free = Free()) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), free - leave));
      if (std::fwrite(chunk.data(), 1, n, f) != n || std::fflush(f) != 0) break;  // full
    }
    std::fclose(f);
  }

  void Unfill() { ASSERT_EQ(std::remove((Disk() + "/filler").c_str()), 0); }

  // The county's metric `name` (unlabelled), or -1.
  double Metric(const std::string& name) {
    absl::StatusOr<std::vector<testutil::ParsedFamily>> families =
        testutil::ParseExposition(testutil::Body(testutil::Get(metrics_port_, "/metrics")));
    if (!families.ok()) return -1;
    for (const testutil::ParsedFamily& f : *families) {
      if (f.name == name && !f.samples.empty()) return f.samples.front().value;
    }
    return -1;
  }

  absl::Status Write(const std::string& code, const storage::RecordChange& c) {
    return Clerk(code)->Write(testutil::WriteRequestOf(c)).status();
  }

  // Until the write is taken, retrying while the county refuses it for
  // space or is restarting; false after `timeout`.
  bool WriteOnceTaken(const storage::RecordChange& c, absl::Duration timeout) {
    return testutil::WaitUntil(
        [&]() -> absl::StatusOr<bool> {
          const absl::Status s = Write(kOrigin, c);
          if (s.ok()) return true;
          // Refused for space, or the node restarting (a call it was
          // answering is cancelled, then nothing listens for a moment).
          if (absl::IsResourceExhausted(s) || absl::IsUnavailable(s) ||
              absl::IsDeadlineExceeded(s) || absl::IsCancelled(s)) {
            return false;
          }
          return s;
        },
        timeout, "a write once space returned");
  }

  // Every person's records at the national node equal the county's.
  void ExpectNationalHolds(const std::vector<std::string>& persons) {
    for (const std::string& p : persons) {
      std::string county, national;
      EXPECT_TRUE(testutil::WaitUntil(
          [&] {
            absl::StatusOr<std::string> c = Digest(kOrigin, p);
            absl::StatusOr<std::string> n = Digest(kNational, p);
            county = c.value_or("error");
            national = n.value_or("error");
            return c.ok() && !c->empty() && county == national;
          },
          absl::Seconds(30), "the national node to hold the county's records"))
          << "county:\n"
          << county << "national:\n"
          << national;
    }
  }

  // Three persons written at the county and held by the national node.
  void WriteFirstPersons(std::vector<std::string>* persons) {
    for (int i = 0; i < 3; ++i) {
      persons->push_back(testutil::MakeId(kOrigin, "19850101", i));
      const absl::Status s =
          Write(kOrigin, testutil::Basics(persons->back(), absl::StrCat("Person ", i)));
      ASSERT_TRUE(s.ok()) << s;
    }
    ExpectNationalHolds(*persons);
  }

  int metrics_port_ = 0;
  std::string data_;
};

TB_INSTANTIATE_FOR_BOTH_SUITES(DiskFullTest);

TEST_P(DiskFullTest, BelowMinFreeWritesAreRefusedReadsGoOnAndWritesResumeBySpace) {
  ASSERT_NO_FATAL_FAILURE(StartAll(/*min_free_mib=*/16));
  std::vector<std::string> persons;
  ASSERT_NO_FATAL_FAILURE(WriteFirstPersons(&persons));
  EXPECT_EQ(Metric("tongban_store_writes_refused"), 0);
  EXPECT_EQ(Metric("tongban_store_min_free_bytes"), 16 << 20);

  Fill(uint64_t{6} << 20);
  ASSERT_TRUE(testutil::WaitUntil([&] { return Metric("tongban_store_writes_refused") == 1; },
                                  absl::Seconds(10), "writes refused in the metrics"));
  EXPECT_LT(Metric("tongban_store_free_bytes"), 16 << 20);
  EXPECT_EQ(Metric("tongban_ready"), 0);
  const std::string health = testutil::Get(metrics_port_, "/healthz");
  EXPECT_TRUE(absl::StrContains(testutil::StatusLine(health), "503")) << health;
  EXPECT_TRUE(absl::StrContains(health, "min_free_mib")) << health;

  const std::string late = testutil::MakeId(kOrigin, "19850101", 7);
  const absl::Status refused = Write(kOrigin, testutil::Basics(late, "Late"));
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "writes refused: the data folder's filesystem"))
      << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "min_free_mib (16 MiB)")) << refused;
  // Reads go on, audited as ever.
  for (const std::string& p : persons) {
    absl::StatusOr<std::string> d = Digest(kOrigin, p);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_FALSE(d->empty());
  }
  EXPECT_EQ(Digest(kOrigin, late).value_or("error"), "");

  Unfill();
  ASSERT_TRUE(WriteOnceTaken(testutil::Basics(late, "Late"), absl::Seconds(20)));
  persons.push_back(late);
  EXPECT_EQ(Metric("tongban_store_writes_refused"), 0);
  EXPECT_EQ(Metric("tongban_ready"), 1);
  ExpectNationalHolds(persons);
}

TEST_P(DiskFullTest, AFullDiskStopsTheStoreAndTheNodeReopensItOnceSpaceReturns) {
  ASSERT_NO_FATAL_FAILURE(StartAll(/*min_free_mib=*/0));
  std::vector<std::string> acked;
  ASSERT_NO_FATAL_FAILURE(WriteFirstPersons(&acked));

  Fill(0);
  // Writes until one meets the full disk (the log's file may hold a little
  // more in space it was given ahead).
  absl::Status failed;
  std::unique_ptr<cli::AdminClient> clerk = Clerk(kOrigin);
  for (int i = 100; i < 20000 && failed.ok(); ++i) {
    const std::string p = testutil::MakeId(kOrigin, "19850101", i);
    failed =
        clerk->Write(testutil::WriteRequestOf(testutil::Basics(p, std::string(200, 'x')))).status();
    if (failed.ok()) acked.push_back(p);
  }
  ASSERT_FALSE(failed.ok()) << acked.size() << " writes on a full disk were all taken";
  EXPECT_EQ(failed.code(), absl::StatusCode::kResourceExhausted) << failed;
  EXPECT_TRUE(testutil::WaitUntil([&] { return Metric("tongban_store_failed") == 1; },
                                  absl::Seconds(10), "the store's failure in the metrics"));
  const std::string health = testutil::Get(metrics_port_, "/healthz");
  EXPECT_TRUE(absl::StrContains(health, "store failed")) << health;
  EXPECT_TRUE(absl::StrContains(health, "reopens its store by itself")) << health;

  Unfill();
  const std::string after = testutil::MakeId(kOrigin, "19850101", 9999);
  ASSERT_TRUE(WriteOnceTaken(testutil::Basics(after, "After"), absl::Seconds(60)))
      << "the county did not take writes again; see " << NodeDir(kOrigin) << "/tongband.log";
  acked.push_back(after);
  EXPECT_EQ(Metric("tongban_store_failed"), 0);
  ExpectNationalHolds(acked);
}

}  // namespace
}  // namespace tongban
