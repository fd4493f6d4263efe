#include "storage/links.h"

#include <algorithm>

namespace tongban::storage {
namespace {

v1::PersonLink NewLink(v1::LinkRole role, const v1::EventBody& body) {
  v1::PersonLink link;
  link.set_role(role);
  *link.mutable_since() = body.hlc();
  v1::EventId* by = link.mutable_established_by();
  by->set_origin(body.origin());
  by->set_epoch(body.epoch());
  by->set_seq(body.seq());
  return link;
}

bool IsActive(const Links& links, const std::string& node) {
  auto it = links.find(node);
  return it != links.end() && it->second.ended_at_micros() == 0;
}

// Links `node` with `role` unless it is already actively linked in a role at
// least as strong (origin > residence > counterpart).
void Link(const Links& links, const std::string& node, v1::LinkRole role,
          const v1::EventBody& body, LinkEffect* effect) {
  auto it = links.find(node);
  if (it != links.end() && it->second.ended_at_micros() == 0) {
    const v1::LinkRole have = it->second.role();
    if (have == role || have == v1::LINK_ROLE_ORIGIN) return;
    if (have == v1::LINK_ROLE_RESIDENCE && role == v1::LINK_ROLE_COUNTERPART) return;
  }
  effect->changed[node] = NewLink(role, body);
}

void EndResidences(const Links& links, const std::string& except,
                   int64_t now_micros, LinkEffect* effect) {
  for (const auto& [node, link] : links) {
    if (node == except || link.role() != v1::LINK_ROLE_RESIDENCE ||
        link.ended_at_micros() != 0) {
      continue;
    }
    v1::PersonLink ended = link;
    ended.set_ended_at_micros(now_micros);
    effect->changed[node] = ended;
  }
}

}  // namespace

LinkEffect DeriveLinks(const v1::EventBody& body, const v1::RecordValue& value,
                       const Links& links, int64_t now_micros) {
  LinkEffect effect;
  if (body.operation() != v1::OPERATION_UPSERT) return effect;
  const std::string& writer = body.origin();
  switch (value.value_case()) {
    case v1::RecordValue::kPersonBasics:
      Link(links, writer, v1::LINK_ROLE_ORIGIN, body, &effect);
      break;
    case v1::RecordValue::kOutflow:
      Link(links, writer, v1::LINK_ROLE_ORIGIN, body, &effect);
      effect.counterparts.push_back(value.outflow().destination_county());
      break;
    case v1::RecordValue::kInflow:
      EndResidences(links, writer, now_micros, &effect);
      Link(links, writer, v1::LINK_ROLE_RESIDENCE, body, &effect);
      if (value.inflow().origin_county() != writer) {
        Link(links, value.inflow().origin_county(), v1::LINK_ROLE_ORIGIN, body,
             &effect);
      }
      // The previous residence learns that the case moved on (DOMAIN.md).
      if (!value.inflow().previous_residence().empty()) {
        effect.counterparts.push_back(value.inflow().previous_residence());
      }
      break;
    case v1::RecordValue::kReturnRegistration:
      if (value.return_registration().type() == v1::RETURN_TYPE_RETURNED_HOME) {
        EndResidences(links, /*except=*/"", now_micros, &effect);
      } else if (IsActive(links, writer) &&
                 links.at(writer).role() == v1::LINK_ROLE_RESIDENCE) {
        v1::PersonLink ended = links.at(writer);
        ended.set_ended_at_micros(now_micros);
        effect.changed[writer] = ended;
      }
      break;
    case v1::RecordValue::kInquiry:
      Link(links, writer, v1::LINK_ROLE_COUNTERPART, body, &effect);
      effect.counterparts.push_back(value.inquiry().to_county());
      break;
    case v1::RecordValue::kNotice:
      Link(links, writer, v1::LINK_ROLE_COUNTERPART, body, &effect);
      effect.counterparts.push_back(value.notice().to_county());
      break;
    case v1::RecordValue::kInquiryReply:
      effect.counterparts.push_back(value.inquiry_reply().inquiry_county());
      break;
    case v1::RecordValue::kReceipt:
      effect.counterparts.push_back(value.receipt().notice_county());
      break;
    case v1::RecordValue::kCertificate:
    case v1::RecordValue::kService:
    case v1::RecordValue::kEntitlement:
    case v1::RecordValue::VALUE_NOT_SET:
      break;
  }
  return effect;
}

std::vector<std::string> DeriveAudience(absl::string_view writer,
                                        absl::string_view national,
                                        const Links& links,
                                        const std::vector<std::string>& counterparts,
                                        int64_t now_micros, absl::Duration retention) {
  const int64_t retention_micros = absl::ToInt64Microseconds(retention);
  std::vector<std::string> audience;
  for (const auto& [node, link] : links) {
    if (link.ended_at_micros() != 0 &&
        now_micros - link.ended_at_micros() >= retention_micros) {
      continue;
    }
    audience.push_back(node);
  }
  audience.insert(audience.end(), counterparts.begin(), counterparts.end());
  audience.emplace_back(national);
  std::sort(audience.begin(), audience.end());
  audience.erase(std::unique(audience.begin(), audience.end()), audience.end());
  audience.erase(std::remove(audience.begin(), audience.end(), writer),
                 audience.end());
  return audience;
}

}  // namespace tongban::storage
