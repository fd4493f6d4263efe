// Metrics: counters, gauges and histograms with label sets, rendered in the
// Prometheus text exposition format 0.0.4 for the daemon's /metrics.
//
// Use: register a family once at start-up, look up the child for a label
// set once (WithLabels takes a lock and a hash lookup) and keep the pointer;
// updating a child is then one relaxed atomic operation, cheap enough for
// the write path. Children live as long as the Registry.
//
//   metrics::Registry registry;
//   auto* applied = *registry.AddCounter("tongban_sync_events_applied_total",
//                                        "Events applied from peers.", {"peer"});
//   metrics::Counter* from_440305 = applied->WithLabels({"440305"});
//   from_440305->Increment();
//
// Rendering (Registry::Render): families sorted by name, children sorted by
// label values; each family is
//   # HELP <name> <help, '\' and newline escaped as \\ and \n>
//   # TYPE <name> counter|gauge|histogram
//   <name>{<label>="<value, '\', '"' and newline escaped>",...} <value>
// and a histogram's samples are <name>_bucket{...,le="<bound>"} (cumulative,
// ending with le="+Inf"), <name>_sum and <name>_count. Numbers are the
// shortest text that reads back as the same double; +Inf, -Inf, NaN.
// Label values are UTF-8 and never personal data (peer codes, reasons,
// suites).
//
// Names follow Prometheus's conventions, and the Registry enforces the one
// that can be checked: a counter's name ends in "_total", and no other
// metric's does. Units go in the name, in base units and plural
// ("_seconds", "_bytes"); a count of things names the things
// ("tongban_log_events"). README "Metrics and health" lists the rule.
//
// Errors: registering an invalid metric or label name, a counter without
// "_total" (or another type with it), a duplicate name or bad histogram
// buckets is kInvalidArgument / kAlreadyExists naming it.
//
// Thread safety: everything here is safe for concurrent use; Render may run
// while children are updated (each value is read atomically; a histogram's
// _count is the sum of its buckets, so the two always agree).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace tongban::metrics {

// The Content-Type of Render()'s output.
inline constexpr absl::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

// A monotonically increasing count.
class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  // For a total counted elsewhere (a peer table, the store's persistent
  // counters) and copied here when metrics are refreshed: sets the value.
  // REQUIRES: the source never goes back (a restart may start it from 0,
  // which Prometheus's rate() reads as a counter reset).
  void SetTotal(uint64_t total) { value_.store(total, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d) { value_.fetch_add(d, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into buckets with fixed upper bounds (`le`, "less
// than or equal"), plus their sum.
class Histogram {
 public:
  // REQUIRES: `bounds` strictly increasing and finite (Registry checks).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// Bucket bounds start, start*factor, ... (`count` of them).
// REQUIRES: start > 0, factor > 1, count >= 1.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// The shortest decimal text that reads back as `v`; "+Inf", "-Inf", "NaN".
std::string FormatValue(double v);

class Registry;

// The children of one metric, one per label set.
template <typename T>
class Family {
 public:
  // The child for these label values, created on first use.
  // REQUIRES: as many values as the family has label names (a violation is a
  // bug in the caller: it aborts with a message naming the family).
  T* WithLabels(std::initializer_list<absl::string_view> values);
  T* WithLabels(absl::Span<const std::string> values);

 private:
  friend class Registry;
  Family(std::string name, std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make)
      : name_(std::move(name)), label_names_(std::move(label_names)), make_(std::move(make)) {}
  T* Child(std::vector<std::string> values);

  const std::string name_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
  // [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__"; a histogram may not
  // have a label "le", and its <name>_bucket/_sum/_count may not clash with
  // another metric. A family without labels renders its one child (0) even
  // before it is used. The returned family lives as long as the Registry.
  absl::StatusOr<CounterFamily*> AddCounter(const std::string& name, const std::string& help,
                                            std::vector<std::string> label_names = {});
  absl::StatusOr<GaugeFamily*> AddGauge(const std::string& name, const std::string& help,
                                        std::vector<std::string> label_names = {});
  // `bounds`: strictly increasing, finite, at least one (+Inf is implied).
  absl::StatusOr<HistogramFamily*> AddHistogram(const std::string& name, const std::string& help,
                                                std::vector<std::string> label_names,
                                                std::vector<double> bounds);
  // A gauge without labels whose value `read` gives at each Render (disk
  // bytes, peers connected). `read` runs on the rendering thread and must
  // not call into this Registry.
  absl::Status AddGaugeCallback(const std::string& name, const std::string& help,
                                std::function<double()> read);
  // The same for a counter (a running total kept elsewhere: CPU seconds,
  // checkpoints signed). `read` must never go back while the process runs.
  absl::Status AddCounterCallback(const std::string& name, const std::string& help,
                                  std::function<double()> read);

  // The text exposition format 0.0.4 (see the header comment).
  std::string Render() const;

 private:
  struct Entry;
  template <typename T>
  absl::StatusOr<Family<T>*> AddFamily(const std::string& name, const std::string& help,
                                       std::vector<std::string> label_names,
                                       std::function<std::unique_ptr<T>()> make);
  // Calls fn(label names, label values, child) for every child, in order.
  template <typename T, typename Fn>
  static void RenderChildren(const Family<T>& family, Fn fn);
  absl::Status Reserve(const std::string& name, const std::vector<std::string>& label_names,
                       absl::string_view type) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AddCallback(const std::string& name, const std::string& help, absl::string_view type,
                           std::function<double()> read);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> reserved_ ABSL_GUARDED_BY(mu_);  // every sample name in use
};

}  // namespace tongban::metrics
