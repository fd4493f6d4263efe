// Files that tongbanctl reads and writes besides keys and certificates: the
// roster text file (text-format tongban.v1.Roster, edited by hand and by
// `tongbanctl roster ...`) and the signed roster (binary SignedRoster).
//
// Errors name the file: a missing file is kNotFound, a malformed one
// kInvalidArgument with "PATH:LINE:COLUMN: what" for text files.
//
// Thread safety: free functions.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tongban/v1/roster.pb.h"

namespace tongban::cli {

// The whole file (at most 64 MiB).
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Replaces `path` with `content` atomically (a temporary file in the same
// folder, synced, then renamed over it), with `mode`.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content, unsigned mode);

// Creates `path` with `content`; kAlreadyExists if it exists.
absl::Status WriteNewFile(const std::string& path, absl::string_view content, unsigned mode);

// Parses a text-format Roster. Unknown fields and bad values are
// kInvalidArgument "PATH:LINE:COL: message" (1-based).
absl::StatusOr<v1::Roster> ParseRosterText(absl::string_view text, const std::string& path);
absl::StatusOr<v1::Roster> ReadRosterText(const std::string& path);

// The roster as commented text format: a header on how to edit and sign it,
// then each node with a comment line naming it. Hand-written comments are
// not kept by a rewrite.
std::string FormatRosterText(const v1::Roster& roster);
absl::Status WriteRosterText(const std::string& path, const v1::Roster& roster);

// Whether anything (even a dangling link) is at `path`.
bool Exists(const std::string& path);
// kAlreadyExists naming the first of `paths` that exists.
absl::Status RefuseExisting(const std::vector<std::string>& paths);
// Creates the folder `dir` (mode 0755) unless it exists.
absl::Status EnsureDir(const std::string& dir);

// A binary SignedRoster file; kInvalidArgument if it does not parse.
absl::StatusOr<v1::SignedRoster> ReadSignedRoster(const std::string& path);

}  // namespace tongban::cli
