// The standard process metrics of Prometheus's client libraries, read from
// /proc/self at each scrape (Linux only), under the names every Prometheus
// dashboard and alert already knows:
//
//   process_cpu_seconds_total       user + system CPU time
//   process_resident_memory_bytes   resident set size
//   process_virtual_memory_bytes    virtual memory size
//   process_open_fds                open file descriptors
//   process_max_fds                 the soft limit on open file descriptors
//   process_start_time_seconds      start time, seconds since the Unix epoch
//   process_threads                 threads of the process
//
// A value that cannot be read (no /proc) renders as NaN.
//
// Thread safety: the callbacks run on the scraping thread; they read only
// /proc and getrlimit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "common/metrics.h"

namespace tongban::metrics {

// What /proc/self/stat and friends say now; nullopt fields could not be read.
struct ProcessSample {
  std::optional<double> cpu_seconds;
  std::optional<double> resident_bytes;
  std::optional<double> virtual_bytes;
  std::optional<double> open_fds;
  std::optional<double> max_fds;
  std::optional<double> start_time_seconds;
  std::optional<double> threads;
};
ProcessSample ReadProcess();

// Parses the text of /proc/<pid>/stat and the btime line of /proc/stat into
// a sample (cpu, memory, start time, threads); exposed for tests. `ticks` is
// sysconf(_SC_CLK_TCK), `page` the page size.
ProcessSample ParseProcStat(const std::string& stat, const std::string& proc_stat, double ticks,
                            double page);

// Registers the metrics above in `registry`.
absl::Status RegisterProcessMetrics(Registry* registry);

}  // namespace tongban::metrics
