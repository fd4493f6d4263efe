# The analytics mirror against a real PostgreSQL 15 cluster of the test's
# own (tests/analytics/pg_cluster.h), with the national node and a county
# as daemons (tests/daemon/daemon_fixture.h).
tongban_daemon_test(analytics_mirror_test analytics/mirror_test.cc)
target_link_libraries(analytics_mirror_test PRIVATE tongban_analytics)
