#include "records/links.h"

#include "gtest/gtest.h"

namespace tongban::records {
namespace {

v1::EventBody Body(const std::string& writer, uint64_t seq) {
  v1::EventBody b;
  b.set_origin(writer);
  b.set_epoch(1);
  b.set_seq(seq);
  b.set_operation(v1::OPERATION_UPSERT);
  return b;
}

Links Apply(const Links& links, const LinkEffect& e) {
  Links out = links;
  for (const auto& [node, link] : e.changed) out[node] = link;
  return out;
}

constexpr absl::Duration kRetention = absl::Hours(24 * 180);
constexpr int64_t kDay = 86'400'000'000;

// An event by `writer` stamped `micros`.
v1::EventBody At(const std::string& writer, int64_t micros) {
  v1::EventBody b = Body(writer, 1);
  b.mutable_hlc()->set_physical_micros(micros);
  return b;
}

// The story of DOMAIN.md: origin A, residence B, then C, then home.
TEST(LinksTest, MovesLinkAndEndResidences) {
  Links links;
  v1::RecordValue basics;
  basics.mutable_person_basics();
  links = Apply(links, DeriveLinks(At("620102", 0), basics, links));
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links["620102"].role(), v1::LINK_ROLE_ORIGIN);

  v1::RecordValue in_b;
  in_b.mutable_inflow()->set_origin_county("620102");
  links = Apply(links, DeriveLinks(At("440305", 10 * kDay), in_b, links));
  EXPECT_EQ(links["440305"].role(), v1::LINK_ROLE_RESIDENCE);
  EXPECT_EQ(links["440305"].ended_at_micros(), 0);
  EXPECT_EQ(links["620102"].role(), v1::LINK_ROLE_ORIGIN);  // unchanged

  v1::RecordValue in_c;
  in_c.mutable_inflow()->set_origin_county("620102");
  links = Apply(links, DeriveLinks(At("330106", 20 * kDay), in_c, links));
  EXPECT_EQ(links["440305"].ended_at_micros(), 20 * kDay);  // B's case ended
  EXPECT_EQ(links["330106"].ended_at_micros(), 0);

  // Within the retention window B still receives; after it, not.
  EXPECT_EQ(DeriveAudience("620102", "000000", links, {}, 21 * kDay, kRetention),
            (std::vector<std::string>{"000000", "330106", "440305"}));
  EXPECT_EQ(DeriveAudience("620102", "000000", links, {}, 200 * kDay + 1, kRetention),
            (std::vector<std::string>{"000000", "330106"}));

