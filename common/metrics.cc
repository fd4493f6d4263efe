#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <type_traits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tongban::metrics {
namespace {

bool IsNameChar(char c, bool first, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
         (!first && c >= '0' && c <= '9');
}

bool ValidName(absl::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, colon)) return false;
  }
  return true;
}

// `s` with '\', newline (and with `quote`, '"') escaped as the format asks.
void AppendEscaped(std::string* out, absl::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (quote && c == '"') {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

// {a="x",b="y"[,le="bound"]}, or nothing when there are no labels at all.
void AppendLabels(std::string* out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, absl::string_view le = {}) {
  if (names.empty() && le.empty()) return;
  out->push_back('{');
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out->push_back(',');
    absl::StrAppend(out, names[i], "=\"");
    AppendEscaped(out, values[i], /*quote=*/true);
    out->push_back('"');
  }
  if (!le.empty()) absl::StrAppend(out, names.empty() ? "" : ",", "le=\"", le, "\"");
  out->push_back('}');
}

void AppendSample(std::string* out, absl::string_view name,
                  const std::vector<std::string>& label_names,
                  const std::vector<std::string>& values, absl::string_view value,
                  absl::string_view le = {}) {
  out->append(name.data(), name.size());
  AppendLabels(out, label_names, values, le);
  absl::StrAppend(out, " ", value, "\n");
}

}  // namespace

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  for (int i = 0; i < count; ++i, start *= factor) out.push_back(start);
  return out;
}

// --- Histogram ---

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::Observe(double v) {
  // NaN belongs to no finite bucket; it counts under +Inf.
  const size_t i = std::isnan(v)
                       ? bounds_.size()
                       : std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.bounds = bounds_;
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(total);
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// --- Family ---

template <typename T>
T* Family<T>::Child(std::vector<std::string> values) {
  if (values.size() != label_names_.size()) {
    std::fprintf(stderr, "metrics: %s has %zu labels, WithLabels got %zu values\n", name_.c_str(),
                 label_names_.size(), values.size());
    std::abort();
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<T>& child = children_[std::move(values)];
  if (child == nullptr) child = make_();
  return child.get();
}

template <typename T>
T* Family<T>::WithLabels(std::initializer_list<absl::string_view> values) {
  return Child(std::vector<std::string>(values.begin(), values.end()));
}

template <typename T>
T* Family<T>::WithLabels(absl::Span<const std::string> values) {
  return Child(std::vector<std::string>(values.begin(), values.end()));
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// --- Registry ---

struct Registry::Entry {
  std::string help;
  absl::string_view type;  // "counter", "gauge", "histogram"
  std::unique_ptr<CounterFamily> counters;
  std::unique_ptr<GaugeFamily> gauges;
  std::unique_ptr<HistogramFamily> histograms;
  std::function<double()> read;  // callback gauges and counters
};

Registry::Registry() = default;
Registry::~Registry() = default;

absl::Status Registry::Reserve(const std::string& name, const std::vector<std::string>& label_names,
                               absl::string_view type) {
  const bool histogram = type == "histogram";
  if (!ValidName(name, /*colon=*/true)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric name \"", name, "\" does not match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  // Prometheus's naming rule: a counter, and only a counter, ends in _total.
  const bool total = absl::EndsWith(name, "_total");
  if (type == "counter" && !total) {
    return absl::InvalidArgumentError(
        absl::StrCat("counter ", name, ": a counter's name ends in \"_total\""));
  }
  if (type != "counter" && total) {
    return absl::InvalidArgumentError(
        absl::StrCat(type, " ", name, ": only a counter's name ends in \"_total\""));
  }
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!ValidName(label, /*colon=*/false) || label.rfind("__", 0) == 0 ||
        (histogram && label == "le")) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric ", name, ": label name \"", label,
                       "\" must match [a-zA-Z_][a-zA-Z0-9_]*, not start with \"__\"",
                       histogram ? " and not be \"le\" in a histogram" : ""));
    }
    if (std::find(label_names.begin(), label_names.begin() + i, label) != label_names.begin() + i) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric ", name, ": label \"", label, "\" named twice"));
    }
  }
  std::vector<std::string> names = {name};
  if (histogram) {
    for (const char* suffix : {"_bucket", "_sum", "_count"}) names.push_back(name + suffix);
  }
  for (const std::string& n : names) {
    if (std::find(reserved_.begin(), reserved_.end(), n) != reserved_.end()) {
      return absl::AlreadyExistsError(absl::StrCat("metric ", n, " is already registered"));
    }
  }
  reserved_.insert(reserved_.end(), names.begin(), names.end());
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<Family<T>*> Registry::AddFamily(const std::string& name, const std::string& help,
                                               std::vector<std::string> label_names,
                                               std::function<std::unique_ptr<T>()> make) {
  constexpr absl::string_view kType = std::is_same_v<T, Counter> ? "counter"
                                      : std::is_same_v<T, Gauge> ? "gauge"
                                                                 : "histogram";
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Reserve(name, label_names, kType); !s.ok()) return s;
  auto entry = std::make_unique<Entry>();
  entry->help = help;
  const bool single = label_names.empty();
  auto family =
      std::unique_ptr<Family<T>>(new Family<T>(name, std::move(label_names), std::move(make)));
  Family<T>* out = family.get();
  if (single) out->WithLabels({});
  if constexpr (std::is_same_v<T, Counter>) {
    entry->type = "counter";
    entry->counters = std::move(family);
  } else if constexpr (std::is_same_v<T, Gauge>) {
    entry->type = "gauge";
    entry->gauges = std::move(family);
  } else {
    entry->type = "histogram";
    entry->histograms = std::move(family);
  }
  entries_[name] = std::move(entry);
  return out;
}

