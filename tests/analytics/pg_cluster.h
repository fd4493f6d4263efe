// PgCluster: a throw-away PostgreSQL 15 cluster for tests, from Debian's
// postgresql package (tools/install-deps.sh): initdb into a folder of the
// test's own, a Unix socket in that folder and no TCP listener, the port
// number (which names the socket) probed free; stopped by the destructor.
// As root, the server runs as the `postgres` user (initdb refuses root),
// and the folder is handed to it.
#pragma once

#include <fcntl.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/testutil/files.h"
#include "tests/testutil/ports.h"

extern char** environ;

namespace tongban::testutil {

inline constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin";

class PgCluster {
 public:
  // Makes and starts a cluster in `dir` (an empty folder of the test).
  static absl::StatusOr<std::unique_ptr<PgCluster>> Start(const std::string& dir) {
    if (!std::filesystem::exists(absl::StrCat(kPgBin, "/initdb"))) {
      return absl::FailedPreconditionError(
          absl::StrCat("no ", kPgBin, "/initdb: apt-get install postgresql"));
    }
    std::unique_ptr<PgCluster> c(new PgCluster(dir));
    if (geteuid() == 0) {
      const passwd* pw = getpwnam("postgres");
      if (pw == nullptr) return absl::FailedPreconditionError("no postgres user");
      if (chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        return absl::InternalError(absl::StrCat("chown ", dir));
      }
      c->as_postgres_ = true;
    }
    c->port_ = FreePortBlock(1);
    if (c->port_ <= 0) return absl::UnavailableError("no free port number");
    if (absl::Status s = c->Run({absl::StrCat(kPgBin, "/initdb"), "-D", c->data(), "-U", "postgres",
                                 "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions"});
        !s.ok()) {
      return s;
    }
    WriteFile(c->data() + "/postgresql.auto.conf",
              absl::StrCat("listen_addresses = ''\nunix_socket_directories = '", dir,
                           "'\nport = ", c->port_,
                           "\nfsync = off\nlogging_collector = off\nmax_connections = 20\n"),
              0600);
    if (c->as_postgres_) {
      const passwd* pw = getpwnam("postgres");
      (void)chown((c->data() + "/postgresql.auto.conf").c_str(), pw->pw_uid, pw->pw_gid);
    }
    if (absl::Status s = c->StartServer(); !s.ok()) return s;
    return c;
  }

  ~PgCluster() {
    if (running_) (void)StopServer(/*immediate=*/true);
  }

  // Stops the server: "fast" (sessions are ended, transactions roll back)
  // or "immediate" (like a crash: recovery at the next start).
  absl::Status StopServer(bool immediate) {
    absl::Status s = Run({absl::StrCat(kPgBin, "/pg_ctl"), "-D", data(), "-m",
                          immediate ? "immediate" : "fast", "-w", "-t", "60", "stop"});
    if (s.ok()) running_ = false;
    return s;
  }
  absl::Status StartServer() {
    absl::Status s = Run({absl::StrCat(kPgBin, "/pg_ctl"), "-D", data(), "-l", dir_ + "/server.log",
                          "-w", "-t", "60", "start"});
    if (s.ok()) running_ = true;
    return s;
  }

  std::string conninfo() const {
    return absl::StrCat("host=", dir_, " port=", port_, " dbname=postgres user=postgres");
  }

 private:
  explicit PgCluster(std::string dir) : dir_(std::move(dir)) {}
  std::string data() const { return dir_ + "/data"; }

  // Runs argv (as postgres when root) and waits; its output goes to
  // dir/command.log, quoted in the error.
  absl::Status Run(std::vector<std::string> argv) const {
    if (as_postgres_) argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
    const std::string log = dir_ + "/command.log";
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid = 0;
    const int err = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (err != 0) return absl::InternalError(absl::StrCat("cannot run ", argv[0]));
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
    return absl::InternalError(absl::StrCat(
        absl::StrJoin(argv, " "), " failed:\n", Contents(log), "\nserver log:\n",
        std::filesystem::exists(dir_ + "/server.log") ? Contents(dir_ + "/server.log") : ""));
  }

  const std::string dir_;
  int port_ = 0;
  bool as_postgres_ = false;
  bool running_ = false;
};

}  // namespace tongban::testutil
