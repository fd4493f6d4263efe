# Metrics registry and text exposition tests (paths relative to tests/).
list(APPEND COMMON_TEST_SRCS common/metrics_test.cc)
