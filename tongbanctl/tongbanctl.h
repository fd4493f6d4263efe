// tongbanctl: the operator's command-line tool (DESIGN.md section 9).
// Commands are "<group> <command>" (`tongbanctl roster sign ...`); each
// declares its flags, usage line and examples, so that every one has
// --help. This file holds the command table and the dispatcher; the
// commands themselves live in commands_*.cc.
//
// Exit codes (kExit*), chosen from the Status a command returns:
//   0  success
//   1  other failure (I/O, internal errors)
//   2  bad input: usage, malformed file, invalid node code, an output file
//      that already exists (kInvalidArgument, kNotFound, kAlreadyExists,
//      kOutOfRange)
//   3  refused: verification failed, a key file's permissions are unsafe,
//      the node refused the operator or refuses the work in its present
//      state, e.g. a write while appends are blocked (kPermissionDenied,
//      kUnauthenticated, kResourceExhausted, kFailedPrecondition)
// An error is one line on stderr: "tongbanctl: <command>: <what and where>".
//
// Thread safety: single-threaded.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tongbanctl/args.h"

namespace tongban::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitRefused = 3;

// Where a command writes. `out` gets results, `err` warnings and errors.
struct Io {
  std::ostream& out;
  std::ostream& err;
};

struct Command {
  std::string group;    // "roster"
  std::string name;     // "sign"
  std::string summary;  // one line for the command list
  std::string usage;    // "tongbanctl roster sign --in FILE ..."
  std::string details;  // flags and behaviour, then "Examples:" lines
  std::vector<FlagSpec> flags;
  size_t min_positional = 0;
  size_t max_positional = 0;
  std::function<absl::Status(const Args&, Io&)> run;
};

// The exit code for a command's result.
int ExitCodeFor(const absl::Status& status);

// Runs tongbanctl with `args` (argv without the program name) and returns the
// exit code.
int RunTongbanctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace tongban::cli
