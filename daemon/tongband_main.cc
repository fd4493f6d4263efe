// tongband: the node daemon.
//
//   tongband --config /etc/tongban/tongband.conf
//   tongband --config FILE --check-config     checks the file and exits
//   tongband --version
//
// Runs until SIGTERM or SIGINT, then stops gracefully (node/node.h). Under
// systemd (Type=notify) it reports READY=1 once the peer port listens and
// STOPPING=1 when it begins to stop. Logs go to stderr, one structured line
// each, with no personal data.
//
// Exit codes: 0 stopped cleanly or the config is valid; 1 failed to start or
// run; 2 bad command line or configuration.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>

#include "common/clock.h"
#include "common/log.h"
#include "common/version.h"
#include "daemon/daemon.h"
#include "node/config.h"

namespace {

constexpr char kUsage[] =
    "Usage: tongband --config FILE [--check-config]\n"
    "\n"
    "Runs a Tongban node: stores persons and their records and syncs signed\n"
    "change events with the federation's peers over mutual TLS.\n"
    "\n"
    "  --config FILE     the configuration (tongband.conf(5))\n"
    "  --check-config    check the configuration and every file it names, as the\n"
    "                    daemon would open them, and exit\n"
    "  --version         print the version and the commit it was built from\n"
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

tongban::LogLevel ParseLevel(const std::string& level) {
  if (level == "debug") return tongban::LogLevel::kDebug;
  if (level == "warning") return tongban::LogLevel::kWarning;
  if (level == "error") return tongban::LogLevel::kError;
  return tongban::LogLevel::kInfo;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check_only = false;
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
  if (check_only) {
    std::cout << config_path << ": OK (node " << config->code << ", "
              << tongban::node::NodeRoleName(config->role) << ")\n";
    return 0;
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
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  TB_LOG(INFO) << "stopping on " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  Notify("STOPPING=1");
  (*node)->Stop();
  return 0;
}
