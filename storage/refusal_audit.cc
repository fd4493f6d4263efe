#include "storage/refusal_audit.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tongban::storage {

RefusalAudit::RefusalAudit(AuditLog* log, const Clock* clock, RefusalAuditOptions options)
    : log_(log), clock_(clock), options_(options) {}

absl::Status RefusalAudit::Refused(const AuditEntry& entry) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  const Kind kind{entry.operator_name, entry.action, entry.outcome};
  auto it = open_.find(kind);
  if (it != open_.end() && (now - it->second.since >= options_.interval ||
                            it->second.persons.size() >= options_.max_persons)) {
    TB_RETURN_IF_ERROR(Close(it->second));
    open_.erase(it);
    it = open_.end();
  }
  if (it != open_.end() && it->second.persons.count(entry.person) != 0) {
    // A repeat within the interval: counted, shown in the kind's count entry.
    ++it->second.count;
    it->second.last = now;
    ++repeats_;
    return absl::OkStatus();
  }
  // The kind's first refusal in this interval, or a person not refused yet
  // in it: in full, at once.
  TB_RETURN_IF_ERROR(log_->Append(entry).status());
  ++entries_;
  if (it == open_.end()) it = open_.emplace(kind, Open{entry, now, now, 0, {}}).first;
  ++it->second.count;
  it->second.last = now;
  it->second.persons.insert(entry.person);
  return absl::OkStatus();
}

absl::Status RefusalAudit::Close(const Open& open) {
  const uint64_t listed = open.persons.size();
  if (open.count <= listed) return absl::OkStatus();  // no repeats: every one has its entry
  AuditEntry summary = open.first;
  summary.person.clear();
  summary.purpose =
      absl::StrCat("aggregated refusals: ", open.count, " in all about ", listed,
                   listed == 1 ? " person" : " persons", " (each in an entry of its own), from ",
                   absl::FormatTime(absl::RFC3339_sec, open.since, absl::UTCTimeZone()), " to ",
                   absl::FormatTime(absl::RFC3339_sec, open.last, absl::UTCTimeZone()),
                   "; first purpose: ", open.first.purpose);
  if (summary.purpose.size() > kAuditMaxLongField) summary.purpose.resize(kAuditMaxLongField);
  TB_RETURN_IF_ERROR(log_->Append(std::move(summary)).status());
  ++entries_;
  return absl::OkStatus();
}

absl::Status RefusalAudit::Flush(bool all) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  for (auto it = open_.begin(); it != open_.end();) {
    if (!all && now - it->second.since < options_.interval) {
      ++it;
      continue;
    }
    TB_RETURN_IF_ERROR(Close(it->second));
    it = open_.erase(it);
  }
  return absl::OkStatus();
}

uint64_t RefusalAudit::entries() const {
  absl::MutexLock lock(&mu_);
  return entries_;
}

uint64_t RefusalAudit::repeats() const {
  absl::MutexLock lock(&mu_);
  return repeats_;
}

}  // namespace tongban::storage
