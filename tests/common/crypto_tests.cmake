# Crypto suite and key file tests (paths relative to tests/).
list(APPEND COMMON_TEST_SRCS
  common/crypto/kat_test.cc
  common/crypto/suite_test.cc
  common/crypto/key_file_test.cc
  common/crypto/kdf_test.cc
  common/crypto/seal_to_test.cc
)
