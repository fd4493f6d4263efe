#include "node/config.h"

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crypto/key_file.h"
#include "common/duration.h"
#include "common/ids/region.h"
#include "common/status_macros.h"

namespace tongban::node {
namespace {

// A parsed right-hand side.
struct Value {
  enum Kind { kString, kInteger, kBool } kind = kString;
  std::string text;  // the string, or the literal as written
  int64_t integer = 0;
  bool boolean = false;
};

absl::string_view KindName(Value::Kind kind) {
  switch (kind) {
    case Value::kString: return "a string";
    case Value::kInteger: return "an integer";
    case Value::kBool: return "true or false";
  }
  return "?";
}

// What a setter needs to resolve paths.
struct Context {
  std::filesystem::path folder;
};

using Setter = std::function<absl::Status(const Value&, const Context&, Config&)>;

absl::Status Expect(const Value& v, Value::Kind kind) {
  if (v.kind == kind) return absl::OkStatus();
  const std::string shown = v.kind == Value::kString ? absl::StrCat("\"", v.text, "\"") : v.text;
  return absl::InvalidArgumentError(
      absl::StrCat(shown, " is ", KindName(v.kind), ", expected ", KindName(kind)));
}

// Any string.
Setter Text(std::string Config::*field) {
  return [field](const Value& v, const Context&, Config& c) -> absl::Status {
    TB_RETURN_IF_ERROR(Expect(v, Value::kString));
    c.*field = v.text;
    return absl::OkStatus();
  };
}

// A file path; relative ones are taken from the config file's folder.
Setter Path(std::string Config::*field) {
  return [field](const Value& v, const Context& ctx, Config& c) -> absl::Status {
    TB_RETURN_IF_ERROR(Expect(v, Value::kString));
    if (v.text.empty()) {
      c.*field = "";
      return absl::OkStatus();
    }
    std::filesystem::path p(v.text);
    c.*field = p.is_absolute() ? p.string() : (ctx.folder / p).lexically_normal().string();
    return absl::OkStatus();
  };
}

Setter Endpoint(std::string Config::*field, bool may_be_empty) {
  return [field, may_be_empty](const Value& v, const Context&, Config& c) -> absl::Status {
    TB_RETURN_IF_ERROR(Expect(v, Value::kString));
    if (v.text.empty() && may_be_empty) {
      c.*field = "";
      return absl::OkStatus();
    }
    const size_t colon = v.text.rfind(':');
    int port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(v.text.substr(colon + 1), &port) || port < 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", v.text, "\" is not host:port (e.g. \"0.0.0.0:7443\")"));
    }
    c.*field = v.text;
    return absl::OkStatus();
  };
}

template <typename T>
Setter Integer(T Config::*field, int64_t min, int64_t max) {
  return [field, min, max](const Value& v, const Context&, Config& c) -> absl::Status {
    TB_RETURN_IF_ERROR(Expect(v, Value::kInteger));
    if (v.integer < min || v.integer > max) {
      return absl::InvalidArgumentError(
          absl::StrCat(v.integer, " is out of range [", min, ", ", max, "]"));
    }
    c.*field = static_cast<T>(v.integer);
    return absl::OkStatus();
  };
}

Setter Duration(absl::Duration Config::*field, absl::Duration min, absl::Duration max) {
  return [field, min, max](const Value& v, const Context&, Config& c) -> absl::Status {
    TB_RETURN_IF_ERROR(Expect(v, Value::kString));
    TB_ASSIGN_OR_RETURN(absl::Duration d, ParseDuration(v.text));
    if (d < min || d > max) {
      return absl::InvalidArgumentError(absl::StrCat("\"", v.text, "\" is out of range [",
                                                     absl::FormatDuration(min), ", ",
                                                     absl::FormatDuration(max), "]"));
    }
    c.*field = d;
    return absl::OkStatus();
  };
}

