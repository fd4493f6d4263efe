// The child of the crash test: appends records in a loop from two threads,
// in batches of random size, and prints one line per acknowledged append to
// stdout ("<seq> <record_id>\n", written with one write(2) each) until it is
// killed.
//
// usage: crash_child DATA_DIR intl|gm SEED
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/suite.h"
#include "node/local_node.h"
#include "tests/testutil/records.h"

int main(int argc, char** argv) {
  using namespace tongban;
  uint64_t seed = 0;
  absl::StatusOr<crypto::SuiteId> suite =
      argc == 4 ? crypto::ParseSuiteId(argv[2]) : absl::InvalidArgumentError("usage");
  if (argc != 4 || !suite.ok() || !absl::SimpleAtoi(argv[3], &seed)) {
    std::fprintf(stderr, "usage: crash_child DATA_DIR intl|gm SEED\n");
    return 2;
  }
  node::LocalNodeOptions options;
  options.data_dir = argv[1];
  options.suite = *suite;
  options.writer.node = testutil::kOrigin;
  auto node = node::LocalNode::Open(options, RealClock());
  if (!node.ok()) {
    std::fprintf(stderr, "crash_child: %s\n", node.status().ToString().c_str());
    return 1;
  }
  std::atomic<uint64_t> counter{0};
  auto loop = [&](uint64_t thread_seed) {
    std::mt19937_64 rng(thread_seed);
    for (;;) {
      const size_t n = 1 + rng() % 64;
      std::vector<storage::RecordChange> changes;
      for (size_t i = 0; i < n; ++i) {
        const uint64_t k = counter.fetch_add(1);
        auto c = testutil::Basics(
            testutil::MakeId(testutil::kOrigin, "19800101", static_cast<int>(k % 1000)), "N");
        c.record_id = absl::StrCat("r", seed, "-", thread_seed, "-", k);
        changes.push_back(std::move(c));
      }
      auto results = (*node)->writer()->AppendAll(changes);
      std::string out;
      for (size_t i = 0; i < n; ++i) {
        if (!results[i].ok()) {
          std::fprintf(stderr, "crash_child: %s\n", results[i].status().ToString().c_str());
          std::_Exit(1);
        }
        absl::StrAppend(&out, results[i]->id.seq(), " ", changes[i].record_id, "\n");
      }
      // One write per batch: the parent may see a batch whole or not at all
      // only if it fits the pipe's atomic size, so lines are parsed one by
      // one and a cut last line is ignored.
      if (::write(STDOUT_FILENO, out.data(), out.size()) < 0) std::_Exit(1);
    }
  };
  std::thread a(loop, seed * 2 + 1);
  std::thread b(loop, seed * 2 + 2);
  a.join();
  b.join();
  return 0;
}
