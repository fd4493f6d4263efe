#include "common/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace tongban::metrics {
namespace {

std::string ReadAll(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<double> CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  double n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the descriptor opendir itself holds
}

std::optional<double> MaxFds() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) {
    return std::nullopt;
  }
  return static_cast<double>(limit.rlim_cur);
}

double OrNan(const std::optional<double>& v) { return v.value_or(std::nan("")); }

}  // namespace

ProcessSample ParseProcStat(const std::string& stat, const std::string& proc_stat, double ticks,
                            double page) {
  ProcessSample s;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // the fields are counted from the last ')'. Field numbers as in proc(5).
  const size_t close = stat.rfind(')');
  if (close == std::string::npos || ticks <= 0) return s;
  const std::vector<absl::string_view> f =
      absl::StrSplit(absl::string_view(stat).substr(close + 1), ' ', absl::SkipEmpty());
  // f[0] is field 3 (state); field N is f[N - 3].
  auto field = [&f](size_t n) -> std::optional<double> {
    double v = 0;
    if (n < 3 || n - 3 >= f.size() || !absl::SimpleAtod(f[n - 3], &v)) return std::nullopt;
    return v;
  };
  const std::optional<double> utime = field(14), stime = field(15);
  if (utime && stime) s.cpu_seconds = (*utime + *stime) / ticks;
  s.threads = field(20);
  if (std::optional<double> start = field(22); start.has_value()) {
    for (absl::string_view line : absl::StrSplit(proc_stat, '\n')) {
      double btime = 0;
      if (absl::ConsumePrefix(&line, "btime ") && absl::SimpleAtod(line, &btime)) {
        s.start_time_seconds = btime + *start / ticks;
      }
    }
  }
  s.virtual_bytes = field(23);
  if (std::optional<double> rss = field(24); rss.has_value()) s.resident_bytes = *rss * page;
  return s;
}

ProcessSample ReadProcess() {
  ProcessSample s =
      ParseProcStat(ReadAll("/proc/self/stat"), ReadAll("/proc/stat"),
                    static_cast<double>(sysconf(_SC_CLK_TCK)), static_cast<double>(getpagesize()));
  s.open_fds = CountOpenFds();
  s.max_fds = MaxFds();
  return s;
}

absl::Status RegisterProcessMetrics(Registry* r) {
  TB_RETURN_IF_ERROR(r->AddCounterCallback("process_cpu_seconds_total",
                                           "Total user and system CPU time spent in seconds.",
                                           [] { return OrNan(ReadProcess().cpu_seconds); }));
  TB_RETURN_IF_ERROR(r->AddGaugeCallback("process_resident_memory_bytes",
                                         "Resident memory size in bytes.",
                                         [] { return OrNan(ReadProcess().resident_bytes); }));
  TB_RETURN_IF_ERROR(r->AddGaugeCallback("process_virtual_memory_bytes",
                                         "Virtual memory size in bytes.",
                                         [] { return OrNan(ReadProcess().virtual_bytes); }));
  TB_RETURN_IF_ERROR(r->AddGaugeCallback("process_open_fds", "Number of open file descriptors.",
                                         [] { return OrNan(CountOpenFds()); }));
  TB_RETURN_IF_ERROR(r->AddGaugeCallback("process_max_fds",
                                         "Maximum number of open file descriptors.",
                                         [] { return OrNan(MaxFds()); }));
  TB_RETURN_IF_ERROR(r->AddGaugeCallback("process_start_time_seconds",
                                         "Start time of the process since unix epoch in seconds.",
                                         [] { return OrNan(ReadProcess().start_time_seconds); }));
  TB_RETURN_IF_ERROR(r->AddGaugeCallback("process_threads", "Number of OS threads in the process.",
                                         [] { return OrNan(ReadProcess().threads); }));
  return absl::OkStatus();
}

}  // namespace tongban::metrics
