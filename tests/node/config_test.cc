// The configuration file: a full file parses into the typed Config, relative
// paths resolve against the file's folder, and every kind of mistake is one
// error naming file, line and key.
#include "node/config.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/duration.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace tongban::node {
namespace {

constexpr char kMinimal[] = R"(# a county node
[node]
code = "440305"   # 南山区

[federation]
roster = "roster.bin"
root_public_key = "root.pub"
ca = "/etc/tongban/ca.pem"
certificate = "node.pem"
private_key = "node.key"
)";

TEST(ConfigTest, MinimalFileGetsDefaults) {
  TB_ASSERT_OK_AND_ASSIGN(Config c, ParseConfig(kMinimal, "/etc/tongban/tongband.conf"));
  EXPECT_EQ(c.code, "440305");
  EXPECT_EQ(c.role, NodeRole::kCounty);
  EXPECT_EQ(c.suite, crypto::SuiteId::kIntl);
  EXPECT_EQ(c.roster, "/etc/tongban/roster.bin");
  EXPECT_EQ(c.ca, "/etc/tongban/ca.pem");
  EXPECT_EQ(c.data_dir, "/var/lib/tongban");
  // Backups default into the data folder, the one the unit lets the daemon write.
  EXPECT_EQ(c.backup_dir, "/var/lib/tongban/backups");
  // A week of nightly backups unless configured.
  EXPECT_EQ(c.backup_keep, 7u);
  // The store's memory: sized so a county stays under PostgreSQL's default.
  EXPECT_EQ(c.write_buffer_mib, 48u);
  EXPECT_EQ(c.cache_mib, 32u);
  EXPECT_EQ(c.min_free_mib, 512u);
  EXPECT_EQ(c.peer_listen, "0.0.0.0:7443");
  EXPECT_EQ(c.retry_max, absl::Minutes(5));
  EXPECT_EQ(c.batch_events, 1024u);
  EXPECT_EQ(c.console_listen, "");  // the console is off unless configured
  EXPECT_EQ(c.console_session_idle, absl::Minutes(15));
}

TEST(ConfigTest, EveryKeyIsRead) {
  const std::string text = absl::StrCat(kMinimal, R"(
[storage]
backup_dir = "backups"
backup_keep = 30
write_buffer_mib = 256
cache_mib = 1024
min_free_mib = 64
[peer]
listen = "127.0.0.1:9000"
transport_memory_mib = 256
session_workers = 16
[admin]
listen = "127.0.0.1:9001"
operator_ca = "ops/ca.pem"
operators = "ops/accounts"
lockout_failures = 3
lockout_period = "10m"
[metrics]
listen = "127.0.0.1:9002"
[console]
listen = "127.0.0.1:9003"
assets = "console"
javascript = "/opt/js"
session_idle = "5m"
session_lifetime = "1h"
workers = 8
read_timeout = "3s"
keep_alive = "1s"
[sync]
credit = 8
batch_events = 512
batch_bytes = 65536
retry_initial = "100ms"
retry_max = "2m"
idle_close = "30s"
retention = "90d"
max_clock_ahead = "2m"
[log]
level = "debug"
)");
  TB_ASSERT_OK_AND_ASSIGN(Config c, ParseConfig(text, "conf/t.conf"));
  EXPECT_EQ(c.backup_dir, "conf/backups");
  EXPECT_EQ(c.backup_keep, 30u);
  EXPECT_EQ(c.write_buffer_mib, 256u);
  EXPECT_EQ(c.cache_mib, 1024u);
  EXPECT_EQ(c.min_free_mib, 64u);
  EXPECT_EQ(c.peer_listen, "127.0.0.1:9000");
  EXPECT_EQ(c.transport_memory_mib, 256u);
  EXPECT_EQ(c.session_workers, 16u);
  EXPECT_EQ(c.admin_listen, "127.0.0.1:9001");
  EXPECT_EQ(c.operator_ca, "conf/ops/ca.pem");
  EXPECT_EQ(c.operators, "conf/ops/accounts");
  EXPECT_EQ(c.lockout_failures, 3u);
  EXPECT_EQ(c.lockout_period, absl::Minutes(10));
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9002");
  EXPECT_EQ(c.console_listen, "127.0.0.1:9003");
  EXPECT_EQ(c.console_assets, "conf/console");
  EXPECT_EQ(c.console_javascript, "/opt/js");
  EXPECT_EQ(c.console_session_idle, absl::Minutes(5));
  EXPECT_EQ(c.console_session_lifetime, absl::Hours(1));
  EXPECT_EQ(c.console_workers, 8u);
  EXPECT_EQ(c.console_read_timeout, absl::Seconds(3));
  EXPECT_EQ(c.console_keep_alive, absl::Seconds(1));
  EXPECT_EQ(c.credit, 8u);
  EXPECT_EQ(c.batch_events, 512u);
  EXPECT_EQ(c.batch_bytes, 65536u);
  EXPECT_EQ(c.retry_initial, absl::Milliseconds(100));
  EXPECT_EQ(c.retry_max, absl::Minutes(2));
  EXPECT_EQ(c.idle_close, absl::Seconds(30));
  EXPECT_EQ(c.retention, absl::Hours(24 * 90));
  EXPECT_EQ(c.max_clock_ahead, absl::Minutes(2));
  EXPECT_EQ(c.log_level, "debug");
}

