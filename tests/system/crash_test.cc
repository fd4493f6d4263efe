// Kill -9 at random moments while a child appends; after every kill the log
// must verify against its last signed checkpoint, seq must be dense, and
// every append acknowledged to the child's caller must be present.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/crypto/key_file.h"
#include "common/merkle/checkpoint.h"
#include "common/merkle/tree.h"
#include "gtest/gtest.h"
#include "storage/store.h"
#include "tests/testutil/records.h"
#include "tests/testutil/suites.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"

extern char** environ;

namespace tongban {
namespace {

using crypto::SuiteId;

constexpr int kKills = 20;

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of its stdout
};

Child Spawn(const std::string& dir, SuiteId suite, uint64_t seed) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  const std::string seed_text = std::to_string(seed);
  const std::string suite_text(crypto::SuiteName(suite));
  char* argv[] = {const_cast<char*>(TB_CRASH_CHILD), const_cast<char*>(dir.c_str()),
                  const_cast<char*>(suite_text.c_str()), const_cast<char*>(seed_text.c_str()),
                  nullptr};
  Child child;
  EXPECT_EQ(posix_spawn(&child.pid, TB_CRASH_CHILD, &actions, nullptr, argv, environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  child.out = fds[0];
  return child;
}

// Reads acknowledgement lines into `acked` (seq -> record id). Returns the
// number of complete lines read; stops at end of file or after `want` lines.
size_t ReadAcks(int fd, std::string* pending, std::map<uint64_t, std::string>* acked, size_t want) {
  size_t lines = 0;
  char buf[4096];
  while (lines < want) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    pending->append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending->find('\n')) != std::string::npos) {
      std::vector<std::string> parts = absl::StrSplit(pending->substr(0, nl), ' ');
      pending->erase(0, nl + 1);
      uint64_t seq = 0;
      if (parts.size() == 2 && absl::SimpleAtoi(parts[0], &seq)) {
        (*acked)[seq] = parts[1];
        ++lines;
      }
    }
  }
  return lines;
}

class CrashTest : public testing::TestWithParam<SuiteId> {};

TEST_P(CrashTest, AcknowledgedAppendsSurviveKillNine) {
  testutil::ScopedTempDir dir;
  const std::string data = dir.File("node");
  const crypto::Suite& suite = crypto::GetSuite(GetParam());
  const uint64_t seed = testutil::TestSeed("the crash points");
  SCOPED_TRACE(testutil::SeedTrace(seed));
  std::mt19937_64 rng(seed);
  std::map<uint64_t, std::string> acked;  // every acknowledgement so far
  uint64_t last_checkpoint = 0;

  for (int round = 0; round < kKills; ++round) {
    SCOPED_TRACE(testing::Message() << "round " << round);
    Child child = Spawn(data, GetParam(), seed * 100 + round);
    // Kill after a random number of acknowledgements: early (during
    // recovery or the first batch) or well into the run.
    const size_t kill_after = rng() % 4 == 0 ? 1 : 1 + rng() % 600;
    std::string pending;
    const size_t seen = ReadAcks(child.out, &pending, &acked, kill_after);
    ::kill(child.pid, SIGKILL);
    int wstatus = 0;
    ::waitpid(child.pid, &wstatus, 0);
    ReadAcks(child.out, &pending, &acked, SIZE_MAX);  // what it wrote before dying
    ::close(child.out);
    ASSERT_TRUE(WIFSIGNALED(wstatus))
        << "child exited by itself (status " << wstatus << ") after " << seen << " acks";

    // Verify the store as the next start will find it.
    storage::StoreOptions so;
    so.path = data + "/db";
    so.suite = GetParam();
    TB_ASSERT_OK_AND_ASSIGN(so.storage_key,
                            crypto::ReadStorageKeyFile(suite, data + "/storage.key"));
    TB_ASSERT_OK_AND_ASSIGN(auto pub, crypto::ReadPublicKeyFile(suite, data + "/signing.pub"));
    TB_ASSERT_OK_AND_ASSIGN(auto store, storage::Store::Open(so));
    const storage::LogId log{testutil::kOrigin, 1};
    TB_ASSERT_OK_AND_ASSIGN(uint64_t last, store->LastSeq(log));

    // Dense seq, and every acknowledged append present with its record id.
    std::unique_ptr<crypto::Hasher> h = suite.NewHasher();
    std::vector<crypto::Digest> leaves;
    uint64_t expect = 1;
    TB_ASSERT_OK(store->ScanEvents(log, 1, last, [&](uint64_t seq, absl::string_view b) {
      EXPECT_EQ(seq, expect) << "gap in the log";
      expect = seq + 1;
      leaves.push_back(merkle::LeafHash(*h, b));
      auto it = acked.find(seq);
      if (it != acked.end()) {
        v1::EventBody body;
        EXPECT_TRUE(body.ParseFromArray(b.data(), static_cast<int>(b.size())));
        EXPECT_EQ(body.record_id(), it->second) << "seq " << seq;
      }
      return absl::OkStatus();
    }));
    ASSERT_EQ(leaves.size(), last);
    if (!acked.empty()) {
      ASSERT_GE(last, acked.rbegin()->first) << "an acknowledged append was lost";
    }

    // The log verifies against its last signed checkpoint, which never goes
    // back.
    TB_ASSERT_OK_AND_ASSIGN(auto latest, store->LatestCheckpoint(log));
    if (latest.has_value()) {
      TB_ASSERT_OK_AND_ASSIGN(
          merkle::Checkpoint cp,
          merkle::VerifyCheckpoint({latest->body(), latest->signature()}, suite, *pub));
      ASSERT_LE(cp.tree_size, last);
      EXPECT_GE(cp.tree_size, last_checkpoint);
      last_checkpoint = cp.tree_size;
      EXPECT_EQ(merkle::RootOfLeaves(*h, absl::MakeSpan(leaves).subspan(0, cp.tree_size)), cp.root);
    }
  }
  EXPECT_GT(acked.size(), static_cast<size_t>(kKills));
  EXPECT_GT(last_checkpoint, 0u);
}

TB_INSTANTIATE_FOR_BOTH_SUITES(CrashTest);

}  // namespace
}  // namespace tongban
