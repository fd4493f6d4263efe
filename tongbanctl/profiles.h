// Connection profiles of tongbanctl, as kubectl contexts: where the node's
// Admin port is and who the operator is, saved once instead of given on
// every command. The file is $XDG_CONFIG_HOME/tongban/profiles.conf
// ($HOME/.config/tongban/profiles.conf without XDG_CONFIG_HOME), mode 0600:
//
//   # tongbanctl connection profiles
//   current = "nanshan-clerk"
//
//   [nanshan-clerk]
//   node = "127.0.0.1:7444"
//   ca = "/etc/tongban/tls/ca.crt"
//   cert = "/home/li/.config/tongban/li.wei.crt"
//   key = "/home/li/.config/tongban/li.wei.key"
//   password_file = "/home/li/.config/tongban/li.wei.password"
//   totp = "prompt"            (optional: ask for the TOTP code each time)
//
// Which profile: --profile NAME, else TONGBAN_PROFILE, else `current`. A
// setting comes from its flag, else its TONGBAN_* variable, else the
// profile (tongbanctl/admin_client.h). Paths are stored absolute.
//
// Errors name the file and line ("profiles.conf:7: unknown key \"nod\"").
//
// Thread safety: free functions and plain values.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace tongban::cli {

struct Profile {
  std::string node;
  std::string ca;
  std::string cert;
  std::string key;
  std::string password_file;
  std::string totp;  // "" or "prompt"
};

struct Profiles {
  std::string current;
  std::map<std::string, Profile> profiles;
};

// The profiles file's path (above).
std::string ProfilesPath();

// Reads `path`; an absent file is an empty Profiles.
absl::StatusOr<Profiles> ReadProfiles(const std::string& path);
// Writes `profiles` to `path` (0600; the folder is created 0700).
absl::Status WriteProfiles(const std::string& path, const Profiles& profiles);

// The profile to use: `name` (from --profile), else TONGBAN_PROFILE, else
// the file's current one; nullopt when none is chosen. kNotFound naming the
// file when the chosen profile is not in it.
absl::StatusOr<std::optional<Profile>> ChosenProfile(const std::string& name);

}  // namespace tongban::cli
