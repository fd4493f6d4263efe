// Key files on disk.
//
// A private key file is PEM (PKCS#8). A storage key file (encryption at rest)
// is one line of lower-case hex: 64 characters for AES-256, 32 for SM4.
// Both are secrets: reading one that is readable or writable by group or
// others is refused with kPermissionDenied and a message that names the file,
// its mode and the fix ("chmod 600 PATH"). Writing creates the file with mode
// 0600 and refuses to overwrite an existing file (kAlreadyExists). A public
// key file is not a secret: it is written with mode 0644 (also never
// overwriting) and read without a permission check.
//
// Errors name the file: a missing file is kNotFound, a malformed one
// kInvalidArgument ("PATH: not a PEM private key"), never a crash.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/crypto/suite.h"

namespace tongban::crypto {

absl::StatusOr<std::unique_ptr<PrivateKey>> ReadPrivateKeyFile(const Suite& suite,
                                                               const std::string& path);
absl::Status WritePrivateKeyFile(const PrivateKey& key, const std::string& path);

absl::StatusOr<std::unique_ptr<PublicKey>> ReadPublicKeyFile(const Suite& suite,
                                                             const std::string& path);
absl::Status WritePublicKeyFile(const PublicKey& key, const std::string& path);

// Returns the raw key bytes (suite.symmetric_key_size() of them).
absl::StatusOr<std::string> ReadStorageKeyFile(const Suite& suite, const std::string& path);
// Generates a fresh random key and writes it to `path`.
absl::Status GenerateStorageKeyFile(const Suite& suite, const std::string& path);

// The file primitives behind the functions above, shared with the other key
// and certificate files (common/pki). ReadSmallFile reads a file of at most
// 1 MiB whole; with `secret` it refuses, as above, a file that group or
// others may access. WriteNewFile creates `path` with exactly `mode`, never
// replacing a file (kAlreadyExists), and syncs it and its directory; on
// failure no partial file stays.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, bool secret);
absl::Status WriteNewFile(const std::string& path, absl::string_view content, unsigned int mode);
// Replaces `path` with `content` atomically: a temporary file in the same
// folder with exactly `mode`, written and synced, renamed over `path`, then
// the folder synced. A crash leaves the old file or the new one, never a mix.
// Run by root, the new file keeps the old file's owner and group (so that
// root editing a file the daemon's user owns leaves it to that user).
absl::Status ReplaceFileAtomically(const std::string& path, absl::string_view content,
                                   unsigned int mode);

}  // namespace tongban::crypto
