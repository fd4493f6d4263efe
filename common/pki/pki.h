// The federation PKI: a federation CA and the TLS certificates it issues to
// nodes (DESIGN.md section 3, "Transport"). `tongbanctl pki` is the tool
// around it; the sync layer's mTLS handshake uses the verification half.
//
//   federation CA   ECDSA P-256 key, self-signed certificate, subject
//                   "CN=<name>", basicConstraints CA:TRUE (critical),
//                   keyUsage keyCertSign|cRLSign (critical)
//   node cert       ECDSA P-256 key, issued by the CA, subject
//                   "CN=tongban node <code>", subjectAltName
//                   URI:urn:tongban:node:<code> plus DNS names and IP
//                   addresses, extendedKeyUsage serverAuth+clientAuth,
//                   keyUsage digitalSignature (critical), CA:FALSE
//
//   operator cert   ECDSA P-256 key, issued by the county's operator CA (a
//                   CA of its own, made with CreateCa, never the federation
//                   CA), subject "CN=tongban operator <name> of <county>",
//                   subjectAltName URI:urn:tongban:operator:<county>:<name>
//                   and URI:urn:tongban:role:<role>, extendedKeyUsage
//                   clientAuth only (it cannot serve TLS or pass for a node),
//                   keyUsage digitalSignature (critical), CA:FALSE
//
// All get a random positive 128-bit serial and are signed with
// ECDSA-with-SHA256. notBefore is one hour before `now`, so a peer whose
// clock is a little behind still accepts a certificate issued minutes ago.
//
// Why ECDSA P-256 whatever the crypto suite: the peers talk gRPC over TLS
// 1.3 with OpenSSL 3.0, and TLS 1.3 in OpenSSL 3.0 has no SM2 certificates
// (RFC 8998's SM2 signature scheme is not implemented there), nor does gRPC
// offer a way to configure them. P-256 is what every TLS stack can verify.
// The crypto suites (intl, gm) govern the application's own signatures,
// hashes and encryption at rest, which is where the evidence lives: events,
// checkpoints and the roster are signed under the suite, and a node's TLS
// certificate only binds a connection to a node code that the signed roster
// then vouches for. A node's identity is read from the certificate's SAN URI
// alone, never from its subject or from a field in a message.
//
// Certificate requests (PKCS#10, "keys that stay home"): a county makes its
// TLS key and a request on its own machine (CreateNodeRequest,
// CreateOperatorRequest); the CA signs the request (SignNodeRequest,
// SignOperatorRequest) and sends back only the certificate. A request is
// checked exactly as the options of IssueNodeCertificate and
// IssueOperatorCertificate are (valid node code, operator name and role, DNS
// names, IP addresses), its self-signature must verify, its key must be
// P-256, and it may ask for nothing else: a request with basicConstraints
// CA:TRUE, an extension other than subjectAltName, basicConstraints
// CA:FALSE, keyUsage or extendedKeyUsage, a SAN of another kind, or a URI
// other than the one(s) its kind names, is refused (kInvalidArgument). The
// CA decides the subject, validity and extensions; nothing from the request
// but its key and its SAN names is copied into the certificate.
//
// Files: a TLS private key is unencrypted PKCS#8 PEM with mode 0600, and
// reading one that group or others may access is refused with
// kPermissionDenied naming the file, its mode and the fix; a certificate is
// PEM with mode 0644. Writing never overwrites (kAlreadyExists). These are
// the conventions of common/crypto/key_file.h, applied to EC keys.
//
// Errors: malformed input (a PEM that does not parse, a key that is not
// P-256, a certificate without the node URI) is kInvalidArgument; a
// certificate that does not chain to the CA or is outside its validity is
// kPermissionDenied (the peer is refused); OpenSSL failures that are not the
// input's fault are kInternal. File errors name the file.
//
// Thread safety: TlsKey and Certificate are immutable and safe to share;
// the free functions may be called concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

// OpenSSL's types, declared here so that this header does not include
// OpenSSL (callers above common/ need not see it).
struct evp_pkey_st;
struct x509_st;
struct X509_req_st;

namespace tongban::pki {

// The SAN URI prefix that names a node: "urn:tongban:node:" + 6 digits.
inline constexpr absl::string_view kNodeUriPrefix = "urn:tongban:node:";
// The SAN URI prefixes of an operator certificate:
// "urn:tongban:operator:" <county> ":" <name>, and "urn:tongban:role:" <role>.
inline constexpr absl::string_view kOperatorUriPrefix = "urn:tongban:operator:";
inline constexpr absl::string_view kOperatorRoleUriPrefix = "urn:tongban:role:";
// The operator roles (DOMAIN.md "Actors"; admin/operators.h gives each its
// permissions).
inline constexpr absl::string_view kOperatorRoles[] = {"clerk", "administrator", "auditor"};

// An ECDSA P-256 private key for TLS. Immutable; copies share the key.
class TlsKey {
 public:
  static absl::StatusOr<TlsKey> Generate();
  // Unencrypted PKCS#8 PEM. kInvalidArgument if it does not parse or is not
  // an EC key on P-256. Never echoes the input in an error.
  static absl::StatusOr<TlsKey> FromPem(absl::string_view pem);

