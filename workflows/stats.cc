#include "workflows/stats.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
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
using FlowKey = StatsScope::FlowKey;
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

  // The person read last (the one `evaluate` is called for).
  const std::string& person() const { return person_; }

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
    std::sort(codes.begin(), codes.end(), RowOrder);
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

  // --- Fed from the counters instead of the records (CountedStatsMany) ---
  DayNum first() const { return first_; }
  DayNum last() const { return last_; }
  DayNum today() const { return today_; }
  DayNum ref() const { return ref_; }
  bool WantedCounty(int county) const { return Wanted(county); }
  // Whether a distinct-person count of `code` (a county, a province or the
  // nation) belongs in this query's rows, as CountPersons decides.
  bool WantedScope(int code) const { return Scope().Wants(code); }
  Acc& AccOf(int code) { return acc_[code]; }
  void AddFlowCounts(int month, int origin, int residence, uint64_t in, uint64_t out) {
    FlowCounts& c = flows_[{month, origin, residence}];
    c[0] += in;
    c[1] += out;
  }

 private:
  friend class CounterFacts;
  bool InPeriod(DayNum d) const { return d >= first_ && d <= last_; }
  // A county whose row this query computes.
  bool Wanted(int county) const { return Scope().WantsCounty(county); }
  StatsScope Scope() const { return {scope_, level_}; }
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
  static std::optional<DayNum> AnswerDay(absl::Span<const Rec> recs, v1::RecordKind kind, int by,
                                         const std::string& id, int writer) {
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
    const auto [county, holds] = CertificateStateOn(recs, ref_);
    if (county < 0 || !Wanted(county)) return;
    acc_[county].Count(kCertificate, holds);
  }

  // Where the person lives on day `r` (a county, or -1 for nowhere counted)
  // and whether they hold a valid certificate that day.
  static std::pair<int, bool> CertificateStateOn(absl::Span<const Rec> recs, DayNum r) {
    const Rec* current = nullptr;
    auto arrival = [](const Rec& a) {
      const v1::InflowRegistration& in = a.value->inflow();
      return std::make_tuple(*DayOf(in.arrived_on()), DayOf(in.registered_on()).value_or(0),
                             a.stamp_day, a.custodian);
    };
    for (const Rec& a : recs) {
      if (a.kind != v1::RECORD_KIND_INFLOW || !a.parsed) continue;
      const std::optional<DayNum> arrived = DayOf(a.value->inflow().arrived_on());
      if (!arrived.has_value() || *arrived > r) continue;
      if (current == nullptr || arrival(a) > arrival(*current)) current = &a;
    }
    if (current == nullptr || !IsCounty(current->custodian)) return {-1, false};
    const int residence = current->custodian;
    const DayNum arrived = *DayOf(current->value->inflow().arrived_on());
    for (const Rec& a : recs) {
      if (a.kind != v1::RECORD_KIND_RETURN || !a.parsed) continue;
      const v1::ReturnRegistration& ret = a.value->return_registration();
      const std::optional<DayNum> on = DayOf(ret.effective_on());
      if (!on.has_value() || *on < arrived || *on > r) continue;
      if (ret.type() == v1::RETURN_TYPE_RETURNED_HOME) return {-1, false};
      if (ret.type() == v1::RETURN_TYPE_DEPARTED &&
          (CodeInt(ret.from_county()) == residence || a.custodian == residence)) {
        return {-1, false};
      }
    }
    const bool holds = std::any_of(recs.begin(), recs.end(), [&](const Rec& a) {
      if (a.kind != v1::RECORD_KIND_CERTIFICATE || !a.parsed) return false;
      const v1::Certificate& c = a.value->certificate();
      const std::optional<DayNum> from = DayOf(c.valid_from());
      const std::optional<DayNum> to = DayOf(c.valid_to());
      return !c.revoked() && from.has_value() && to.has_value() && *from <= r && r <= *to;
    });
    return {residence, holds};
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
      for (const auto& [scope, k] : Scope().FlowRows(key)) {
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

// --- The counters (see workflows/stats.h "Counters") ---
//
// Every person adds a set of facts to the counters: a counter name and a few
// signed values. A fact depends only on the person's live records, never on
// the query's period or `now`; a query sums the counters of the months it
// covers and applies `now` to the day buckets that need it. Names (after
// storage::StatsCounterKey's prefix; dates as decimal text, so bytewise order
// is date order; codes six digits):
//   "m" YYYYMM county       the month slots below (kSlots values)
//   "d" YYYYMMDD county     unanswered inquiries due that day (one value)
//   "f" YYYYMM origin dest  flows that month: inflows, outflows
//   "a" period scope        arrived without origin record: persons num, den
//   "l" period scope        left without residence record, every outflow
//                           window open or closed: persons num, den
//   "e" YYYYMMDD period scope  of those, the persons whose earliest
//                           qualifying left_on is that day: num, den
//   "cy" YYYY / "cm" YYYYMM / "cd" YYYYMMDD, then county: changes, on days of
//                           that year / month / day, of who lives in the county
//                           (holding a certificate, living): num, den
// period := "M" YYYYMM | "Y" YYYY (statistical year); scope := a county, a
// province or "000000".
enum Slot {
  kFeedbackNum,
  kFeedbackDen,
  kReceiptNum,
  kReceiptDen,
  kTimelyNum,
  kTimelyDen,
  kComplete,
  kRecords,
  kFindings,
  kConflicts,
  kOnTimeAnswered,  // by deadline month
  kLateAnswered,
  kUnanswered,
  kSlots,
};

using Facts = std::map<std::string, std::vector<int64_t>>;

struct Ymd {
  int64_t y;
  int m, d;
};
// The civil date of a day number (H. Hinnant's civil_from_days).
Ymd CivilOf(DayNum z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (m <= 2), m, d};
}
// Days of years 1..9999 have a key (periods are four-digit years).
bool Keyed(DayNum d) {
  const int64_t y = CivilOf(d).y;
  return y >= 1 && y <= 9999;
}
std::string YearText(DayNum d) { return absl::StrFormat("%04d", CivilOf(d).y); }
std::string MonthText(DayNum d) {
  const Ymd c = CivilOf(d);
  return absl::StrFormat("%04d%02d", c.y, c.m);
}
std::string DayText(DayNum d) {
  const Ymd c = CivilOf(d);
  return absl::StrFormat("%04d%02d%02d", c.y, c.m, c.d);
}
// The two periods a day falls in: its month and its statistical year.
std::array<std::string, 2> PeriodsOf(DayNum d) {
  const Ymd c = CivilOf(d);
  return {absl::StrFormat("M%04d%02d", c.y, c.m),
          absl::StrFormat("Y%04d", c.y + (c.m >= 10 ? 1 : 0))};
}

void AddFact(Facts* f, const std::string& name, size_t width, size_t slot, int64_t v) {
  std::vector<int64_t>& values = (*f)[name];
  if (values.size() < width) values.resize(width);
  values[slot] += v;
}

class CounterFacts {
 public:
  // What one person's live records (all of them) add to the counters.
  static Facts Of(absl::Span<const Rec> recs) {
    Facts f;
    for (const Rec& r : recs) {
      if (!IsCounty(r.custodian) || !Keyed(r.stamp_day)) continue;
      const std::string m = "m" + MonthText(r.stamp_day) + CodeText(r.custodian);
      AddFact(&f, m, kSlots, kRecords, 1);
      AddFact(&f, m, kSlots, kComplete,
              r.parsed && records::MissingRequiredField(r.kind, *r.value) == nullptr);
      AddFact(&f, m, kSlots, kFindings, r.findings);
      AddFact(&f, m, kSlots, kConflicts, r.conflict);
    }
    // (period, scope) -> earliest qualifying day, per part.
    std::set<std::pair<std::string, int>> arrived_den, arrived_num;
    std::map<std::pair<std::string, int>, DayNum> left_den, left_num;
    auto earliest = [](std::map<std::pair<std::string, int>, DayNum>* m, const std::string& p,
                       int scope, DayNum d) {
      auto [it, added] = m->emplace(std::make_pair(p, scope), d);
      if (!added) it->second = std::min(it->second, d);
    };
    for (const Rec& r : recs) {
      if (!r.parsed) continue;
      switch (r.kind) {
        case v1::RECORD_KIND_INQUIRY: {
          const v1::Inquiry& q = r.value->inquiry();
          const int to = CodeInt(q.to_county());
          if (!IsCounty(to)) break;
          const DayNum sent =
              q.sent_at_micros() != 0 ? DayOfMicros(q.sent_at_micros()) : r.stamp_day;
          const std::optional<DayNum> replied = Computation::AnswerDay(
              recs, v1::RECORD_KIND_INQUIRY_REPLY, to, r.record_id, r.custodian);
          if (Keyed(sent)) {
            const std::string m = "m" + MonthText(sent) + CodeText(to);
            AddFact(&f, m, kSlots, kFeedbackDen, 1);
            AddFact(&f, m, kSlots, kFeedbackNum, replied.has_value());
          }
          const DayNum deadline = DayOf(q.due_on()).value_or(sent + DeadlineDays(q.type()));
          if (!Keyed(deadline)) break;
          const std::string m = "m" + MonthText(deadline) + CodeText(to);
          if (replied.has_value()) {
            AddFact(&f, m, kSlots, *replied <= deadline ? kOnTimeAnswered : kLateAnswered, 1);
          } else {
            AddFact(&f, m, kSlots, kUnanswered, 1);
            AddFact(&f, "d" + DayText(deadline) + CodeText(to), 1, 0, 1);
          }
          break;
        }
        case v1::RECORD_KIND_NOTICE: {
          const v1::Notice& n = r.value->notice();
          const int to = CodeInt(n.to_county());
          if (!n.needs_receipt() || !IsCounty(to)) break;
          const DayNum sent =
              n.sent_at_micros() != 0 ? DayOfMicros(n.sent_at_micros()) : r.stamp_day;
          if (!Keyed(sent)) break;
          const std::string m = "m" + MonthText(sent) + CodeText(to);
          AddFact(&f, m, kSlots, kReceiptDen, 1);
          AddFact(
              &f, m, kSlots, kReceiptNum,
              Computation::AnswerDay(recs, v1::RECORD_KIND_RECEIPT, to, r.record_id, r.custodian)
                  .has_value());
          break;
        }
        case v1::RECORD_KIND_INFLOW: {
          const v1::InflowRegistration& in = r.value->inflow();
          const int residence = r.custodian;
          const int origin = CodeInt(in.origin_county());
          const std::optional<DayNum> registered = DayOf(in.registered_on());
          const std::optional<DayNum> arrived = DayOf(in.arrived_on());
          if (IsCounty(residence) && registered.has_value() && Keyed(*registered)) {
            const std::string m = "m" + MonthText(*registered) + CodeText(residence);
            AddFact(&f, m, kSlots, kTimelyDen, 1);
            AddFact(&f, m, kSlots, kTimelyNum,
                    arrived.has_value() && *registered - *arrived <= kRegistrationDays);
            const bool one_sided = !Computation::Holds(recs, v1::RECORD_KIND_OUTFLOW, origin);
            for (const std::string& p : PeriodsOf(*registered)) {
              for (int scope : {residence, ProvinceOf(residence), kNation}) {
                arrived_den.insert({p, scope});
                if (one_sided) arrived_num.insert({p, scope});
              }
            }
          }
          if (arrived.has_value()) Flow(&f, *arrived, origin, residence, 0);
          break;
        }
        case v1::RECORD_KIND_OUTFLOW: {
          const v1::OutflowRegistration& out = r.value->outflow();
          const int origin = r.custodian;
          const int destination = CodeInt(out.destination_county());
          const std::optional<DayNum> left = DayOf(out.left_on());
          if (!left.has_value()) break;
          Flow(&f, *left, origin, destination, 1);
          if (!IsCounty(origin) || !Keyed(*left)) break;
          const bool came_home = std::any_of(recs.begin(), recs.end(), [&](const Rec& a) {
            if (a.kind != v1::RECORD_KIND_RETURN || !a.parsed) return false;
            const v1::ReturnRegistration& ret = a.value->return_registration();
            const std::optional<DayNum> on = DayOf(ret.effective_on());
            return ret.type() == v1::RETURN_TYPE_RETURNED_HOME && on.has_value() && *on >= *left;
          });
          if (came_home) break;
          const bool one_sided = !Computation::Holds(recs, v1::RECORD_KIND_INFLOW, destination);
          for (const std::string& p : PeriodsOf(*left)) {
            for (int scope : {origin, ProvinceOf(origin), kNation}) {
              earliest(&left_den, p, scope, *left);
              if (one_sided) earliest(&left_num, p, scope, *left);
            }
          }
          break;
        }
        default: break;
      }
    }
    for (const auto& [p, scope] : arrived_den) AddFact(&f, "a" + p + CodeText(scope), 2, 1, 1);
    for (const auto& [p, scope] : arrived_num) AddFact(&f, "a" + p + CodeText(scope), 2, 0, 1);
    for (int part = 0; part < 2; ++part) {
      for (const auto& [key, day] : part == 0 ? left_num : left_den) {
        AddFact(&f, "l" + key.first + CodeText(key.second), 2, part, 1);
        AddFact(&f, "e" + DayText(day) + key.first + CodeText(key.second), 2, part, 1);
      }
    }
    Certificate(&f, recs);
    return f;
  }

 private:
  static void Flow(Facts* f, DayNum day, int origin, int residence, int direction) {
    if (!Keyed(day) || !IsCounty(origin) || !IsCounty(residence)) return;
    AddFact(f, "f" + MonthText(day) + CodeText(origin) + CodeText(residence), 2, direction, 1);
  }

  // Certificate coverage as changes on the days where the person's state
  // (county lived in, certificate held) changes: CertificateStateOn is
  // constant between the days an arrival, a return or a certificate's
  // validity starts or ends.
  static void Certificate(Facts* f, absl::Span<const Rec> recs) {
    std::vector<DayNum> days;
    for (const Rec& a : recs) {
      if (!a.parsed) continue;
      std::optional<DayNum> d;
      if (a.kind == v1::RECORD_KIND_INFLOW) {
        if ((d = DayOf(a.value->inflow().arrived_on()))) days.push_back(*d);
      } else if (a.kind == v1::RECORD_KIND_RETURN) {
        if ((d = DayOf(a.value->return_registration().effective_on()))) days.push_back(*d);
      } else if (a.kind == v1::RECORD_KIND_CERTIFICATE) {
        if ((d = DayOf(a.value->certificate().valid_from()))) days.push_back(*d);
        if ((d = DayOf(a.value->certificate().valid_to()))) days.push_back(*d + 1);
      }
    }
    std::sort(days.begin(), days.end());
    days.erase(std::unique(days.begin(), days.end()), days.end());
    std::pair<int, bool> before = {-1, false};
    for (DayNum day : days) {
      if (!Keyed(day)) continue;
      const std::pair<int, bool> now = Computation::CertificateStateOn(recs, day);
      if (now == before) continue;
      for (const auto& [state, sign] : {std::make_pair(before, -1), std::make_pair(now, 1)}) {
        if (state.first < 0) continue;
        const std::string code = CodeText(state.first);
        for (const std::string& name :
             {"cy" + YearText(day), "cm" + MonthText(day), "cd" + DayText(day)}) {
          AddFact(f, name + code, 2, 0, sign * (state.second ? 1 : 0));
          AddFact(f, name + code, 2, 1, sign);
        }
      }
      before = now;
    }
  }
};

// Counter values: be64 two's complement each.
std::string EncodeValues(const std::vector<int64_t>& v) {
  std::string out;
  for (int64_t x : v) storage::AppendBe64(&out, static_cast<uint64_t>(x));
  return out;
}
std::vector<int64_t> DecodeValues(absl::string_view bytes) {
  std::vector<int64_t> v;
  for (size_t i = 0; i + 8 <= bytes.size(); i += 8) {
    v.push_back(static_cast<int64_t>(storage::DecodeBe64(bytes.substr(i))));
  }
  return v;
}
// A person's facts as stored: (name length:u8, name, count:u8, values) each.
std::string EncodeFacts(const Facts& f) {
  std::string out;
  for (const auto& [name, values] : f) {
    out.push_back(static_cast<char>(name.size()));
    out.append(name);
    out.push_back(static_cast<char>(values.size()));
    out.append(EncodeValues(values));
  }
  return out;
}
absl::StatusOr<Facts> DecodeFacts(absl::string_view bytes) {
  Facts f;
  while (!bytes.empty()) {
    const size_t n = static_cast<unsigned char>(bytes[0]);
    if (bytes.size() < 2 + n) return absl::DataLossError("stats counters: stored facts truncated");
    std::string name(bytes.substr(1, n));
    const size_t count = static_cast<unsigned char>(bytes[1 + n]);
    bytes.remove_prefix(2 + n);
    if (bytes.size() < count * 8) {
      return absl::DataLossError("stats counters: stored facts truncated");
    }
    f[std::move(name)] = DecodeValues(bytes.substr(0, count * 8));
    bytes.remove_prefix(count * 8);
  }
  return f;
}
bool AllZero(const std::vector<int64_t>& v) {
  return std::all_of(v.begin(), v.end(), [](int64_t x) { return x == 0; });
}

// Calls fn(name without prefix `family`, values) for every counter of
// `family` whose name lies in [family + from, family + to] (to inclusive
// as a prefix: every name starting with it).
absl::Status ScanCounters(
    const storage::Store& store, absl::string_view family, absl::string_view from,
    absl::string_view to,
    const std::function<void(absl::string_view rest, const std::vector<int64_t>&)>& fn) {
  const std::string prefix = storage::StatsCounterKey(family);
  const std::string end = absl::StrCat(prefix, to);
  return store.ScanFrom(storage::Cf::kDefault, prefix, absl::StrCat(prefix, from), false,
                        [&](absl::string_view key, absl::string_view value) {
                          if (key > end && !absl::StartsWith(key, end)) return false;
                          std::vector<int64_t> values = DecodeValues(value);
                          if (!AllZero(values)) fn(key.substr(prefix.size()), values);
                          return true;
                        });
}

int64_t Slot(const std::vector<int64_t>& v, size_t i) { return i < v.size() ? v[i] : 0; }

// Certificate coverage on the reference day R from the counters: the
// changes of every earlier year, of R's year's earlier months and of R's
// month's days up to R. `add` adds to a scope's measure.
template <typename Add>
absl::Status CountCertificatesFromCounters(const storage::Store& store, Computation& c,
                                           const Add& add) {
  const DayNum first = c.first();
  const DayNum r = c.ref();
  if (r >= first && Keyed(r)) {
    std::map<int, std::array<int64_t, 2>> cert;
    auto sum = [&](absl::string_view rest, const std::vector<int64_t>& v, size_t date) {
      if (rest.size() != date + 6) return;
      const int county = Digits(rest.substr(date));
      if (!c.WantedCounty(county)) return;
      cert[county][0] += Slot(v, 0);
      cert[county][1] += Slot(v, 1);
    };
    const Ymd rd = CivilOf(r);
    // R the last day of its month (every period that has ended): R's
    // month's changes are its month counter's, no day needs reading.
    const bool month_end = CivilOf(r + 1).m != rd.m;
    const int months_before = month_end ? rd.m : rd.m - 1;
    if (rd.y > 1) {
      TB_RETURN_IF_ERROR(ScanCounters(
          store, "cy", "", absl::StrFormat("%04d", rd.y - 1),
          [&](absl::string_view rest, const std::vector<int64_t>& v) { sum(rest, v, 4); }));
    }
    if (months_before >= 1) {
      TB_RETURN_IF_ERROR(ScanCounters(
          store, "cm", absl::StrFormat("%04d01", rd.y),
          absl::StrFormat("%04d%02d", rd.y, months_before),
          [&](absl::string_view rest, const std::vector<int64_t>& v) { sum(rest, v, 6); }));
    }
    if (!month_end) {
      TB_RETURN_IF_ERROR(ScanCounters(
          store, "cd", absl::StrFormat("%04d%02d01", rd.y, rd.m), DayText(r),
          [&](absl::string_view rest, const std::vector<int64_t>& v) { sum(rest, v, 8); }));
    }
    for (const auto& [county, counts] : cert) {
      if (counts[1] != 0) add(county, kCertificate, counts[0], counts[1]);
    }
  }
  return absl::OkStatus();
}

// Fills `c` from the counters instead of the records.
absl::Status CountFromCounters(const storage::Store& store, Computation& c) {
  const DayNum first = c.first(), last = c.last(), today = c.today();
  const std::string first_month = MonthText(first), last_month = MonthText(last);
  auto add = [&](int code, Measure m, int64_t num, int64_t den) {
    Acc& acc = c.AccOf(code);
    acc.ratio[m][0] += static_cast<uint64_t>(num);
    acc.ratio[m][1] += static_cast<uint64_t>(den);
  };
  // The month slots. On-time: a month whose days are all before today
  // counts its unanswered inquiries as overdue; today's month counts the
  // unanswered by day ("d"); a later month none.
  const DayNum today_month_first = today - (CivilOf(today).d - 1);
  TB_RETURN_IF_ERROR(
      ScanCounters(store, "m", first_month, last_month,
                   [&](absl::string_view rest, const std::vector<int64_t>& v) {
                     if (rest.size() != 12) return;
                     const int county = Digits(rest.substr(6));
                     if (!c.WantedCounty(county)) return;
                     add(county, kFeedback, Slot(v, kFeedbackNum), Slot(v, kFeedbackDen));
                     add(county, kReceipt, Slot(v, kReceiptNum), Slot(v, kReceiptDen));
                     add(county, kTimeliness, Slot(v, kTimelyNum), Slot(v, kTimelyDen));
                     add(county, kCompleteness, Slot(v, kComplete), Slot(v, kRecords));
                     add(county, kIdFindings, Slot(v, kFindings), Slot(v, kRecords));
                     c.AccOf(county).conflicts += static_cast<uint64_t>(Slot(v, kConflicts));
                     const int64_t answered = Slot(v, kOnTimeAnswered) + Slot(v, kLateAnswered);
                     const std::string month(rest.substr(0, 6));
                     const std::string this_month = MonthText(today);
                     add(county, kOnTime, Slot(v, kOnTimeAnswered),
                         answered + (month < this_month ? Slot(v, kUnanswered) : 0));
                   }));
  if (today_month_first < today && MonthText(today) >= first_month &&
      MonthText(today) <= last_month) {
    TB_RETURN_IF_ERROR(ScanCounters(store, "d", DayText(today_month_first), DayText(today - 1),
                                    [&](absl::string_view rest, const std::vector<int64_t>& v) {
                                      if (rest.size() != 14) return;
                                      const int county = Digits(rest.substr(8));
                                      if (!c.WantedCounty(county)) return;
                                      add(county, kOnTime, 0, Slot(v, 0));
                                    }));
  }
  // Flows.
  TB_RETURN_IF_ERROR(ScanCounters(
      store, "f", first_month, last_month,
      [&](absl::string_view rest, const std::vector<int64_t>& v) {
        if (rest.size() != 18) return;
        const int month = Digits(rest.substr(0, 6));
        const int origin = Digits(rest.substr(6, 6)), residence = Digits(rest.substr(12, 6));
        if (!c.WantedCounty(origin) && !c.WantedCounty(residence)) return;
        c.AddFlowCounts(month, origin, residence, static_cast<uint64_t>(Slot(v, 0)),
                        static_cast<uint64_t>(Slot(v, 1)));
      }));
  // Distinct persons.
  const std::string period = first_month == last_month ? "M" + first_month : "Y" + YearText(last);
  TB_RETURN_IF_ERROR(ScanCounters(store, "a" + period, "", "",
                                  [&](absl::string_view rest, const std::vector<int64_t>& v) {
                                    const int scope = Digits(rest);
                                    if (rest.size() != 6 || !c.WantedScope(scope)) return;
                                    add(scope, kArrivedOneSided, Slot(v, 0), Slot(v, 1));
                                  }));
  // Left: the window of an outflow closes 30 days after it (left + 30 <
  // today); a person counts once the earliest of theirs has closed.
  const DayNum open_from = today - kRegistrationDays;  // left >= this: still open
  std::map<int, std::array<int64_t, 2>> left;
  TB_RETURN_IF_ERROR(ScanCounters(store, "l" + period, "", "",
                                  [&](absl::string_view rest, const std::vector<int64_t>& v) {
                                    const int scope = Digits(rest);
                                    if (rest.size() != 6 || !c.WantedScope(scope)) return;
                                    left[scope][0] += Slot(v, 0);
                                    left[scope][1] += Slot(v, 1);
                                  }));
  if (open_from <= last && !left.empty()) {
    TB_RETURN_IF_ERROR(ScanCounters(store, "e", DayText(std::max(open_from, first)), DayText(last),
                                    [&](absl::string_view rest, const std::vector<int64_t>& v) {
                                      if (!absl::StartsWith(rest.substr(8), period) ||
                                          rest.size() != 8 + period.size() + 6) {
                                        return;
                                      }
                                      const int scope = Digits(rest.substr(8 + period.size()));
                                      if (!c.WantedScope(scope)) return;
                                      left[scope][0] -= Slot(v, 0);
                                      left[scope][1] -= Slot(v, 1);
                                    }));
  }
  for (const auto& [scope, counts] : left) {
    if (counts[0] != 0 || counts[1] != 0) add(scope, kLeftOneSided, counts[0], counts[1]);
  }
  return CountCertificatesFromCounters(store, c, add);
}

// Adds the reply's frame (period, days, scope, not computable) to what a
// computation finished.
v1::StatsReply Framed(v1::StatsReply reply, const StatsQuery& query,
                      const std::pair<absl::CivilDay, absl::CivilDay>& days, absl::CivilDay today,
                      int scope) {
  reply.set_period_kind(query.period_kind);
  reply.set_period(query.period);
  *reply.mutable_first_day() = records::ToDate(days.first);
  *reply.mutable_last_day() = records::ToDate(days.second);
  *reply.mutable_as_of() = records::ToDate(today);
  reply.set_scope(CodeText(scope));
  reply.set_computed_by(query.node);
  for (const auto& [measure, reason] : kNotComputable) {
    v1::StatsNotComputable* nc = reply.add_not_computable();
    nc->set_measure(measure);
    nc->set_reason(reason);
  }
  return reply;
}

// One follower at a time per process: the counters' read-modify-write
// (facts, then counters) is not atomic across two.
absl::Mutex follower_mu(absl::kConstInit);

// Replaces the stored facts of `persons` (person -> facts now) and adds the
// difference to the counters, deleting `marks`, in one batch.
absl::Status ApplyFacts(storage::Store& store, const std::map<std::string, Facts>& persons,
                        const std::vector<std::string>& marks, StatsCounterProgress* progress) {
  storage::Batch batch(store);
  Facts delta;
  for (const auto& [person, now] : persons) {
    const std::string key = storage::StatsFactsKey(person);
    TB_ASSIGN_OR_RETURN(std::optional<std::string> stored, store.Get(storage::Cf::kDefault, key));
    Facts before;
    if (stored.has_value()) {
      TB_ASSIGN_OR_RETURN(before, DecodeFacts(*stored));
    }
    if (before == now) continue;
    for (const auto& [name, values] : before) {
      for (size_t i = 0; i < values.size(); ++i)
        AddFact(&delta, name, values.size(), i, -values[i]);
    }
    for (const auto& [name, values] : now) {
      for (size_t i = 0; i < values.size(); ++i) AddFact(&delta, name, values.size(), i, values[i]);
    }
    if (now.empty()) {
      batch.DeleteStatsFacts(person);
    } else {
      batch.PutStatsFacts(person, EncodeFacts(now));
    }
    if (progress != nullptr) ++progress->persons_changed;
  }
  // Added by merge: the counters are never read here. A counter back at
  // zero stays as zeros (readers skip it).
  for (const auto& [name, values] : delta) {
    if (!AllZero(values)) batch.AddStatsCounter(name, EncodeValues(values));
  }
  for (const std::string& mark : marks) batch.DeleteStatsDirty(mark);
  if (batch.count() == 0) return absl::OkStatus();
  return store.Commit(batch, /*sync=*/false);
}

constexpr size_t kPersonsPerBatch = 2000;

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
    replies.push_back(Framed(p.computation->Finish(), *p.query, p.days, p.today, p.scope));
  }
  return replies;
}

