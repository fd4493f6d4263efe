#include "workflows/import_csv.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/ids/citizen_id.h"
#include "common/ids/region.h"
#include "common/status_macros.h"
#include "records/kinds.h"
#include "records/validate.h"
#include "records/words.h"

namespace tongban::workflows {
namespace {

// Column indexes into ImportColumns(); keep both in the same order.
enum Col {
  kKind,
  kPerson,
  kRecordId,
  kName,
  kSex,
  kBirthDate,
  kHukouRegion,
  kHukouAddress,  // person
  kDestinationCounty,
  kLeftOn,  // outflow
  kOriginCounty,
  kPreviousResidence,
  kArrivedOn,
  kRegisteredOn,  // inflow
  kAddress,
  kEmployer,
  kServiceType,
  kDeliveredOn,
  kProviderCounty,
  kPeriod,
  kNotes,  // service
  kReturnType,
  kEffectiveOn,
  kFromCounty,
  kToCounty,  // return
  kCertificateType,
  kCertificateNumber,
  kIssuer,
  kValidFrom,  // certificate
  kValidTo,
  kFacts,
  kProgramme,
  kStatus,
  kAmountFen,
  kPeriodFrom,
  kPeriodTo,  // entitlement
  kDeliveredBy,
  kColumnCount
};

struct KindSpec {
  const char* name;
  v1::RecordKind kind;
  std::vector<Col> required;
  std::vector<Col> optional;
};

const std::vector<KindSpec>& Kinds() {
  static const auto* kinds = new std::vector<KindSpec>{
      {"person",
       v1::RECORD_KIND_PERSON_BASICS,
       {kName, kSex, kBirthDate, kHukouRegion},
       {kHukouAddress}},
      {"outflow", v1::RECORD_KIND_OUTFLOW, {kDestinationCounty, kLeftOn}, {}},
      {"inflow",
       v1::RECORD_KIND_INFLOW,
       {kOriginCounty, kArrivedOn, kRegisteredOn, kAddress},
       {kPreviousResidence, kEmployer}},
      {"service",
       v1::RECORD_KIND_SERVICE,
       {kServiceType, kDeliveredOn, kProviderCounty},
       {kPeriod, kNotes}},
      {"return", v1::RECORD_KIND_RETURN, {kReturnType, kEffectiveOn, kFromCounty}, {kToCounty}},
      {"certificate",
       v1::RECORD_KIND_CERTIFICATE,
       {kCertificateType, kCertificateNumber, kIssuer, kValidFrom, kValidTo},
       {kFacts}},
      {"entitlement",
       v1::RECORD_KIND_ENTITLEMENT,
       {kProgramme, kStatus},
       {kAmountFen, kPeriodFrom, kPeriodTo, kDeliveredBy}},
  };
  return *kinds;
}

// The words an enumerated column accepts, and the proto enum value each
// stands for; empty for a column that is not enumerated. They are the
// tokens of records/words.h, less "unspecified" (and, for services, the
// entitlement delivery, which names an entitlement the CSV has no column
// for).
using Choices = std::vector<std::pair<std::string, int>>;

template <typename E>
Choices TokensOf(std::initializer_list<E> except) {
  Choices out;
  for (const records::Word& w : records::WordTable<E>()) {
    if (w.value == 0 ||
        std::find(except.begin(), except.end(), static_cast<E>(w.value)) != except.end()) {
      continue;
    }
    out.emplace_back(w.token, w.value);
  }
  return out;
}

const Choices& ChoicesOf(Col column) {
  static const auto* choices = new std::map<Col, Choices>{
      {kServiceType, TokensOf<v1::ServiceType>({v1::SERVICE_TYPE_ENTITLEMENT_DELIVERY})},
      {kReturnType, TokensOf<v1::ReturnType>({})},
      {kCertificateType, TokensOf<v1::CertificateType>({})},
      {kStatus, TokensOf<v1::EntitlementStatus>({})},
  };
  static const auto* none = new Choices;
  auto it = choices->find(column);
  return it == choices->end() ? *none : it->second;
}

// The amount columns accept whole fen: digits only, at most 100,000,000
// (one million yuan), as `tongbanctl entitlement` does.
constexpr int64_t kMaxAmountFen = 100000000;

// Offset of the first byte that is not part of a valid UTF-8 sequence
// (overlong forms and surrogates included), or npos.
size_t InvalidUtf8At(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else
      return i;
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return i;
      const auto t = static_cast<unsigned char>(s[i + k]);
      if ((t & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (t & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;
    }
    i += n + 1;
  }
  return absl::string_view::npos;
}

// "2026-02-30" is shaped like a date but is no day; both are findings.
std::optional<std::string> ParseDate(absl::string_view text, v1::Date* out) {
  const bool shaped = text.size() == 10 && text[4] == '-' && text[7] == '-' &&
                      std::all_of(text.begin(), text.end(),
                                  [](char c) { return absl::ascii_isdigit(c) || c == '-'; });
  if (!shaped) return absl::StrCat("\"", text, "\" is not a date (YYYY-MM-DD)");
  // Read the digits directly (parsing and formatting through cctz cost more
  // than the rest of a row); CivilDay normalizes 02-30 to 03-02, so a
  // changed field means no such day.
  auto number = [&](size_t from, size_t n) {
    int v = 0;
    for (size_t i = from; i < from + n; ++i) {
      if (!absl::ascii_isdigit(text[i])) return -1;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  const int year = number(0, 4), month = number(5, 2), mday = number(8, 2);
  const absl::CivilDay day(year, month, mday);
  if (year < 0 || month < 1 || month > 12 || mday < 1 || day.month() != month ||
      day.day() != mday) {
    return absl::StrCat("\"", text, "\" is not a real calendar day");
  }
  out->set_year(static_cast<int32_t>(day.year()));
  out->set_month(day.month());
  out->set_day(day.day());
  return std::nullopt;
}

}  // namespace

const std::vector<std::string>& ImportColumns() {
  static const auto* columns = new std::vector<std::string>{"kind",
                                                            "person",
                                                            "record_id",
                                                            "name",
                                                            "sex",
                                                            "birth_date",
                                                            "hukou_region",
                                                            "hukou_address",
                                                            "destination_county",
                                                            "left_on",
                                                            "origin_county",
                                                            "previous_residence",
                                                            "arrived_on",
                                                            "registered_on",
                                                            "address",
                                                            "employer",
                                                            "service_type",
                                                            "delivered_on",
                                                            "provider_county",
                                                            "period",
                                                            "notes",
                                                            "return_type",
                                                            "effective_on",
                                                            "from_county",
                                                            "to_county",
                                                            "certificate_type",
                                                            "certificate_number",
                                                            "issuer",
                                                            "valid_from",
                                                            "valid_to",
                                                            "facts",
                                                            "programme",
                                                            "status",
                                                            "amount_fen",
                                                            "period_from",
                                                            "period_to",
                                                            "delivered_by"};
  return *columns;
}

std::string FindingCsvLine(const ImportFinding& f) {
  return absl::StrCat(CsvField(f.file), ",", f.line, ",", CsvField(f.column), ",",
                      CsvField(f.reason));
}

ImportReader::ImportReader(std::string file, std::istream* in, Encoding encoding,
                           absl::CivilDay today)
    : file_(std::move(file)), in_(in), encoding_(encoding), today_(today) {}

ImportReader::~ImportReader() = default;

absl::StatusOr<std::unique_ptr<ImportReader>> ImportReader::Open(std::string file, std::istream* in,
                                                                 Encoding encoding,
                                                                 absl::CivilDay today) {
  std::unique_ptr<ImportReader> r(new ImportReader(std::move(file), in, encoding, today));
  if (encoding == Encoding::kGb18030) {
    TB_ASSIGN_OR_RETURN(r->from_gb_, Transcoder::Open("UTF-8", "GB18030"));
  }
  std::vector<std::string> names;
  uint64_t line = 0;
  std::string encoding_error;
  const std::string where = absl::StrCat(r->file_, " line 1: ");
  if (!r->ReadRecord(&names, &line, &encoding_error)) {
    return absl::InvalidArgumentError(absl::StrCat(where, "the file is empty (no header row)"));
  }
  if (!encoding_error.empty()) return absl::InvalidArgumentError(where + encoding_error);
  const std::vector<std::string>& known = ImportColumns();
  std::vector<bool> seen(known.size(), false);
  for (std::string& name : names) {
    name = std::string(absl::StripAsciiWhitespace(name));
    auto it = std::find(known.begin(), known.end(), name);
    if (it == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "unknown column \"", name, "\" (known: ", absl::StrJoin(known, ", "), ")"));
    }
    const int col = static_cast<int>(it - known.begin());
    if (seen[col]) {
      return absl::InvalidArgumentError(absl::StrCat(where, "column \"", name, "\" appears twice"));
    }
    seen[col] = true;
    r->column_of_.push_back(col);
  }
  for (Col required : {kKind, kPerson}) {
    if (!seen[required]) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "required column \"", known[required], "\" is missing"));
    }
  }
  return r;
}

