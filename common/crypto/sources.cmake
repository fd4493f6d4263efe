# Crypto suites (OpenSSL 3 EVP) and key files. Paths relative to common/.
target_sources(tongban_common PRIVATE
  crypto/suite.cc
  crypto/key_file.cc
  crypto/ghash.cc
  crypto/openssl_util.cc
  crypto/kdf.cc
  crypto/seal_to.cc
)