absl::StatusOr<v1::StatsReply> ComputeStats(const storage::Store& store, const StatsQuery& query) {
  TB_ASSIGN_OR_RETURN(std::vector<v1::StatsReply> replies, ComputeStatsMany(store, {query}));
  return std::move(replies.front());
}

}  // namespace tongban::workflows

namespace tongban::workflows {

absl::StatusOr<StatsCounterProgress> UpdateStatsCounters(storage::Store& store) {
  absl::MutexLock lock(&follower_mu);
  StatsCounterProgress progress;
  const std::string built_key = storage::StatsCounterKey("built");
  TB_ASSIGN_OR_RETURN(std::optional<std::string> built,
                      store.Get(storage::Cf::kDefault, built_key));
  PersonReader reader;
  std::map<std::string, Facts> persons;
  if (!built.has_value()) {
    // First run on this store: count every person from one scan. Records
    // written meanwhile leave dirty marks, counted below; counting a person
    // twice changes nothing (the stored facts are replaced, not added).
    const PersonReader::Evaluator evaluate = [&](absl::Span<const Rec> recs) {
      persons[reader.person()] = CounterFacts::Of(recs);
    };
    absl::Status failed;
    TB_RETURN_IF_ERROR(store.ScanFrom(storage::Cf::kRecords, "", "", false,
                                      [&](absl::string_view key, absl::string_view value) {
                                        failed = reader.Add(key, value, evaluate);
                                        if (failed.ok() && persons.size() >= kPersonsPerBatch) {
                                          failed = ApplyFacts(store, persons, {}, &progress);
                                          progress.persons_counted += persons.size();
                                          persons.clear();
                                        }
                                        return failed.ok();
                                      }));
    TB_RETURN_IF_ERROR(failed);
    reader.Flush(evaluate);
    TB_RETURN_IF_ERROR(ApplyFacts(store, persons, {}, &progress));
    progress.persons_counted += persons.size();
    persons.clear();
    storage::Batch mark(store);
    mark.PutStatsCounter("built", "1");
    TB_RETURN_IF_ERROR(store.Commit(mark, /*sync=*/false));
    progress.rebuilt = true;
  }
  // Then every person marked dirty, oldest marks first, a batch at a time.
  for (;;) {
    std::vector<std::string> marks;
    std::set<std::string> dirty;
    TB_RETURN_IF_ERROR(store.ScanFrom(storage::Cf::kDefault, storage::kStatsDirtyPrefix,
                                      storage::kStatsDirtyPrefix, false,
                                      [&](absl::string_view key, absl::string_view) {
                                        absl::string_view person;
                                        marks.emplace_back(key);
                                        if (storage::DecodeStatsDirtyKey(key, &person)) {
                                          dirty.emplace(person);
                                        }
                                        return dirty.size() < kPersonsPerBatch;
                                      }));
    if (marks.empty()) break;
    for (const std::string& person : dirty) {
      Facts& facts = persons[person];  // none if no record of theirs is live
      const PersonReader::Evaluator evaluate = [&](absl::Span<const Rec> recs) {
        facts = CounterFacts::Of(recs);
      };
      const std::string prefix = storage::RecordPrefix(person);
      absl::Status failed;
      TB_RETURN_IF_ERROR(store.ScanFrom(storage::Cf::kRecords, prefix, prefix, false,
                                        [&](absl::string_view key, absl::string_view value) {
                                          failed = reader.Add(key, value, evaluate);
                                          return failed.ok();
                                        }));
      TB_RETURN_IF_ERROR(failed);
      reader.Flush(evaluate);
    }
    TB_RETURN_IF_ERROR(ApplyFacts(store, persons, marks, &progress));
    progress.persons_counted += persons.size();
    progress.marks += marks.size();
    persons.clear();
  }
  return progress;
}

absl::StatusOr<std::vector<v1::StatsReply>> CountedStatsMany(
    const storage::Store& store, const std::vector<StatsQuery>& queries) {
  std::vector<v1::StatsReply> replies;
  for (const StatsQuery& query : queries) {
    TB_ASSIGN_OR_RETURN(const auto days, StatsPeriodDays(query.period_kind, query.period));
    TB_ASSIGN_OR_RETURN(const int scope, ResolveScope(query.node, query.scope));
    const absl::CivilDay today = kEpochDay + DayOfMicros(absl::ToUnixMicros(query.now));
    Computation computation(days.first, days.second, today, scope);
    TB_RETURN_IF_ERROR(CountFromCounters(store, computation));
    replies.push_back(Framed(computation.Finish(), query, days, today, scope));
  }
  return replies;
}

absl::StatusOr<v1::StatsReply> CountedStats(const storage::Store& store, const StatsQuery& query) {
  TB_ASSIGN_OR_RETURN(std::vector<v1::StatsReply> replies, CountedStatsMany(store, {query}));
  return std::move(replies.front());
}

}  // namespace tongban::workflows
