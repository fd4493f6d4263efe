// Builders of valid test records and citizen IDs.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "common/ids/citizen_id.h"
#include "storage/writer.h"
#include "tongban/v1/admin.pb.h"
#include "tongban/v1/records.pb.h"

namespace tongban::testutil {

// Node codes used across tests: real current county codes.
inline constexpr char kOrigin[] = "620102";     // Lanzhou, Chengguan district
inline constexpr char kResidence[] = "440305";  // Shenzhen, Nanshan district
inline constexpr char kThird[] = "330106";      // Hangzhou, Xihu district

// A valid 18-character ID: region, birth date "YYYYMMDD", 3-digit sequence.
inline std::string MakeId(absl::string_view region, absl::string_view birth, int sequence) {
  std::string first17 = absl::StrCat(region, birth);
  const std::string seq = absl::StrCat(1000 + sequence % 1000).substr(1);
  first17 += seq;
  return first17 + ids::CheckCharacter(first17);
}

inline v1::Date Day(int y, int m, int d) {
  v1::Date date;
  date.set_year(y);
  date.set_month(m);
  date.set_day(d);
  return date;
}

// Person basics whose recorded sex agrees with the ID's sequence digit.
inline storage::RecordChange Basics(const std::string& id, const std::string& name) {
  const v1::Sex sex = id.size() == 18 && (id[16] - '0') % 2 == 1 ? v1::SEX_MALE : v1::SEX_FEMALE;
  storage::RecordChange c;
  c.person = id;
  c.kind = v1::RECORD_KIND_PERSON_BASICS;
  c.record_id = "basics";
  v1::PersonBasics* p = c.value.mutable_person_basics();
  p->set_name(name);
  p->set_sex(sex);
  *p->mutable_birth_date() = Day(1990, 1, 1);
  p->set_hukou_region(kOrigin);
  p->set_hukou_address("Lanzhou test address");
  return c;
}

inline storage::RecordChange Inflow(const std::string& id, const std::string& origin,
                                    const std::string& record_id = "inflow-1") {
  storage::RecordChange c;
  c.person = id;
  c.kind = v1::RECORD_KIND_INFLOW;
  c.record_id = record_id;
  v1::InflowRegistration* in = c.value.mutable_inflow();
  in->set_origin_county(origin);
  *in->mutable_arrived_on() = Day(2026, 3, 1);
  *in->mutable_registered_on() = Day(2026, 3, 10);
  in->set_address("Shenzhen test address");
  return c;
}

inline storage::RecordChange Service(const std::string& id, const std::string& provider,
                                     const std::string& record_id) {
  storage::RecordChange c;
  c.person = id;
  c.kind = v1::RECORD_KIND_SERVICE;
  c.record_id = record_id;
  v1::ServiceRecord* s = c.value.mutable_service();
  s->set_type(v1::SERVICE_TYPE_HEALTH_CHECK);
  *s->mutable_delivered_on() = Day(2026, 4, 1);
  s->set_provider_county(provider);
  return c;
}

// An active entitlement (奖励扶助), which only the person's origin writes.
inline storage::RecordChange Entitlement(const std::string& id,
                                         const std::string& record_id = "ent-1") {
  storage::RecordChange c;
  c.person = id;
  c.kind = v1::RECORD_KIND_ENTITLEMENT;
  c.record_id = record_id;
  c.value.mutable_entitlement()->set_programme("reward and assistance");
  c.value.mutable_entitlement()->set_status(v1::ENTITLEMENT_STATUS_ACTIVE);
  return c;
}

// An outflow registration (流出登记) of `person` to county `to`.
inline storage::RecordChange Outflow(const std::string& person, const std::string& to,
                                     const std::string& record_id = "") {
  storage::RecordChange c;
  c.person = person;
  c.kind = v1::RECORD_KIND_OUTFLOW;
  c.record_id = record_id.empty() ? absl::StrCat("out-", to) : record_id;
  c.value.mutable_outflow()->set_destination_county(to);
  *c.value.mutable_outflow()->mutable_left_on() = Day(2026, 3, 1);
  return c;
}

// An inquiry (协查) of `type` about `person` to county `to`, sent at `sent`.
inline storage::RecordChange Inquiry(const std::string& person, const std::string& to,
                                     const std::string& record_id, v1::InquiryType type,
                                     absl::Time sent, const v1::Date& due_on) {
  storage::RecordChange c;
  c.person = person;
  c.kind = v1::RECORD_KIND_INQUIRY;
  c.record_id = record_id;
  v1::Inquiry* q = c.value.mutable_inquiry();
  q->set_type(type);
  q->set_to_county(to);
  q->set_question("Is the person living at the registered address?");
  q->set_sent_at_micros(absl::ToUnixMicros(sent));
  *q->mutable_due_on() = due_on;
  return c;
}

// The reply (协查反馈) to inquiry `inquiry` of county `from`, written at `at`.
inline storage::RecordChange InquiryReply(const std::string& person, const std::string& from,
                                          const std::string& inquiry, absl::Time at) {
  storage::RecordChange c;
  c.person = person;
  c.kind = v1::RECORD_KIND_INQUIRY_REPLY;
  c.record_id = absl::StrCat("reply-", inquiry);
  v1::InquiryReply* r = c.value.mutable_inquiry_reply();
  r->set_inquiry_record_id(inquiry);
  r->set_inquiry_county(from);
  r->set_answer("Confirmed at the address.");
  r->set_matched(true);
  r->set_replied_at_micros(absl::ToUnixMicros(at));
  return c;
}

// A change of record (kind, record_id) of `person`, its value still empty.
inline storage::RecordChange Change(const std::string& person, v1::RecordKind kind,
                                    const std::string& record_id) {
  storage::RecordChange c;
  c.person = person;
  c.kind = kind;
  c.record_id = record_id;
  return c;
}

// A retraction (撤回) of record (kind, record_id) of `person`.
inline storage::RecordChange Retraction(const std::string& person, v1::RecordKind kind,
                                        const std::string& record_id) {
  storage::RecordChange c = Change(person, kind, record_id);
  c.operation = v1::OPERATION_RETRACT;
  c.reason = "entered in error";
  return c;
}

// The Admin Write request a client sends for `c`.
inline v1::WriteRequest WriteRequestOf(const storage::RecordChange& c) {
  v1::WriteRequest r;
  r.set_person(c.person);
  r.set_kind(c.kind);
  r.set_record_id(c.record_id);
  r.set_operation(c.operation);
  *r.mutable_value() = c.value;
  r.set_reason(c.reason);
  return r;
}

}  // namespace tongban::testutil
