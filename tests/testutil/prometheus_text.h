// A strict parser of the Prometheus text exposition format 0.0.4, for tests
// of what /metrics serves. Stricter than Prometheus where that catches our
// bugs: every sample needs a TYPE line first, a family's samples are
// contiguous, no sample repeats, and histograms are checked (le ascending,
// counts cumulative, le="+Inf" present and equal to _count).
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace tongban::testutil {

struct ParsedSample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped
  double value = 0;
};

struct ParsedFamily {
  std::string name;
  std::string help;  // unescaped
  std::string type;
  std::vector<ParsedSample> samples;
};

namespace prometheus_internal {

inline bool ValidName(absl::string_view s, bool colon) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Unescapes \\ and \n (and \" when `quoted`); anything else after '\' fails.
inline absl::StatusOr<std::string> Unescape(absl::string_view s, bool quoted) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    if (++i == s.size()) return absl::InvalidArgumentError("escape at the end");
    if (s[i] == '\\') {
      out.push_back('\\');
    } else if (s[i] == 'n') {
      out.push_back('\n');
    } else if (quoted && s[i] == '"') {
      out.push_back('"');
    } else {
      return absl::InvalidArgumentError(absl::StrCat("bad escape \\", s.substr(i, 1)));
    }
  }
  return out;
}

inline absl::StatusOr<double> ParseValue(absl::string_view s) {
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s == "NaN") return NAN;
  const std::string text(s);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || std::isnan(v) || std::isinf(v)) {
    return absl::InvalidArgumentError(absl::StrCat("bad value \"", s, "\""));
  }
  return v;
}

// name{l="v",...} value [timestamp]
inline absl::StatusOr<ParsedSample> ParseSample(absl::string_view line) {
  ParsedSample s;
  size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s.name = std::string(line.substr(0, i));
  if (!ValidName(s.name, true)) return absl::InvalidArgumentError("bad metric name");
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      size_t eq = line.find('=', i);
      if (eq == absl::string_view::npos) return absl::InvalidArgumentError("label without '='");
      const std::string label(line.substr(i, eq - i));
      if (!ValidName(label, false)) return absl::InvalidArgumentError("bad label name");
      if (eq + 1 >= line.size() || line[eq + 1] != '"') {
        return absl::InvalidArgumentError("label value not quoted");
      }
      size_t j = eq + 2;
      while (j < line.size() && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
      if (j >= line.size()) return absl::InvalidArgumentError("unterminated label value");
      absl::StatusOr<std::string> value = Unescape(line.substr(eq + 2, j - eq - 2), true);
      if (!value.ok()) return value.status();
      if (!s.labels.emplace(label, *value).second) {
        return absl::InvalidArgumentError("label repeated");
      }
      i = j + 1;
      if (i < line.size() && line[i] == ',')
        ++i;
      else if (i >= line.size() || line[i] != '}') {
        return absl::InvalidArgumentError("expected ',' or '}'");
      }
    }
  }
  if (i >= line.size() || line[i] != ' ') return absl::InvalidArgumentError("no value");
  std::vector<absl::string_view> rest = absl::StrSplit(line.substr(i + 1), ' ');
  if (rest.size() > 2) return absl::InvalidArgumentError("too many fields");
  absl::StatusOr<double> v = ParseValue(rest[0]);
  if (!v.ok()) return v.status();
  s.value = *v;
  return s;
}

