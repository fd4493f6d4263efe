#include "common/metrics.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/process_metrics.h"
#include "gtest/gtest.h"
#include "tests/testutil/prometheus_text.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::metrics {
namespace {

using testutil::ParsedFamily;
using testutil::ParseExposition;

// The sample of `family` named `name` with exactly these labels.
const testutil::ParsedSample* Find(const ParsedFamily& family, absl::string_view name,
                                   const std::map<std::string, std::string>& labels) {
  for (const testutil::ParsedSample& s : family.samples) {
    if (s.name == name && s.labels == labels) return &s;
  }
  return nullptr;
}

TEST(MetricsTest, RendersTheExactTextFormat) {
  Registry r;
  TB_ASSERT_OK_AND_ASSIGN(
      CounterFamily * c,
      r.AddCounter("tb_events_total", "Events.\nAll of them \\ each.", {"peer", "reason"}));
  c->WithLabels({"440305", "bad \"sig\"\\\n"})->Increment(3);
  TB_ASSERT_OK_AND_ASSIGN(HistogramFamily * h,
                          r.AddHistogram("tb_latency_seconds", "Latency.", {}, {0.001, 0.25}));
  h->WithLabels({})->Observe(0.001);
  h->WithLabels({})->Observe(0.5);
  TB_ASSERT_OK_AND_ASSIGN(GaugeFamily * g, r.AddGauge("tb_peers", "Peers up."));
  g->WithLabels({})->Set(2);
  EXPECT_EQ(r.Render(),
            "# HELP tb_events_total Events.\\nAll of them \\\\ each.\n"
            "# TYPE tb_events_total counter\n"
            "tb_events_total{peer=\"440305\",reason=\"bad \\\"sig\\\"\\\\\\n\"} 3\n"
            "# HELP tb_latency_seconds Latency.\n"
            "# TYPE tb_latency_seconds histogram\n"
            "tb_latency_seconds_bucket{le=\"0.001\"} 1\n"
            "tb_latency_seconds_bucket{le=\"0.25\"} 1\n"
            "tb_latency_seconds_bucket{le=\"+Inf\"} 2\n"
            "tb_latency_seconds_sum 0.501\n"
            "tb_latency_seconds_count 2\n"
            "# HELP tb_peers Peers up.\n"
            "# TYPE tb_peers gauge\n"
            "tb_peers 2\n");
}

TEST(MetricsTest, RenderedTextParsesStrictlyAndRoundTrips) {
  Registry r;
  TB_ASSERT_OK_AND_ASSIGN(CounterFamily * c,
                          r.AddCounter("tb_rejected_total", "Rejected.", {"peer", "reason"}));
  const std::string odd = "quote\" backslash\\ newline\n 通办";
  c->WithLabels({"440305", odd})->Increment(7);
  c->WithLabels({"110105", "gap"})->Increment();
  TB_ASSERT_OK_AND_ASSIGN(HistogramFamily * h,
                          r.AddHistogram("tb_apply_seconds", "Apply time.", {"suite"},
                                         ExponentialBuckets(0.001, 4, 5)));
  for (double v : {0.0005, 0.003, 0.003, 0.2, 9.0}) h->WithLabels({"gm"})->Observe(v);
  h->WithLabels({"intl"});  // present, empty
  TB_ASSERT_OK_AND_ASSIGN(GaugeFamily * g, r.AddGauge("tb_skew_seconds", "Skew.", {"peer"}));
  g->WithLabels({"440305"})->Set(-0.125);
  TB_ASSERT_OK(r.AddGaugeCallback("tb_disk_bytes", "Disk.", [] { return 12345.0; }));
  TB_ASSERT_OK(r.AddGauge("tb_unused", "Never set.", {"x"}).status());

  TB_ASSERT_OK_AND_ASSIGN(std::vector<ParsedFamily> families, ParseExposition(r.Render()));
  ASSERT_EQ(families.size(), 5u);
  std::map<std::string, const ParsedFamily*> by_name;
  for (const ParsedFamily& f : families) by_name[f.name] = &f;

  const ParsedFamily& rejected = *by_name.at("tb_rejected_total");
  EXPECT_EQ(rejected.type, "counter");
  const auto* s = Find(rejected, "tb_rejected_total", {{"peer", "440305"}, {"reason", odd}});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 7);

