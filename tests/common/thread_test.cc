#include "common/thread.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace tongban {
namespace {

std::string OwnThreadName() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  return name;
}

TEST(StartThreadTest, RunsFnOnANamedThread) {
  std::atomic<bool> ran{false};
  std::string seen;
  TB_ASSERT_OK_AND_ASSIGN(std::thread t, StartThread("tb-test", [&] {
                            seen = OwnThreadName();
                            ran = true;
                          }));
  t.join();
  EXPECT_TRUE(ran);
  EXPECT_EQ(seen, "tb-test");
}

TEST(StartThreadTest, ALongNameIsCutToWhatTheKernelKeeps) {
  std::string seen;
  TB_ASSERT_OK_AND_ASSIGN(
      std::thread t, StartThread("tb-a-name-longer-than-fifteen", [&] { seen = OwnThreadName(); }));
  t.join();
  EXPECT_EQ(seen, "tb-a-name-longe");
}

// The process's virtual memory size, in bytes (0 if unknown).
uint64_t VirtualBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    uint64_t kb = 0;
    if (absl::StartsWith(line, "VmSize:") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(7, line.size() - 7 - 3)), &kb)) {
      return kb * 1024;
    }
  }
  return 0;
}

// In a child process, whose address space limit harms nobody: leaves no
// room for a thread's stack, starts one, and exits 0 if StartThread said
// kResourceExhausted naming the thread.
[[noreturn]] void StartThreadWithoutRoom() {
  const uint64_t used = VirtualBytes();
  if (used == 0) std::_Exit(2);
  // 1 MiB more than now: room for a small allocation, not for an 8 MiB stack.
  const rlimit limit{used + (1 << 20), used + (1 << 20)};
  if (setrlimit(RLIMIT_AS, &limit) != 0) std::_Exit(3);
  absl::StatusOr<std::thread> t = StartThread("tb-no-room", [] {});
  if (t.ok()) {
    t->join();
    std::_Exit(4);
  }
  const bool right = absl::IsResourceExhausted(t.status()) &&
                     absl::StrContains(t.status().message(), "tb-no-room");
  std::_Exit(right ? 0 : 5);
}

// With no address space left for a thread's stack, pthread_create fails
// (EAGAIN) and std::thread throws: StartThread turns that into a status.
TEST(StartThreadDeathTest, NoRoomForAStackIsResourceExhausted) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer reserves address space; an RLIMIT_AS would stop it first";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(StartThreadWithoutRoom(), testing::ExitedWithCode(0), "");
#endif
}

}  // namespace
}  // namespace tongban
