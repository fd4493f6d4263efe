// The node's half of a bulk import (Admin Import, AdminApi::Import): one
// batch of rows written with one Writer::AppendAll (one group, one fsync),
// the writer skipping rows whose record already holds exactly the row's
// value (RecordChange::skip_if_unchanged), so that importing a file again
// writes no new event. Authorization and audit are
// the caller's (AdminApi); benchmarks call this directly.
//
// Thread safety: free functions; the Writer and Store are thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "storage/store.h"
#include "storage/writer.h"
#include "tongban/v1/admin.pb.h"

namespace tongban::workflows {

// The writer's change for a clerk's request on the normalized `person`; an
// unset operation is an upsert.
storage::RecordChange ChangeFrom(const v1::WriteRequest& r, const std::string& person);

// Appends the graded ID findings of `appended` to `out` (proto enum values).
void AddFindings(const storage::Appended& appended, google::protobuf::RepeatedField<int>* out);

// The normalized ID of each row's person, or kInvalidArgument (ID masked).
std::vector<absl::StatusOr<std::string>> ImportPersons(const v1::ImportRequest& r,
                                                       absl::CivilDay today);

// Writes the rows of `r` as one group; one result per row, in order:
// WRITTEN, UNCHANGED (the record already holds this value as the writer
// sees it, batches in flight included, or an earlier row wrote it), or
// REJECTED with the reason (a malformed person,
// an operation other than upsert, a certificate whose issuer is another
// node, or the writer's kInvalidArgument, kFailedPrecondition (custody,
// including an entitlement of a person whose origin is another node) or
// kNotFound). Errors: a store read or the commit failed (nothing of the
// batch is written).
// REQUIRES: persons == ImportPersons(r, today).
absl::StatusOr<v1::ImportReply> WriteImportBatch(
    storage::Writer* writer, const v1::ImportRequest& r,
    const std::vector<absl::StatusOr<std::string>>& persons);

}  // namespace tongban::workflows
