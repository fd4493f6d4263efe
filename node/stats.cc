#include "node/stats.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/ids/region.h"
#include "common/status_macros.h"
#include "storage/keys.h"
#include "storage/validate.h"
#include "tongban/v1/store.pb.h"

namespace tongban::node {
namespace {

// Arrival must be registered within this many days (DOMAIN.md; some
// provinces use 15, which the records do not say: see kNotComputable).
constexpr int kRegistrationDays = 30;
// Inquiry deadlines by type when the inquiry carries no due_on.
constexpr int kUrgentDays = 15;
constexpr int kNormalDays = 30;
constexpr int kCertificateMismatchDays = 7;

constexpr int kNation = 0;

// Measures with a numerator and a denominator, in StatsRow order.
enum Measure {
  kFeedback,
  kOnTime,
  kReceipt,
  kTimeliness,
  kArrivedOneSided,  // distinct persons per scope: not summed up
  kLeftOneSided,     // distinct persons per scope: not summed up
  kCertificate,
  kCompleteness,
  kIdFindings,
  kMeasureCount,
};

// Each measure's field of StatsRow and its label in FormatStatsTable.
struct MeasureField {
  v1::StatsRatio* (v1::StatsRow::*set)();
  const v1::StatsRatio& (v1::StatsRow::*get)() const;
  const char* label;
};
#define TB_STATS_FIELD(name) &v1::StatsRow::mutable_##name, &v1::StatsRow::name
const MeasureField kFields[kMeasureCount] = {
    {TB_STATS_FIELD(feedback), "feedback rate (replied / received)"},
    {TB_STATS_FIELD(on_time_feedback), "on-time feedback rate (replied in time / due)"},
    {TB_STATS_FIELD(receipt), "receipt rate (acknowledged / needing receipt)"},
    {TB_STATS_FIELD(registration_timeliness), "registration timeliness (<= 30 days / all)"},
    {TB_STATS_FIELD(arrived_without_origin_record), "arrived, no record at origin (persons)"},
    {TB_STATS_FIELD(left_without_residence_record), "left, no record at residence (persons)"},
    {TB_STATS_FIELD(certificate_coverage), "certificate coverage (holding / living here)"},
    {TB_STATS_FIELD(completeness), "completeness (complete / records)"},
    {TB_STATS_FIELD(id_findings), "ID findings (findings / records)"},
};
#undef TB_STATS_FIELD

bool SummedUp(int m) { return m != kArrivedOneSided && m != kLeftOneSided; }

// What the records cannot support (yet), reported in every reply.
const std::pair<const char*, const char*> kNotComputable[] = {
    {"certificate coverage by certificate type",
     "the records carry no rule of who must hold which certificate (e.g. the "
     "marriage-fertility certificate by age and sex); coverage counts any valid "
     "certificate of a person living in the county"},
    {"registration timeliness under a 15-day provincial rule",
     "the records do not say which provinces register within 15 days; the "
     "30-day rule is applied everywhere"},
    {"accuracy beyond citizen-ID findings",
     "no record marks a value as found wrong (a correction does not say the "
     "earlier value was inaccurate); only confirmed ID findings are counted"},
};

// The value of a string of at most nine decimal digits, or -1.
int Digits(absl::string_view s) {
  if (s.empty() || s.size() > 9) return -1;
  int v = 0;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Region codes as integers: 440305; a province 440000; the nation 0; -1 for
// anything that is not six digits.
int CodeInt(absl::string_view s) {
  return s.size() == storage::kNodeCodeSize ? Digits(s) : -1;
}

// The day in China Standard Time of a time stamp in microseconds.
absl::CivilDay DayOfMicros(int64_t micros) {
  constexpr int64_t kMicrosPerDay = int64_t{86400} * 1000000;
  const int64_t local = micros + int64_t{8 * 3600} * 1000000;
  int64_t days = local / kMicrosPerDay;
  if (local % kMicrosPerDay < 0) --days;  // round towards minus infinity
  return absl::CivilDay(1970, 1, 1) + days;
}
bool IsCounty(int code) { return code > 0 && code % 10000 != 0; }
int ProvinceOf(int code) { return code / 10000 * 10000; }
std::string CodeText(int code) { return absl::StrFormat("%06d", code); }

v1::StatsScopeLevel LevelOf(int code) {
  if (code == kNation) return v1::STATS_SCOPE_LEVEL_NATION;
  if (code % 10000 == 0) return v1::STATS_SCOPE_LEVEL_PROVINCE;
  return v1::STATS_SCOPE_LEVEL_COUNTY;
}

v1::Date ToDate(absl::CivilDay d) {
  v1::Date out;
  out.set_year(static_cast<int32_t>(d.year()));
  out.set_month(d.month());
  out.set_day(d.day());
  return out;
}

// A record's date as a day, or nullopt if unset or not a calendar day.
std::optional<absl::CivilDay> DayOf(const v1::Date& d) {
  if (d.year() < 1 || d.month() < 1 || d.month() > 12 || d.day() < 1 || d.day() > 31) {
    return std::nullopt;
  }
  const absl::CivilDay day(d.year(), d.month(), d.day());
  if (day.month() != d.month() || day.day() != d.day()) return std::nullopt;
  return day;
}

int DeadlineDays(v1::InquiryType type) {
  switch (type) {
    case v1::INQUIRY_TYPE_URGENT: return kUrgentDays;
    case v1::INQUIRY_TYPE_CERTIFICATE_MISMATCH: return kCertificateMismatchDays;
    default: return kNormalDays;
  }
}

// One live record of the person being evaluated (its standing head).
struct Rec {
  v1::RecordKind kind = v1::RECORD_KIND_UNSPECIFIED;
  std::string record_id;
  int custodian = -1;  // the writer
  bool parsed = false;
  v1::RecordValue value;
  absl::CivilDay stamp_day;  // the standing head's hybrid clock stamp, CST
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

// The standing head: the largest stamp, then the largest event id.
const v1::RecordState::Head* StandingHead(const v1::RecordState& state) {
  const v1::RecordState::Head* best = nullptr;
  auto key = [](const v1::RecordState::Head& h) {
    return std::make_tuple(h.hlc().physical_micros(), h.hlc().logical(),
                           absl::string_view(h.event().origin()), h.event().epoch(),
                           h.event().seq());
  };
  for (const v1::RecordState::Head& h : state.heads()) {
    if (best == nullptr || key(h) > key(*best)) best = &h;
  }
  return best;
}

class Computation {
 public:
  Computation(absl::CivilDay first, absl::CivilDay last, absl::CivilDay today, int scope)
      : first_(first),
        last_(last),
        today_(today),
        ref_(std::min(last, today)),
        scope_(scope),
        level_(LevelOf(scope)) {}

  // Feeds one entry of the records column family, in key order.
  absl::Status Add(absl::string_view key, absl::string_view value) {
    if (key.size() <= storage::kPersonSize) {
      return absl::DataLossError("stats: a records key shorter than a person id");
    }
    const absl::string_view person = key.substr(0, storage::kPersonSize);
    if (person != person_) {
      Evaluate();
      person_.assign(person.data(), person.size());
    }
    if (!state_.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      return absl::DataLossError(
          absl::StrCat("stats: the record state of a ",
                       storage::KindName(static_cast<v1::RecordKind>(key[storage::kPersonSize])),
                       " record does not parse"));
    }
    const v1::RecordState::Head* head = StandingHead(state_);
    if (head == nullptr || head->operation() == v1::OPERATION_RETRACT) return absl::OkStatus();
    if (live_ == recs_.size()) recs_.emplace_back();
    Rec& r = recs_[live_++];
    r.kind = static_cast<v1::RecordKind>(static_cast<unsigned char>(key[storage::kPersonSize]));
    r.record_id.assign(key.data() + storage::kPersonSize + 1,
                       key.size() - storage::kPersonSize - 1);
    r.custodian = CodeInt(state_.custodian());
    r.parsed = r.value.ParseFromString(head->payload()) &&
               r.value.value_case() == storage::ValueCaseOf(r.kind);
    r.stamp_day = DayOfMicros(head->hlc().physical_micros());
    r.findings = static_cast<uint32_t>(state_.id_findings_size());
    r.conflict = state_.heads_size() > 1;
    return absl::OkStatus();
  }

  // Evaluates the last person and builds the rows.
  v1::StatsReply Finish() {
    Evaluate();
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
        v1::StatsRatio* ratio = (row->*kFields[m].set)();
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
  bool InPeriod(absl::CivilDay d) const { return d >= first_ && d <= last_; }
  // A county whose row this query computes.
  bool Wanted(int county) const {
    if (!IsCounty(county)) return false;
    switch (level_) {
      case v1::STATS_SCOPE_LEVEL_NATION: return true;
      case v1::STATS_SCOPE_LEVEL_PROVINCE: return ProvinceOf(county) == scope_;
      default: return county == scope_;
    }
  }
  void Evaluate() {
    if (live_ == 0) return;
    const absl::Span<const Rec> recs(recs_.data(), live_);
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
    live_ = 0;
  }

  void CountRecord(const Rec& r) {
    if (!InPeriod(r.stamp_day) || !Wanted(r.custodian)) return;
    Acc& acc = acc_[r.custodian];
    acc.Count(kCompleteness,
              r.parsed && storage::ValidateRecordValue(r.kind, r.value, kNoFutureBound).ok());
    ++acc.ratio[kIdFindings][1];
    acc.ratio[kIdFindings][0] += r.findings;
    if (r.conflict) ++acc.conflicts;
  }

  // The earliest day on which county `by` answered the record (`id`, written
  // by `writer`) with a live record of `kind` (a reply or a receipt).
  std::optional<absl::CivilDay> AnswerDay(absl::Span<const Rec> recs, v1::RecordKind kind,
                                          int by, const std::string& id, int writer) const {
    std::optional<absl::CivilDay> best;
    for (const Rec& a : recs) {
      if (a.kind != kind || !a.parsed || a.custodian != by) continue;
      absl::string_view ref_id, ref_county;
      int64_t at = 0;
      if (kind == v1::RECORD_KIND_INQUIRY_REPLY) {
        ref_id = a.value.inquiry_reply().inquiry_record_id();
        ref_county = a.value.inquiry_reply().inquiry_county();
        at = a.value.inquiry_reply().replied_at_micros();
      } else {
        ref_id = a.value.receipt().notice_record_id();
        ref_county = a.value.receipt().notice_county();
        at = a.value.receipt().received_at_micros();
      }
      if (ref_id != id || CodeInt(ref_county) != writer) continue;
      const absl::CivilDay day = at != 0 ? DayOfMicros(at) : a.stamp_day;
      if (!best.has_value() || day < *best) best = day;
    }
    return best;
  }

  void CountInquiry(absl::Span<const Rec> recs, const Rec& r) {
    const v1::Inquiry& q = r.value.inquiry();
    const int to = CodeInt(q.to_county());
    if (!Wanted(to)) return;
    const absl::CivilDay sent = q.sent_at_micros() != 0 ? DayOfMicros(q.sent_at_micros())
                                                        : r.stamp_day;
    const std::optional<absl::CivilDay> replied =
        AnswerDay(recs, v1::RECORD_KIND_INQUIRY_REPLY, to, r.record_id, r.custodian);
    if (InPeriod(sent)) acc_[to].Count(kFeedback, replied.has_value());
    const absl::CivilDay deadline = DayOf(q.due_on()).value_or(sent + DeadlineDays(q.type()));
    if (InPeriod(deadline) && (replied.has_value() || deadline < today_)) {
      acc_[to].Count(kOnTime, replied.has_value() && *replied <= deadline);
    }
  }

  void CountNotice(absl::Span<const Rec> recs, const Rec& r) {
    const v1::Notice& n = r.value.notice();
    const int to = CodeInt(n.to_county());
    if (!n.needs_receipt() || !Wanted(to)) return;
    const absl::CivilDay sent = n.sent_at_micros() != 0 ? DayOfMicros(n.sent_at_micros())
                                                        : r.stamp_day;
    if (!InPeriod(sent)) return;
    acc_[to].Count(kReceipt, AnswerDay(recs, v1::RECORD_KIND_RECEIPT, to, r.record_id,
                                       r.custodian).has_value());
  }

  // Whether `recs` hold a live record of `kind` written by `writer`.
  static bool Holds(absl::Span<const Rec> recs, v1::RecordKind kind, int writer) {
    return std::any_of(recs.begin(), recs.end(), [&](const Rec& a) {
      return a.kind == kind && a.parsed && a.custodian == writer;
    });
  }

  void CountInflow(absl::Span<const Rec> recs, const Rec& r) {
    const v1::InflowRegistration& in = r.value.inflow();
    const int residence = r.custodian;
    const int origin = CodeInt(in.origin_county());
    const std::optional<absl::CivilDay> registered = DayOf(in.registered_on());
    const std::optional<absl::CivilDay> arrived = DayOf(in.arrived_on());
    if (Wanted(residence) && registered.has_value() && InPeriod(*registered)) {
      acc_[residence].Count(kTimeliness, arrived.has_value() &&
                                             *registered - *arrived <= kRegistrationDays);
      arrived_.den.push_back(residence);
      if (!Holds(recs, v1::RECORD_KIND_OUTFLOW, origin)) arrived_.num.push_back(residence);
    }
    if (arrived.has_value()) AddFlow(*arrived, origin, residence, 0);
  }

  void CountOutflow(absl::Span<const Rec> recs, const Rec& r) {
    const v1::OutflowRegistration& out = r.value.outflow();
    const int origin = r.custodian;
    const int destination = CodeInt(out.destination_county());
    const std::optional<absl::CivilDay> left = DayOf(out.left_on());
    if (!left.has_value()) return;
    AddFlow(*left, origin, destination, 1);
    if (!Wanted(origin) || !InPeriod(*left) || *left + kRegistrationDays >= today_) return;
    const bool came_home = std::any_of(recs.begin(), recs.end(), [&](const Rec& a) {
      if (a.kind != v1::RECORD_KIND_RETURN || !a.parsed) return false;
      const v1::ReturnRegistration& ret = a.value.return_registration();
      const std::optional<absl::CivilDay> on = DayOf(ret.effective_on());
      return ret.type() == v1::RETURN_TYPE_RETURNED_HOME && on.has_value() && *on >= *left;
    });
    if (came_home) return;
    left_.den.push_back(origin);
    if (!Holds(recs, v1::RECORD_KIND_INFLOW, destination)) left_.num.push_back(origin);
  }

  // Certificate coverage on the reference day (see node/stats.h).
  void CountCertificate(absl::Span<const Rec> recs) {
    if (ref_ < first_) return;  // the period has not started
    const Rec* current = nullptr;
    auto arrival = [](const Rec& a) {
      const v1::InflowRegistration& in = a.value.inflow();
      return std::make_tuple(*DayOf(in.arrived_on()),
                             DayOf(in.registered_on()).value_or(absl::CivilDay()),
                             a.stamp_day, a.custodian);
    };
    for (const Rec& a : recs) {
      if (a.kind != v1::RECORD_KIND_INFLOW || !a.parsed) continue;
      const std::optional<absl::CivilDay> arrived = DayOf(a.value.inflow().arrived_on());
      if (!arrived.has_value() || *arrived > ref_) continue;
      if (current == nullptr || arrival(a) > arrival(*current)) current = &a;
    }
    if (current == nullptr || !Wanted(current->custodian)) return;
    const int residence = current->custodian;
    const absl::CivilDay arrived = *DayOf(current->value.inflow().arrived_on());
    for (const Rec& a : recs) {
      if (a.kind != v1::RECORD_KIND_RETURN || !a.parsed) continue;
      const v1::ReturnRegistration& ret = a.value.return_registration();
      const std::optional<absl::CivilDay> on = DayOf(ret.effective_on());
      if (!on.has_value() || *on < arrived || *on > ref_) continue;
      if (ret.type() == v1::RETURN_TYPE_RETURNED_HOME) return;
      if (ret.type() == v1::RETURN_TYPE_DEPARTED &&
          (CodeInt(ret.from_county()) == residence || a.custodian == residence)) {
        return;
      }
    }
    const bool holds = std::any_of(recs.begin(), recs.end(), [&](const Rec& a) {
      if (a.kind != v1::RECORD_KIND_CERTIFICATE || !a.parsed) return false;
      const v1::Certificate& c = a.value.certificate();
      const std::optional<absl::CivilDay> from = DayOf(c.valid_from());
      const std::optional<absl::CivilDay> to = DayOf(c.valid_to());
      return !c.revoked() && from.has_value() && to.has_value() && *from <= ref_ &&
             ref_ <= *to;
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

  void AddFlow(absl::CivilDay day, int origin, int residence, int direction) {
    if (!InPeriod(day) || !IsCounty(origin) || !IsCounty(residence)) return;
    if (!Wanted(origin) && !Wanted(residence)) return;
    ++flows_[{static_cast<int>(day.year()) * 100 + day.month(), origin, residence}][direction];
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

  static constexpr absl::CivilDay kNoFutureBound = absl::CivilDay(9999, 12, 31);

  const absl::CivilDay first_, last_, today_;
  const absl::CivilDay ref_;  // reference day of certificate coverage
  const int scope_;
  const v1::StatsScopeLevel level_;

  absl::flat_hash_map<int, Acc> acc_;  // scope code -> counts
  FlowMap flows_;                      // by county pair, for DistributeFlows

  // The person being read and its live records (recs_[0, live_)); reused.
  std::string person_;
  v1::RecordState state_;
  std::vector<Rec> recs_;
  size_t live_ = 0;
  PersonCounties arrived_, left_;
};

absl::Status BadPeriod(absl::string_view period, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("stats period \"", absl::CHexEscape(period), "\": ", problem));
}

// The scope a node may compute, or why not.
absl::StatusOr<int> ResolveScope(absl::string_view node, absl::string_view requested) {
  TB_RETURN_IF_ERROR(Prefixed("stats: computing node", ids::ValidateNodeCode(node)));
  const std::string scope(requested.empty() ? node : requested);
  TB_RETURN_IF_ERROR(Prefixed("stats scope", ids::ValidateNodeCode(scope)));
  const int n = CodeInt(node), s = CodeInt(scope);
  const bool allowed = n == kNation || s == n ||
                       (LevelOf(n) == v1::STATS_SCOPE_LEVEL_PROVINCE && s != kNation &&
                        ProvinceOf(s) == n);
  if (!allowed) {
    return absl::PermissionDeniedError(absl::StrCat(
        "stats scope ", scope, ": node ", node, " computes only ",
        LevelOf(n) == v1::STATS_SCOPE_LEVEL_COUNTY ? "its own county"
                                                   : "its own province and its counties",
        "; ask the national node"));
  }
  return s;
}

std::string Percent(const v1::StatsRatio& r, bool per_thousand) {
  if (r.denominator() == 0) return absl::StrCat(r.numerator(), "/0 = n/a");
  const double ratio = static_cast<double>(r.numerator()) / static_cast<double>(r.denominator());
  return per_thousand
             ? absl::StrFormat("%d/%d = %.1f per 1,000", r.numerator(), r.denominator(),
                               ratio * 1000)
             : absl::StrFormat("%d/%d = %.1f%%", r.numerator(), r.denominator(), ratio * 100);
}

std::string DateText(const v1::Date& d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
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

absl::StatusOr<std::pair<absl::CivilDay, absl::CivilDay>> StatsPeriodDays(
    v1::StatsPeriodKind kind, absl::string_view period) {
  switch (kind) {
    case v1::STATS_PERIOD_KIND_MONTH: {
      const int year = period.size() == 7 && period[4] == '-' ? Digits(period.substr(0, 4)) : -1;
      const int month = year < 0 ? -1 : Digits(period.substr(5));
      if (month < 0) return BadPeriod(period, "a month is YYYY-MM, e.g. 2026-11");
      if (month < 1 || month > 12) {
        return BadPeriod(period, absl::StrCat("month ", period.substr(5), " is not 01..12"));
      }
      const absl::CivilMonth m(year, month);
      return std::make_pair(absl::CivilDay(m), absl::CivilDay(m + 1) - 1);
    }
    case v1::STATS_PERIOD_KIND_STATISTICAL_YEAR: {
      const int year = period.size() == 4 ? Digits(period) : -1;
      if (year < 1) {
        return BadPeriod(period,
                         "a statistical year is YYYY, the year it ends in: 2026 is "
                         "2025-10-01 .. 2026-09-30");
      }
      return std::make_pair(absl::CivilDay(year - 1, 10, 1), absl::CivilDay(year, 9, 30));
    }
    default:
      return BadPeriod(period, "the period kind must be month or statistical_year");
  }
}

absl::StatusOr<v1::StatsReply> ComputeStats(const storage::Store& store,
                                            const StatsQuery& query) {
  TB_ASSIGN_OR_RETURN(const auto days, StatsPeriodDays(query.period_kind, query.period));
  TB_ASSIGN_OR_RETURN(const int scope, ResolveScope(query.node, query.scope));
  const absl::CivilDay today = DayOfMicros(absl::ToUnixMicros(query.now));

  Computation computation(days.first, days.second, today, scope);
  absl::Status failed;
  TB_RETURN_IF_ERROR(store.ScanFrom(storage::Cf::kRecords, "", "", /*reverse=*/false,
                                    [&](absl::string_view key, absl::string_view value) {
                                      failed = computation.Add(key, value);
                                      return failed.ok();
                                    }));
  TB_RETURN_IF_ERROR(failed);

  v1::StatsReply reply = computation.Finish();
  reply.set_period_kind(query.period_kind);
  reply.set_period(query.period);
  *reply.mutable_first_day() = ToDate(days.first);
  *reply.mutable_last_day() = ToDate(days.second);
  *reply.mutable_as_of() = ToDate(today);
  reply.set_scope(CodeText(scope));
  reply.set_computed_by(query.node);
  for (const auto& [measure, reason] : kNotComputable) {
    v1::StatsNotComputable* nc = reply.add_not_computable();
    nc->set_measure(measure);
    nc->set_reason(reason);
  }
  return reply;
}

std::string FormatStatsTable(const v1::StatsReply& reply) {
  std::string out = absl::StrFormat(
      "Statistics for %s %s (%s .. %s), scope %s, computed by %s as of %s\n",
      reply.period_kind() == v1::STATS_PERIOD_KIND_MONTH ? "month" : "statistical year",
      reply.period(), DateText(reply.first_day()), DateText(reply.last_day()), reply.scope(),
      reply.computed_by(), DateText(reply.as_of()));
  for (const v1::StatsRow& row : reply.rows()) {
    const char* level = row.level() == v1::STATS_SCOPE_LEVEL_NATION     ? "nation"
                        : row.level() == v1::STATS_SCOPE_LEVEL_PROVINCE ? "province"
                                                                        : "county";
    const std::optional<ids::Region> region = ids::FindRegion(row.scope());
    absl::StrAppend(&out, "\n", row.scope(), " ", level,
                    region.has_value() ? absl::StrCat(" ", region->name) : "", "\n");
    for (int m = 0; m < kMeasureCount; ++m) {
      const v1::StatsRatio& ratio = (row.*kFields[m].get)();
      absl::StrAppend(&out, absl::StrFormat("  %-48s %s\n", kFields[m].label,
                                            Percent(ratio, m == kIdFindings)));
    }
    absl::StrAppend(&out, absl::StrFormat("  %-48s %d\n", "records in conflict (two heads)",
                                          row.records_in_conflict()));
    if (row.flows_size() == 0) {
      absl::StrAppend(&out, "  flows: none\n");
      continue;
    }
    absl::StrAppend(&out, "  flows     origin -> residence   inflows  outflows\n");
    for (const v1::StatsFlow& f : row.flows()) {
      absl::StrAppend(&out, absl::StrFormat("    %s   %s -> %s   %7d  %8d\n", f.month(),
                                            f.origin(), f.residence(), f.inflows(),
                                            f.outflows()));
    }
  }
  if (reply.not_computable_size() > 0) absl::StrAppend(&out, "\n");
  for (const v1::StatsNotComputable& nc : reply.not_computable()) {
    absl::StrAppend(&out, nc.measure(), ": not computable: ", nc.reason(), "\n");
  }
  return out;
}

}  // namespace tongban::node
