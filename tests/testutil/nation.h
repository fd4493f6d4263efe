// A simulated nation (issue #21): a federation folder for one national node
// (the tongband binary), one real county (a node::Node) and N simulated
// counties, each with its own TLS certificate from the federation CA, its
// own signing key in the signed roster and its own log of signed events.
//
// A simulated county is not a node: its log is made ahead of time, one
// LocalNode per county in turn in a scratch folder (its events written by
// the real Writer, so its checkpoints, bodies and routing are exactly a real
// county's), read out as the contiguous batches a county sends the national
// node (sync/feed.h ReadContiguous, one batch per checkpoint, each with the
// consistency proof from the one before) and the LocalNode closed. The
// sessions that replay them are testutil::SimSessions (sim_sessions.h).
//
// The events are registrations of DOMAIN.md with valid IDs: per county, new
// persons born there (person basics, 人员基本信息) with a service record
// (服务记录) each, and every `inflow_every`-th event an inflow registration
// (流入登记) of a person whose hukou is the real county, which the Writer
// routes to the real county (its audience): the national node relays those.
//
// Thread safety: MakeNation is a free function; a Nation is a plain value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/suite.h"
#include "sync/transport.h"

namespace tongban::testutil {

struct SimCounty {
  std::string code;
  uint64_t epoch = 1;
  sync::TlsIdentity tls;
  // Serialized SyncMessages, each one contiguous Batch of the county's log
  // (epoch 1), in order from seq 1, and the last seq of each.
  std::vector<std::string> batches;
  std::vector<uint64_t> batch_end;
  // Seqs of events whose audience names the real county.
  std::vector<uint64_t> routed_to_real;
  uint64_t events() const { return batch_end.empty() ? 0 : batch_end.back(); }
};

struct NationOptions {
  crypto::SuiteId suite = crypto::SuiteId::kIntl;
  std::string dir;             // an empty folder for the federation (required)
  size_t counties = 100;       // simulated counties
  size_t batches = 1;          // batches per simulated county's log (0: no log, a key only)
  size_t batch_events = 10;    // events per batch
  size_t inflow_every = 10;    // every n-th event routed to the real county (0: none)
  int national_port = 0;       // the national node's peer port (the roster names it)
  size_t threads = 2;          // threads making the simulated logs
  size_t session_workers = 8;  // the national node's [peer] session_workers
  // Where the simulated counties' LocalNodes are made and removed: memory
  // (/dev/shm) when it is there, else `dir`.
  std::string scratch;
  std::string real_county = "620102";  // the real county's code
};

struct Nation {
  std::string national_config;  // tongband.conf of the national node
  std::string real_config;      // tongband.conf of the real county
  std::string national_data;    // the national node's data folder
  std::string target;           // "127.0.0.1:PORT" of the national node
  std::vector<SimCounty> counties;
};

// The first `n` current county-level codes of the region table (in code
// order), skipping `exclude`. Fewer if the table has fewer.
std::vector<std::string> SimCountyCodes(size_t n, const std::set<std::string>& exclude);

// A child process (the national tongband), its stdout and stderr appended
// to `log`. Stop() sends SIGTERM and waits for it; the destructor stops it.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess() { Stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  absl::Status Start(const std::vector<std::string>& argv, const std::string& log);
  // How it ended (its exit status as waitpid gives it), or -1 if not running.
  int Stop();
  int pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

 private:
  int pid_ = -1;
};

// What /proc says of a process.
struct ProcessSample {
  uint64_t rss_kb = 0;  // VmRSS
  uint64_t hwm_kb = 0;  // VmHWM
  uint64_t threads = 0;
  uint64_t cpu_ticks = 0;           // utime + stime, in clock ticks (sysconf(_SC_CLK_TCK))
  uint64_t voluntary_switches = 0;  // summed over its threads (living ones)
  uint64_t involuntary_switches = 0;
};
absl::StatusOr<ProcessSample> SampleProcess(int pid);

// The first three fields of /proc/loadavg ("0.52 0.61 0.70").
std::string LoadAverage();

// Writes the federation into options.dir and makes every simulated county's
// log. Errors name the county and step.
absl::StatusOr<Nation> MakeNation(const NationOptions& options);

}  // namespace tongban::testutil