  // PKCS#8 PEM: a secret. Callers wipe it after use (OPENSSL_cleanse).
  absl::StatusOr<std::string> PrivatePem() const;
  // SubjectPublicKeyInfo DER of the public half.
  std::string SpkiDer() const;

  evp_pkey_st* get() const { return key_.get(); }

 private:
  explicit TlsKey(std::shared_ptr<evp_pkey_st> key) : key_(std::move(key)) {}
  std::shared_ptr<evp_pkey_st> key_;
  friend struct PkiAccess;
};

// An X.509 certificate. Immutable; copies share it.
class Certificate {
 public:
  // Exactly one PEM "CERTIFICATE" block; kInvalidArgument otherwise.
  static absl::StatusOr<Certificate> FromPem(absl::string_view pem);

  std::string Pem() const;
  std::string Der() const;
  // RFC 2253 form, UTF-8 kept: "CN=tongban node 440305".
  std::string Subject() const;
  std::string Issuer() const;
  absl::Time not_before() const;
  absl::Time not_after() const;
  // Lower-case hex of the serial number.
  std::string SerialHex() const;
  // SHA-256 of the DER, upper-case hex pairs joined by ':' (as `openssl x509
  // -fingerprint -sha256` prints it).
  std::string Sha256Fingerprint() const;
  bool IsCa() const;
  // The subjectAltName entries of each kind, in certificate order.
  std::vector<std::string> SanUris() const;
  std::vector<std::string> SanDnsNames() const;
  std::vector<std::string> SanIpAddresses() const;
  // SubjectPublicKeyInfo DER of the certified key.
  std::string SpkiDer() const;

  x509_st* get() const { return cert_.get(); }

 private:
  explicit Certificate(std::shared_ptr<x509_st> cert) : cert_(std::move(cert)) {}
  std::shared_ptr<x509_st> cert_;
  friend struct PkiAccess;
};

struct CaOptions {
  // Subject common name of the CA. Required; UTF-8 allowed.
  std::string name = "Tongban federation CA";
  // Validity from `now`, in days; 1 to 36500.
  int days = 3650;
  absl::Time now = absl::UnixEpoch();  // The caller's clock; required.
};

struct NodeCertOptions {
  // The node's 6-digit code (ids::ValidateNodeCode). Required.
  std::string node_code;
  // Extra subjectAltNames, so that peers dialling by host name or address
  // can also check the name. Each DNS name is letters, digits, '-', '.' (and
  // a leading "*." wildcard); each IP is IPv4 or IPv6 text.
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  int days = 1095;                     // 1 to 36500
  absl::Time now = absl::UnixEpoch();  // Required.
};

struct KeyAndCertificate {
  TlsKey key;
  Certificate cert;
};

// A new federation CA: a fresh key and its self-signed certificate.
absl::StatusOr<KeyAndCertificate> CreateCa(const CaOptions& options);

// A new node key and certificate signed by the CA. kInvalidArgument if the
// options are invalid, `ca_cert` is not a CA certificate or `ca_key` is not
// its key.
absl::StatusOr<KeyAndCertificate> IssueNodeCertificate(const TlsKey& ca_key,
                                                       const Certificate& ca_cert,
                                                       const NodeCertOptions& options);

// The node code named by the certificate's one "urn:tongban:node:<code>" SAN
// URI. kInvalidArgument if there is no such URI, more than one, or the code
// is not a valid node code. The subject is never consulted.
absl::StatusOr<std::string> NodeCodeFromCertificate(const Certificate& cert);

// OK iff `cert` is signed by `ca`, and both are within their validity at
// `at`. Otherwise kPermissionDenied with OpenSSL's reason ("certificate has
// expired", "unable to get local issuer certificate", ...).
absl::Status VerifyCertificate(const Certificate& cert, const Certificate& ca, absl::Time at);

// VerifyCertificate(), then checks that `cert` is a node certificate (not a
// CA, EKU serverAuth and clientAuth) and returns its node code.
absl::StatusOr<std::string> VerifyNodeCertificate(const Certificate& cert, const Certificate& ca,
                                                  absl::Time at);

struct OperatorCertOptions {
  // The county's 6-digit node code (ids::ValidateNodeCode). Required.
  std::string county;
  // The operator's account name: 1-64 of a-z, 0-9, '.', '_', '-', starting
  // with a letter or digit. Required.
  std::string name;
  // One of kOperatorRoles. Required.
  std::string role;
  int days = 365;                      // 1 to 36500
  absl::Time now = absl::UnixEpoch();  // Required.
};

struct OperatorIdentity {
  std::string county;
  std::string name;
  std::string role;
  friend bool operator==(const OperatorIdentity&, const OperatorIdentity&) = default;
};

bool IsOperatorRole(absl::string_view role);
// OK or kInvalidArgument saying what an operator name must be.
absl::Status ValidateOperatorName(absl::string_view name);

// A new operator key and certificate signed by the operator CA.
// kInvalidArgument for invalid options, a CA certificate that is not a CA or
// a key that is not its key.
absl::StatusOr<KeyAndCertificate> IssueOperatorCertificate(const TlsKey& ca_key,
                                                           const Certificate& ca_cert,
                                                           const OperatorCertOptions& options);

// The identity named by the certificate's SAN URIs: exactly one operator URI
// and one role URI, a valid county, name and role, and no node URI, DNS name
// or IP address. kInvalidArgument otherwise. The subject is never consulted.
absl::StatusOr<OperatorIdentity> OperatorFromCertificate(const Certificate& cert);

// VerifyCertificate() against the operator CA, then checks that `cert` is an
// operator certificate (not a CA, EKU clientAuth) and returns its identity;
// kPermissionDenied saying why otherwise.
absl::StatusOr<OperatorIdentity> VerifyOperatorCertificate(const Certificate& cert,
                                                           const Certificate& operator_ca,
                                                           absl::Time at);

// A PKCS#10 certificate request. Immutable; copies share it.
class CertificateRequest {
 public:
  // Exactly one PEM "CERTIFICATE REQUEST" block; kInvalidArgument otherwise.
  // Parsing checks nothing else: see ReadNodeRequest and ReadOperatorRequest.
  static absl::StatusOr<CertificateRequest> FromPem(absl::string_view pem);

