#include "tongbanctl/profiles.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crypto/key_file.h"

namespace tongban::cli {
namespace {

std::string Quote(absl::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// The value of `"text"`, with \" and \\ unescaped; nullopt if not quoted.
std::optional<std::string> Unquote(absl::string_view text) {
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return std::nullopt;
  std::string out;
  for (size_t i = 1; i + 1 < text.size(); ++i) {
    if (text[i] == '\\' && i + 2 < text.size()) ++i;
    out.push_back(text[i]);
  }
  return out;
}

bool ValidName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

}  // namespace

std::string ProfilesPath() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg != nullptr && xdg[0] == '/') return absl::StrCat(xdg, "/tongban/profiles.conf");
  const char* home = std::getenv("HOME");
  return absl::StrCat(home == nullptr ? "" : home, "/.config/tongban/profiles.conf");
}

absl::StatusOr<Profiles> ReadProfiles(const std::string& path) {
  Profiles out;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return out;
  absl::StatusOr<std::string> text = crypto::ReadSmallFile(path, /*secret=*/false);
  if (!text.ok()) return text.status();
  Profile* section = nullptr;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_number;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": ", what));
    };
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '[') {
      if (line.back() != ']') return error("a section is [NAME]");
      const std::string name(line.substr(1, line.size() - 2));
      if (!ValidName(name)) return error(absl::StrCat("\"", name, "\" is not a profile name"));
      if (out.profiles.count(name) != 0) return error(absl::StrCat("profile ", name, " twice"));
      section = &out.profiles[name];
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) return error("expected key = \"value\"");
    const std::string key(absl::StripAsciiWhitespace(line.substr(0, eq)));
    const std::optional<std::string> value =
        Unquote(absl::StripAsciiWhitespace(line.substr(eq + 1)));
    if (!value.has_value()) return error(absl::StrCat(key, ": the value must be in double quotes"));
    if (section == nullptr) {
      if (key != "current") return error(absl::StrCat("unknown key \"", key, "\""));
      out.current = *value;
      continue;
    }
    std::string* field = key == "node"            ? &section->node
                         : key == "ca"            ? &section->ca
                         : key == "cert"          ? &section->cert
                         : key == "key"           ? &section->key
                         : key == "password_file" ? &section->password_file
                         : key == "totp"          ? &section->totp
                                                  : nullptr;
    if (field == nullptr) return error(absl::StrCat("unknown key \"", key, "\""));
    if (key == "totp" && !value->empty() && *value != "prompt") {
      return error("totp: only \"prompt\" (a TOTP code is never stored)");
    }
    *field = *value;
  }
  if (!out.current.empty() && out.profiles.count(out.current) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": current = \"", out.current, "\" names no profile in the file"));
  }
  return out;
}

absl::Status WriteProfiles(const std::string& path, const Profiles& profiles) {
  std::string text =
      "# tongbanctl connection profiles: tongbanctl profile add|use|list|show|remove.\n"
      "# A flag or TONGBAN_* variable overrides the profile; --profile NAME or\n"
      "# TONGBAN_PROFILE chooses another than the current one.\n";
  if (!profiles.current.empty())
    absl::StrAppend(&text, "current = ", Quote(profiles.current), "\n");
  for (const auto& [name, p] : profiles.profiles) {
    absl::StrAppend(&text, "\n[", name, "]\n");
    for (const auto& [key, value] : std::vector<std::pair<const char*, const std::string*>>{
             {"node", &p.node},
             {"ca", &p.ca},
             {"cert", &p.cert},
             {"key", &p.key},
             {"password_file", &p.password_file},
             {"totp", &p.totp}}) {
      if (!value->empty()) absl::StrAppend(&text, key, " = ", Quote(*value), "\n");
    }
  }
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!std::filesystem::exists(folder, ec)) {
    std::filesystem::create_directories(folder, ec);
    if (ec) {
      return absl::ErrnoToStatus(ec.value(), absl::StrCat(folder.string(), ": cannot create"));
    }
    ::chmod(folder.c_str(), 0700);
  }
  return crypto::ReplaceFileAtomically(path, text, 0600);
}

absl::StatusOr<std::optional<Profile>> ChosenProfile(const std::string& name) {
  std::string chosen = name;
  if (chosen.empty()) {
    const char* env = std::getenv("TONGBAN_PROFILE");
    if (env != nullptr) chosen = env;
  }
  const std::string path = ProfilesPath();
  absl::StatusOr<Profiles> all = ReadProfiles(path);
  if (!all.ok()) return all.status();
  if (chosen.empty()) chosen = all->current;
  if (chosen.empty()) return std::nullopt;
  const auto it = all->profiles.find(chosen);
  if (it == all->profiles.end()) {
    return absl::NotFoundError(absl::StrCat("no profile \"", chosen, "\" in ", path,
                                            " (tongbanctl profile list; profile add)"));
  }
  return it->second;
}

}  // namespace tongban::cli