absl::StatusOr<CounterFamily*> Registry::AddCounter(const std::string& name,
                                                    const std::string& help,
                                                    std::vector<std::string> label_names) {
  return AddFamily<Counter>(name, help, std::move(label_names),
                            [] { return std::make_unique<Counter>(); });
}

absl::StatusOr<GaugeFamily*> Registry::AddGauge(const std::string& name, const std::string& help,
                                                std::vector<std::string> label_names) {
  return AddFamily<Gauge>(name, help, std::move(label_names),
                          [] { return std::make_unique<Gauge>(); });
}

absl::StatusOr<HistogramFamily*> Registry::AddHistogram(const std::string& name,
                                                        const std::string& help,
                                                        std::vector<std::string> label_names,
                                                        std::vector<double> bounds) {
  if (bounds.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("histogram ", name, ": no buckets"));
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat("histogram ", name, ": bucket bound ",
                                                     FormatValue(bounds[i]),
                                                     " is not finite and above the one before it"));
    }
  }
  return AddFamily<Histogram>(name, help, std::move(label_names),
                              [bounds] { return std::make_unique<Histogram>(bounds); });
}

absl::Status Registry::AddCallback(const std::string& name, const std::string& help,
                                   absl::string_view type, std::function<double()> read) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Reserve(name, {}, type); !s.ok()) return s;
  auto entry = std::make_unique<Entry>();
  entry->help = help;
  entry->type = type;
  entry->read = std::move(read);
  entries_[name] = std::move(entry);
  return absl::OkStatus();
}

absl::Status Registry::AddGaugeCallback(const std::string& name, const std::string& help,
                                        std::function<double()> read) {
  return AddCallback(name, help, "gauge", std::move(read));
}

absl::Status Registry::AddCounterCallback(const std::string& name, const std::string& help,
                                          std::function<double()> read) {
  return AddCallback(name, help, "counter", std::move(read));
}

template <typename T, typename Fn>
void Registry::RenderChildren(const Family<T>& family, Fn fn) {
  absl::MutexLock lock(&family.mu_);
  for (const auto& [values, child] : family.children_) fn(family.label_names_, values, *child);
}

std::string Registry::Render() const {
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& named : entries_) {
    // Not a structured binding: the lambdas below capture the name, which
    // clang 14 (the thread-safety check) refuses for a binding.
    const std::string& name = named.first;
    const auto& entry = named.second;
    absl::StrAppend(&out, "# HELP ", name, " ");
    AppendEscaped(&out, entry->help, /*quote=*/false);
    absl::StrAppend(&out, "\n# TYPE ", name, " ", entry->type, "\n");
    if (entry->read) {
      AppendSample(&out, name, {}, {}, FormatValue(entry->read()));
    } else if (entry->counters != nullptr) {
      RenderChildren(*entry->counters,
                     [&](const auto& labels, const auto& values, const Counter& c) {
                       AppendSample(&out, name, labels, values, absl::StrCat(c.value()));
                     });
    } else if (entry->gauges != nullptr) {
      RenderChildren(*entry->gauges, [&](const auto& labels, const auto& values, const Gauge& g) {
        AppendSample(&out, name, labels, values, FormatValue(g.value()));
      });
    } else {
      RenderChildren(
          *entry->histograms, [&](const auto& labels, const auto& values, const Histogram& h) {
            const Histogram::Snapshot s = h.Read();
            for (size_t i = 0; i < s.cumulative.size(); ++i) {
              AppendSample(&out, name + "_bucket", labels, values, absl::StrCat(s.cumulative[i]),
                           i < s.bounds.size() ? FormatValue(s.bounds[i]) : "+Inf");
            }
            AppendSample(&out, name + "_sum", labels, values, FormatValue(s.sum));
            AppendSample(&out, name + "_count", labels, values, absl::StrCat(s.count));
          });
    }
  }
  return out;
}

}  // namespace tongban::metrics
