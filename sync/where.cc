#include "sync/where.h"

#include "absl/strings/str_cat.h"
#include "common/ids/citizen_id.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace tongban::sync {

bool IsLinked(const records::Links& links, const std::string& node, absl::Time now,
              absl::Duration retention) {
  auto link = links.find(node);
  if (link == links.end()) return false;
  const int64_t ended = link->second.ended_at_micros();
  return ended == 0 || absl::ToUnixMicros(now) - ended < absl::ToInt64Microseconds(retention);
}

absl::StatusOr<v1::WhereReply> AnswerWhere(storage::Store& store, const std::string& asker,
                                           const std::string& person, absl::Time now,
                                           absl::Duration retention) {
  TB_ASSIGN_OR_RETURN(records::Links links, store.GetLinks(person));
  if (!IsLinked(links, asker, now, retention)) {
    TB_LOG(WARNING) << "refused where-query about person " << ids::MaskId(person) << " from node "
                    << asker << ": not linked to the person";
    TB_RETURN_IF_ERROR(store.Increment("refused/where", 1));
    return absl::PermissionDeniedError(
        absl::StrCat("node ", asker, " is not linked to this person"));
  }
  return HoldersOf(links);
}

v1::WhereReply HoldersOf(const records::Links& links) {
  v1::WhereReply reply;
  for (const auto& [node, link] : links) {
    v1::WhereReply::Holder* h = reply.add_holders();
    h->set_node(node);
    h->set_role(link.role() == v1::LINK_ROLE_ORIGIN      ? "origin"
                : link.role() == v1::LINK_ROLE_RESIDENCE ? "residence"
                                                         : "counterpart");
    h->set_ended(link.ended_at_micros() != 0);
  }
  return reply;
}

}  // namespace tongban::sync
