#pragma once
// Editing the users file ([accounts] users_file): lines "alice@example.test:<crypt hash>"
// or "alice@example.test:<crypt hash>:scram-sha-256=<iter>,<salt>,<StoredKey>,<ServerKey>"
// (any further ':' fields are kept), comments and blank lines kept as they are. Every change
// rewrites the file atomically (temp file in the same folder, fsync, rename, fsync the folder) with
// mode 0640, so the server never reads half a file; concurrent editors are serialized by a lock on
// the folder. Blocking file I/O: for the command line, not for an event-loop thread.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace posthorn::policy::users_file {

struct entry {
  std::string address;  // as written in the file
  std::string hash;     // the crypt(3) field (up to a second ':', if any)
  std::string scram;    // the value of a later "scram-sha-256=" field; "" when none
  std::size_t line = 0;
};

// "Alice@Example.TEST" -> "Alice@example.test" (the domain lower-cased, the local part as
// typed: it names the Maildir); nullopt unless it is local@domain without spaces, control
// characters, ':' or '#', which the file format cannot hold.
std::optional<std::string> normalize_address(std::string_view address);

// The users in file order; a missing file has none.
result<std::vector<entry>> list(const std::filesystem::path& path);

// Appends a user, with a "scram-sha-256=" field when `scram` (auth::scram_format) is not
// empty; fails when the address (compared case-insensitively) is already there.
// Creates the file when it is missing.
result<void> add(const std::filesystem::path& path, std::string_view address, std::string_view hash,
                 std::string_view scram = {});

// Replaces the hash and the SCRAM secrets of every line for `address`, keeping its other
// fields: the scram-sha-256= field is rewritten where it is, or added right after the
// hash; an empty `scram` removes it (secrets of an old password must not stay valid).
result<void> set_password(const std::filesystem::path& path, std::string_view address,
                          std::string_view hash, std::string_view scram = {});

// Removes every line for `address`.
result<void> remove(const std::filesystem::path& path, std::string_view address);

}  // namespace posthorn::policy::users_file
