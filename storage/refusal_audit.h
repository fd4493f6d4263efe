// RefusalAudit bounds what a peer's refused requests (FetchPerson, Where)
// add to the audit log (storage/audit_log.h), without hiding any of them
// from an auditor.
//
// A refusal's kind is (who, action, outcome): one peer, one request type,
// one reason. Within an interval that starts at the kind's first refusal:
//   * the first refusal of the kind is appended at once, in full, like any
//     access; so is the first refusal of each further person, so the trail
//     still names every distinct person a peer asked about, and a query by
//     person finds it;
//   * a repeat (the same kind and person again) appends nothing; it is
//     counted;
//   * when the interval is over (the kind's next refusal after it, Flush()
//     from housekeeping, or Flush(all) at shutdown), one entry for the kind
//     says how many refusals there were in all, how many persons, and from
//     when to when, if there were repeats.
// So a peer repeating a refused request grows the log by one entry per
// interval, and asking about new persons by one entry per person: what a
// refusal must show anyway. At most `max_persons` persons are remembered
// per kind; reaching it ends the interval early (a count entry, then a new
// interval).
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "storage/audit_log.h"

namespace tongban::storage {

struct RefusalAuditOptions {
  absl::Duration interval = absl::Hours(1);
  size_t max_persons = 4096;  // persons remembered per kind and interval
};

class RefusalAudit {
 public:
  // `log` and `clock` are not owned and must outlive this.
  RefusalAudit(AuditLog* log, const Clock* clock, RefusalAuditOptions options = {});
  RefusalAudit(const RefusalAudit&) = delete;
  RefusalAudit& operator=(const RefusalAudit&) = delete;

  // Records a refusal (`entry.outcome` is the refusal; seq and time are
  // assigned). Appends to the log as the file comment says; an error of the
  // log passes through and nothing is counted.
  absl::Status Refused(const AuditEntry& entry) ABSL_LOCKS_EXCLUDED(mu_);
  // Closes every kind whose interval is over, or every kind (`all`),
  // writing their count entries.
  absl::Status Flush(bool all = false) ABSL_LOCKS_EXCLUDED(mu_);

  // Entries this object appended, and refusals it counted without one.
  uint64_t entries() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t repeats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Kind = std::tuple<std::string, std::string, std::string>;  // who, action, outcome
  struct Open {
    AuditEntry first;  // as the kind's first refusal was given
    absl::Time since;
    absl::Time last;
    uint64_t count = 0;  // refusals in the interval, all
    std::set<std::string> persons;
  };
  absl::Status Close(const Open& open) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  AuditLog* const log_;
  const Clock* const clock_;
  const RefusalAuditOptions options_;
  mutable absl::Mutex mu_;
  std::map<Kind, Open> open_ ABSL_GUARDED_BY(mu_);
  uint64_t entries_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t repeats_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tongban::storage
