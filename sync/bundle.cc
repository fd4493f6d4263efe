#include "sync/bundle.h"

#include "absl/strings/str_cat.h"
#include "common/crypto/seal_to.h"
#include "common/hex.h"
#include "common/status_macros.h"
#include "sync/input_account.h"

namespace tongban::sync {
namespace {

constexpr char kLabel[] = "tongban-bundle/v1";
constexpr size_t kSealOverhead = 12 + 16;  // Aead: nonce and tag
constexpr uint64_t kMaxRecordBytes = kMaxMessageBytes + (64 << 10);

std::string Be32(uint32_t v) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
  return out;
}

uint32_t ReadBe32(absl::string_view s) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}

std::string Aad(absl::string_view header_hash, uint64_t index, bool last) {
  std::string aad = absl::StrCat(kLabel, header_hash);
  for (int i = 7; i >= 0; --i) aad.push_back(static_cast<char>((index >> (8 * i)) & 0xff));
  aad.push_back(last ? '\1' : '\0');
  return aad;
}

std::string SignatureText(absl::string_view header_hash, absl::string_view chain) {
  return absl::StrCat(kLabel, "\n", HexEncode(header_hash), "\n", HexEncode(chain), "\n");
}

std::string Hash(crypto::Hasher& hasher, absl::string_view a, absl::string_view b) {
  return std::string(crypto::AsStringView(hasher.Hash({a, b})));
}

absl::Status Tampered(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("bundle tampered or cut short: ", what));
}

}  // namespace

absl::StatusOr<std::unique_ptr<BundleWriter>> BundleWriter::Start(
    const crypto::Suite& suite, v1::BundleHeader header, const crypto::PublicKey& recipient_key,
    const crypto::PrivateKey& sender_key, Sink sink) {
  std::unique_ptr<BundleWriter> w(new BundleWriter(suite, sender_key, std::move(sink)));
  TB_ASSIGN_OR_RETURN(std::string id, crypto::RandomBytes(16));
  TB_ASSIGN_OR_RETURN(std::string key, crypto::RandomBytes(suite.symmetric_key_size()));
  TB_ASSIGN_OR_RETURN(std::string sealed, crypto::SealTo(recipient_key, key));
  header.set_format(1);
  header.set_suite(std::string(suite.name()));
  header.set_recipient_key_id(recipient_key.KeyId());
  header.set_sealed_key(std::move(sealed));
  header.set_sender_key_id(sender_key.public_key().KeyId());
  header.set_bundle_id(HexEncode(id));
  header.set_segment_bytes(kBundleSegmentBytes);
  TB_ASSIGN_OR_RETURN(w->aead_, suite.NewAead(key));
  w->hasher_ = suite.NewHasher();
  const std::string bytes = header.SerializeAsString();
  w->header_hash_ = Hash(*w->hasher_, bytes, "");
  w->chain_ = Hash(*w->hasher_, "", "");
  w->header_ = std::move(header);
  const std::string head =
      absl::StrCat(absl::string_view(kBundleMagic, kBundleMagicBytes), Be32(bytes.size()), bytes);
  TB_RETURN_IF_ERROR(w->sink_(head));
  w->bytes_written_ += head.size();
  return w;
}

absl::Status BundleWriter::Add(const v1::BundleRecord& record) {
  if (finished_ || record.has_signature()) {
    return absl::InternalError("bundle writer: record after the signature");
  }
  const std::string bytes = record.SerializeAsString();
  if (bytes.size() > kMaxRecordBytes) {
    return absl::InternalError(absl::StrCat("bundle record of ", bytes.size(), " bytes"));
  }
  const std::string framed = absl::StrCat(Be32(bytes.size()), bytes);
  chain_ = Hash(*hasher_, chain_, framed);
  return Append(framed);
}

absl::Status BundleWriter::Append(const std::string& framed) {
  pending_ += framed;
  // The last segment is sealed by Finish, so a full one is sealed only once
  // more bytes follow it.
  size_t start = 0;
  while (pending_.size() - start > header_.segment_bytes()) {
    TB_RETURN_IF_ERROR(
        Seal(absl::string_view(pending_).substr(start, header_.segment_bytes()), false));
    start += header_.segment_bytes();
  }
  pending_.erase(0, start);
  return absl::OkStatus();
}

