# Federation PKI tests (paths relative to tests/).
list(APPEND COMMON_TEST_SRCS common/pki_test.cc common/pki_request_test.cc)