template <typename T>
Setter Choice(T Config::*field, std::vector<std::pair<std::string, T>> choices) {
  return [field, choices](const Value& v, const Context&, Config& c) -> absl::Status {
    TB_RETURN_IF_ERROR(Expect(v, Value::kString));
    std::string names;
    for (const auto& [name, value] : choices) {
      if (v.text == name) {
        c.*field = value;
        return absl::OkStatus();
      }
      absl::StrAppend(&names, names.empty() ? "" : ", ", name);
    }
    return absl::InvalidArgumentError(absl::StrCat("\"", v.text, "\" is not one of: ", names));
  };
}

Setter NodeCode(std::string Config::*field) {
  return [field](const Value& v, const Context&, Config& c) -> absl::Status {
    TB_RETURN_IF_ERROR(Expect(v, Value::kString));
    TB_RETURN_IF_ERROR(ids::ValidateNodeCode(v.text));
    c.*field = v.text;
    return absl::OkStatus();
  };
}

// A day count of records::DeadlineRules, in [deadlines] or [deadlines.XX0000].
absl::Status SetDays(const Value& v, uint32_t* days) {
  TB_RETURN_IF_ERROR(Expect(v, Value::kInteger));
  if (v.integer < 1 || v.integer > 365) {
    return absl::InvalidArgumentError(absl::StrCat(v.integer, " is out of range [1, 365]"));
  }
  *days = static_cast<uint32_t>(v.integer);
  return absl::OkStatus();
}

using DaysField = uint32_t records::DeadlineRules::*;
const std::map<std::string, DaysField>& DeadlineKeys() {
  static const auto* keys = new std::map<std::string, DaysField>{
      {"urgent_days", &records::DeadlineRules::urgent_days},
      {"normal_days", &records::DeadlineRules::normal_days},
      {"certificate_mismatch_days", &records::DeadlineRules::certificate_mismatch_days},
      {"notice_days", &records::DeadlineRules::notice_days},
  };
  return *keys;
}

Setter DefaultDays(DaysField field) {
  return [field](const Value& v, const Context&, Config& c) {
    return SetDays(v, &(c.deadlines.defaults.*field));
  };
}

// "deadlines.620000" -> "620000"; "" for any other section.
std::string ProvinceSection(absl::string_view section) {
  if (!absl::ConsumePrefix(&section, "deadlines.")) return "";
  return std::string(section);
}

struct Key {
  Setter set;
  bool required = false;
};

