// tongbanctl import FILE: bulk import of a county register over the Admin
// service's Import call (README "Bulk import").
//
// Rows are parsed and validated here (workflows/import_csv.h), sent in batches
// (one group commit each; two batches in flight, the second on a
// std::async thread), and every rejected or flagged row goes to the
// findings report. After each batch is durable, FILE.progress holds the last
// line handled, so an interrupted import resumes after it; it is removed
// when the import completes.
#include "tongbanctl/commands_import.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "records/dates.h"
#include "tongbanctl/admin_client.h"
#include "workflows/import_csv.h"

namespace tongban::cli {
namespace {

struct Totals {
  uint64_t read = 0, written = 0, unchanged = 0, rejected = 0, flagged = 0;
};

// The last line a previous run handled, or 0 without a progress file.
absl::StatusOr<uint64_t> ReadProgress(const std::string& path) {
  std::ifstream in(path);
  if (!in) return 0;
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t line = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &line)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a line number; delete it to import from the start"));
  }
  return line;
}

// Replaces the progress file whole (write, then rename).
absl::Status WriteProgress(const std::string& path, uint64_t line) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << line << "\n";
    out.flush();
    if (!out) return absl::UnavailableError(absl::StrCat(tmp, ": cannot write"));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat(path, ": ", ec.message()));
  return absl::OkStatus();
}

class Importer {
 public:
  Importer(AdminClient* client, std::string file, std::ostream* report, std::string progress,
           uint64_t file_bytes, Io& io)
      : client_(client),
        file_(std::move(file)),
        report_(report),
        progress_(std::move(progress)),
        file_bytes_(file_bytes),
        io_(io),
        tty_(isatty(STDERR_FILENO) == 1),
        started_(absl::Now()) {}

  // Findings wait for the next Flush, so that a resumed run, which starts
  // after the last flushed line, never reports a row twice.
  void Report(const workflows::ImportFinding& f) {
    absl::StrAppend(&findings_, workflows::FindingCsvLine(f), "\n");
  }

  void Add(workflows::ImportRow row) {
    if (request_.rows_size() == 0) request_.set_first_line(row.line);
    lines_.push_back(row.line);
    *request_.add_rows() = std::move(row.request);
  }
  size_t pending() const { return lines_.size(); }

  // Sends the pending rows without waiting for them, then finishes the batch
  // sent before (two batches in flight, so that the node builds one group
  // while the other waits for its fsync). `handled`: every line up to it is
  // in this batch or reported.
  absl::Status Flush(uint64_t handled) {
    Sent sent;
    sent.handled = handled;
    sent.findings = std::move(findings_);
    findings_.clear();
    if (!lines_.empty()) {
      request_.set_file(file_);
      request_.set_last_line(lines_.back());
      sent.lines = std::move(lines_);
      lines_.clear();
      sent.first_line = request_.first_line();
      try {
        sent.reply = std::async(std::launch::async, [client = client_, r = std::move(request_)] {
          return client->Import(r);
        });
      } catch (const std::system_error& e) {  // no thread to send it on
        request_ = v1::ImportRequest();
        TB_RETURN_IF_ERROR(Drain());  // the batch before still counts
        return absl::ResourceExhaustedError(
            absl::StrCat(file_, " lines ", sent.first_line, "-", sent.lines.back(),
                         ": cannot start a thread to send them (", e.what(), "); lines after ",
                         done_, " are not written; run again to resume"));
      }
      request_ = v1::ImportRequest();
    }
    absl::Status status = Drain();
    in_flight_ = std::move(sent);
    return status;
  }

