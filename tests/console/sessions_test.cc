#include "console/sessions.h"

#include "gtest/gtest.h"
#include "tests/testutil/suites.h"

namespace tongban::console {
namespace {

admin::Operator Clerk() { return admin::Operator{"620102", "wang.clerk", admin::Role::kClerk}; }

class SessionStoreTest : public testing::Test {
 protected:
  FakeClock clock_;
  SessionStore store_{SessionOptions{absl::Minutes(15), absl::Hours(8), 3}, &clock_};
};

TEST_F(SessionStoreTest, OpenGivesRandomIdAndToken) {
  absl::StatusOr<Session> a = store_.Open(Clerk(), "AA:BB");
  absl::StatusOr<Session> b = store_.Open(Clerk(), "AA:BB");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->id.size(), 64u);
  EXPECT_EQ(a->csrf.size(), 64u);
  EXPECT_NE(a->id, b->id);
  EXPECT_NE(a->id, a->csrf);
  absl::StatusOr<Session> used = store_.Use(a->id, "AA:BB");
  ASSERT_TRUE(used.ok()) << used.status();
  EXPECT_EQ(used->op.name, "wang.clerk");
  EXPECT_EQ(used->csrf, a->csrf);
}

// Use within the idle time keeps a session; a pause as long as it ends it.
TEST_F(SessionStoreTest, IdleTimeoutEndsAnUnusedSession) {
  absl::StatusOr<Session> s = store_.Open(Clerk(), "AA");
  ASSERT_TRUE(s.ok());
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(absl::Minutes(14));
    EXPECT_TRUE(store_.Use(s->id, "AA").ok()) << "after " << 14 * (i + 1) << " minutes of use";
  }
  clock_.Advance(absl::Minutes(15));
  absl::StatusOr<Session> gone = store_.Use(s->id, "AA");
  EXPECT_TRUE(absl::IsUnauthenticated(gone.status()));
  EXPECT_NE(gone.status().message().find("expired after 15m idle"), std::string::npos)
      << gone.status();
  // Removed: asking again says it is unknown.
  EXPECT_EQ(store_.Use(s->id, "AA").status().message(), "not signed in");
}

TEST_F(SessionStoreTest, LifetimeEndsABusySession) {
  absl::StatusOr<Session> s = store_.Open(Clerk(), "AA");
  ASSERT_TRUE(s.ok());
  for (int i = 0; i < 47; ++i) {  // 47 x 10 min = 7 h 50 min, always in use
    clock_.Advance(absl::Minutes(10));
    ASSERT_TRUE(store_.Use(s->id, "AA").ok());
  }
  clock_.Advance(absl::Minutes(10));
  absl::StatusOr<Session> gone = store_.Use(s->id, "AA");
  EXPECT_TRUE(absl::IsUnauthenticated(gone.status()));
  EXPECT_NE(gone.status().message().find("8h after sign-in"), std::string::npos) << gone.status();
}

// A stolen cookie is no use without the operator's certificate.
TEST_F(SessionStoreTest, SessionIsBoundToItsCertificate) {
  absl::StatusOr<Session> s = store_.Open(Clerk(), "AA");
  ASSERT_TRUE(s.ok());
  absl::StatusOr<Session> other = store_.Use(s->id, "BB");
  EXPECT_TRUE(absl::IsUnauthenticated(other.status()));
  EXPECT_TRUE(store_.Use(s->id, "AA").ok());
}

TEST_F(SessionStoreTest, CloseEndsTheSession) {
  absl::StatusOr<Session> s = store_.Open(Clerk(), "AA");
  ASSERT_TRUE(s.ok());
  store_.Close(s->id);
  EXPECT_TRUE(absl::IsUnauthenticated(store_.Use(s->id, "AA").status()));
  EXPECT_EQ(store_.size(), 0u);
}

// The store is bounded: the least recently used session goes first.
TEST_F(SessionStoreTest, FullStoreDropsTheLeastRecentlyUsed) {
  std::vector<Session> s;
  for (int i = 0; i < 3; ++i) {
    s.push_back(*store_.Open(Clerk(), "AA"));
    clock_.Advance(absl::Seconds(1));
  }
  ASSERT_TRUE(store_.Use(s[0].id, "AA").ok());  // s[1] is now the least recent
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(store_.Open(Clerk(), "AA").ok());
  EXPECT_EQ(store_.size(), 3u);
  EXPECT_TRUE(store_.Use(s[0].id, "AA").ok());
  EXPECT_FALSE(store_.Use(s[1].id, "AA").ok());
  EXPECT_TRUE(store_.Use(s[2].id, "AA").ok());
}

}  // namespace
}  // namespace tongban::console