const std::map<std::string, Key>& Schema() {
  static const auto* schema = new std::map<std::string, Key>{
      {"node.code", {NodeCode(&Config::code), true}},
      {"node.role",
       {Choice<NodeRole>(&Config::role, {{"county", NodeRole::kCounty},
                                         {"province", NodeRole::kProvince},
                                         {"national", NodeRole::kNational}})}},
      {"node.suite",
       {Choice<crypto::SuiteId>(&Config::suite,
                                {{"intl", crypto::SuiteId::kIntl}, {"gm", crypto::SuiteId::kGm}})}},
      {"node.data_dir", {Path(&Config::data_dir)}},
      {"node.national", {NodeCode(&Config::national)}},
      {"federation.roster", {Path(&Config::roster), true}},
      {"federation.root_public_key", {Path(&Config::root_public_key), true}},
      {"federation.ca", {Path(&Config::ca), true}},
      {"federation.certificate", {Path(&Config::certificate), true}},
      {"federation.private_key", {Path(&Config::private_key), true}},
      {"storage.backup_dir", {Path(&Config::backup_dir)}},
      {"storage.backup_keep", {Integer(&Config::backup_keep, 0, 1000)}},
      {"storage.write_buffer_mib", {Integer(&Config::write_buffer_mib, 8, 65536)}},
      {"storage.cache_mib", {Integer(&Config::cache_mib, 1, 1 << 20)}},
      {"storage.min_free_mib", {Integer(&Config::min_free_mib, 0, 1 << 24)}},
      {"peer.listen", {Endpoint(&Config::peer_listen, false)}},
      {"peer.transport_memory_mib", {Integer(&Config::transport_memory_mib, 0, 1 << 20)}},
      {"peer.session_workers", {Integer(&Config::session_workers, 1, 256)}},
      {"admin.listen", {Endpoint(&Config::admin_listen, false)}},
      {"admin.operator_ca", {Path(&Config::operator_ca)}},
      {"admin.operators", {Path(&Config::operators)}},
      {"admin.lockout_failures", {Integer(&Config::lockout_failures, 1, 100)}},
      {"admin.lockout_period",
       {Duration(&Config::lockout_period, absl::Minutes(1), absl::Hours(24))}},
      {"metrics.listen", {Endpoint(&Config::metrics_listen, true)}},
      {"console.listen", {Endpoint(&Config::console_listen, true)}},
      {"console.assets", {Path(&Config::console_assets)}},
      {"console.javascript", {Path(&Config::console_javascript)}},
      {"console.session_idle",
       {Duration(&Config::console_session_idle, absl::Seconds(1), absl::Hours(24))}},
      {"console.session_lifetime",
       {Duration(&Config::console_session_lifetime, absl::Minutes(1), absl::Hours(24 * 7))}},
      {"console.workers", {Integer(&Config::console_workers, 2, 256)}},
      {"console.read_timeout",
       {Duration(&Config::console_read_timeout, absl::Seconds(1), absl::Minutes(1))}},
      {"console.keep_alive",
       {Duration(&Config::console_keep_alive, absl::Seconds(1), absl::Minutes(1))}},
      {"analytics.connection", {Text(&Config::analytics_connection)}},
      {"analytics.batch_size", {Integer(&Config::analytics_batch_size, 1, 100000)}},
      {"analytics.hash_partitions", {Integer(&Config::analytics_hash_partitions, 0, 64)}},
      {"analytics.poll", {Duration(&Config::analytics_poll, absl::Seconds(1), absl::Minutes(10))}},
      {"sync.credit", {Integer(&Config::credit, 1, 64)}},
      {"sync.batch_events", {Integer(&Config::batch_events, 1, 1024)}},
      {"sync.batch_bytes", {Integer(&Config::batch_bytes, 64 << 10, 1 << 20)}},
      {"sync.retry_initial",
       {Duration(&Config::retry_initial, absl::Milliseconds(10), absl::Hours(1))}},
      {"sync.retry_max", {Duration(&Config::retry_max, absl::Milliseconds(10), absl::Hours(24))}},
      {"sync.idle_close", {Duration(&Config::idle_close, absl::Seconds(1), absl::Hours(24))}},
      {"sync.retention",
       {Duration(&Config::retention, absl::Hours(24), absl::Hours(24 * 365 * 10))}},
      {"sync.max_clock_ahead",
       {Duration(&Config::max_clock_ahead, absl::Seconds(1), absl::Hours(24))}},
      {"deadlines.urgent_days", {DefaultDays(&records::DeadlineRules::urgent_days)}},
      {"deadlines.normal_days", {DefaultDays(&records::DeadlineRules::normal_days)}},
      {"deadlines.certificate_mismatch_days",
       {DefaultDays(&records::DeadlineRules::certificate_mismatch_days)}},
      {"deadlines.notice_days", {DefaultDays(&records::DeadlineRules::notice_days)}},
      {"deadlines.remind_days", {[](const Value& v, const Context&, Config& c) {
         return SetDays(v, &c.deadlines.remind_days);
       }}},
      {"log.level",
       {Choice<std::string>(
           &Config::log_level,
           {{"debug", "debug"}, {"info", "info"}, {"warning", "warning"}, {"error", "error"}})}},
  };
  return *schema;
}

