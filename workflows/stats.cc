#include "workflows/stats.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/ids/region.h"
#include "common/status_macros.h"
#include "google/protobuf/arena.h"
#include "records/dates.h"
#include "records/deadline_rules.h"
#include "records/kinds.h"
#include "records/record_state.h"
#include "storage/keys.h"
#include "tongban/v1/store.pb.h"

namespace tongban::workflows {
namespace {

// Arrival must be registered within this many days (DOMAIN.md; some
// provinces use 15, which the records do not say: see kNotComputable).
constexpr int kRegistrationDays = records::kArrivalRegistrationDays;
// Inquiry deadlines by type when the inquiry carries no due_on: DOMAIN.md's
// defaults (the rules a node's configuration may change apply where the
// inquiry is sent, and are written into its due_on).
const records::DeadlineRules kDefaultRules;

constexpr int kNation = 0;

// Region codes as integers: 440305; a province 440000; the nation 0; -1 for
// anything that is not six digits.
int CodeInt(absl::string_view s) { return s.size() == storage::kNodeCodeSize ? Digits(s) : -1; }

// Days are counted as days since 1970-01-01 in the computation: a million
// records make several million date conversions, and absl::CivilDay
// arithmetic far from its epoch costs a loop each.
using DayNum = int64_t;
const absl::CivilDay kEpochDay(1970, 1, 1);
DayNum ToDayNum(absl::CivilDay d) { return d - kEpochDay; }

// The day in China Standard Time of a time stamp in microseconds.
DayNum DayOfMicros(int64_t micros) { return records::ChinaDayNumber(micros); }

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil). REQUIRES: 1 <= m <= 12.
DayNum DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}
bool IsCounty(int code) { return code > 0 && code % 10000 != 0; }
int ProvinceOf(int code) { return code / 10000 * 10000; }
std::string CodeText(int code) { return absl::StrFormat("%06d", code); }

v1::StatsScopeLevel LevelOf(int code) {
  if (code == kNation) return v1::STATS_SCOPE_LEVEL_NATION;
  if (code % 10000 == 0) return v1::STATS_SCOPE_LEVEL_PROVINCE;
  return v1::STATS_SCOPE_LEVEL_COUNTY;
}

// A record's date as a day, or nullopt if unset or not a calendar day.
std::optional<DayNum> DayOf(const v1::Date& d) {
  if (d.year() < 1 || d.month() < 1 || d.month() > 12 || d.day() < 1 ||
      d.day() > DaysInMonth(d.year(), d.month())) {
    return std::nullopt;
  }
  return DaysFromCivil(d.year(), d.month(), d.day());
}

int DeadlineDays(v1::InquiryType type) { return kDefaultRules.InquiryDays(type); }

// One live record of the person being evaluated (its standing head).
struct Rec {
  v1::RecordKind kind = v1::RECORD_KIND_UNSPECIFIED;
  std::string record_id;
  int custodian = -1;  // the writer
  bool parsed = false;
  const v1::RecordValue* value = nullptr;  // on the computation's arena
  DayNum stamp_day = 0;                    // the standing head's hybrid clock stamp, CST
  uint32_t findings = 0;
  bool conflict = false;
};

// Flows keyed by (year * 100 + month, origin, residence).
using FlowKey = std::array<int, 3>;
using FlowCounts = std::array<uint64_t, 2>;  // inflows, outflows
using FlowMap = std::map<FlowKey, FlowCounts>;

struct Acc {
  std::array<std::array<uint64_t, 2>, kMeasureCount> ratio{};  // numerator, denominator
  uint64_t conflicts = 0;
  FlowMap flows;

  void Count(Measure m, bool hit) {
    ++ratio[m][1];
    if (hit) ++ratio[m][0];
  }
  bool Empty() const {
    for (const auto& r : ratio) {
      if (r[1] != 0) return false;
    }
    return conflicts == 0 && flows.empty();
  }
};