  const ParsedFamily& apply = *by_name.at("tb_apply_seconds");
  EXPECT_EQ(apply.type, "histogram");
  // Buckets 0.001, 0.004, 0.016, 0.064, 0.256, +Inf.
  EXPECT_EQ(Find(apply, "tb_apply_seconds_bucket", {{"suite", "gm"}, {"le", "0.001"}})->value, 1);
  EXPECT_EQ(Find(apply, "tb_apply_seconds_bucket", {{"suite", "gm"}, {"le", "0.004"}})->value, 3);
  EXPECT_EQ(Find(apply, "tb_apply_seconds_bucket", {{"suite", "gm"}, {"le", "0.256"}})->value, 4);
  EXPECT_EQ(Find(apply, "tb_apply_seconds_bucket", {{"suite", "gm"}, {"le", "+Inf"}})->value, 5);
  EXPECT_EQ(Find(apply, "tb_apply_seconds_count", {{"suite", "intl"}})->value, 0);
  EXPECT_NEAR(Find(apply, "tb_apply_seconds_sum", {{"suite", "gm"}})->value, 9.2065, 1e-9);

  EXPECT_EQ(Find(*by_name.at("tb_skew_seconds"), "tb_skew_seconds", {{"peer", "440305"}})->value,
            -0.125);
  EXPECT_EQ(Find(*by_name.at("tb_disk_bytes"), "tb_disk_bytes", {})->value, 12345);
  EXPECT_TRUE(by_name.at("tb_unused")->samples.empty());
}

// The parser the tests rely on must itself refuse what the format forbids.
TEST(MetricsTest, StrictParserRefusesBadText) {
  const char* bad[] = {
      "tb_x 1\n",                                            // no TYPE
      "# TYPE tb_x counter\ntb_x 1",                         // no final newline
      "# TYPE tb_x counter\ntb_x{a=\"b} 1\n",                // open quote
      "# TYPE tb_x counter\ntb_x{a=\"\\q\"} 1\n",            // bad escape
      "# TYPE tb_x counter\ntb_x one\n",                     // bad value
      "# TYPE tb_x counter\n# TYPE tb_x counter\ntb_x 1\n",  // TYPE twice
      "# TYPE tb_x counter\ntb_x 1\ntb_x 2\n",               // duplicate sample
      "# TYPE tb_h histogram\ntb_h_bucket{le=\"1\"} 2\n"
      "tb_h_bucket{le=\"+Inf\"} 1\ntb_h_sum 1\ntb_h_count 1\n",  // not cumulative
      "# TYPE tb_h histogram\ntb_h_bucket{le=\"1\"} 1\ntb_h_sum 1\ntb_h_count 1\n",  // no +Inf
      "# TYPE 1tb counter\n1tb 1\n",                                                 // bad name
  };
  for (const char* text : bad) {
    EXPECT_FALSE(ParseExposition(text).ok()) << text;
  }
}

TEST(MetricsTest, NumbersAreShortestRoundTrip) {
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(-2.5e-9), "-2.5e-09");
  EXPECT_EQ(FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatValue(NAN), "NaN");
  EXPECT_EQ(std::strtod(FormatValue(1.0 / 3).c_str(), nullptr), 1.0 / 3);
}