// Parses the right-hand side of `key = ...` (comment already allowed after).
absl::StatusOr<Value> ParseValue(absl::string_view rest) {
  Value v;
  rest = absl::StripLeadingAsciiWhitespace(rest);
  if (rest.empty()) return absl::InvalidArgumentError("missing value after '='");
  if (rest.front() == '"') {
    std::string out;
    size_t i = 1;
    for (; i < rest.size() && rest[i] != '"'; ++i) {
      char ch = rest[i];
      if (ch == '\\') {
        if (++i == rest.size()) break;
        switch (rest[i]) {
          case '"': ch = '"'; break;
          case '\\': ch = '\\'; break;
          case 'n': ch = '\n'; break;
          case 't': ch = '\t'; break;
          default:
            return absl::InvalidArgumentError(
                absl::StrCat("unknown escape \\", std::string(1, rest[i]), " in string"));
        }
      }
      out.push_back(ch);
    }
    if (i >= rest.size()) return absl::InvalidArgumentError("string has no closing quote");
    absl::string_view after = absl::StripLeadingAsciiWhitespace(rest.substr(i + 1));
    if (!after.empty() && after.front() != '#') {
      return absl::InvalidArgumentError(absl::StrCat("unexpected text after the string: ", after));
    }
    v.kind = Value::kString;
    v.text = std::move(out);
    return v;
  }
  const size_t hash = rest.find('#');
  absl::string_view literal = absl::StripTrailingAsciiWhitespace(rest.substr(0, hash));
  v.text = std::string(literal);
  if (literal == "true" || literal == "false") {
    v.kind = Value::kBool;
    v.boolean = literal == "true";
    return v;
  }
  if (absl::SimpleAtoi(literal, &v.integer)) {
    v.kind = Value::kInteger;
    return v;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(literal, " is not a value (strings are double-quoted: \"", literal, "\")"));
}

