// ImportJobs: CSV imports started from the console's import page. The file
// comes up whole in one request (at most kMaxImportBytes); a job thread
// reads it with the same reader as tongbanctl import
// (workflows/import_csv.h) and writes it through AdminApi::Import in
// batches of kBatchRows (the same role check and one audit entry per
// batch), while the page polls Progress for its progress bar. The findings
// (rejected and flagged rows, file,line,column,reason) can be downloaded
// when the job ends.
//
// Each operator has at most one job at a time; a finished job is kept
// until that operator starts the next one. Jobs are named by a random id
// that travels in request bodies.
//
// Thread safety: safe for concurrent use. The destructor stops every job
// between batches and joins its thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "admin/admin.h"

namespace tongban::console {

struct ImportProgress {
  std::string job;
  std::string file;
  uint64_t bytes_total = 0, bytes_read = 0;
  uint64_t rows = 0, written = 0, unchanged = 0, rejected = 0, flagged = 0;
  bool done = false;
  std::string error;  // why the job stopped early, empty if it did not
};

class ImportJobs {
 public:
  static constexpr size_t kMaxImportBytes = 64 << 20;
  static constexpr int kBatchRows = 1000;

  // `api` is not owned and outlives this. `today` gives the day IDs are
  // checked against (China Standard Time).
  ImportJobs(admin::AdminApi* api, std::function<absl::CivilDay()> today);
  ~ImportJobs();

  // Starts importing `content` (the file's bytes; `encoding` "utf-8" or
  // "gb18030") as `op`. kInvalidArgument for a bad header or encoding name
  // (the reader's message, naming the column), kFailedPrecondition while
  // the operator's previous job runs, kResourceExhausted for a file over
  // kMaxImportBytes.
  absl::StatusOr<ImportProgress> Start(const admin::Operator& op, std::string file,
                                       std::string content, absl::string_view encoding);
  // The job's progress; kNotFound unless `op` started it.
  absl::StatusOr<ImportProgress> Progress(const admin::Operator& op, absl::string_view job) const;
  // The findings file (UTF-8 CSV with BOM); kNotFound as above,
  // kFailedPrecondition while the job runs.
  absl::StatusOr<std::string> Findings(const admin::Operator& op, absl::string_view job) const;

 private:
  struct Job;
  void Run(Job* job);

  admin::AdminApi* const api_;  // Not owned.
  const std::function<absl::CivilDay()> today_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // By operator name ("county/name").
  std::map<std::string, std::unique_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tongban::console
