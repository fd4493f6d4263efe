#include "workflows/import_batch.h"

#include "absl/strings/str_cat.h"
#include "common/ids/citizen_id.h"
#include "common/status_macros.h"

namespace tongban::workflows {
namespace {

// A certificate is written by its issuer (DOMAIN.md "What is exchanged");
// the writer keeps custody once a record exists and refuses an entitlement
// from a county that is not the person's origin, but takes any issuer.
// Returns the refusal, or "" when the row may be written.
std::string RefusedIssuer(const std::string& self, const v1::WriteRequest& row,
                          const std::string& person) {
  if (row.kind() != v1::RECORD_KIND_CERTIFICATE) return "";
  const std::string& issuer = row.value().certificate().issuer();
  if (issuer == self) return "";
  return absl::StrCat("certificate ", row.record_id(), " of person ", ids::MaskId(person),
                      " is issued by ", issuer, ", not by this node (", self,
                      "): only its issuer writes a certificate");
}

}  // namespace

storage::RecordChange ChangeFrom(const v1::WriteRequest& r, const std::string& person) {
  storage::RecordChange change;
  change.person = person;
  change.kind = r.kind();
  change.record_id = r.record_id();
  // Proto3 leaves an unset operation at 0: an upsert, the common case.
  change.operation =
      r.operation() == v1::OPERATION_UNSPECIFIED ? v1::OPERATION_UPSERT : r.operation();
  change.value = r.value();
  change.purpose = r.purpose();
  change.reason = r.reason();
  change.confirm_findings = r.confirm_findings();
  return change;
}

void AddFindings(const storage::Appended& appended, google::protobuf::RepeatedField<int>* out) {
  for (ids::IdFinding f : appended.findings) out->Add(static_cast<int>(f));
}

std::vector<absl::StatusOr<std::string>> ImportPersons(const v1::ImportRequest& r,
                                                       absl::CivilDay today) {
  std::vector<absl::StatusOr<std::string>> out;
  out.reserve(r.rows_size());
  for (const v1::WriteRequest& row : r.rows()) {
    absl::StatusOr<ids::CitizenId> id =
        ids::CheckCitizenId(row.person(), ids::Sex::kUnspecified, today);
    if (id.ok()) {
      out.push_back(std::move(id->normalized));
    } else {
      out.push_back(Prefixed("person", id.status()));
    }
  }
  return out;
}

absl::StatusOr<v1::ImportReply> WriteImportBatch(
    storage::Writer* writer, const v1::ImportRequest& r,
    const std::vector<absl::StatusOr<std::string>>& persons) {
  v1::ImportReply reply;
  std::vector<storage::RecordChange> changes;
  changes.reserve(r.rows_size());
  std::vector<int> row_of;  // changes[i] is row row_of[i]
  for (int i = 0; i < r.rows_size(); ++i) {
    const v1::WriteRequest& row = r.rows(i);
    v1::ImportRowResult* result = reply.add_results();
    result->set_outcome(v1::IMPORT_OUTCOME_REJECTED);
    if (!persons[i].ok()) {
      result->set_error(std::string(persons[i].status().message()));
      continue;
    }
    if (row.operation() != v1::OPERATION_UNSPECIFIED && row.operation() != v1::OPERATION_UPSERT) {
      result->set_error("an import writes upserts only");
      continue;
    }
    if (std::string refused = RefusedIssuer(writer->log().origin, row, *persons[i]);
        !refused.empty()) {
      result->set_error(std::move(refused));
      continue;
    }
    // The writer skips a row whose record already holds its value, against
    // the latest state (batches in flight included), so a file imported
    // again, or a record repeated in it, writes no new event.
    changes.push_back(ChangeFrom(row, *persons[i]));
    changes.back().skip_if_unchanged = true;
    row_of.push_back(i);
  }
  std::vector<absl::StatusOr<storage::Appended>> appended = writer->AppendAll(changes);
  for (size_t k = 0; k < appended.size(); ++k) {
    v1::ImportRowResult* result = reply.mutable_results(row_of[k]);
    if (appended[k].ok()) {
      result->set_outcome(appended[k]->unchanged ? v1::IMPORT_OUTCOME_UNCHANGED
                                                 : v1::IMPORT_OUTCOME_WRITTEN);
      if (!appended[k]->unchanged) AddFindings(*appended[k], result->mutable_findings());
      continue;
    }
    const absl::StatusCode code = appended[k].status().code();
    if (code != absl::StatusCode::kInvalidArgument &&
        code != absl::StatusCode::kFailedPrecondition && code != absl::StatusCode::kNotFound) {
      return appended[k].status();  // the store failed: so did the batch
    }
    result->set_error(std::string(appended[k].status().message()));
  }
  for (const v1::ImportRowResult& result : reply.results()) {
    switch (result.outcome()) {
      case v1::IMPORT_OUTCOME_WRITTEN: reply.set_written(reply.written() + 1); break;
      case v1::IMPORT_OUTCOME_UNCHANGED: reply.set_unchanged(reply.unchanged() + 1); break;
      default: reply.set_rejected(reply.rejected() + 1); break;
    }
  }
  return reply;
}

}  // namespace tongban::workflows