bool IsBareKey(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

absl::Status At(const std::string& path, int line, absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(key.empty()
                                        ? absl::StrCat(path, ":", line, ": ", what)
                                        : absl::StrCat(path, ":", line, ": ", key, ": ", what));
}

// One pass over a config file: the state carried from line to line, and
// the rules applied once every line is read.
class ConfigParser {
 public:
  explicit ConfigParser(const std::string& path) : path_(path) {
    ctx_.folder = std::filesystem::path(path).parent_path();
    if (ctx_.folder.empty()) ctx_.folder = ".";
  }

  // One line of the file (1-based `line_no`), as written.
  absl::Status Line(int line_no, absl::string_view raw);
  absl::StatusOr<Config> Finish() &&;

 private:
  absl::Status SectionHeader(absl::string_view line);
  absl::Status KeyValue(absl::string_view line);
  // A key of [deadlines.XX0000].
  absl::Status ProvinceKey(const std::string& province, const std::string& name,
                           const std::string& key, absl::string_view value_text);
  absl::Status SchemaKey(const std::string& key, absl::string_view value_text);
  // The first line number in `seen_` of `key`, else of `fallback`, else 0.
  int LineOf(const std::string& key, const std::string& fallback) const;
  absl::Status CheckCrossKeyRules() const;
  absl::Status Error(absl::string_view key, absl::string_view what) const {
    return At(path_, line_no_, key, what);
  }

  const std::string& path_;
  Config config_;
  Context ctx_;
  int line_no_ = 0;
  std::string section_;
  std::set<std::string> seen_sections_;
  std::map<std::string, int> seen_;  // key -> line
  // [deadlines.XX0000]: the line of the header, and the days given there.
  std::map<std::string, int> province_lines_;
  std::map<std::string, std::map<std::string, uint32_t>> province_days_;
};

absl::Status ConfigParser::Line(int line_no, absl::string_view raw) {
  line_no_ = line_no;
  absl::string_view line = absl::StripAsciiWhitespace(raw);
  if (line.empty() || line.front() == '#') return absl::OkStatus();
  if (line.front() == '[') return SectionHeader(line);
  return KeyValue(line);
}

absl::Status ConfigParser::SectionHeader(absl::string_view line) {
  const size_t close = line.find(']');
  absl::string_view after =
      close == absl::string_view::npos ? "" : absl::StripAsciiWhitespace(line.substr(close + 1));
  if (close == absl::string_view::npos || (!after.empty() && after.front() != '#')) {
    return Error("", "a section header is [name]");
  }
  section_ = std::string(absl::StripAsciiWhitespace(line.substr(1, close - 1)));
  if (const std::string province = ProvinceSection(section_); !province.empty()) {
    if (province.size() != 6 || !absl::EndsWith(province, "0000") || province == "000000" ||
        !ids::ValidateNodeCode(province).ok()) {
      return Error("", absl::StrCat("[", section_, "]: \"", province,
                                    "\" is not a province code (e.g. [deadlines.620000])"));
    }
    if (!seen_sections_.insert(section_).second) {
      return Error("", absl::StrCat("section [", section_, "] appears twice"));
    }
    province_lines_[province] = line_no_;
    return absl::OkStatus();
  }
  bool known = false;
  for (const auto& [key, unused] : Schema()) {
    if (absl::StartsWith(key, section_ + ".")) known = true;
  }
  if (!known) {
    return Error("", absl::StrCat("unknown section [", section_,
                                  "] (known: node, federation, peer, admin, metrics, console, "
                                  "sync, deadlines, deadlines.XX0000, log)"));
  }
  if (!seen_sections_.insert(section_).second) {
    return Error("", absl::StrCat("section [", section_, "] appears twice"));
  }
  return absl::OkStatus();
}

absl::Status ConfigParser::KeyValue(absl::string_view line) {
  const size_t eq = line.find('=');
  if (eq == absl::string_view::npos) {
    return Error("", "expected key = value, [section] or # comment");
  }
  const std::string name(absl::StripAsciiWhitespace(line.substr(0, eq)));
  if (!IsBareKey(name)) {
    return Error("", absl::StrCat("\"", name, "\" is not a key name"));
  }
  if (section_.empty()) {
    return Error(name, "key outside any [section]");
  }
  const std::string key = absl::StrCat(section_, ".", name);
  if (const std::string province = ProvinceSection(section_); !province.empty()) {
    return ProvinceKey(province, name, key, line.substr(eq + 1));
  }
  return SchemaKey(key, line.substr(eq + 1));
}

absl::Status ConfigParser::ProvinceKey(const std::string& province, const std::string& name,
                                       const std::string& key, absl::string_view value_text) {
  auto field = DeadlineKeys().find(name);
  if (field == DeadlineKeys().end()) {
    return Error(key,
                 "unknown key (known: urgent_days, normal_days, certificate_mismatch_days, "
                 "notice_days)");
  }
  auto [prev, inserted] = seen_.emplace(key, line_no_);
  if (!inserted) {
    return Error(key, absl::StrCat("given twice (first on line ", prev->second, ")"));
  }
  absl::StatusOr<Value> value = ParseValue(value_text);
  if (!value.ok()) return Error(key, value.status().message());
  uint32_t days = 0;
  absl::Status set = SetDays(*value, &days);
  if (!set.ok()) return Error(key, set.message());
  province_days_[province][field->first] = days;
  return absl::OkStatus();
}

absl::Status ConfigParser::SchemaKey(const std::string& key, absl::string_view value_text) {
  auto it = Schema().find(key);
  if (it == Schema().end()) {
    std::string known;
    for (const auto& [k, unused] : Schema()) {
      if (absl::StartsWith(k, section_ + ".")) {
        absl::StrAppend(&known, known.empty() ? "" : ", ", k.substr(section_.size() + 1));
      }
    }
    return Error(key, absl::StrCat("unknown key (known in [", section_, "]: ", known, ")"));
  }
  auto [prev, inserted] = seen_.emplace(key, line_no_);
  if (!inserted) {
    return Error(key, absl::StrCat("given twice (first on line ", prev->second, ")"));
  }
  absl::StatusOr<Value> value = ParseValue(value_text);
  if (!value.ok()) return Error(key, value.status().message());
  absl::Status set = it->second.set(*value, ctx_, config_);
  if (!set.ok()) return Error(key, set.message());
  return absl::OkStatus();
}

int ConfigParser::LineOf(const std::string& key, const std::string& fallback) const {
  if (auto it = seen_.find(key); it != seen_.end()) return it->second;
  if (auto it = seen_.find(fallback); it != seen_.end()) return it->second;
  return 0;
}

// Cross-key rules, reported at the line of the key that breaks them.
absl::Status ConfigParser::CheckCrossKeyRules() const {
  const Config& config = config_;
  const NodeRole expected = config.code == config.national        ? NodeRole::kNational
                            : absl::EndsWith(config.code, "0000") ? NodeRole::kProvince
                                                                  : NodeRole::kCounty;
  if (config.role != expected) {
    return At(path_, LineOf("node.role", "node.code"), "node.role",
              absl::StrCat("node ", config.code, " is a ", NodeRoleName(expected), " node, not a ",
                           NodeRoleName(config.role), " node"));
  }
  if (config.operator_ca.empty() != config.operators.empty()) {
    return At(path_, LineOf("admin.operator_ca", "admin.operators"), "admin.operators",
              "admin.operator_ca and admin.operators go together (both or neither)");
  }
  if (!config.console_listen.empty() && config.operator_ca.empty()) {
    return At(path_, LineOf("console.listen", "console.listen"), "console.listen",
              "the console signs operators in as the Admin service does: set admin.operator_ca "
              "and admin.operators");
  }
  if (config.console_session_lifetime < config.console_session_idle) {
    return At(path_, LineOf("console.session_lifetime", "console.session_idle"),
              "console.session_lifetime", "is shorter than console.session_idle");
  }
  if (!config.analytics_connection.empty() && config.role != NodeRole::kNational) {
    return At(path_, LineOf("analytics.connection", "analytics.connection"), "analytics.connection",
              "only the national node mirrors into analytics (it holds every county's log)");
  }
  if (config.retry_max < config.retry_initial) {
    return At(path_, LineOf("sync.retry_max", "sync.retry_initial"), "sync.retry_max",
              "is shorter than sync.retry_initial");
  }
  return absl::OkStatus();
}

absl::StatusOr<Config> ConfigParser::Finish() && {
  // A province's rules start from the defaults, wherever [deadlines] is.
  for (const auto& [province, unused] : province_lines_) {
    records::DeadlineRules rules = config_.deadlines.defaults;
    for (const auto& [name, days] : province_days_[province]) rules.*DeadlineKeys().at(name) = days;
    config_.deadlines.provinces[province] = rules;
  }
  for (const auto& [key, spec] : Schema()) {
    if (spec.required && !seen_.count(key)) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": ", key, ": required, and missing"));
    }
  }
  TB_RETURN_IF_ERROR(CheckCrossKeyRules());
  if (config_.backup_dir.empty()) config_.backup_dir = config_.data_dir + "/backups";
  return std::move(config_);
}

}  // namespace

absl::string_view NodeRoleName(NodeRole role) {
  switch (role) {
    case NodeRole::kCounty: return "county";
    case NodeRole::kProvince: return "province";
    case NodeRole::kNational: return "national";
  }
  return "?";
}

absl::StatusOr<Config> ParseConfig(absl::string_view text, const std::string& path) {
  ConfigParser parser(path);
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    TB_RETURN_IF_ERROR(parser.Line(++line_no, raw));
  }
  return std::move(parser).Finish();
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  TB_ASSIGN_OR_RETURN(std::string text, crypto::ReadSmallFile(path, /*secret=*/false));
  return ParseConfig(text, path);
}

}  // namespace tongban::node