absl::Status BundleWriter::Seal(absl::string_view plaintext, bool last) {
  TB_ASSIGN_OR_RETURN(std::string sealed,
                      aead_->Seal(plaintext, Aad(header_hash_, segments_, last)));
  ++segments_;
  const std::string out = absl::StrCat(Be32(sealed.size()), sealed);
  TB_RETURN_IF_ERROR(sink_(out));
  bytes_written_ += out.size();
  return absl::OkStatus();
}

absl::Status BundleWriter::Finish() {
  if (finished_) return absl::InternalError("bundle writer: finished twice");
  std::unique_ptr<crypto::Signer> signer = sender_key_.NewSigner();
  TB_ASSIGN_OR_RETURN(std::string signature, signer->Sign(SignatureText(header_hash_, chain_)));
  v1::BundleRecord record;
  record.set_signature(std::move(signature));
  const std::string bytes = record.SerializeAsString();
  TB_RETURN_IF_ERROR(Append(absl::StrCat(Be32(bytes.size()), bytes)));
  finished_ = true;
  return Seal(pending_, true);
}

absl::StatusOr<BundleFileHeader> ReadBundleHeader(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("cannot open bundle ", path, ": ", std::strerror(errno)));
  }
  char head[kBundleMagicBytes + 4];
  const size_t got = std::fread(head, 1, sizeof(head), f);
  BundleFileHeader out;
  absl::Status status;
  if (got < kBundleMagicBytes ||
      absl::string_view(head, kBundleMagicBytes) != absl::string_view(kBundleMagic)) {
    status = absl::InvalidArgumentError(absl::StrCat(path, " is not a bundle (no TBBUNDLE magic)"));
  } else if (got < sizeof(head)) {
    status = absl::InvalidArgumentError(absl::StrCat(path, ": bundle header cut short"));
  } else {
    const uint32_t n = ReadBe32(absl::string_view(head + kBundleMagicBytes, 4));
    out.bytes.resize(n);
    if (n > kMaxBundleHeaderBytes) {
      status = absl::InvalidArgumentError(absl::StrCat(
          path, ": bundle header of ", n, " bytes (at most ", kMaxBundleHeaderBytes, ")"));
    } else if (std::fread(out.bytes.data(), 1, n, f) != n) {
      status = absl::InvalidArgumentError(absl::StrCat(path, ": bundle header cut short"));
    } else if (!out.header.ParseFromString(out.bytes)) {
      status = absl::InvalidArgumentError(absl::StrCat(path, ": bundle header does not parse"));
    } else if (out.header.format() != 1) {
      status = absl::InvalidArgumentError(
          absl::StrCat(path, ": bundle format ", out.header.format(), " (this node reads 1)"));
    } else if (out.header.segment_bytes() == 0 ||
               out.header.segment_bytes() > kMaxBundleSegmentBytes) {
      status = absl::InvalidArgumentError(
          absl::StrCat(path, ": bundle segments of ", out.header.segment_bytes(), " bytes"));
    }
    out.data_offset = sizeof(head) + n;
  }
  std::fclose(f);
  if (!status.ok()) return status;
  return out;
}

BundleReader::BundleReader(std::FILE* file, const BundleFileHeader& header,
                           const crypto::Suite& suite, const crypto::PublicKey& sender_key)
    : file_(file), header_(header), suite_(suite), sender_key_(sender_key) {}

BundleReader::~BundleReader() { std::fclose(file_); }

absl::StatusOr<std::unique_ptr<BundleReader>> BundleReader::Open(
    const std::string& path, const BundleFileHeader& header, const crypto::Suite& suite,
    absl::string_view file_key, const crypto::PublicKey& sender_key, bool signature_checked) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("cannot open bundle ", path, ": ", std::strerror(errno)));
  }
  std::unique_ptr<BundleReader> r(new BundleReader(f, header, suite, sender_key));
  if (std::fseek(f, static_cast<long>(header.data_offset), SEEK_SET) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": bundle cut short"));
  }
  TB_ASSIGN_OR_RETURN(r->aead_, suite.NewAead(file_key));
  r->hasher_ = suite.NewHasher();
  r->header_hash_ = Hash(*r->hasher_, header.bytes, "");
  r->chain_ = Hash(*r->hasher_, "", "");
  r->signature_checked_ = signature_checked;
  return r;
}