  // Waits for the batch in flight, reports its refusals and findings, then
  // records in the progress file that every line up to its end is done.
  absl::Status Drain() {
    if (!in_flight_.has_value()) return absl::OkStatus();
    Sent sent = std::move(*in_flight_);
    in_flight_.reset();
    if (sent.reply.valid()) {
      absl::StatusOr<v1::ImportReply> reply = sent.reply.get();
      if (!reply.ok()) {
        return Prefixed(
            absl::StrCat(file_, " lines ", sent.first_line, "-", sent.lines.back(),
                         " (lines after ", done_, " may not be written; run again to resume)"),
            reply.status());
      }
      for (int i = 0; i < reply->results_size(); ++i) {
        const v1::ImportRowResult& r = reply->results(i);
        if (r.outcome() == v1::IMPORT_OUTCOME_REJECTED) {
          absl::StrAppend(
              &sent.findings,
              workflows::FindingCsvLine({file_, sent.lines[i], "",
                                         absl::StrCat("rejected by the node: ", r.error()), true}),
              "\n");
        }
      }
      totals.written += reply->written();
      totals.unchanged += reply->unchanged();
      totals.rejected += reply->rejected();
    }
    *report_ << sent.findings;
    report_->flush();
    if (!*report_) return absl::UnavailableError("the findings report cannot be written");
    TB_RETURN_IF_ERROR(WriteProgress(progress_, sent.handled));
    done_ = sent.handled;
    return absl::OkStatus();
  }

  // "\r12345 rows  51234 rows/s  0:12 left" on a terminal, at most 5 times a second.
  void ShowProgress(uint64_t bytes_read, bool last) {
    if (!tty_) return;
    const absl::Time now = absl::Now();
    if (!last && now - shown_ < absl::Milliseconds(200)) return;
    shown_ = now;
    const double secs = std::max(absl::ToDoubleSeconds(now - started_), 1e-3);
    const double rate = static_cast<double>(totals.read) / secs;
    const double byte_rate = static_cast<double>(bytes_read - start_bytes) / secs;
    const double left =
        byte_rate > 0
            ? static_cast<double>(file_bytes_ - std::min(bytes_read, file_bytes_)) / byte_rate
            : 0;
    const int left_s = static_cast<int>(left);
    io_.err << absl::StrFormat("\r%d rows  %.0f rows/s  %d:%02d left   ", totals.read, rate,
                               left_s / 60, left_s % 60);
    if (last) io_.err << "\n";
    io_.err.flush();
  }

  Totals totals;
  uint64_t start_bytes = 0;

 private:
  AdminClient* const client_;  // Not owned.
  const std::string file_;
  std::ostream* const report_;  // Not owned.
  const std::string progress_;
  const uint64_t file_bytes_;
  Io& io_;
  const bool tty_;
  const absl::Time started_;
  absl::Time shown_ = absl::InfinitePast();
  v1::ImportRequest request_;
  std::vector<uint64_t> lines_;
  std::string findings_;  // report lines not yet written
  uint64_t done_ = 0;
  // A batch sent and not yet finished, with the findings reported up to it.
  struct Sent {
    std::future<absl::StatusOr<v1::ImportReply>> reply;  // invalid: no rows
    std::vector<uint64_t> lines;
    uint64_t first_line = 0;
    uint64_t handled = 0;
    std::string findings;
  };
  std::optional<Sent> in_flight_;
};

