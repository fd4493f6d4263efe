// The offline bundle's file format (离线平台, DESIGN.md section 8): the sync
// protocol written to a file that only its recipient can read and that
// nobody but its sender can have written. Which records a bundle holds and
// how they are applied is node/bundles.h; this is the envelope.
//
//   file     = "TBBUNDLE" | be32 n | BundleHeader (n bytes, in clear)
//              | segment*
//   segment  = be32 n | Aead::Seal of up to header.segment_bytes of the
//              record stream (n bytes), with the additional data
//              "tongban-bundle/v1" | H(header bytes) | be64 index | last
//              where `last` is 1 for the file's final segment, else 0
//   records  = (be32 n | BundleRecord, n bytes)*, the last a signature
//
// The file key (the suite's AEAD: AES-256-GCM for intl, SM4-GCM for gm) is
// fresh per bundle and sealed in the header to the recipient's roster key
// (crypto::SealTo). The sender signs, with its log's signing key,
//   "tongban-bundle/v1\n" hex(H(header bytes)) "\n" hex(chain) "\n"
// where chain = H(... H(H("") | record 1) ... | record n), over every record
// before the signature (each with its length prefix). So a bundle whose any
// byte changed, whose segments were reordered, dropped or cut short, or
// whose header names another recipient, key or sender fails as a whole
// before anything in it is used.
//
// The header is in clear so that a carrier (USB stick, the national node's
// inbox, another county) can route the file by its codes; it holds no
// personal data.
//
// Bounds a hostile file cannot exceed: a header of 16 KiB, segments of
// 4 MiB, records of the session's largest message plus 64 KiB.
//
// Thread safety: none; one writer or reader per thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/crypto/suite.h"
#include "tongban/v1/exchange.pb.h"

namespace tongban::sync {

inline constexpr char kBundleMagic[] = "TBBUNDLE";
inline constexpr size_t kBundleMagicBytes = 8;
inline constexpr uint32_t kBundleSegmentBytes = 1 << 20;
inline constexpr uint32_t kMaxBundleHeaderBytes = 16 << 10;
inline constexpr uint32_t kMaxBundleSegmentBytes = 4 << 20;

// Writes one bundle to `sink` as it goes (one call per sealed segment).
class BundleWriter {
 public:
  using Sink = std::function<absl::Status(absl::string_view bytes)>;

  // `header` names sender, recipient and created_micros; Start fills the
  // rest (format, suite, keys, bundle id, segment size) and writes it.
  static absl::StatusOr<std::unique_ptr<BundleWriter>> Start(const crypto::Suite& suite,
                                                             v1::BundleHeader header,
                                                             const crypto::PublicKey& recipient_key,
                                                             const crypto::PrivateKey& sender_key,
                                                             Sink sink);

  // Appends a record (a message or the manifest; not a signature).
  absl::Status Add(const v1::BundleRecord& record);
  // Signs, appends the signature and seals the last segment.
  absl::Status Finish();

  const v1::BundleHeader& header() const { return header_; }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  BundleWriter(const crypto::Suite& suite, const crypto::PrivateKey& sender_key, Sink sink)
      : suite_(suite), sender_key_(sender_key), sink_(std::move(sink)) {}
  absl::Status Append(const std::string& framed);
  absl::Status Seal(absl::string_view plaintext, bool last);

  const crypto::Suite& suite_;
  const crypto::PrivateKey& sender_key_;
  const Sink sink_;
  v1::BundleHeader header_;
  std::string header_hash_;
  std::unique_ptr<crypto::Aead> aead_;
  std::unique_ptr<crypto::Hasher> hasher_;
  std::string chain_;
  std::string pending_;  // record bytes not yet sealed
  uint64_t segments_ = 0;
  uint64_t bytes_written_ = 0;
  bool finished_ = false;
};

// A bundle file's header as read, before anything is decrypted.
struct BundleFileHeader {
  v1::BundleHeader header;
  std::string bytes;     // exactly as in the file
  uint64_t data_offset;  // where the first segment starts
};

// Reads the header of the bundle at `path`: kInvalidArgument naming what is
// wrong (not a bundle, a header too long or that does not parse, an
// unknown format), kNotFound for a missing file.
absl::StatusOr<BundleFileHeader> ReadBundleHeader(const std::string& path);

// Reads a bundle's records in order, decrypting segment by segment, and
// checks the signature at the end.
class BundleReader {
 public:
  // `file_key` is the opened header.sealed_key; `sender_key` the key
  // header.sender_key_id names (the caller found it in the roster). With
  // `signature_checked`, the caller read this file to its verified
  // signature before: every segment is still authenticated (so the bytes
  // are the same), the signature is not checked again.
  static absl::StatusOr<std::unique_ptr<BundleReader>> Open(const std::string& path,
                                                            const BundleFileHeader& header,
                                                            const crypto::Suite& suite,
                                                            absl::string_view file_key,
                                                            const crypto::PublicKey& sender_key,
                                                            bool signature_checked = false);
  ~BundleReader();

  // The next record before the signature, or nullopt once the signature
  // record was read and verified and the file ended there. Any failure is
  // kInvalidArgument naming the segment or record ("bundle tampered or cut
  // short: segment 3 fails authentication").
  absl::StatusOr<std::optional<v1::BundleRecord>> Next();
  // The same, reading only the record's shape (which kind of message, the
  // manifest), for a pass that checks the whole file.
  absl::StatusOr<std::optional<v1::BundleRecordShape>> NextShape();

 private:
  BundleReader(std::FILE* file, const BundleFileHeader& header, const crypto::Suite& suite,
               const crypto::PublicKey& sender_key);
  // Makes at least `n` plaintext bytes available, unless the file ends.
  absl::Status Fill(size_t n);
  absl::Status ReadSegment();
  // The next record's bytes (valid until the next call) and shape, or
  // nullopt after the signature.
  absl::StatusOr<std::optional<std::pair<absl::string_view, v1::BundleRecordShape>>> NextFramed();

  std::FILE* const file_;
  const BundleFileHeader header_;
  const crypto::Suite& suite_;
  const crypto::PublicKey& sender_key_;
  std::string header_hash_;
  std::unique_ptr<crypto::Aead> aead_;
  std::unique_ptr<crypto::Hasher> hasher_;
  std::string chain_;
  std::string buffer_;  // decrypted, not yet parsed
  size_t offset_ = 0;   // into buffer_
  uint64_t segments_ = 0;
  uint64_t records_ = 0;
  bool last_segment_read_ = false;
  bool signed_ = false;
  bool signature_checked_ = false;  // by an earlier pass (Open)
};

}  // namespace tongban::sync
