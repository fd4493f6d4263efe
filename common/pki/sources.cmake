# Federation PKI: CA and node TLS certificates (X.509, OpenSSL 3). Paths relative to common/.
target_sources(tongban_common PRIVATE pki/pki.cc)