// A minimal protobuf wire reader over a buffer, without copies: a full scan
// parses a million RecordStates, and the generated parser copies every
// payload and allocates every event id of the history, which statistics never
// read (it cost about a third of the computation).
class WireReader {
 public:
  explicit WireReader(absl::string_view bytes)
      : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}
  bool done() const { return p_ == end_; }
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      const auto b = static_cast<uint8_t>(*p_++);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  // The next field's number and wire type.
  bool Tag(int* field, int* type) {
    uint64_t tag = 0;
    if (!Varint(&tag)) return false;
    *field = static_cast<int>(tag >> 3);
    *type = static_cast<int>(tag & 7);
    return *field > 0;
  }
  // A length-delimited field's bytes, pointing into the buffer.
  bool Bytes(absl::string_view* out) {
    uint64_t n = 0;
    if (!Varint(&n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    *out = absl::string_view(p_, n);
    p_ += n;
    return true;
  }
  bool Skip(int type) {
    uint64_t v = 0;
    absl::string_view bytes;
    switch (type) {
      case 0: return Varint(&v);
      case 1: return Advance(8);
      case 2: return Bytes(&bytes);
      case 5: return Advance(4);
      default: return false;
    }
  }

 private:
  bool Advance(size_t n) {
    if (n > static_cast<size_t>(end_ - p_)) return false;
    p_ += n;
    return true;
  }
  const char* p_;
  const char* const end_;
};

constexpr int kVarint = 0, kDelimited = 2;

// RecordState.Head as the statistics read it; views point into the scanned
// value and are valid only during the scan callback.
struct HeadView {
  absl::string_view origin;  // event.origin
  uint64_t epoch = 0, seq = 0;
  int64_t physical_micros = 0;
  uint64_t logical = 0;
  int operation = 0;
  absl::string_view payload;
};

// RecordState fields 1 (custodian), 2 (heads) and 3 (id_findings, counted).
struct StateView {
  absl::string_view custodian;
  std::vector<HeadView> heads;  // reused between records
  int findings = 0;
};

// Calls field(number, wire type, reader) for each field of the message in
// `bytes`; field reads or skips the value. False on malformed input.
template <typename F>
bool ParseMessage(absl::string_view bytes, const F& field) {
  WireReader in(bytes);
  while (!in.done()) {
    int number = 0, type = 0;
    if (!in.Tag(&number, &type) || !field(number, type, in)) return false;
  }
  return true;
}

bool ParseHead(absl::string_view bytes, HeadView* h) {
  *h = HeadView();
  return ParseMessage(bytes, [h](int field, int type, WireReader& in) {
    absl::string_view sub;
    uint64_t v = 0;
    switch (field * 8 + type) {
      case v1::RecordState::Head::kEventFieldNumber * 8 + kDelimited:
        return in.Bytes(&sub) && ParseMessage(sub, [h](int f, int t, WireReader& e) {
                 switch (f * 8 + t) {
                   case v1::EventId::kOriginFieldNumber * 8 + kDelimited:
                     return e.Bytes(&h->origin);
                   case v1::EventId::kEpochFieldNumber * 8 + kVarint: return e.Varint(&h->epoch);
                   case v1::EventId::kSeqFieldNumber * 8 + kVarint: return e.Varint(&h->seq);
                   default: return e.Skip(t);
                 }
               });
      case v1::RecordState::Head::kHlcFieldNumber * 8 + kDelimited:
        return in.Bytes(&sub) && ParseMessage(sub, [h](int f, int t, WireReader& c) {
                 uint64_t physical = 0;
                 switch (f * 8 + t) {
                   case v1::Hlc::kPhysicalMicrosFieldNumber * 8 + kVarint:
                     if (!c.Varint(&physical)) return false;
                     h->physical_micros = static_cast<int64_t>(physical);
                     return true;
                   case v1::Hlc::kLogicalFieldNumber * 8 + kVarint: return c.Varint(&h->logical);
                   default: return c.Skip(t);
                 }
               });
      case v1::RecordState::Head::kOperationFieldNumber * 8 + kVarint:
        if (!in.Varint(&v)) return false;
        h->operation = static_cast<int>(v);
        return true;
      case v1::RecordState::Head::kPayloadFieldNumber * 8 + kDelimited:
        return in.Bytes(&h->payload);
      default: return in.Skip(type);
    }
  });
}

// False if `bytes` is not a RecordState.
bool ParseStateView(absl::string_view bytes, StateView* s) {
  s->custodian = {};
  s->heads.clear();
  s->findings = 0;
  return ParseMessage(bytes, [s](int field, int type, WireReader& in) {
    absl::string_view sub;
    uint64_t v = 0;
    switch (field * 8 + type) {
      case v1::RecordState::kCustodianFieldNumber * 8 + kDelimited: return in.Bytes(&s->custodian);
      case v1::RecordState::kHeadsFieldNumber * 8 + kDelimited:
        s->heads.emplace_back();
        return in.Bytes(&sub) && ParseHead(sub, &s->heads.back());
      case v1::RecordState::kIdFindingsFieldNumber * 8 + kDelimited: {  // packed
        if (!in.Bytes(&sub)) return false;
        WireReader packed(sub);
        while (!packed.done()) {
          if (!packed.Varint(&v)) return false;
          ++s->findings;
        }
        return true;
      }
      case v1::RecordState::kIdFindingsFieldNumber * 8 + kVarint:
        ++s->findings;
        return in.Varint(&v);
      default: return in.Skip(type);
    }
  });
}

// The standing head (records/record_state.h), by the rule every part of
// the node applies, from the fields this reader took off the wire.
records::HeadStamp StampOf(const HeadView& h) {
  return records::HeadStamp{h.physical_micros, h.logical, h.origin, h.epoch, h.seq};
}
const HeadView* StandingHead(const StateView& state) {
  const HeadView* best = nullptr;
  for (const HeadView& h : state.heads) {
    if (best == nullptr || records::StandsOver(StampOf(h), StampOf(*best))) best = &h;
  }
  return best;
}

// Reads the records column family person by person: the live records of a
// person (standing head not a retraction), parsed once for every period
// computed from the same scan.
class PersonReader {
 public:
  using Evaluator = std::function<void(absl::Span<const Rec>)>;

  // Feeds one entry of the records column family, in key order; calls
  // `evaluate` with a person's live records once all of them were read.
  absl::Status Add(absl::string_view key, absl::string_view value, const Evaluator& evaluate) {
    storage::RecordKeyParts parts;
    if (!storage::DecodeRecordKey(key, &parts)) {
      return absl::DataLossError("stats: a records key shorter than a person id");
    }
    if (parts.person != person_) {
      Flush(evaluate);
      person_.assign(parts.person.data(), parts.person.size());
    }
    const auto kind = static_cast<v1::RecordKind>(parts.kind);
    if (!ParseStateView(value, &state_)) {
      return absl::DataLossError(absl::StrCat("stats: the record state of a ",
                                              records::KindName(kind), " record does not parse"));
    }
    const HeadView* head = StandingHead(state_);
    if (head == nullptr || head->operation == v1::OPERATION_RETRACT) return absl::OkStatus();
    if (live_ == recs_.size()) recs_.emplace_back();
    Rec& r = recs_[live_++];
    r.kind = kind;
    r.record_id.assign(parts.record_id.data(), parts.record_id.size());
    r.custodian = CodeInt(state_.custodian);
    // Values live on an arena, freed a megabyte at a time between persons:
    // a million records would otherwise allocate and free each one.
    v1::RecordValue* payload = google::protobuf::Arena::CreateMessage<v1::RecordValue>(&arena_);
    r.parsed =
        payload->ParseFromArray(head->payload.data(), static_cast<int>(head->payload.size())) &&
        payload->value_case() == records::ValueCaseOf(r.kind);
    r.value = payload;
    r.stamp_day = DayOfMicros(head->physical_micros);
    r.findings = static_cast<uint32_t>(state_.findings);
    r.conflict = state_.heads.size() > 1;
    return absl::OkStatus();
  }

  // Hands the person read last to `evaluate`.
  void Flush(const Evaluator& evaluate) {
    if (live_ == 0) return;
    evaluate(absl::Span<const Rec>(recs_.data(), live_));
    live_ = 0;
    if (arena_.SpaceUsed() > (1 << 20)) arena_.Reset();
  }

 private:
  // The person being read and its live records (recs_[0, live_)); reused.
  std::string person_;
  google::protobuf::Arena arena_;
  StateView state_;
  std::vector<Rec> recs_;
  size_t live_ = 0;
};

class Computation {
 public:
  Computation(absl::CivilDay first, absl::CivilDay last, absl::CivilDay today, int scope)
      : first_(ToDayNum(first)),
        last_(ToDayNum(last)),
        today_(ToDayNum(today)),
        ref_(std::min(last_, today_)),
        scope_(scope),
        level_(LevelOf(scope)) {
    for (absl::CivilDay d = first; d <= last; ++d) {
      month_of_.push_back(static_cast<int>(d.year()) * 100 + d.month());
    }
  }

  // Counts one person's live records (all of them, in key order).
  void Evaluate(absl::Span<const Rec> recs) {
    for (const Rec& r : recs) CountRecord(r);
    for (const Rec& r : recs) {
      if (!r.parsed) continue;
      switch (r.kind) {
        case v1::RECORD_KIND_INQUIRY: CountInquiry(recs, r); break;
        case v1::RECORD_KIND_NOTICE: CountNotice(recs, r); break;
        case v1::RECORD_KIND_INFLOW: CountInflow(recs, r); break;
        case v1::RECORD_KIND_OUTFLOW: CountOutflow(recs, r); break;
        default: break;
      }
    }
    CountPersons(kArrivedOneSided, arrived_);
    CountPersons(kLeftOneSided, left_);
    CountCertificate(recs);
  }

  // Builds the rows once every person was evaluated.
  v1::StatsReply Finish() {
    SumUp();
    DistributeFlows();
    v1::StatsReply reply;
    std::vector<int> codes;
    for (const auto& [code, acc] : acc_) {
      if (code == scope_ || !acc.Empty()) codes.push_back(code);
    }
    if (acc_.find(scope_) == acc_.end()) codes.push_back(scope_);
    // Nation, then each province followed by its counties.
    std::sort(codes.begin(), codes.end(), [](int a, int b) {
      const auto key = [](int c) {
        return std::make_tuple(c != kNation, ProvinceOf(c), c % 10000 != 0, c);
      };
      return key(a) < key(b);
    });
    for (int code : codes) {
      v1::StatsRow* row = reply.add_rows();
      row->set_scope(CodeText(code));
      row->set_level(LevelOf(code));
      const Acc& acc = acc_[code];
      for (int m = 0; m < kMeasureCount; ++m) {
        v1::StatsRatio* ratio = MutableRatio(row, m);
        ratio->set_numerator(acc.ratio[m][0]);
        ratio->set_denominator(acc.ratio[m][1]);
      }
      row->set_records_in_conflict(acc.conflicts);
      for (const auto& [key, counts] : acc.flows) {
        v1::StatsFlow* f = row->add_flows();
        f->set_month(absl::StrFormat("%04d-%02d", key[0] / 100, key[0] % 100));
        f->set_origin(CodeText(key[1]));
        f->set_residence(CodeText(key[2]));
        f->set_inflows(counts[0]);
        f->set_outflows(counts[1]);
      }
    }
    return reply;
  }

 private:
  bool InPeriod(DayNum d) const { return d >= first_ && d <= last_; }
  // A county whose row this query computes.
  bool Wanted(int county) const {
    if (!IsCounty(county)) return false;
    switch (level_) {
      case v1::STATS_SCOPE_LEVEL_NATION: return true;
      case v1::STATS_SCOPE_LEVEL_PROVINCE: return ProvinceOf(county) == scope_;
      default: return county == scope_;
    }
  }
  void CountRecord(const Rec& r) {
    if (!InPeriod(r.stamp_day) || !Wanted(r.custodian)) return;
    Acc& acc = acc_[r.custodian];
    // Completeness (完整率): the fields the write path requires present
    // (records/kinds.h), by presence only: a value's validity is the write
    // path's concern, and what it lets through on confirmation is counted as
    // ID findings. Records applied from peers are not re-validated on this
    // node, so they can lack a field.
    acc.Count(kCompleteness,
              r.parsed && records::MissingRequiredField(r.kind, *r.value) == nullptr);
    ++acc.ratio[kIdFindings][1];
    acc.ratio[kIdFindings][0] += r.findings;
    if (r.conflict) ++acc.conflicts;
  }

  // The earliest day on which county `by` answered the record (`id`, written
  // by `writer`) with a live record of `kind` (a reply or a receipt).
  std::optional<DayNum> AnswerDay(absl::Span<const Rec> recs, v1::RecordKind kind, int by,
                                  const std::string& id, int writer) const {
    std::optional<DayNum> best;
    for (const Rec& a : recs) {
      if (a.kind != kind || !a.parsed || a.custodian != by) continue;
      absl::string_view ref_id, ref_county;
      int64_t at = 0;
      if (kind == v1::RECORD_KIND_INQUIRY_REPLY) {
        ref_id = a.value->inquiry_reply().inquiry_record_id();
        ref_county = a.value->inquiry_reply().inquiry_county();
        at = a.value->inquiry_reply().replied_at_micros();
      } else {
        ref_id = a.value->receipt().notice_record_id();
        ref_county = a.value->receipt().notice_county();
        at = a.value->receipt().received_at_micros();
      }
      if (ref_id != id || CodeInt(ref_county) != writer) continue;
      const DayNum day = at != 0 ? DayOfMicros(at) : a.stamp_day;
      if (!best.has_value() || day < *best) best = day;
    }
    return best;
  }

  void CountInquiry(absl::Span<const Rec> recs, const Rec& r) {
    const v1::Inquiry& q = r.value->inquiry();
    const int to = CodeInt(q.to_county());
    if (!Wanted(to)) return;
    const DayNum sent = q.sent_at_micros() != 0 ? DayOfMicros(q.sent_at_micros()) : r.stamp_day;
    const std::optional<DayNum> replied =
        AnswerDay(recs, v1::RECORD_KIND_INQUIRY_REPLY, to, r.record_id, r.custodian);
    if (InPeriod(sent)) acc_[to].Count(kFeedback, replied.has_value());
    const DayNum deadline = DayOf(q.due_on()).value_or(sent + DeadlineDays(q.type()));
    if (InPeriod(deadline) && (replied.has_value() || deadline < today_)) {
      acc_[to].Count(kOnTime, replied.has_value() && *replied <= deadline);
    }
  }

  void CountNotice(absl::Span<const Rec> recs, const Rec& r) {
    const v1::Notice& n = r.value->notice();
    const int to = CodeInt(n.to_county());
    if (!n.needs_receipt() || !Wanted(to)) return;
    const DayNum sent = n.sent_at_micros() != 0 ? DayOfMicros(n.sent_at_micros()) : r.stamp_day;
    if (!InPeriod(sent)) return;
    acc_[to].Count(
        kReceipt,
        AnswerDay(recs, v1::RECORD_KIND_RECEIPT, to, r.record_id, r.custodian).has_value());
  }

  // Whether `recs` hold a live record of `kind` written by `writer`.
  static bool Holds(absl::Span<const Rec> recs, v1::RecordKind kind, int writer) {
    return std::any_of(recs.begin(), recs.end(), [&](const Rec& a) {
      return a.kind == kind && a.parsed && a.custodian == writer;
    });
  }

  void CountInflow(absl::Span<const Rec> recs, const Rec& r) {
    const v1::InflowRegistration& in = r.value->inflow();
    const int residence = r.custodian;
    const int origin = CodeInt(in.origin_county());
    const std::optional<DayNum> registered = DayOf(in.registered_on());
    const std::optional<DayNum> arrived = DayOf(in.arrived_on());
    if (Wanted(residence) && registered.has_value() && InPeriod(*registered)) {
      acc_[residence].Count(kTimeliness,
                            arrived.has_value() && *registered - *arrived <= kRegistrationDays);
      arrived_.den.push_back(residence);
      if (!Holds(recs, v1::RECORD_KIND_OUTFLOW, origin)) arrived_.num.push_back(residence);
    }
    if (arrived.has_value()) AddFlow(*arrived, origin, residence, 0);
  }

  void CountOutflow(absl::Span<const Rec> recs, const Rec& r) {
    const v1::OutflowRegistration& out = r.value->outflow();
    const int origin = r.custodian;
    const int destination = CodeInt(out.destination_county());
    const std::optional<DayNum> left = DayOf(out.left_on());
    if (!left.has_value()) return;
    AddFlow(*left, origin, destination, 1);
    if (!Wanted(origin) || !InPeriod(*left) || *left + kRegistrationDays >= today_) return;
    const bool came_home = std::any_of(recs.begin(), recs.end(), [&](const Rec& a) {
      if (a.kind != v1::RECORD_KIND_RETURN || !a.parsed) return false;
      const v1::ReturnRegistration& ret = a.value->return_registration();
      const std::optional<DayNum> on = DayOf(ret.effective_on());
      return ret.type() == v1::RETURN_TYPE_RETURNED_HOME && on.has_value() && *on >= *left;
    });
    if (came_home) return;
    left_.den.push_back(origin);
    if (!Holds(recs, v1::RECORD_KIND_INFLOW, destination)) left_.num.push_back(origin);
  }

  // Certificate coverage on the reference day (see workflows/stats.h).
  void CountCertificate(absl::Span<const Rec> recs) {
    if (ref_ < first_) return;  // the period has not started
    const Rec* current = nullptr;
    auto arrival = [](const Rec& a) {
      const v1::InflowRegistration& in = a.value->inflow();
      return std::make_tuple(*DayOf(in.arrived_on()), DayOf(in.registered_on()).value_or(0),
                             a.stamp_day, a.custodian);
    };
    for (const Rec& a : recs) {
      if (a.kind != v1::RECORD_KIND_INFLOW || !a.parsed) continue;
      const std::optional<DayNum> arrived = DayOf(a.value->inflow().arrived_on());
      if (!arrived.has_value() || *arrived > ref_) continue;
      if (current == nullptr || arrival(a) > arrival(*current)) current = &a;
    }
    if (current == nullptr || !Wanted(current->custodian)) return;
    const int residence = current->custodian;
    const DayNum arrived = *DayOf(current->value->inflow().arrived_on());
    for (const Rec& a : recs) {
      if (a.kind != v1::RECORD_KIND_RETURN || !a.parsed) continue;
      const v1::ReturnRegistration& ret = a.value->return_registration();
      const std::optional<DayNum> on = DayOf(ret.effective_on());
      if (!on.has_value() || *on < arrived || *on > ref_) continue;
      if (ret.type() == v1::RETURN_TYPE_RETURNED_HOME) return;
      if (ret.type() == v1::RETURN_TYPE_DEPARTED &&
          (CodeInt(ret.from_county()) == residence || a.custodian == residence)) {
        return;
      }
    }
    const bool holds = std::any_of(recs.begin(), recs.end(), [&](const Rec& a) {
      if (a.kind != v1::RECORD_KIND_CERTIFICATE || !a.parsed) return false;
      const v1::Certificate& c = a.value->certificate();
      const std::optional<DayNum> from = DayOf(c.valid_from());
      const std::optional<DayNum> to = DayOf(c.valid_to());
      return !c.revoked() && from.has_value() && to.has_value() && *from <= ref_ && ref_ <= *to;
    });
    acc_[residence].Count(kCertificate, holds);
  }

  // Counties a person counts in for a distinct-person measure.
  struct PersonCounties {
    std::vector<int> den, num;
  };

  // Counts the person once per county, province and the nation.
  void CountPersons(Measure m, PersonCounties& p) {
    for (int part = 0; part < 2; ++part) {
      std::vector<int>& counties = part == 0 ? p.num : p.den;
      std::sort(counties.begin(), counties.end());
      counties.erase(std::unique(counties.begin(), counties.end()), counties.end());
      std::vector<int> scopes = counties;
      if (level_ != v1::STATS_SCOPE_LEVEL_COUNTY) {
        for (int c : counties) scopes.push_back(ProvinceOf(c));
        if (level_ == v1::STATS_SCOPE_LEVEL_NATION && !counties.empty()) {
          scopes.push_back(kNation);
        }
      }
      std::sort(scopes.begin(), scopes.end());
      scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
      for (int s : scopes) ++acc_[s].ratio[m][part];
      counties.clear();
    }
  }

  void AddFlow(DayNum day, int origin, int residence, int direction) {
    if (!InPeriod(day) || !IsCounty(origin) || !IsCounty(residence)) return;
    if (!Wanted(origin) && !Wanted(residence)) return;
    ++flows_[{month_of_[day - first_], origin, residence}][direction];
  }

  // Adds every county's summable counts to its province and the nation.
  void SumUp() {
    if (level_ == v1::STATS_SCOPE_LEVEL_COUNTY) return;
    std::vector<int> counties;
    for (const auto& [code, acc] : acc_) {
      if (IsCounty(code)) counties.push_back(code);
    }
    for (int county : counties) {
      const Acc acc = acc_[county];
      for (int target : {ProvinceOf(county), kNation}) {
        if (target == kNation && level_ != v1::STATS_SCOPE_LEVEL_NATION) continue;
        Acc& sum = acc_[target];
        for (int m = 0; m < kMeasureCount; ++m) {
          if (!SummedUp(m)) continue;
          sum.ratio[m][0] += acc.ratio[m][0];
          sum.ratio[m][1] += acc.ratio[m][1];
        }
        sum.conflicts += acc.conflicts;
      }
    }
  }

  // Gives each flow to the rows of its origin and residence: as counties in
  // county rows, as provinces in province rows and the nation's.
  void DistributeFlows() {
    for (const auto& [key, counts] : flows_) {
      const int month = key[0], origin = key[1], residence = key[2];
      std::vector<std::pair<int, FlowKey>> targets;
      for (int county : {origin, residence}) {
        if (Wanted(county)) targets.push_back({county, key});
      }
      if (level_ != v1::STATS_SCOPE_LEVEL_COUNTY) {
        const FlowKey provinces = {month, ProvinceOf(origin), ProvinceOf(residence)};
        for (int county : {origin, residence}) {
          if (Wanted(county)) targets.push_back({ProvinceOf(county), provinces});
        }
        if (level_ == v1::STATS_SCOPE_LEVEL_NATION) targets.push_back({kNation, provinces});
      }
      std::sort(targets.begin(), targets.end());
      targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
      for (const auto& [scope, k] : targets) {
        FlowCounts& into = acc_[scope].flows[k];
        into[0] += counts[0];
        into[1] += counts[1];
      }
    }
  }

  const DayNum first_, last_, today_;
  const DayNum ref_;           // reference day of certificate coverage
  std::vector<int> month_of_;  // year * 100 + month of each day of the period
  const int scope_;
  const v1::StatsScopeLevel level_;

  absl::flat_hash_map<int, Acc> acc_;  // scope code -> counts
  FlowMap flows_;                      // by county pair, for DistributeFlows

  PersonCounties arrived_, left_;
};

// The scope a node may compute, or why not.
absl::StatusOr<int> ResolveScope(absl::string_view node, absl::string_view requested) {
  TB_RETURN_IF_ERROR(Prefixed("stats: computing node", ids::ValidateNodeCode(node)));
  const std::string scope(requested.empty() ? node : requested);
  TB_RETURN_IF_ERROR(Prefixed("stats scope", ids::ValidateNodeCode(scope)));
  const int n = CodeInt(node), s = CodeInt(scope);
  const bool allowed =
      n == kNation || s == n ||
      (LevelOf(n) == v1::STATS_SCOPE_LEVEL_PROVINCE && s != kNation && ProvinceOf(s) == n);
  if (!allowed) {
    return absl::PermissionDeniedError(absl::StrCat(
        "stats scope ", scope, ": node ", node, " computes only ",
        LevelOf(n) == v1::STATS_SCOPE_LEVEL_COUNTY ? "its own county"
                                                   : "its own province and its counties",
        "; ask the national node"));
  }
  return s;
}

}  // namespace