  v1::RecordValue home;
  home.mutable_return_registration()->set_type(v1::RETURN_TYPE_RETURNED_HOME);
  links = Apply(links, DeriveLinks(At("620102", 300 * kDay), home, links));
  EXPECT_EQ(links["330106"].ended_at_micros(), 300 * kDay);
  EXPECT_EQ(DeriveAudience("620102", "000000", links, {}, 500 * kDay, kRetention),
            (std::vector<std::string>{"000000"}));
}

// Issue #14: a county whose clock reads ten years ahead. Beyond the
// horizon (the applying node's clock plus the tolerated skew) its stamps
// count as the horizon: its registration does not outrank a real later one
// (which would cut the later county's window), and the link it ends does
// not stay open for ten years (which would extend that county's window).
TEST(LinksTest, AFarFutureStampCannotExtendOrCutAnotherCountysWindow) {
  constexpr int64_t kTenYears = 3652 * kDay;
  v1::RecordValue in;
  in.mutable_inflow()->set_origin_county("620102");
  Links links;
  links = Apply(links, DeriveLinks(At("440305", 10 * kDay), in, links, 10 * kDay));
  // X registers the person, stamped ten years ahead, applied on day 20.
  const int64_t horizon = 20 * kDay + 5 * 60'000'000LL;  // day 20 plus 5 minutes
  links = Apply(links, DeriveLinks(At("330106", kTenYears), in, links, horizon));
  EXPECT_EQ(links["330106"].since().physical_micros(), horizon);
  EXPECT_EQ(links["440305"].ended_at_micros(), horizon) << "not kept open for ten years";
  EXPECT_EQ(DeriveAudience("620102", "000000", links, {}, 200 * kDay + horizon, kRetention),
            (std::vector<std::string>{"000000", "330106"}))
      << "B's window ends 180 days after day 20, not after ten years";
  // B registers again on day 30, for real: it is the residence now, and X's
  // registration ended.
  links = Apply(links, DeriveLinks(At("440305", 30 * kDay), in, links, 30 * kDay));
  EXPECT_EQ(links["440305"].ended_at_micros(), 0) << "B's new window is not cut";
  EXPECT_EQ(links["330106"].ended_at_micros(), 30 * kDay);
  // Within the tolerance a stamp is taken as it is.
  EXPECT_EQ(StampAsTime(At("x", horizon).hlc(), horizon).physical_micros(), horizon);
  EXPECT_EQ(StampAsTime(At("x", horizon + 1).hlc(), horizon).physical_micros(), horizon);
  EXPECT_EQ(StampAsTime(At("x", 7).hlc(), horizon).physical_micros(), 7);
}

TEST(LinksTest, RetractionChangesNoLink) {
  v1::EventBody b = Body("440305", 3);
  b.set_operation(v1::OPERATION_RETRACT);
  v1::RecordValue none;
  EXPECT_TRUE(DeriveLinks(b, none, {}).changed.empty());
}

TEST(LinksTest, InquiryReachesCounterpartAndLinksSender) {
  Links links;
  v1::RecordValue q;
  q.mutable_inquiry()->set_to_county("620102");
  const LinkEffect e = DeriveLinks(Body("440305", 1), q, links);
  EXPECT_EQ(e.counterparts, std::vector<std::string>{"620102"});
  ASSERT_EQ(e.changed.count("440305"), 1u);
  EXPECT_EQ(e.changed.at("440305").role(), v1::LINK_ROLE_COUNTERPART);
  EXPECT_EQ(DeriveAudience("440305", "000000", Apply(links, e), e.counterparts, 0, kRetention),
            (std::vector<std::string>{"000000", "620102"}));
}

TEST(LinksTest, NationalNodeWritesToLinkedNodesOnly) {
  Links links;
  links["620102"].set_role(v1::LINK_ROLE_ORIGIN);
  EXPECT_EQ(DeriveAudience("000000", "000000", links, {}, 0, kRetention),
            std::vector<std::string>{"620102"});
}

}  // namespace
}  // namespace tongban::records

namespace tongban::records {
namespace {

Links ApplyAll(const std::vector<std::pair<v1::EventBody, v1::RecordValue>>& events) {
  Links links;
  for (const auto& [body, value] : events) {
    links = Apply(links, DeriveLinks(body, value, links));
  }
  return links;
}

// Registrations ordered by their hybrid clock, not by arrival: every node
// derives the same links whatever order the events reach it in.
TEST(LinksTest, ResidenceOrderIsTheRegistrationsOrderNotArrival) {
  v1::RecordValue basics;
  basics.mutable_person_basics();
  v1::RecordValue inflow;
  inflow.mutable_inflow()->set_origin_county("620102");
  v1::RecordValue home;
  home.mutable_return_registration()->set_type(v1::RETURN_TYPE_RETURNED_HOME);
  const auto a = std::make_pair(At("620102", 1 * kDay), basics);
  const auto b = std::make_pair(At("440305", 10 * kDay), inflow);
  const auto c = std::make_pair(At("330106", 20 * kDay), inflow);
  const auto h = std::make_pair(At("620102", 30 * kDay), home);

  const Links in_order = ApplyAll({a, b, c});
  EXPECT_EQ(in_order.at("440305").ended_at_micros(), 20 * kDay);
  EXPECT_EQ(in_order.at("330106").ended_at_micros(), 0);
  for (const auto& order : std::vector<std::vector<std::pair<v1::EventBody, v1::RecordValue>>>{
           {a, c, b}, {c, b, a}, {c, a, b}, {b, c, a}}) {
    const Links links = ApplyAll(order);
    ASSERT_EQ(links.size(), in_order.size());
    for (const auto& [node, link] : in_order) {
      EXPECT_EQ(links.at(node).role(), link.role()) << node;
      EXPECT_EQ(links.at(node).ended_at_micros(), link.ended_at_micros()) << node;
    }
  }
  // Home: every residence registered before the return ends, in any order.
  const Links after_home = ApplyAll({a, b, c, h});
  const Links home_first = ApplyAll({h, a, c, b});
  for (const char* node : {"440305", "330106"}) {
    EXPECT_NE(after_home.at(node).ended_at_micros(), 0) << node;
    EXPECT_EQ(home_first.at(node).ended_at_micros(), after_home.at(node).ended_at_micros()) << node;
  }
}

}  // namespace
}  // namespace tongban::records