// The commented example files of deploy/ (installed as examples, the
// county's as /etc/tongban/tongband.conf) parse, backup folder included.
TEST(ConfigTest, ExampleFilesParse) {
  for (const char* role : {"county", "province", "national"}) {
    const std::string path = absl::StrCat(TB_SOURCE_DIR, "/deploy/tongband.", role, ".conf");
    TB_ASSERT_OK_AND_ASSIGN(Config c, LoadConfig(path));
    EXPECT_EQ(c.backup_dir, "/var/lib/tongban/backups") << path;
    EXPECT_EQ(c.backup_keep, 7u) << path;
    EXPECT_EQ(c.data_dir, "/var/lib/tongban") << path;
  }
}

TEST(ConfigTest, NationalAndGm) {
  const std::string text = R"([node]
code = "000000"
role = "national"
suite = "gm"
[federation]
roster = "r"
root_public_key = "k"
ca = "c"
certificate = "n"
private_key = "p"
)";
  TB_ASSERT_OK_AND_ASSIGN(Config c, ParseConfig(text, "x.conf"));
  EXPECT_EQ(c.role, NodeRole::kNational);
  EXPECT_EQ(c.suite, crypto::SuiteId::kGm);
  // [analytics] is off unless a connection is given.
  EXPECT_TRUE(c.analytics_connection.empty());
  TB_ASSERT_OK_AND_ASSIGN(
      Config a, ParseConfig(absl::StrCat(text,
                                         "[analytics]\nconnection = \"host=/run/postgresql "
                                         "dbname=tongban\"\nbatch_size = 20000\nhash_partitions = "
                                         "16\npoll = \"5s\"\n"),
                            "x.conf"));
  EXPECT_EQ(a.analytics_connection, "host=/run/postgresql dbname=tongban");
  EXPECT_EQ(a.analytics_batch_size, 20000u);
  EXPECT_EQ(a.analytics_hash_partitions, 16u);
  EXPECT_EQ(a.analytics_poll, absl::Seconds(5));
}

// Deadlines: defaults from DOMAIN.md, [deadlines] changes them for every
// province, [deadlines.XX0000] for one, wherever it stands in the file.
TEST(ConfigTest, DeadlinesPerProvince) {
  TB_ASSERT_OK_AND_ASSIGN(Config plain, ParseConfig(kMinimal, "t.conf"));
  EXPECT_EQ(plain.deadlines.For("620102").urgent_days, 15u);
  EXPECT_EQ(plain.deadlines.For("620102").normal_days, 30u);
  EXPECT_EQ(plain.deadlines.For("620102").certificate_mismatch_days, 7u);
  EXPECT_EQ(plain.deadlines.For("620102").notice_days, 30u);
  EXPECT_EQ(plain.deadlines.remind_days, 3u);

  const std::string text = absl::StrCat(kMinimal, R"(
[deadlines.440000]
normal_days = 20
[deadlines]
urgent_days = 10
remind_days = 5
[deadlines.620000]
certificate_mismatch_days = 5
notice_days = 14
)");
  TB_ASSERT_OK_AND_ASSIGN(Config c, ParseConfig(text, "t.conf"));
  EXPECT_EQ(c.deadlines.remind_days, 5u);
  // Guangdong: its own normal deadline, the file's urgent one.
  EXPECT_EQ(c.deadlines.For("440305").normal_days, 20u);
  EXPECT_EQ(c.deadlines.For("440305").urgent_days, 10u);
  EXPECT_EQ(c.deadlines.For("440305").certificate_mismatch_days, 7u);
  // Gansu.
  EXPECT_EQ(c.deadlines.For("620102").certificate_mismatch_days, 5u);
  EXPECT_EQ(c.deadlines.For("620102").notice_days, 14u);
  EXPECT_EQ(c.deadlines.For("620102").normal_days, 30u);
  // Any other province: the file's defaults.
  EXPECT_EQ(c.deadlines.For("330106").urgent_days, 10u);
  EXPECT_EQ(c.deadlines.For("330106").normal_days, 30u);
}