absl::Status BundleReader::ReadSegment() {
  char len[4];
  const size_t got = std::fread(len, 1, 4, file_);
  if (got == 0) return Tampered(absl::StrCat("the file ends before segment ", segments_));
  if (got < 4) return Tampered(absl::StrCat("segment ", segments_, " cut short"));
  const uint32_t n = ReadBe32(absl::string_view(len, 4));
  if (n < kSealOverhead || n > header_.header.segment_bytes() + kSealOverhead) {
    return Tampered(absl::StrCat("segment ", segments_, " of ", n, " bytes"));
  }
  std::string sealed(n, '\0');
  if (std::fread(sealed.data(), 1, n, file_) != n) {
    return Tampered(absl::StrCat("segment ", segments_, " cut short"));
  }
  const int next = std::fgetc(file_);
  const bool last = next == EOF;
  if (!last) std::ungetc(next, file_);
  absl::StatusOr<std::string> plain = aead_->Open(sealed, Aad(header_hash_, segments_, last));
  if (!plain.ok()) return Tampered(absl::StrCat("segment ", segments_, " fails authentication"));
  ++segments_;
  last_segment_read_ = last;
  buffer_.erase(0, offset_);
  offset_ = 0;
  buffer_ += *plain;
  return absl::OkStatus();
}

absl::Status BundleReader::Fill(size_t n) {
  while (buffer_.size() - offset_ < n && !last_segment_read_) TB_RETURN_IF_ERROR(ReadSegment());
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::pair<absl::string_view, v1::BundleRecordShape>>>
BundleReader::NextFramed() {
  if (signed_) return std::nullopt;
  TB_RETURN_IF_ERROR(Fill(4));
  if (buffer_.size() - offset_ < 4) {
    return Tampered(
        absl::StrCat("the records end after record ", records_, " without a signature"));
  }
  const uint32_t n = ReadBe32(absl::string_view(buffer_).substr(offset_, 4));
  if (n > kMaxRecordBytes) return Tampered(absl::StrCat("record ", records_, " of ", n, " bytes"));
  TB_RETURN_IF_ERROR(Fill(4 + size_t{n}));
  if (buffer_.size() - offset_ < 4 + size_t{n}) {
    return Tampered(absl::StrCat("record ", records_, " cut short"));
  }
  const absl::string_view framed = absl::string_view(buffer_).substr(offset_, 4 + size_t{n});
  v1::BundleRecordShape shape;
  if (!shape.ParseFromArray(framed.data() + 4, static_cast<int>(n))) {
    return Tampered(absl::StrCat("record ", records_, " does not parse"));
  }
  offset_ += framed.size();
  if (shape.has_signature()) {
    if (offset_ != buffer_.size() || !last_segment_read_) {
      return Tampered("bytes follow the signature");
    }
    if (!signature_checked_) {
      std::unique_ptr<crypto::Verifier> verifier = suite_.NewVerifier(sender_key_);
      if (!verifier->Verify(SignatureText(header_hash_, chain_), shape.signature()).ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "bundle signature does not verify with key ", header_.header.sender_key_id(),
            " of node ", header_.header.sender(), ": tampered, or not made by that node"));
      }
    }
    signed_ = true;
    return std::nullopt;
  }
  if (!signature_checked_) chain_ = Hash(*hasher_, chain_, framed);
  ++records_;
  return std::make_pair(framed.substr(4), std::move(shape));
}

absl::StatusOr<std::optional<v1::BundleRecordShape>> BundleReader::NextShape() {
  TB_ASSIGN_OR_RETURN(auto next, NextFramed());
  if (!next.has_value()) return std::nullopt;
  return std::move(next->second);
}

absl::StatusOr<std::optional<v1::BundleRecord>> BundleReader::Next() {
  TB_ASSIGN_OR_RETURN(auto next, NextFramed());
  if (!next.has_value()) return std::nullopt;
  v1::BundleRecord record;
  if (!record.ParseFromArray(next->first.data(), static_cast<int>(next->first.size()))) {
    return Tampered(absl::StrCat("record ", records_ - 1, " does not parse"));
  }
  return record;
}

}  // namespace tongban::sync