absl::Status ImportCmd(const Args& args, Io& io) {
  const std::string path = args.positional().front();
  TB_ASSIGN_OR_RETURN(workflows::Encoding encoding,
                      workflows::ParseEncoding(args.Get("encoding", "utf-8")));
  TB_ASSIGN_OR_RETURN(long long batch,
                      args.GetInt("batch", 1000, 1, workflows::kMaxImportBatchRows));
  const std::string report_path = args.Get("report", path + ".findings.csv");
  const std::string progress_path = path + ".progress";
  const bool confirm = args.Has("confirm-findings");

  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::error_code ec;
  const uint64_t file_bytes = std::filesystem::file_size(path, ec);
  TB_ASSIGN_OR_RETURN(uint64_t resume_after, ReadProgress(progress_path));
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  const absl::CivilDay today = records::ChinaDay(absl::Now());
  TB_ASSIGN_OR_RETURN(std::unique_ptr<workflows::ImportReader> reader,
                      workflows::ImportReader::Open(path, &in, encoding, today));

  // A resumed import adds to the report of the run it continues.
  const bool resuming = resume_after > 0;
  const bool continued = resuming && std::filesystem::file_size(report_path, ec) > 0 && !ec;
  std::ofstream report(report_path, continued ? std::ios::app : std::ios::trunc);
  if (!report) return absl::UnavailableError(absl::StrCat(report_path, ": cannot write"));
  if (!continued) report << workflows::kFindingCsvHeader << "\n";

  Importer importer(client.get(), path, &report, progress_path, file_bytes, io);
  uint64_t held_back = 0;  // flagged rows not sent without --confirm-findings
  auto run = [&]() -> absl::Status {
    std::optional<workflows::ImportRow> row;
    std::vector<workflows::ImportFinding> findings;
    while (reader->Next(&row, &findings)) {
      if (reader->line() <= resume_after) {
        findings.clear();
        importer.start_bytes = reader->bytes_read();
        continue;
      }
      ++importer.totals.read;
      bool flagged = false;
      for (workflows::ImportFinding& f : findings) {
        if (!f.rejected) {
          flagged = true;
          if (!confirm) absl::StrAppend(&f.reason, "; not written without --confirm-findings");
        }
        importer.Report(f);
      }
      findings.clear();
      if (flagged) ++importer.totals.flagged;
      if (!row.has_value()) {
        ++importer.totals.rejected;
      } else if (row->has_id_findings && !confirm) {
        ++held_back;  // the node would refuse it
      } else {
        row->request.set_confirm_findings(confirm);
        importer.Add(std::move(*row));
        if (importer.pending() >= static_cast<size_t>(batch)) {
          TB_RETURN_IF_ERROR(importer.Flush(reader->line()));
        }
      }
      importer.ShowProgress(reader->bytes_read(), false);
    }
    TB_RETURN_IF_ERROR(importer.Flush(reader->line()));
    TB_RETURN_IF_ERROR(importer.Drain());
    importer.ShowProgress(reader->bytes_read(), true);
    std::filesystem::remove(progress_path, ec);
    return absl::OkStatus();
  };
  const absl::Status status = run();

  // The summary line, also after a failure (the progress file then stays).
  const Totals& t = importer.totals;
  io.out << "import " << path << ": " << t.read << " rows read"
         << (resuming ? absl::StrCat(" (resumed after line ", resume_after, ")") : "") << ", "
         << t.written << " written, " << t.unchanged << " unchanged, " << t.rejected
         << " rejected, " << t.flagged << " flagged; findings in " << report_path << "\n";
  TB_RETURN_IF_ERROR(status);
  if (const uint64_t not_written = t.rejected + held_back; not_written > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(not_written, " rows not written; every one is in ", report_path));
  }
  return absl::OkStatus();
}

}  // namespace

void AddImportCommands(std::vector<Command>* c) {
  std::vector<FlagSpec> flags = ConnectionFlags();
  flags.push_back({"encoding"});
  flags.push_back({"report"});
  flags.push_back({"batch"});
  flags.push_back({"confirm-findings", false});
  c->push_back(
      Command{"import", "", "import a county register from a CSV file (persons and records)",
              "tongbanctl import FILE [--encoding utf-8|gb18030] [--report FILE] [--batch N] "
              "[--confirm-findings]",
              "  FILE                   CSV with a header row; columns in README \"Bulk import\"\n"
              "  --encoding E           utf-8 (default; a BOM is skipped) or gb18030\n"
              "  --report FILE          findings report, CSV file,line,column,reason\n"
              "                         (default: FILE.findings.csv)\n"
              "  --batch N              rows per batch, one fsync each (default 1000)\n"
              "  --confirm-findings     write rows whose ID has graded findings\n"
              "Every row is validated; valid rows are written, importing the same file\n"
              "again writes nothing new, and FILE.progress lets an interrupted import\n"
              "resume. Exit 0 if every row was written or unchanged, 2 if some were not\n"
              "(see the report), 1 on failure.\n\n"
              "Examples:\n"
              "  tongbanctl import register.csv --encoding gb18030\n",
              flags, 1, 1, ImportCmd});
}

}  // namespace tongban::cli