struct BadCase {
  const char* name;
  std::string append;    // added to kMinimal
  std::string expected;  // the error must contain this
};

class ConfigErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrorTest, OneErrorNamingFileLineAndKey) {
  const std::string text = absl::StrCat(kMinimal, GetParam().append);
  absl::StatusOr<Config> c = ParseConfig(text, "/etc/tongban/tongband.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(c.status().message(), GetParam().expected)) << c.status().message();
  EXPECT_TRUE(absl::StartsWith(c.status().message(), "/etc/tongban/tongband.conf:"))
      << c.status().message();
}

// kMinimal has 10 lines, so appended text starts on line 11.
INSTANTIATE_TEST_SUITE_P(
    Mistakes, ConfigErrorTest,
    ::testing::Values(
        BadCase{"UnknownKey", "[sync]\nretries = 3\n", ":12: sync.retries: unknown key"},
        BadCase{"UnknownSection", "[syncing]\n", ":11: unknown section [syncing]"},
        BadCase{"BadDuration", "[sync]\nretry_max = \"5x\"\n",
                ":12: sync.retry_max: \"5x\" is not a duration"},
        BadCase{"WrongType", "[sync]\ncredit = \"4\"\n",
                ":12: sync.credit: \"4\" is a string, expected an integer"},
        BadCase{"OutOfRange", "[sync]\nbatch_events = 5000\n",
                ":12: sync.batch_events: 5000 is out of range [1, 1024]"},
        BadCase{"BadChoice", "[log]\nlevel = \"loud\"\n",
                ":12: log.level: \"loud\" is not one of: debug, info, warning, error"},
        BadCase{"Unquoted", "[peer]\nlisten = 0.0.0.0:1\n",
                ":12: peer.listen: 0.0.0.0:1 is not a value"},
        BadCase{"BadEndpoint", "[peer]\nlisten = \"localhost\"\n",
                ":12: peer.listen: \"localhost\" is not host:port"},
        BadCase{"Twice", "[sync]\ncredit = 4\ncredit = 5\n",
                ":13: sync.credit: given twice (first on line 12)"},
        BadCase{"BackupDirNotAString", "[storage]\nbackup_dir = 3\n",
                ":12: storage.backup_dir: 3 is an integer, expected a string"},
        BadCase{"BackupKeepNegative", "[storage]\nbackup_keep = -1\n",
                ":12: storage.backup_keep: -1 is out of range [0, 1000]"},
        BadCase{"BackupKeepAbsurd", "[storage]\nbackup_keep = 100000\n",
                ":12: storage.backup_keep: 100000 is out of range [0, 1000]"},
        BadCase{"BackupKeepNotAnInteger", "[storage]\nbackup_keep = \"7\"\n",
                ":12: storage.backup_keep: \"7\" is a string, expected an integer"},
        BadCase{"WriteBufferTooSmall", "[storage]\nwrite_buffer_mib = 4\n",
                ":12: storage.write_buffer_mib: 4 is out of range [8, 65536]"},
        BadCase{"CacheZero", "[storage]\ncache_mib = 0\n",
                ":12: storage.cache_mib: 0 is out of range [1, 1048576]"},
        BadCase{"MinFreeNegative", "[storage]\nmin_free_mib = -1\n",
                ":12: storage.min_free_mib: -1 is out of range [0, 16777216]"},
        BadCase{"SectionTwice", "[node]\n", ":11: section [node] appears twice"},
        BadCase{"NoEquals", "[sync]\ncredit\n", ":12: expected key = value"},
        BadCase{"Unterminated", "[log]\nlevel = \"info\n",
                ":12: log.level: string has no closing quote"},
        BadCase{"TrailingJunk", "[log]\nlevel = \"info\" x\n",
                ":12: log.level: unexpected text after the string"},
        BadCase{"OperatorsAlone", "[admin]\noperators = \"accounts\"\n",
                ":12: admin.operators: admin.operator_ca and admin.operators go together"},
        BadCase{"RetryOrder", "[sync]\nretry_initial = \"10m\"\nretry_max = \"1m\"\n",
                ":13: sync.retry_max: is shorter than sync.retry_initial"},
        BadCase{"ClockAheadRange", "[sync]\nmax_clock_ahead = \"2d\"\n",
                ":12: sync.max_clock_ahead: \"2d\" is out of range"},
        BadCase{"ConsoleWithoutOperators", "[console]\nlisten = \"127.0.0.1:7445\"\n",
                ":12: console.listen: the console signs operators in as the Admin service "
                "does: set admin.operator_ca"},
        BadCase{"ConsoleIdle", "[console]\nsession_idle = \"0s\"\n",
                ":12: console.session_idle: \"0s\" is out of range"},
        BadCase{"ConsoleLifetime", "[console]\nsession_idle = \"2h\"\nsession_lifetime = \"1h\"\n",
                ":13: console.session_lifetime: is shorter than console.session_idle"},
        BadCase{"SessionWorkers", "[peer]\nsession_workers = 0\n",
                ":12: peer.session_workers: 0 is out of range [1, 256]"},
        BadCase{"ConsoleWorkers", "[console]\nworkers = 1\n",
                ":12: console.workers: 1 is out of range [2, 256]"},
        BadCase{"AnalyticsOnACounty",
                "[analytics]\nconnection = \"host=/run/postgresql dbname=tongban\"\n",
                ":12: analytics.connection: only the national node mirrors into analytics"},
        BadCase{"AnalyticsBatch", "[analytics]\nbatch_size = 0\n",
                ":12: analytics.batch_size: 0 is out of range [1, 100000]"},
        BadCase{"AnalyticsPartitions", "[analytics]\nhash_partitions = 65\n",
                ":12: analytics.hash_partitions: 65 is out of range [0, 64]"},
        BadCase{"DeadlineRange", "[deadlines]\nurgent_days = 0\n",
                ":12: deadlines.urgent_days: 0 is out of range [1, 365]"},
        BadCase{"NotAProvince", "[deadlines.620102]\nurgent_days = 9\n",
                ":11: [deadlines.620102]: \"620102\" is not a province code"},
        BadCase{"ProvinceKey", "[deadlines.620000]\nremind_days = 9\n",
                ":12: deadlines.620000.remind_days: unknown key"},
        BadCase{"ProvinceTwice", "[deadlines.620000]\n[deadlines.620000]\n",
                ":12: section [deadlines.620000] appears twice"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return info.param.name; });

TEST(ConfigTest, RoleMustFitTheCode) {
  const std::string text = absl::StrCat(kMinimal, "");
  std::string national_county = text;
  national_county.replace(national_county.find("[node]\n") + 7, 0, "role = \"national\"\n");
  absl::StatusOr<Config> c = ParseConfig(national_county, "t.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "t.conf:3: node.role: node 440305 is a county node, not a national node");
}

TEST(ConfigTest, BadNodeCodeNamesTheLine) {
  std::string text = kMinimal;
  text.replace(text.find("440305"), 6, "449999");
  absl::StatusOr<Config> c = ParseConfig(text, "t.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::StartsWith(c.status().message(), "t.conf:3: node.code: "))
      << c.status().message();
}

TEST(ConfigTest, MissingRequiredKey) {
  std::string text = kMinimal;
  text.erase(text.find("ca = "), text.find('\n', text.find("ca = ")) - text.find("ca = ") + 1);
  absl::StatusOr<Config> c = ParseConfig(text, "t.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "t.conf: federation.ca: required, and missing");
}

TEST(ConfigTest, MissingFileIsAnError) {
  testutil::ScopedTempDir dir;
  absl::StatusOr<Config> c = LoadConfig(dir.File("absent.conf"));
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::StrContains(c.status().message(), "absent.conf")) << c.status();
}

TEST(ConfigTest, Durations) {
  EXPECT_EQ(*ParseDuration("30s"), absl::Seconds(30));
  EXPECT_EQ(*ParseDuration("250ms"), absl::Milliseconds(250));
  EXPECT_EQ(*ParseDuration("2h"), absl::Hours(2));
  EXPECT_EQ(*ParseDuration("180d"), absl::Hours(24 * 180));
  for (const char* bad : {"", "s", "5", "-5s", "5 s", "1.5h", "5w"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace tongban::node