inline absl::Status CheckHistogram(const ParsedFamily& f) {
  // Per label set (without le): bucket bounds and counts, sum, count.
  struct Series {
    std::vector<std::pair<double, double>> buckets;
    bool has_count = false, has_sum = false;
    double count = 0;
  };
  std::map<std::map<std::string, std::string>, Series> series;
  for (const ParsedSample& s : f.samples) {
    std::map<std::string, std::string> key = s.labels;
    if (s.name == f.name + "_bucket") {
      auto le = key.find("le");
      if (le == key.end()) return absl::InvalidArgumentError("bucket without le");
      absl::StatusOr<double> bound = ParseValue(le->second);
      if (!bound.ok()) return bound.status();
      key.erase(le);
      series[key].buckets.emplace_back(*bound, s.value);
    } else if (s.name == f.name + "_count") {
      series[key].has_count = true;
      series[key].count = s.value;
    } else if (s.name == f.name + "_sum") {
      series[key].has_sum = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("sample ", s.name, " in histogram ", f.name));
    }
  }
  for (const auto& [labels, s] : series) {
    if (s.buckets.empty() || !std::isinf(s.buckets.back().first) || !s.has_count || !s.has_sum) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram ", f.name, ": needs buckets ending in +Inf, _sum and _count"));
    }
    for (size_t i = 1; i < s.buckets.size(); ++i) {
      if (s.buckets[i].first <= s.buckets[i - 1].first ||
          s.buckets[i].second < s.buckets[i - 1].second) {
        return absl::InvalidArgumentError(
            absl::StrCat("histogram ", f.name, ": buckets not ascending and cumulative"));
      }
    }
    if (s.buckets.back().second != s.count) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram ", f.name, ": +Inf bucket differs from _count"));
    }
  }
  return absl::OkStatus();
}

}  // namespace prometheus_internal

// Parses `text`; kInvalidArgument naming the line for anything outside the
// format (or outside the stricter rules above).
inline absl::StatusOr<std::vector<ParsedFamily>> ParseExposition(absl::string_view text) {
  namespace pi = prometheus_internal;
  std::vector<ParsedFamily> out;
  if (text.empty()) return out;
  if (text.back() != '\n') return absl::InvalidArgumentError("text does not end with a newline");
  text.remove_suffix(1);
  std::set<std::string> typed, helped, seen_samples;
  std::map<std::string, std::string> help_of;
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++n;
    auto fail = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("line ", n, ": ", why, ": ", line));
    };
    if (absl::StartsWith(line, "# HELP ") || absl::StartsWith(line, "# TYPE ")) {
      const bool is_type = line[2] == 'T';
      absl::string_view rest = line.substr(7);
      const size_t sp = rest.find(' ');
      if (sp == absl::string_view::npos) return fail("no text after the name");
      const std::string name(rest.substr(0, sp));
      if (!pi::ValidName(name, true)) return fail("bad metric name");
      if (!(is_type ? typed : helped).insert(name).second) return fail("repeated");
      if (is_type) {
        const std::string type(rest.substr(sp + 1));
        if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
            type != "untyped") {
          return fail("unknown type");
        }
        ParsedFamily f;
        f.name = name;
        f.type = type;
        f.help = help_of[name];
        out.push_back(std::move(f));
      } else {
        absl::StatusOr<std::string> help = pi::Unescape(rest.substr(sp + 1), false);
        if (!help.ok()) return fail(help.status().message());
        if (typed.count(name)) return fail("HELP after TYPE is accepted but not what we write");
        help_of[name] = *help;
      }
      continue;
    }
    if (absl::StartsWith(line, "#")) continue;
    absl::StatusOr<ParsedSample> s = pi::ParseSample(line);
    if (!s.ok()) return fail(s.status().message());
    if (out.empty()) return fail("sample before any TYPE line");
    ParsedFamily& f = out.back();
    const bool belongs =
        s->name == f.name ||
        (f.type == "histogram" && (s->name == f.name + "_bucket" || s->name == f.name + "_sum" ||
                                   s->name == f.name + "_count"));
    if (!belongs) return fail(absl::StrCat("sample outside its family (current: ", f.name, ")"));
    std::string id = s->name;
    for (const auto& [k, v] : s->labels) absl::StrAppend(&id, "\x01", k, "\x02", v);
    if (!seen_samples.insert(id).second) return fail("sample repeated");
    f.samples.push_back(*std::move(s));
  }
  for (const ParsedFamily& f : out) {
    if (f.type == "histogram") {
      absl::Status s = pi::CheckHistogram(f);
      if (!s.ok()) return s;
    }
  }
  return out;
}

}  // namespace tongban::testutil
