// tongband: the node daemon.
//
//   tongband --config /etc/tongban/tongband.conf
//   tongband --config FILE --check-config     checks the file and exits
//   tongband --version
//   tongband backup-tool ...                  tongbanctl's offline backup
//                                             commands (daemon/backup_tool.h)
//
// Runs until SIGTERM or SIGINT, then stops gracefully (node/node.h). Under
// systemd (Type=notify) it reports READY=1 once the peer port listens and
// STOPPING=1 when it begins to stop. Logs go to stderr, one structured line
// each, with no personal data.
//
// When the store stopped on a full disk and space has returned
// (node/node.h, Disk space), it restarts the node within the process: the
// surfaces close, the store reopens, and everything listens again, on the
// same ports, without the operator. A start that fails then is retried
// every 10 s until it succeeds or a stop signal comes.
//
// Exit codes: 0 stopped cleanly or the config is valid; 1 failed to start or
// run; 2 bad command line or configuration.
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/lsan_suppressions.h"
#include "common/version.h"
#include "daemon/backup_tool.h"
#include "daemon/check_config.h"
#include "daemon/daemon.h"
#include "node/config.h"

namespace {

constexpr char kUsage[] =
    "Usage: tongband --config FILE [--check-config [--user NAME]]\n"
    "       tongband --version\n"
    "\n"
    "Runs a Tongban node: stores persons and their records and syncs signed\n"
    "change events with the federation's peers over mutual TLS.\n"
    "\n"
    "  --config FILE     the configuration (tongband.conf(5))\n"
    "  --check-config    check the configuration and every file it names, as the\n"
    "                    daemon would open them, and exit\n"
    "  --user NAME       with --check-config run by root: check as this user\n"
    "                    (default: tongban, the unit's User=, when that user exists)\n"
    "  --version         print the version and the commit it was built from\n"
    "  backup-tool ...   tongbanctl's offline backup commands (backup list, backup\n"
    "                    verify, restore) run here; see tongbanctl backup --help\n"
    "\n"
    "Example:\n"
    "  tongband --config /etc/tongban/tongband.conf\n";

// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET.
void Notify(const char* state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t len = std::strlen(path);
  if (len >= sizeof(addr.sun_path)) return;
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ::sendto(fd, state, std::strlen(state), 0, reinterpret_cast<sockaddr*>(&addr),
           static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  ::close(fd);
}

// Checks the files `config` names (daemon/check_config.h) as the current
// user, prints the verdict and returns the exit code.
int CheckFiles(const std::string& path, const tongban::node::Config& config) {
  const passwd* me = getpwuid(geteuid());
  const std::string user = me == nullptr ? std::to_string(geteuid()) : me->pw_name;
  const std::vector<absl::Status> problems = tongban::daemon::CheckConfigFiles(config);
  if (problems.empty()) {
    std::cout << path << ": OK (node " << config.code << ", "
              << tongban::node::NodeRoleName(config.role) << "); every file it names opens as user "
              << user << "\n";
    return 0;
  }
  std::cerr << "tongband: " << path << ": user " << user << " (as the daemon) cannot use "
            << problems.size() << (problems.size() == 1 ? " file" : " files") << " it names:\n";
  for (const absl::Status& s : problems) std::cerr << "  " << s.ToString() << "\n";
  return 2;
}

// Runs CheckFiles in a child process as `user` (root only), so that file
// permissions are those the daemon will meet.
int CheckFilesAs(const std::string& user, const std::string& path,
                 const tongban::node::Config& config) {
  const passwd* pw = getpwnam(user.c_str());
  if (pw == nullptr) {
    std::cerr << "tongband: --user " << user << ": no such user\n";
    return 2;
  }
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  std::cout.flush();
  const pid_t child = fork();
  if (child < 0) {
    std::cerr << "tongband: cannot fork to check as user " << user << "\n";
    return 1;
  }
  if (child == 0) {
    if (initgroups(user.c_str(), gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
      std::cerr << "tongband: cannot become user " << user << "\n";
      _exit(1);
    }
    const int code = CheckFiles(path, config);
    std::cout.flush();
    std::cerr.flush();
    _exit(code);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

// Waits for a stop signal, which it returns; meanwhile restarts the node
// whenever it asks to be (node/node.h, WantsRestart). `node` is null only
// while a restart's start keeps failing.
int RunUntilStopped(const tongban::node::Config& config, const sigset_t* stop_signals,
                    std::unique_ptr<tongban::daemon::Daemon>& node) {
  absl::Duration wait = absl::Seconds(1);
  for (;;) {
    const timespec timeout = absl::ToTimespec(wait);
    const int signal_number = sigtimedwait(stop_signals, nullptr, &timeout);
    if (signal_number > 0) return signal_number;
    if (node != nullptr && !node->node().WantsRestart()) continue;
    if (node != nullptr) {
      TB_LOG(WARNING) << "restarting the node to reopen its store";
      Notify("STATUS=restarting to reopen the store");
      node->Stop();
      node.reset();
    }
    absl::StatusOr<std::unique_ptr<tongban::daemon::Daemon>> started =
        tongban::daemon::Daemon::Start(config, tongban::RealClock());
    if (started.ok()) {
      node = *std::move(started);
      wait = absl::Seconds(1);
      TB_LOG(INFO) << "restarted";
      Notify("STATUS=running");
    } else {
      TB_LOG(ERROR) << "restart failed, trying again in 10 s: " << started.status();
      wait = absl::Seconds(10);
    }
  }
}

tongban::LogLevel ParseLevel(const std::string& level) {
  if (level == "debug") return tongban::LogLevel::kDebug;
  if (level == "warning") return tongban::LogLevel::kWarning;
  if (level == "error") return tongban::LogLevel::kError;
  return tongban::LogLevel::kInfo;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "backup-tool") {
    return tongban::daemon::RunBackupTool(std::vector<std::string>(argv + 2, argv + argc),
                                          std::cout, std::cerr);
  }
  std::string config_path;
  bool check_only = false;
  std::string check_user;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (arg == "--version") {
      std::cout << "tongband " << tongban::Version() << " (commit " << tongban::Commit() << ")\n";
      return 0;
    } else if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "--user" && i + 1 < argc) {
      check_user = argv[++i];
    } else {
      std::cerr << "tongband: unknown argument \"" << arg << "\" (see --help)\n";
      return 2;
    }
  }
  if (config_path.empty()) {
    std::cerr << "tongband: --config FILE is required (see --help)\n";
    return 2;
  }
  absl::StatusOr<tongban::node::Config> config = tongban::node::LoadConfig(config_path);
  if (!config.ok()) {
    std::cerr << "tongband: " << config.status().message() << "\n";
    return 2;
  }
  if (!check_user.empty() && !check_only) {
    std::cerr << "tongband: --user goes with --check-config (see --help)\n";
    return 2;
  }
  if (check_only) {
    if (geteuid() != 0) {
      const passwd* me = getpwuid(geteuid());
      if (!check_user.empty() && (me == nullptr || check_user != me->pw_name)) {
        std::cerr << "tongband: --user " << check_user << " needs root\n";
        return 2;
      }
      return CheckFiles(config_path, *config);
    }
    // Root: check as the daemon's user, whose permissions are what count.
    if (check_user.empty() && getpwnam("tongban") != nullptr) check_user = "tongban";
    if (check_user.empty() || check_user == "root") return CheckFiles(config_path, *config);
    return CheckFilesAs(check_user, config_path, *config);
  }
  tongban::SetMinLogLevel(ParseLevel(config->log_level));

  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A peer closing its socket must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<tongban::daemon::Daemon>> node =
      tongban::daemon::Daemon::Start(*config, tongban::RealClock());
  if (!node.ok()) {
    TB_LOG(ERROR) << "cannot start: " << node.status();
    std::cerr << "tongband: " << node.status().message() << "\n";
    return 1;
  }
  Notify("READY=1");
  const int signal_number = RunUntilStopped(*config, &stop_signals, *node);
  TB_LOG(INFO) << "stopping on " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  Notify("STOPPING=1");
  if (*node != nullptr) (*node)->Stop();
  return 0;
}