bool ImportReader::ReadLine(std::string* line, std::string* encoding_error) {
  std::string raw;
  if (!std::getline(*in_, raw)) return false;
  bytes_read_ += raw.size() + 1;
  ++line_;
  if (!raw.empty() && raw.back() == '\r') raw.pop_back();
  if (line_ == 1 && encoding_ == Encoding::kUtf8 && raw.rfind("\xEF\xBB\xBF", 0) == 0) {
    raw.erase(0, 3);
  }
  if (encoding_ == Encoding::kUtf8) {
    const size_t bad = InvalidUtf8At(raw);
    if (bad != absl::string_view::npos && encoding_error->empty()) {
      *encoding_error = absl::StrCat("not valid UTF-8 at byte ", bad + 1, " of line ", line_);
    }
    *line = std::move(raw);
    return true;
  }
  // GB18030 -> UTF-8, one physical line at a time.
  std::string out;
  const size_t bad = from_gb_->Convert(raw, &out);
  if (bad != absl::string_view::npos) {
    // Keep the ASCII structure for splitting, and reject the row.
    if (encoding_error->empty()) {
      *encoding_error = absl::StrCat("not valid GB18030 at byte ", bad + 1, " of line ", line_);
    }
    *line = std::move(raw);
    return true;
  }
  *line = std::move(out);
  return true;
}

