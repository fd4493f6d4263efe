#include "tongbanctl/commands_bundle.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/crypto/key_file.h"
#include "common/status_macros.h"
#include "tongbanctl/admin_client.h"
#include "tongbanctl/commands_online.h"

namespace tongban::cli {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// "\r[#####     ] 51% 12345 events 3.2 MiB" on a terminal, at most 5 times
// a second; without an estimate, counts only.
class ProgressLine {
 public:
  explicit ProgressLine(Io& io) : io_(io), tty_(isatty(STDERR_FILENO) == 1) {}
  void Show(uint64_t events, uint64_t estimate, uint64_t bytes, absl::string_view what, bool last) {
    if (!tty_) return;
    const absl::Time now = absl::Now();
    if (!last && now - shown_ < absl::Milliseconds(200)) return;
    shown_ = now;
    std::string bar;
    if (estimate > 0) {
      const uint64_t pct = std::min<uint64_t>(100, events * 100 / estimate);
      bar = absl::StrFormat("[%-20s] %3d%% ", std::string(pct / 5, '#'), pct);
    }
    io_.err << "\r" << bar << events << " " << what << "  "
            << absl::StrFormat("%.1f MiB", bytes / 1048576.0) << "   ";
    if (last) io_.err << "\n";
    io_.err.flush();
  }

