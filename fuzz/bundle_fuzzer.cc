// Fuzzes the offline bundle's envelope as an importer reads it
// (sync/bundle.h): the clear header, the sealed segments, the record
// framing and the signature. Structure-aware: an input makes a bundle
// itself (fixed sender and recipient keys of fuzz/fixtures.h; records
// parsed from the input, so batches and requests of any shape; sometimes
// more than one segment), then either leaves it whole, flips one of its
// bytes, or cuts it short. Properties, whatever the bytes: a whole bundle
// reads back exactly the records written and its signature verifies; a
// bundle with any byte flipped or cut short is refused, never read as
// something else.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "common/crypto/seal_to.h"
#include "fuzz/fixtures.h"
#include "sync/bundle.h"

namespace tongban::fuzz {
namespace {

struct Keys {
  std::unique_ptr<crypto::PrivateKey> sender[2], recipient[2];
};

const Keys& GetKeys() {
  static const Keys* keys = [] {
    auto* k = new Keys;
    for (int s = 0; s < 2; ++s) {
      k->sender[s] = FixedKey(SuiteOf(s), kOriginRole);
      k->recipient[s] = FixedKey(SuiteOf(s), kNationalRole);
    }
    return k;
  }();
  return *keys;
}

const std::string& Path() {
  static const std::string* path = [] {
    static TempDir dir;
    return new std::string(dir.File("bundle"));
  }();
  return *path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)kQuiet;
  FuzzedDataProvider in(data, size);
  const int s = in.ConsumeIntegral<uint8_t>() % 2;
  const crypto::Suite& suite = crypto::GetSuite(SuiteOf(s));
  const crypto::PrivateKey& sender = *GetKeys().sender[s];
  const crypto::PrivateKey& recipient = *GetKeys().recipient[s];

  std::vector<v1::BundleRecord> records;
  const int n = in.ConsumeIntegralInRange(0, 6);
  for (int i = 0; i < n; ++i) {
    v1::BundleRecord r;
    if (in.ConsumeBool()) {
      // A large message: the bundle spans segments.
      r.mutable_message()->mutable_batch()->add_events()->set_body(
          std::string(in.ConsumeIntegralInRange<size_t>(0, 3 << 20), 'e'));
    } else if (!r.ParseFromString(in.ConsumeRandomLengthString(4096)) || r.has_signature()) {
      continue;  // what the writer would never write
    }
    records.push_back(std::move(r));
  }
  std::string bytes;
  v1::BundleHeader header;
  header.set_sender("620102");
  header.set_recipient("000000");
  header.set_created_micros(in.ConsumeIntegral<int64_t>());
  auto writer = sync::BundleWriter::Start(suite, header, recipient.public_key(), sender,
                                          [&bytes](absl::string_view b) {
                                            bytes.append(b.data(), b.size());
                                            return absl::OkStatus();
                                          });
  if (!writer.ok()) abort();
  for (const v1::BundleRecord& r : records) {
    if (!(*writer)->Add(r).ok()) abort();
  }
  if (!(*writer)->Finish().ok()) abort();

  const int change = in.ConsumeIntegralInRange(0, 2);  // 0 whole, 1 flip, 2 cut
  if (change == 1) {
    const size_t at = in.ConsumeIntegralInRange<size_t>(0, bytes.size() - 1);
    bytes[at] = static_cast<char>(bytes[at] ^ in.ConsumeIntegralInRange<uint8_t>(1, 255));
  } else if (change == 2) {
    bytes.resize(in.ConsumeIntegralInRange<size_t>(0, bytes.size() - 1));
  }
  { std::ofstream(Path(), std::ios::binary | std::ios::trunc) << bytes; }

  // As an importer: header, file key, then every record and the signature.
  std::vector<v1::BundleRecord> read;
  bool whole = false;
  absl::StatusOr<sync::BundleFileHeader> file = sync::ReadBundleHeader(Path());
  if (file.ok() && file->header.recipient_key_id() == recipient.public_key().KeyId() &&
      file->header.sender_key_id() == sender.public_key().KeyId()) {
    absl::StatusOr<std::string> key = crypto::OpenSealed(recipient, file->header.sealed_key());
    if (key.ok()) {
      auto reader = sync::BundleReader::Open(Path(), *file, suite, *key, sender.public_key());
      while (reader.ok()) {
        absl::StatusOr<std::optional<v1::BundleRecord>> r = (*reader)->Next();
        if (!r.ok()) break;
        if (!r->has_value()) {
          whole = true;
          break;
        }
        read.push_back(**std::move(r));
      }
    }
  }
  if (change == 0) {
    if (!whole || read.size() != records.size()) abort();
    for (size_t i = 0; i < read.size(); ++i) {
      if (read[i].SerializeAsString() != records[i].SerializeAsString()) abort();
    }
  } else if (whole) {
    abort();  // a changed bundle read to its signature
  }
  return 0;
}

}  // namespace tongban::fuzz