bool ImportReader::ReadRecord(std::vector<std::string>* fields, uint64_t* first_line,
                              std::string* encoding_error) {
  fields->clear();
  std::string line;
  // Skip blank lines between records.
  do {
    if (!ReadLine(&line, encoding_error)) return false;
  } while (line.empty() && encoding_error->empty());
  *first_line = line_;
  std::string field;
  bool quoted = false;
  size_t i = 0;
  while (true) {
    if (i >= line.size()) {
      if (quoted) {
        // A quoted field goes on to the next physical line.
        field += '\n';
        if (!ReadLine(&line, encoding_error)) break;  // unterminated: ends at EOF
        i = 0;
        continue;
      }
      break;
    }
    const char c = line[i++];
    if (quoted) {
      if (c == '"') {
        if (i < line.size() && line[i] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty()) {
      quoted = true;
    } else if (c == ',') {
      fields->push_back(std::move(field));
      field.clear();
    } else {
      field += c;
    }
  }
  fields->push_back(std::move(field));
  return true;
}

namespace {

// One CSV row being read: its cells by column, and its findings.
struct RowParse {
  const std::string& file;
  uint64_t line;
  std::vector<ImportFinding>* findings;
  std::vector<std::string> value = std::vector<std::string>(kColumnCount);
  std::vector<bool> present = std::vector<bool>(kColumnCount, false);
  bool rejected = false;

  void Reject(const std::string& column, const std::string& reason) {
    findings->push_back({file, line, column, absl::StrCat("rejected: ", reason), true});
    rejected = true;
  }
  const std::string& Name(Col c) const { return ImportColumns()[c]; }
  void Date(Col c, v1::Date* out) {
    if (value[c].empty()) return;
    if (std::optional<std::string> bad = ParseDate(value[c], out); bad.has_value()) {
      Reject(Name(c), *bad);
    }
  }
  void County(Col c, std::string* out) {
    if (value[c].empty()) return;
    if (absl::Status s = ids::ValidateCurrentCountyCode(value[c]); !s.ok()) {
      Reject(Name(c), std::string(s.message()));
    }
    *out = value[c];
  }
  // An enumerated column: the word's enum value, or 0 (and a finding).
  int Choice(Col c) {
    if (value[c].empty()) return 0;
    const Choices& choices = ChoicesOf(c);
    for (const auto& [word, number] : choices) {
      if (word == value[c]) return number;
    }
    std::vector<std::string> known;
    for (const auto& [word, number] : choices) known.push_back(word);
    Reject(Name(c), absl::StrCat("\"", value[c], "\" is not one of: ", absl::StrJoin(known, ", ")));
    return 0;
  }
};

// The row's kind, or nullptr (and a finding).
const KindSpec* KindOf(RowParse& p) {
  for (const KindSpec& k : Kinds()) {
    if (p.value[kKind] == k.name) return &k;
  }
  std::vector<std::string> known;
  for (const KindSpec& k : Kinds()) known.emplace_back(k.name);
  p.Reject("kind",
           absl::StrCat("\"", p.value[kKind], "\" is not one of: ", absl::StrJoin(known, ", ")));
  return nullptr;
}

// Required and optional columns of the kind; anything else must be empty.
void CheckColumns(RowParse& p, const KindSpec& spec) {
  std::vector<bool> applies(kColumnCount, false);
  applies[kKind] = applies[kPerson] = applies[kRecordId] = true;
  for (Col c : spec.required) {
    applies[c] = true;
    if (p.value[c].empty()) {
      p.Reject(p.Name(c), p.present[c] ? absl::StrCat("required for kind ", spec.name)
                                       : absl::StrCat("required for kind ", spec.name,
                                                      ", and the file has no such column"));
    }
  }
  for (Col c : spec.optional) applies[c] = true;
  for (int c = 0; c < kColumnCount; ++c) {
    if (!applies[c] && !p.value[c].empty()) {
      p.Reject(p.Name(static_cast<Col>(c)), absl::StrCat("does not apply to kind ", spec.name));
    }
  }
}

// Fills `v` from the row's columns; returns the sex the row records (which
// grades the person's ID). One case per kind the CSV carries, each a few
// lines. long-function: kept as one switch so that a kind's columns read
// together.
ids::Sex FillValue(RowParse& p, const KindSpec& spec, v1::RecordValue* v) {
  ids::Sex recorded_sex = ids::Sex::kUnspecified;
  const std::vector<std::string>& value = p.value;
  auto reject = [&p](const std::string& column, const std::string& reason) {
    p.Reject(column, reason);
  };
  auto date = [&p](Col c, v1::Date* out) { p.Date(c, out); };
  auto county = [&p](Col c, std::string* out) { p.County(c, out); };
  auto choice = [&p](Col c) { return p.Choice(c); };
  switch (spec.kind) {
    case v1::RECORD_KIND_PERSON_BASICS: {
      v1::PersonBasics* p = v->mutable_person_basics();
      p->set_name(value[kName]);
      const std::string& sex = value[kSex];
      if (sex == "male" || sex == "男") {
        p->set_sex(v1::SEX_MALE);
        recorded_sex = ids::Sex::kMale;
      } else if (sex == "female" || sex == "女") {
        p->set_sex(v1::SEX_FEMALE);
        recorded_sex = ids::Sex::kFemale;
      } else if (!sex.empty()) {
        reject("sex", absl::StrCat("\"", sex, "\" is not one of: male, female, 男, 女"));
      }
      date(kBirthDate, p->mutable_birth_date());
      county(kHukouRegion, p->mutable_hukou_region());
      p->set_hukou_address(value[kHukouAddress]);
      break;
    }
    case v1::RECORD_KIND_OUTFLOW: {
      v1::OutflowRegistration* o = v->mutable_outflow();
      county(kDestinationCounty, o->mutable_destination_county());
      date(kLeftOn, o->mutable_left_on());
      break;
    }
    case v1::RECORD_KIND_INFLOW: {
      v1::InflowRegistration* in = v->mutable_inflow();
      county(kOriginCounty, in->mutable_origin_county());
      county(kPreviousResidence, in->mutable_previous_residence());
      date(kArrivedOn, in->mutable_arrived_on());
      date(kRegisteredOn, in->mutable_registered_on());
      in->set_address(value[kAddress]);
      in->set_employer(value[kEmployer]);
      break;
    }
    case v1::RECORD_KIND_SERVICE: {
      v1::ServiceRecord* s = v->mutable_service();
      s->set_type(static_cast<v1::ServiceType>(choice(kServiceType)));
      date(kDeliveredOn, s->mutable_delivered_on());
      county(kProviderCounty, s->mutable_provider_county());
      s->set_period(value[kPeriod]);
      s->set_notes(value[kNotes]);
      break;
    }
    case v1::RECORD_KIND_RETURN: {
      v1::ReturnRegistration* ret = v->mutable_return_registration();
      ret->set_type(static_cast<v1::ReturnType>(choice(kReturnType)));
      date(kEffectiveOn, ret->mutable_effective_on());
      county(kFromCounty, ret->mutable_from_county());
      county(kToCounty, ret->mutable_to_county());
      break;
    }
    case v1::RECORD_KIND_CERTIFICATE: {
      v1::Certificate* cert = v->mutable_certificate();
      cert->set_type(static_cast<v1::CertificateType>(choice(kCertificateType)));
      cert->set_number(value[kCertificateNumber]);
      county(kIssuer, cert->mutable_issuer());
      date(kValidFrom, cert->mutable_valid_from());
      date(kValidTo, cert->mutable_valid_to());
      // facts := fact { ";" fact }, fact := NAME "=" VALUE; spaces around
      // each part are dropped, and an empty fact (a trailing ";") is skipped.
      for (absl::string_view fact : absl::StrSplit(value[kFacts], ';', absl::SkipWhitespace())) {
        const size_t eq = fact.find('=');
        const absl::string_view name =
            absl::StripAsciiWhitespace(fact.substr(0, std::min(eq, fact.size())));
        if (eq == absl::string_view::npos || name.empty()) {
          reject("facts", absl::StrCat("\"", absl::StripAsciiWhitespace(fact),
                                       "\" is not NAME=VALUE (facts are NAME=VALUE;NAME=VALUE)"));
          continue;
        }
        const auto [it, added] = cert->mutable_attested_facts()->insert(
            {std::string(name), std::string(absl::StripAsciiWhitespace(fact.substr(eq + 1)))});
        if (!added) reject("facts", absl::StrCat("fact \"", name, "\" appears twice"));
      }
      break;
    }
    case v1::RECORD_KIND_ENTITLEMENT: {
      v1::Entitlement* e = v->mutable_entitlement();
      e->set_programme(value[kProgramme]);
      e->set_status(static_cast<v1::EntitlementStatus>(choice(kStatus)));
      if (const std::string& fen = value[kAmountFen]; !fen.empty()) {
        int64_t amount = 0;
        if (fen.size() > 9 || !std::all_of(fen.begin(), fen.end(), absl::ascii_isdigit) ||
            !absl::SimpleAtoi(fen, &amount) || amount > kMaxAmountFen) {
          reject("amount_fen", absl::StrCat("\"", fen, "\" is not a whole number of fen from 0 to ",
                                            kMaxAmountFen));
        }
        e->set_amount_fen(amount);
      }
      date(kPeriodFrom, e->mutable_period_from());
      date(kPeriodTo, e->mutable_period_to());
      county(kDeliveredBy, e->mutable_delivered_by());
      break;
    }
    default: break;
  }

  return recorded_sex;
}

// The person's ID: malformed is rejected; graded findings are flagged.
void CheckPerson(RowParse& p, ids::Sex recorded_sex, absl::CivilDay today, ImportRow* out) {
  const std::string& person = p.value[kPerson];
  if (person.empty()) {
    p.Reject("person", "required for every row");
    return;
  }
  absl::StatusOr<ids::CitizenId> id = ids::CheckCitizenId(person, recorded_sex, today);
  if (!id.ok()) {
    p.Reject("person", std::string(id.status().message()));
    return;
  }
  out->request.set_person(id->normalized);
  if (!id->findings.empty()) {
    std::vector<std::string> names_of;
    for (ids::IdFinding f : id->findings) names_of.emplace_back(ids::IdFindingName(f));
    p.findings->push_back({p.file, p.line, "person",
                           absl::StrCat("flagged: citizen ID ", ids::MaskId(id->normalized),
                                        " has findings: ", absl::StrJoin(names_of, ", ")),
                           false});
    out->has_id_findings = true;
  }
}

// The node's own checks (dates not in the future, ...), as a backstop.
void Validate(RowParse& p, const KindSpec& spec, const v1::RecordValue& v, absl::CivilDay today) {
  absl::Status s = records::ValidateRecordValue(spec.kind, v, today);
  if (s.ok()) return;
  // "inflow.arrived_on: ..." names the column after the dot.
  const std::vector<std::string>& names = ImportColumns();
  std::string message(s.message());
  std::string column;
  const size_t colon = message.find(": ");
  const size_t dot = message.find('.');
  if (colon != std::string::npos && dot != std::string::npos && dot < colon) {
    column = message.substr(dot + 1, colon - dot - 1);
    if (std::find(names.begin(), names.end(), column) == names.end()) column.clear();
  }
  p.Reject(column, message);
}

// The record id: the record_id column, or derived from the kind's key
// fields (records/kinds.h) as tongbanctl's record commands derive it, so
// that importing the same file again addresses the same records. Checked
// here, so that an id built from a free-text column is a finding on that
// column, not a refusal by the node. (The time names only inquiries and
// notices, which a CSV does not carry.)
void SetRecordId(RowParse& p, const KindSpec& spec, v1::WriteRequest* r) {
  const std::string& given = p.value[kRecordId];
  r->set_record_id(given.empty() ? records::DeriveRecordId(r->kind(), r->value(), absl::UnixEpoch())
                                 : given);
  if (records::ValidRecordId(r->record_id())) return;
  // A derived id takes a free-text column (programme, certificate number):
  // name that column, so the operator knows to give record_id instead.
  const Col from = !given.empty()                             ? kRecordId
                   : spec.kind == v1::RECORD_KIND_ENTITLEMENT ? kProgramme
                                                              : kCertificateNumber;
  p.Reject(p.Name(from), absl::StrCat("record id \"", r->record_id(),
                                      "\" is not 1 to 128 characters of A-Z a-z 0-9 . _ : -",
                                      from == kRecordId ? "" : "; give a record_id column"));
}

}  // namespace

bool ImportReader::Next(std::optional<ImportRow>* row, std::vector<ImportFinding>* findings) {
  row->reset();
  std::vector<std::string> fields;
  uint64_t line = 0;
  std::string encoding_error;
  if (!ReadRecord(&fields, &line, &encoding_error)) return false;
  RowParse p{file_, line, findings};
  if (!encoding_error.empty()) {
    p.Reject("", encoding_error);
    return true;
  }
  if (fields.size() != column_of_.size()) {
    p.Reject("", absl::StrCat("the row has ", fields.size(), " fields, the header has ",
                              column_of_.size()));
    return true;
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    p.value[column_of_[i]] = std::string(absl::StripAsciiWhitespace(fields[i]));
    p.present[column_of_[i]] = true;
  }
  const KindSpec* spec = KindOf(p);
  if (spec == nullptr) return true;

  ImportRow out;
  out.line = line;
  v1::WriteRequest& r = out.request;
  r.set_kind(spec->kind);
  r.set_operation(v1::OPERATION_UPSERT);
  CheckColumns(p, *spec);
  const ids::Sex recorded_sex = FillValue(p, *spec, r.mutable_value());
  CheckPerson(p, recorded_sex, today_, &out);
  if (p.rejected) return true;
  Validate(p, *spec, r.value(), today_);
  if (p.rejected) return true;
  SetRecordId(p, *spec, &r);
  if (p.rejected) return true;
  *row = std::move(out);
  return true;
}

}  // namespace tongban::workflows
