# The analytics mirror against a real PostgreSQL 15 cluster of the test's
# own (tests/analytics/pg_cluster.h), with the national node and a county
# as daemons (tests/daemon/daemon_fixture.h).
tongban_daemon_test(analytics_mirror_test analytics/mirror_test.cc)
target_link_libraries(analytics_mirror_test PRIVATE tongban_analytics)
# It runs the README's typical questions as the README writes them.
target_compile_definitions(analytics_mirror_test PRIVATE
                           TB_README="${PROJECT_SOURCE_DIR}/README.md")
# The national measures in SQL (tongban.measures_of, tongban.flows) equal
# the node's statistics over random federation stories, mirrored into a
# PostgreSQL cluster of the test's own.
# tongbanctl stats --from analytics prints the same, and refuses bad input
# with one clear error.
tongban_test(analytics_measures_test LABEL unit SRCS analytics/measures_test.cc
             DEPS tongban_analytics tongban_workflows tongban_sync)
target_compile_definitions(analytics_measures_test PRIVATE
                           TB_TONGBANCTL="$<TARGET_FILE:tongbanctl>")
add_dependencies(analytics_measures_test tongbanctl)