StatsQuery StatsQueryFromRequest(const v1::StatsRequest& request, std::string node,
                                 absl::Time now) {
  StatsQuery q;
  q.node = std::move(node);
  q.period_kind = request.period_kind();
  q.period = request.period();
  q.scope = request.scope();
  q.now = now;
  return q;
}

absl::StatusOr<std::vector<v1::StatsReply>> ComputeStatsMany(
    const storage::Store& store, const std::vector<StatsQuery>& queries) {
  struct Planned {
    const StatsQuery* query;
    std::pair<absl::CivilDay, absl::CivilDay> days;
    absl::CivilDay today;
    int scope;
    std::unique_ptr<Computation> computation;
  };
  std::vector<Planned> plan;
  for (const StatsQuery& query : queries) {
    TB_ASSIGN_OR_RETURN(const auto days, StatsPeriodDays(query.period_kind, query.period));
    TB_ASSIGN_OR_RETURN(const int scope, ResolveScope(query.node, query.scope));
    const absl::CivilDay today = kEpochDay + DayOfMicros(absl::ToUnixMicros(query.now));
    plan.push_back({&query, days, today, scope,
                    std::make_unique<Computation>(days.first, days.second, today, scope)});
  }

  // One scan: each person's records are parsed once and counted for every
  // query.
  PersonReader reader;
  const PersonReader::Evaluator evaluate = [&plan](absl::Span<const Rec> recs) {
    for (Planned& p : plan) p.computation->Evaluate(recs);
  };
  absl::Status failed;
  TB_RETURN_IF_ERROR(store.ScanFrom(storage::Cf::kRecords, "", "", /*reverse=*/false,
                                    [&](absl::string_view key, absl::string_view value) {
                                      failed = reader.Add(key, value, evaluate);
                                      return failed.ok();
                                    }));
  TB_RETURN_IF_ERROR(failed);
  reader.Flush(evaluate);

  std::vector<v1::StatsReply> replies;
  for (Planned& p : plan) {
    v1::StatsReply reply = p.computation->Finish();
    reply.set_period_kind(p.query->period_kind);
    reply.set_period(p.query->period);
    *reply.mutable_first_day() = records::ToDate(p.days.first);
    *reply.mutable_last_day() = records::ToDate(p.days.second);
    *reply.mutable_as_of() = records::ToDate(p.today);
    reply.set_scope(CodeText(p.scope));
    reply.set_computed_by(p.query->node);
    for (const auto& [measure, reason] : kNotComputable) {
      v1::StatsNotComputable* nc = reply.add_not_computable();
      nc->set_measure(measure);
      nc->set_reason(reason);
    }
    replies.push_back(std::move(reply));
  }
  return replies;
}

absl::StatusOr<v1::StatsReply> ComputeStats(const storage::Store& store, const StatsQuery& query) {
  TB_ASSIGN_OR_RETURN(std::vector<v1::StatsReply> replies, ComputeStatsMany(store, {query}));
  return std::move(replies.front());
}

}  // namespace tongban::workflows
