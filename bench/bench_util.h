// What both benchmarks measure the same way: medians and percentiles of
// trials, and the per-event signing and verification rates the node's
// designs are compared against.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "common/clock.h"
#include "common/crypto/suite.h"
#include "common/ids/citizen_id.h"
#include "node/local_node.h"

namespace tongban::bench {

using SteadyClock = std::chrono::steady_clock;

inline double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// Signatures per second over 200-byte messages, one thread, for about
// `seconds`.
inline double SignRate(const crypto::Suite& suite, double seconds) {
  auto key = suite.GenerateKey();
  auto signer = (*key)->NewSigner();
  std::string msg(200, 'e');
  size_t n = 0;
  const auto start = SteadyClock::now();
  while (Seconds(SteadyClock::now() - start) < seconds) {
    for (int i = 0; i < 50; ++i) {
      msg[n % 200] = static_cast<char>(n);
      if (!signer->Sign(msg).ok()) std::abort();
      ++n;
    }
  }
  return n / Seconds(SteadyClock::now() - start);
}

// Verifications per second of a 200-byte message, one thread, for about
// `seconds`.
inline double VerifyRate(const crypto::Suite& suite, double seconds) {
  auto key = suite.GenerateKey();
  auto signer = (*key)->NewSigner();
  auto verifier = suite.NewVerifier((*key)->public_key());
  const std::string msg(200, 'v');
  const std::string sig = *signer->Sign(msg);
  size_t n = 0;
  const auto start = SteadyClock::now();
  while (Seconds(SteadyClock::now() - start) < seconds) {
    for (int i = 0; i < 50; ++i) {
      if (!verifier->Verify(msg, sig).ok()) std::abort();
      ++n;
    }
  }
  return n / Seconds(SteadyClock::now() - start);
}

// Reads "--NAME=N" (N a positive integer) into `out`. False if `arg` is
// another flag; exits with status 2 on a bad value.
inline bool ParseFlag(const char* arg, const char* name, size_t* out) {
  const std::string prefix = absl::StrCat("--", name, "=");
  if (std::string(arg).rfind(prefix, 0) != 0) return false;
  if (!absl::SimpleAtoi(arg + prefix.size(), out) || *out == 0) {
    std::fprintf(stderr, "bad value for --%s\n", name);
    std::exit(2);
  }
  return true;
}

// Person `p` (0 .. 18 million) registered in `county`: born 1950-01-01 +
// p % 18000 days, sequence 1 + p / 18000. All distinct and valid.
inline std::string PersonIn(absl::string_view county, size_t p) {
  const absl::CivilDay born = absl::CivilDay(1950, 1, 1) + static_cast<int>(p % 18000);
  const std::string first17 =
      absl::StrFormat("%s%04d%02d%02d%03d", county, static_cast<int>(born.year()), born.month(),
                      born.day(), static_cast<int>(1 + p / 18000));
  return first17 + ids::CheckCharacter(first17);
}

// The outflow registration (流出登记) of person `p` of `county` to
// `destination`.
inline storage::RecordChange OutflowOf(absl::string_view county, size_t p,
                                       const std::string& destination) {
  storage::RecordChange c;
  c.person = PersonIn(county, p);
  c.kind = v1::RECORD_KIND_OUTFLOW;
  c.record_id = absl::StrCat("out-", p);
  v1::OutflowRegistration* o = c.value.mutable_outflow();
  o->set_destination_county(destination);
  o->mutable_left_on()->set_year(2025);
  o->mutable_left_on()->set_month(1 + p % 12);
  o->mutable_left_on()->set_day(1 + p % 28);
  o->set_reason("moved for work; registered with the residence committee");
  return c;
}

// A node of county 620102 in `dir` (created), for benchmarks of the write
// path; exits with status 1 if it cannot open.
inline std::unique_ptr<node::LocalNode> OpenNode(crypto::SuiteId suite, const std::string& dir) {
  node::LocalNodeOptions options;
  options.data_dir = dir;
  options.suite = suite;
  options.writer.node = "620102";
  auto node = node::LocalNode::Open(options, RealClock());
  if (!node.ok()) {
    std::fprintf(stderr, "open node: %s\n", node.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(node);
}

}  // namespace tongban::bench
