list(APPEND COMMON_TEST_SRCS common/ids/citizen_id_test.cc common/ids/region_test.cc)
