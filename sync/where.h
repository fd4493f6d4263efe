// Who may be told what about a person, from the links this node derived
// (records/links.h): the rule behind backfill (FetchPerson) and the national
// node's "which counties hold records about this person" (异地查询).
//
// Thread safety: free functions over a Store that is safe to share.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "records/links.h"
#include "storage/store.h"
#include "tongban/v1/exchange.pb.h"

namespace tongban::sync {

// True if `node` is linked to the person: its link is active, or ended less
// than `retention` before `now`.
bool IsLinked(const records::Links& links, const std::string& node, absl::Time now,
              absl::Duration retention);

// The nodes holding records about `person`, answered to `asker` only if it
// is linked to the person. Otherwise kPermissionDenied (no personal data in
// the message); the refusal is counted ("refused/where") and logged with the
// ID masked.
absl::StatusOr<v1::WhereReply> AnswerWhere(storage::Store& store, const std::string& asker,
                                           const std::string& person, absl::Time now,
                                           absl::Duration retention);

// Every node linked to the person, with its role, unconditionally (the
// national node's answer to its own operators).
v1::WhereReply HoldersOf(const records::Links& links);

}  // namespace tongban::sync