  std::string Pem() const;
  std::string Der() const;
  // SHA-256 of the DER, upper-case hex pairs joined by ':' (as `openssl req
  // -outform DER | sha256sum` gives it): what the county reads out on the
  // phone and the CA compares before signing.
  std::string Sha256Fingerprint() const;
  // SubjectPublicKeyInfo DER of the requested key (empty if it has none).
  std::string SpkiDer() const;

  X509_req_st* get() const { return req_.get(); }

 private:
  explicit CertificateRequest(std::shared_ptr<X509_req_st> req) : req_(std::move(req)) {}
  std::shared_ptr<X509_req_st> req_;
  friend struct PkiAccess;
};

// A request for a node certificate for `key`, self-signed with it: SAN URI
// urn:tongban:node:<code> plus the DNS names and IP addresses of `options`
// (days and now are not used: the CA decides). kInvalidArgument for invalid
// options, as IssueNodeCertificate.
absl::StatusOr<CertificateRequest> CreateNodeRequest(const TlsKey& key,
                                                     const NodeCertOptions& options);
// A request for an operator certificate for `key`: SAN URIs
// urn:tongban:operator:<county>:<name> and urn:tongban:role:<role>.
absl::StatusOr<CertificateRequest> CreateOperatorRequest(const TlsKey& key,
                                                         const OperatorCertOptions& options);

// What a node request asks for (node_code, dns_names, ip_addresses; days and
// now left at their defaults), after every check of the header comment.
// kInvalidArgument naming what is wrong otherwise.
absl::StatusOr<NodeCertOptions> ReadNodeRequest(const CertificateRequest& request);
// What an operator request asks for (county, name, role), likewise.
absl::StatusOr<OperatorCertOptions> ReadOperatorRequest(const CertificateRequest& request);

// ReadNodeRequest(), then a node certificate for the request's key, as
// IssueNodeCertificate makes one, valid `days` from `now`.
absl::StatusOr<Certificate> SignNodeRequest(const TlsKey& ca_key, const Certificate& ca_cert,
                                            const CertificateRequest& request, int days,
                                            absl::Time now);
// ReadOperatorRequest(), then an operator certificate for the request's key,
// as IssueOperatorCertificate makes one.
absl::StatusOr<Certificate> SignOperatorRequest(const TlsKey& ca_key, const Certificate& ca_cert,
                                                const CertificateRequest& request, int days,
                                                absl::Time now);

// Files (see the header comment for modes and refusals).
absl::StatusOr<TlsKey> ReadTlsKeyFile(const std::string& path);
absl::Status WriteTlsKeyFile(const TlsKey& key, const std::string& path);
absl::StatusOr<Certificate> ReadCertificateFile(const std::string& path);
absl::Status WriteCertificateFile(const Certificate& cert, const std::string& path);
// A request is PEM with mode 0644; errors name the file.
absl::StatusOr<CertificateRequest> ReadCertificateRequestFile(const std::string& path);
absl::Status WriteCertificateRequestFile(const CertificateRequest& request,
                                         const std::string& path);

}  // namespace tongban::pki