TEST(MetricsTest, RegistrationErrorsNameTheMetric) {
  Registry r;
  EXPECT_EQ(r.AddCounter("1bad", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddCounter("tb_a_total", "", {"__reserved"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddCounter("tb_a_total", "", {"x", "x"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddHistogram("tb_h", "", {"le"}, {1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddHistogram("tb_h", "", {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddHistogram("tb_h", "", {}, {2, 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  TB_ASSERT_OK(r.AddGauge("tb_a", "").status());
  absl::Status dup = r.AddGauge("tb_a", "").status();
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(absl::StrContains(dup.message(), "tb_a")) << dup;
  TB_ASSERT_OK(r.AddCounter("tb_a_total", "").status());
  EXPECT_EQ(r.AddCounterCallback("tb_a_total", "", [] { return 1.0; }).code(),
            absl::StatusCode::kAlreadyExists);
  // A histogram's _count would clash with an existing metric.
  TB_ASSERT_OK(r.AddGauge("tb_b_count", "").status());
  EXPECT_EQ(r.AddHistogram("tb_b", "", {}, {1}).status().code(), absl::StatusCode::kAlreadyExists);
}

// Prometheus's naming rule, enforced at registration: a counter's name ends
// in _total, and no other type's does.
TEST(MetricsTest, OnlyCountersEndInTotal) {
  Registry r;
  absl::Status s = r.AddCounter("tb_events", "").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "counter tb_events: a counter's name ends in")) << s;
  EXPECT_EQ(r.AddCounterCallback("tb_cpu_seconds", "", [] { return 1.0; }).code(),
            absl::StatusCode::kInvalidArgument);
  s = r.AddGauge("tb_things_total", "").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "gauge tb_things_total: only a counter")) << s;
  EXPECT_EQ(r.AddGaugeCallback("tb_x_total", "", [] { return 1.0; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.AddHistogram("tb_h_total", "", {}, {1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A counter read by callback, and a total copied from elsewhere.
  TB_ASSERT_OK(r.AddCounterCallback("tb_cpu_seconds_total", "CPU.", [] { return 1.5; }));
  TB_ASSERT_OK_AND_ASSIGN(CounterFamily * c, r.AddCounter("tb_applied_total", "", {"peer"}));
  c->WithLabels({"440305"})->SetTotal(41);
  EXPECT_EQ(r.Render(),
            "# HELP tb_applied_total \n"
            "# TYPE tb_applied_total counter\n"
            "tb_applied_total{peer=\"440305\"} 41\n"
            "# HELP tb_cpu_seconds_total CPU.\n"
            "# TYPE tb_cpu_seconds_total counter\n"
            "tb_cpu_seconds_total 1.5\n");
}

// /proc/<pid>/stat with a command name holding spaces and a parenthesis:
// fields count from the last ')'.
TEST(ProcessMetricsTest, ParsesProcStat) {
  const std::string stat =
      "4242 (tong ban) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 7 0 "
      "360000 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
  const std::string proc_stat = "cpu  1 2 3\nbtime 1767225600\nprocesses 99\n";
  const ProcessSample s = ParseProcStat(stat, proc_stat, /*ticks=*/100, /*page=*/4096);
  ASSERT_TRUE(s.cpu_seconds.has_value());
  EXPECT_EQ(*s.cpu_seconds, 4.0);  // (250 + 150) / 100
  EXPECT_EQ(s.threads, 7);
  EXPECT_EQ(s.start_time_seconds, 1767225600 + 3600);  // 360000 ticks after boot
  EXPECT_EQ(s.virtual_bytes, 104857600);
  EXPECT_EQ(s.resident_bytes, 2560.0 * 4096);
  // Garbage gives no values rather than wrong ones.
  const ProcessSample none = ParseProcStat("garbage", proc_stat, 100, 4096);
  EXPECT_FALSE(none.cpu_seconds.has_value());
  EXPECT_FALSE(none.resident_bytes.has_value());
}

TEST(ProcessMetricsTest, ReadsThisProcess) {
  const ProcessSample s = ReadProcess();
  ASSERT_TRUE(s.resident_bytes.has_value());
  EXPECT_GT(*s.resident_bytes, 1 << 20);
  ASSERT_TRUE(s.open_fds.has_value());
  EXPECT_GE(*s.open_fds, 3);  // stdin, stdout, stderr at least
  ASSERT_TRUE(s.threads.has_value());
  EXPECT_GE(*s.threads, 1);
  ASSERT_TRUE(s.start_time_seconds.has_value());
  const double now = absl::ToUnixSeconds(absl::Now());
  EXPECT_LE(*s.start_time_seconds, now + 1);
  EXPECT_GT(*s.start_time_seconds, now - 3600);
  Registry r;
  TB_ASSERT_OK(RegisterProcessMetrics(&r));
  TB_ASSERT_OK_AND_ASSIGN(std::vector<ParsedFamily> families, ParseExposition(r.Render()));
  std::map<std::string, std::string> types;
  for (const ParsedFamily& f : families) types[f.name] = f.type;
  EXPECT_EQ(types["process_cpu_seconds_total"], "counter");
  EXPECT_EQ(types["process_resident_memory_bytes"], "gauge");
  EXPECT_EQ(types["process_open_fds"], "gauge");
  EXPECT_EQ(types["process_max_fds"], "gauge");
  EXPECT_EQ(types["process_start_time_seconds"], "gauge");
}

TEST(MetricsDeathTest, WrongLabelCountIsABug) {
  Registry r;
  auto family = r.AddCounter("tb_c_total", "", {"peer"});
  ASSERT_TRUE(family.ok());
  EXPECT_DEATH((*family)->WithLabels({"a", "b"}), "tb_c_total has 1 labels, WithLabels got 2");
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  Registry r;
  TB_ASSERT_OK_AND_ASSIGN(CounterFamily * c, r.AddCounter("tb_n_total", "", {"t"}));
  TB_ASSERT_OK_AND_ASSIGN(HistogramFamily * h, r.AddHistogram("tb_v", "", {}, {0.5}));
  constexpr int kThreads = 4, kEach = 50000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter* mine = c->WithLabels({t % 2 == 0 ? "even" : "odd"});
      Histogram* hist = h->WithLabels({});
      for (int i = 0; i < kEach; ++i) {
        mine->Increment();
        hist->Observe(1);
      }
    });
  }
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(ParseExposition(r.Render()).ok());
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(c->WithLabels({"even"})->value() + c->WithLabels({"odd"})->value(),
            uint64_t{kThreads * kEach});
  const Histogram::Snapshot s = h->WithLabels({})->Read();
  EXPECT_EQ(s.count, uint64_t{kThreads * kEach});
  EXPECT_EQ(s.sum, double{kThreads * kEach});
}

}  // namespace
}  // namespace tongban::metrics
