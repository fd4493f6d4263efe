// Running programs from tests: posix_spawn with the output in files, waited
// for or not. Header-only.
//
// Thread safety: free functions.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "tests/testutil/files.h"

extern char** environ;

namespace tongban::testutil {

// Starts `argv` (the program first) with stdout to `out` and stderr to `err`
// (appended; the same file may be given twice); its pid, or -1.
inline pid_t SpawnDetached(const std::vector<std::string>& argv, const std::string& out,
                           const std::string& err) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// Runs `argv` and waits: its exit code (-1 if it did not exit), its stderr
// in `*err` and stdout in `*out` (if not null), kept meanwhile in the files
// `scratch`.out and `scratch`.err.
inline int SpawnAndWait(const std::vector<std::string>& argv, const std::string& scratch,
                        std::string* err, std::string* out = nullptr) {
  const std::string out_path = scratch + ".out";
  const std::string err_path = scratch + ".err";
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  const pid_t pid = SpawnDetached(argv, out_path, err_path);
  int status = 0;
  if (pid > 0) waitpid(pid, &status, 0);
  *err = Contents(err_path);
  if (out != nullptr) *out = Contents(out_path);
  return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace tongban::testutil