 private:
  Io& io_;
  const bool tty_;
  absl::Time shown_ = absl::InfinitePast();
};

// Writes to a temporary file beside the target, renamed over it only when
// complete: an interrupted export leaves no half bundle under its name.
class AtomicOut {
 public:
  explicit AtomicOut(std::string path)
      : path_(std::move(path)), temp_(absl::StrCat(path_, ".partial-", getpid())) {}
  ~AtomicOut() {
    if (file_ != nullptr) std::fclose(file_);
    if (!done_) std::remove(temp_.c_str());
  }
  absl::Status Open() {
    file_ = std::fopen(temp_.c_str(), "wbx");
    if (file_ == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--out: cannot create ", temp_, ": ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }
  absl::Status Write(absl::string_view bytes) {
    if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot write ", temp_, ": ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }
  absl::Status Commit() {
    const bool flushed = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
    const bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!flushed || !closed || std::rename(temp_.c_str(), path_.c_str()) != 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot write ", path_, ": ", std::strerror(errno)));
    }
    done_ = true;
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  const std::string temp_;
  std::FILE* file_ = nullptr;
  bool done_ = false;
};

absl::Status BundleExportCmd(const Args& args, Io& io) {
  const std::string out = args.Get("out");
  if (out.empty()) return absl::InvalidArgumentError("missing --out FILE: see --help");
  if (args.Get("to").empty()) return absl::InvalidArgumentError("missing --to CODE: see --help");
  if (Exists(out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--out: ", out, " exists; a bundle is never written over a file"));
  }
  v1::ExportBundleRequest r;
  r.set_to(args.Get("to"));
  r.set_reason(args.Get("reason"));
  if (args.Has("since-ack")) {
    // Acknowledgements are small: ReadSmallFile's 1 MiB bounds them.
    TB_ASSIGN_OR_RETURN(std::string ack,
                        crypto::ReadSmallFile(args.Get("since-ack"), /*secret=*/false));
    r.set_since_ack(std::move(ack));
  }
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  AtomicOut file(out);
  TB_RETURN_IF_ERROR(file.Open());
  ProgressLine line(io);
  v1::BundleProgress last;
  TB_ASSIGN_OR_RETURN(v1::BundleSummary summary,
                      client->ExportBundle(
                          r, [&file](absl::string_view bytes) { return file.Write(bytes); },
                          [&](const v1::BundleProgress& p) {
                            last = p;
                            line.Show(p.events(), p.events_estimate(), p.bytes(), "events", false);
                          }));
  TB_RETURN_IF_ERROR(file.Commit());
  line.Show(summary.manifest().events(), 0, summary.bytes(), "events", true);
  if (args.Has("json")) return PrintJson(summary, io);
  const v1::BundleManifest& m = summary.manifest();
  io.out << "bundle " << summary.header().bundle_id() << " for node "
         << summary.header().recipient() << " written to " << out << ": " << m.events()
         << " events in " << m.batches() << " batches, " << summary.answers()
         << " histories answered, " << m.requests() << " asked, "
         << absl::StrFormat("%.1f MiB", summary.bytes() / 1048576.0) << "\n";
  for (const v1::BundleRange& range : m.ranges()) {
    io.out << "  " << range.origin() << "/" << range.epoch() << ": " << range.events() << " events";
    if (range.events() > 0) io.out << ", seqs " << range.first_seq() << ".." << range.last_seq();
    io.out << ", checkpoint " << range.checkpoint_size() << "\n";
  }
  io.out << (m.assumes().empty() && m.acknowledges().empty()
                 ? "no acknowledgement from that node imported yet: the bundle assumes it holds "
                   "nothing of ours\n"
                 : "")
         << "sealed to node " << summary.header().recipient() << "'s roster key "
         << summary.header().recipient_key_id()
         << "; carry it there and import it with tongbanctl bundle import\n";
  return absl::OkStatus();
}

absl::Status BundleImportCmd(const Args& args, Io& io) {
  const std::string in = args.positional().at(0);
  const std::string ack_path = args.Has("ack-out") ? args.Get("ack-out") : absl::StrCat(in, ".ack");
  if (Exists(ack_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--ack-out: ", ack_path, " exists; choose another name with --ack-out"));
  }
  struct stat st;
  if (::stat(in.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot open ", in, ": ", std::strerror(errno)));
  }
  TB_ASSIGN_OR_RETURN(auto client, AdminClient::FromArgs(args));
  ProgressLine line(io);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  TB_ASSIGN_OR_RETURN(v1::ImportBundleReply reply, client->ImportBundle(in, [&](uint64_t sent) {
    line.Show(sent, size, sent, "bytes sent", sent == size);
  }));
  AtomicOut ack(ack_path);
  TB_RETURN_IF_ERROR(ack.Open());
  TB_RETURN_IF_ERROR(ack.Write(reply.ack()));
  TB_RETURN_IF_ERROR(ack.Commit());
  if (args.Has("json")) return PrintJson(reply, io);
  const v1::BundleHeader& h = reply.bundle().header();
  io.out << "bundle " << h.bundle_id() << " from node " << h.sender() << ": "
         << reply.events_applied() << " events applied in " << reply.batches_applied()
         << " batches";
  if (reply.batches_not_applied() > 0) {
    io.out << ", " << reply.batches_not_applied() << " batches not applied";
  }
  io.out << "\n";
  for (const std::string& m : reply.missing()) {
    io.out << "  missing here, not applied: " << m << "\n";
  }
  for (const std::string& n : reply.notes()) io.out << "  " << n << "\n";
  if (!reply.missing().empty()) {
    io.out << "carry the acknowledgement back: the sender's next export starts from what this "
              "node holds\n";
  }
  if (!reply.newest()) io.out << "a newer bundle from that node was imported before\n";
  io.out << "acknowledgement " << reply.ack_id() << " written to " << ack_path
         << "; carry it to node " << h.sender()
         << " and import it there (or pass it to its next export as --since-ack)\n";
  return absl::OkStatus();
}

}  // namespace

void AddBundleCommands(std::vector<Command>* c) {
  c->push_back(Online(
      "bundle", "export",
      "write what a session would send a peer into a file sealed to it (administrators; audited)",
      "tongbanctl bundle export --to CODE --out FILE [--since-ack FILE] [--reason TEXT]",
      "  --to CODE              the recipient's node code\n"
      "  --out FILE             the bundle to write (never over an existing file)\n"
      "  --since-ack FILE       the recipient's acknowledgement: imported first, so the\n"
      "                         bundle holds only what it did not cover\n"
      "  --reason TEXT          why (audited)\n"
      "For counties that cannot reach each other (离线平台): the node writes the batches\n"
      "a session with CODE would carry (its own log, routed; at the national node\n"
      "every log routed on to CODE), the histories CODE asked for and its own requests,\n"
      "signed by its key and encrypted to CODE's roster key: a lost stick discloses\n"
      "nothing, and any carrier may take it there. The bundle starts where the newest\n"
      "bundle imported from CODE said it stands (or from nothing). The file appears\n"
      "under its name only once complete. A clerk or auditor is refused (exit 3).\n",
      "  tongbanctl bundle export --to 130102 --out /media/usb/440305-130102.tbb\n"
      "  tongbanctl bundle export --to 130102 --since-ack /media/usb/130102-ack.tbb --out "
      "next.tbb\n",
      WithConnection({{"to"}, {"out"}, {"since-ack"}, {"reason"}}), 0, BundleExportCmd));
  c->push_back(Online(
      "bundle", "import",
      "verify a peer's bundle whole and apply it; write the acknowledgement (administrators)",
      "tongbanctl bundle import FILE [--ack-out FILE]",
      "  --ack-out FILE         where the acknowledgement goes (default FILE.ack)\n"
      "The node checks the whole file before it applies anything: addressed to this\n"
      "node, from an active roster node that is not held, sealed to a key this node\n"
      "holds, every byte authentic and signed by the sender. Any failure refuses it\n"
      "whole (exit 2 or 3). Then every batch is verified and applied as over a\n"
      "session; batches already held are no-ops, so importing again, or a killed\n"
      "import run again, is harmless. A log whose first batch assumes events this node\n"
      "lacks is not applied and its missing seqs are printed. The acknowledgement\n"
      "(small, signed, sealed to the sender) tells the sender where this node stands.\n",
      "  tongbanctl bundle import /media/usb/440305-130102.tbb\n", WithConnection({{"ack-out"}}), 1,
      BundleImportCmd));
}

}  // namespace tongban::cli
