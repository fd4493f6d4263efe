#include "records/links.h"

#include <algorithm>
#include <tuple>

namespace tongban::records {
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

// Links `node` with `role` unless it is already actively linked in a role at
// least as strong (origin > residence > counterpart).
void Link(const Links& links, const std::string& node, v1::LinkRole role, const v1::EventBody& body,
          LinkEffect* effect) {
  auto it = links.find(node);
  if (it != links.end() && it->second.ended_at_micros() == 0) {
    const v1::LinkRole have = it->second.role();
    if (have == role || have == v1::LINK_ROLE_ORIGIN) return;
    if (have == v1::LINK_ROLE_RESIDENCE && role == v1::LINK_ROLE_COUNTERPART) return;
  }
  effect->changed[node] = NewLink(role, body);
}

// Stamps order registrations: hybrid clock, then node code for ties.
bool Before(const v1::Hlc& a, absl::string_view node_a, const v1::Hlc& b,
            absl::string_view node_b) {
  return std::make_tuple(a.physical_micros(), a.logical(), node_a) <
         std::make_tuple(b.physical_micros(), b.logical(), node_b);
}

// Ends `link` at `at` unless it already ended earlier.
void EndAt(v1::PersonLink* link, int64_t at) {
  if (link->ended_at_micros() == 0 || link->ended_at_micros() > at) {
    link->set_ended_at_micros(at);
  }
}

// The working copy of `node`'s link in `effect`, starting from `links`.
v1::PersonLink* Working(const Links& links, const std::string& node, LinkEffect* effect) {
  auto it = effect->changed.find(node);
  if (it != effect->changed.end()) return &it->second;
  auto old = links.find(node);
  v1::PersonLink& out = effect->changed[node];
  if (old != links.end()) out = old->second;
  return &out;
}

// An inflow registration by `writer` at the event's stamp. Residences are
// ordered by their registrations' stamps, never by arrival, so that every
// node derives the same links from the same events in any order
// (DESIGN.md section 5).
void RegisterResidence(const Links& links, const std::string& writer, const v1::EventBody& body,
                       LinkEffect* effect) {
  const v1::Hlc& t = body.hlc();
  auto mine = links.find(writer);
  if (mine != links.end() && mine->second.role() == v1::LINK_ROLE_RESIDENCE &&
      !Before(mine->second.since(), writer, t, writer)) {
    return;  // a registration at least as new is already applied
  }
  v1::PersonLink* link = Working(links, writer, effect);
  const int64_t departed = link->role() == v1::LINK_ROLE_RESIDENCE ? link->ended_at_micros() : 0;
  *link = NewLink(v1::LINK_ROLE_RESIDENCE, body);
  // A departure recorded after this registration still ends it.
  if (departed > t.physical_micros()) link->set_ended_at_micros(departed);
  for (const auto& [node, other] : links) {
    if (node == writer) continue;
    if (other.role() == v1::LINK_ROLE_RESIDENCE) {
      if (Before(other.since(), node, t, writer)) {
        EndAt(Working(links, node, effect), t.physical_micros());  // moved on from there
      } else {
        EndAt(link, other.since().physical_micros());  // already moved on from here
      }
    }
    for (const v1::Hlc& home : other.returned_home()) {
      if (Before(t, writer, home, node)) EndAt(link, home.physical_micros());
    }
  }
}

void ReturnHome(const Links& links, const v1::EventBody& body, LinkEffect* effect) {
  v1::PersonLink* origin = Working(links, body.origin(), effect);
  if (origin->role() == v1::LINK_ROLE_UNSPECIFIED) {
    *origin = NewLink(v1::LINK_ROLE_ORIGIN, body);
  }
  *origin->add_returned_home() = body.hlc();
  for (const auto& [node, other] : links) {
    if (other.role() == v1::LINK_ROLE_RESIDENCE &&
        Before(other.since(), node, body.hlc(), body.origin())) {
      EndAt(Working(links, node, effect), body.hlc().physical_micros());
    }
  }
}

void Depart(const Links& links, const v1::EventBody& body, LinkEffect* effect) {
  const std::string& writer = body.origin();
  auto mine = links.find(writer);
  if (mine != links.end() && mine->second.role() == v1::LINK_ROLE_RESIDENCE &&
      !Before(mine->second.since(), writer, body.hlc(), writer)) {
    return;  // registered again after this departure
  }
  v1::PersonLink* link = Working(links, writer, effect);
  if (link->role() == v1::LINK_ROLE_UNSPECIFIED) {
    // The registration has not arrived yet: keep the departure for it.
    link->set_role(v1::LINK_ROLE_RESIDENCE);
    v1::EventId* by = link->mutable_established_by();
    by->set_origin(body.origin());
    by->set_epoch(body.epoch());
    by->set_seq(body.seq());
  }
  EndAt(link, body.hlc().physical_micros());
}

}  // namespace

v1::Hlc StampAsTime(const v1::Hlc& stamp, int64_t horizon_micros) {
  if (stamp.physical_micros() <= horizon_micros) return stamp;
  v1::Hlc at = stamp;
  at.set_physical_micros(horizon_micros);
  return at;
}

LinkEffect DeriveLinks(const v1::EventBody& event, const v1::RecordValue& value, const Links& links,
                       int64_t horizon_micros) {
  LinkEffect effect;
  if (event.operation() != v1::OPERATION_UPSERT) return effect;
  // What the rules read of the event: who, which event, and when (the
  // stamp as a time, bounded by the horizon).
  v1::EventBody body;
  body.set_origin(event.origin());
  body.set_epoch(event.epoch());
  body.set_seq(event.seq());
  body.set_operation(event.operation());
  *body.mutable_hlc() = StampAsTime(event.hlc(), horizon_micros);
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
      RegisterResidence(links, writer, body, &effect);
      if (value.inflow().origin_county() != writer) {
        Link(links, value.inflow().origin_county(), v1::LINK_ROLE_ORIGIN, body, &effect);
      }
      // The previous residence learns that the case moved on (DOMAIN.md).
      if (!value.inflow().previous_residence().empty()) {
        effect.counterparts.push_back(value.inflow().previous_residence());
      }
      break;
    case v1::RecordValue::kReturnRegistration:
      if (value.return_registration().type() == v1::RETURN_TYPE_RETURNED_HOME) {
        ReturnHome(links, body, &effect);
      } else {
        Depart(links, body, &effect);
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
    case v1::RecordValue::VALUE_NOT_SET: break;
  }
  return effect;
}

std::vector<std::string> DeriveAudience(absl::string_view writer, absl::string_view national,
                                        const Links& links,
                                        const std::vector<std::string>& counterparts,
                                        int64_t now_micros, absl::Duration retention) {
  const int64_t retention_micros = absl::ToInt64Microseconds(retention);
  std::vector<std::string> audience;
  for (const auto& [node, link] : links) {
    if (link.ended_at_micros() != 0 && now_micros - link.ended_at_micros() >= retention_micros) {
      continue;
    }
    audience.push_back(node);
  }
  audience.insert(audience.end(), counterparts.begin(), counterparts.end());
  audience.emplace_back(national);
  std::sort(audience.begin(), audience.end());
  audience.erase(std::unique(audience.begin(), audience.end()), audience.end());
  audience.erase(std::remove(audience.begin(), audience.end(), writer), audience.end());
  return audience;
}

}  // namespace tongban::records
