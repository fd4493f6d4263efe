#include "console/import_jobs.h"

#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/crypto/suite.h"
#include "common/hex.h"
#include "common/status_macros.h"
#include "common/thread.h"
#include "workflows/csv.h"
#include "workflows/import_csv.h"

namespace tongban::console {

struct ImportJobs::Job {
  // A copy of the progress.
  ImportProgress Snapshot() const {
    absl::MutexLock lock(&mu);
    return progress;
  }

  admin::Operator op;
  std::string content;
  workflows::Encoding encoding;
  std::unique_ptr<workflows::ImportReader> reader;
  std::istringstream in;
  // CSV lines; written by the job's thread only, read once progress.done
  // is seen (set under `mu` after the last line).
  std::string findings;
  // Its own lock: an annotation in Job cannot name ImportJobs::mu_ in a way
  // clang's analysis checks (make thread-safety). Taken after
  // ImportJobs::mu_ when both are held.
  mutable absl::Mutex mu;
  ImportProgress progress ABSL_GUARDED_BY(mu);
  std::thread thread;
};

namespace {

std::string Owner(const admin::Operator& op) { return absl::StrCat(op.county, "/", op.name); }

}  // namespace

ImportJobs::ImportJobs(admin::AdminApi* api, std::function<absl::CivilDay()> today)
    : api_(api), today_(std::move(today)) {}

ImportJobs::~ImportJobs() {
  std::map<std::string, std::unique_ptr<Job>> jobs;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    jobs.swap(jobs_);
  }
  for (auto& [unused, job] : jobs) {
    if (job->thread.joinable()) job->thread.join();
  }
}

absl::StatusOr<ImportProgress> ImportJobs::Start(const admin::Operator& op, std::string file,
                                                 std::string content, absl::string_view encoding) {
  if (content.size() > kMaxImportBytes) {
    return absl::ResourceExhaustedError(absl::StrCat("file: ", content.size(), " bytes, at most ",
                                                     kMaxImportBytes, " in one import"));
  }
  absl::StatusOr<workflows::Encoding> enc = workflows::ParseEncoding(encoding);
  if (!enc.ok()) return Prefixed("encoding", enc.status());
  absl::StatusOr<std::string> id = crypto::RandomBytes(16);
  if (!id.ok()) return absl::InternalError("no random bytes for an import job");
  auto job = std::make_unique<Job>();
  job->op = op;
  job->content = std::move(content);
  job->encoding = *enc;
  job->in.str(job->content);
  absl::StatusOr<std::unique_ptr<workflows::ImportReader>> reader =
      workflows::ImportReader::Open(file, &job->in, *enc, today_());
  if (!reader.ok()) return reader.status();
  job->reader = *std::move(reader);
  std::unique_ptr<Job> finished;  // the operator's previous job, joined unlocked
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(Owner(op));
    if (it != jobs_.end()) {
      const ImportProgress previous = it->second->Snapshot();
      if (!previous.done) {
        return absl::FailedPreconditionError(
            absl::StrCat("your import of ", previous.file, " is still running"));
      }
      finished = std::move(it->second);
      jobs_.erase(it);
    }
  }
  if (finished != nullptr && finished->thread.joinable()) finished->thread.join();
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("the console is stopping");
  if (jobs_.count(Owner(op))) {
    return absl::FailedPreconditionError("your other import has just started");
  }
  ImportProgress started;
  {
    absl::MutexLock job_lock(&job->mu);
    job->progress.job = HexEncode(*id);
    job->progress.file = std::move(file);
    job->progress.bytes_total = job->content.size();
    started = job->progress;
  }
  Job* raw = job.get();
  jobs_[Owner(op)] = std::move(job);
  absl::StatusOr<std::thread> thread = StartThread("tb-import-job", [this, raw] { Run(raw); });
  if (!thread.ok()) {
    jobs_.erase(Owner(op));  // never ran: nothing to report or join
    return thread.status();
  }
  raw->thread = *std::move(thread);
  return started;
}

void ImportJobs::Run(Job* job) {
  const std::string file = job->Snapshot().file;
  v1::ImportRequest request;
  std::vector<std::string> line_findings;
  std::vector<uint64_t> lines;
  auto flush = [&]() -> absl::Status {
    if (request.rows_size() == 0) return absl::OkStatus();
    request.set_file(file);
    request.set_last_line(lines.back());
    absl::StatusOr<v1::ImportReply> reply = api_->Import(job->op, request);
    if (!reply.ok()) return reply.status();
    for (int i = 0; i < reply->results_size(); ++i) {
      if (reply->results(i).outcome() != v1::IMPORT_OUTCOME_REJECTED) continue;
      absl::StrAppend(
          &job->findings,
          workflows::FindingCsvLine(
              {file, lines[i], "",
               absl::StrCat("rejected by the node: ", reply->results(i).error()), true}),
          "\r\n");
    }
    absl::MutexLock lock(&job->mu);
    job->progress.written += reply->written();
    job->progress.unchanged += reply->unchanged();
    job->progress.rejected += reply->rejected();
    request.Clear();
    lines.clear();
    return absl::OkStatus();
  };
  absl::Status status;
  for (;;) {
    std::optional<workflows::ImportRow> row;
    std::vector<workflows::ImportFinding> findings;
    const bool more = job->reader->Next(&row, &findings);
    uint64_t rejected = 0, flagged = 0;
    for (const workflows::ImportFinding& f : findings) {
      absl::StrAppend(&job->findings, workflows::FindingCsvLine(f), "\r\n");
      (f.rejected ? rejected : flagged)++;
    }
    if (more && row.has_value()) {
      if (request.rows_size() == 0) request.set_first_line(row->line);
      lines.push_back(row->line);
      *request.add_rows() = std::move(row->request);
    }
    {
      absl::MutexLock lock(&job->mu);
      if (more) ++job->progress.rows;
      job->progress.rejected += rejected > 0 && !row.has_value() ? 1 : 0;
      job->progress.flagged += flagged > 0 ? 1 : 0;
      job->progress.bytes_read = job->reader->bytes_read();
    }
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      stopping = stopping_;
    }
    if (stopping) {
      status = absl::CancelledError("the node is stopping");
      break;
    }
    if (!more || request.rows_size() >= kBatchRows) {
      status = flush();
      if (!status.ok() || !more) break;
    }
  }
  absl::MutexLock lock(&job->mu);
  job->progress.done = true;
  job->progress.bytes_read = job->progress.bytes_total;
  if (!status.ok()) job->progress.error = std::string(status.message());
}

absl::StatusOr<ImportProgress> ImportJobs::Progress(const admin::Operator& op,
                                                    absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(Owner(op));
  if (it == jobs_.end()) return absl::NotFoundError("job: no such import of yours");
  ImportProgress progress = it->second->Snapshot();
  if (progress.job != id) return absl::NotFoundError("job: no such import of yours");
  return progress;
}

absl::StatusOr<std::string> ImportJobs::Findings(const admin::Operator& op,
                                                 absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(Owner(op));
  if (it == jobs_.end()) return absl::NotFoundError("job: no such import of yours");
  const ImportProgress progress = it->second->Snapshot();
  if (progress.job != id) return absl::NotFoundError("job: no such import of yours");
  if (!progress.done) return absl::FailedPreconditionError("job: the import is still running");
  return absl::StrCat(workflows::kUtf8Bom, workflows::kFindingCsvHeader, "\r\n",
                      it->second->findings);
}

}  // namespace tongban::console
