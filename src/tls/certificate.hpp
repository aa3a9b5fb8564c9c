#pragma once
// The self-signed certificate [tls] self_signed asks for: an ECDSA P-256 key and an
// X.509 v3 certificate for the server's host name, made with OpenSSL 3's APIs.
// Blocking file I/O: at start and on reload, not per connection.

#include <filesystem>
#include <string_view>

#include "common/error.hpp"

namespace posthorn::tls {

// How long a generated certificate is valid. Self-signed certificates are trusted by
// pinning, not by a CA, so a long life spares needless breakage.
inline constexpr int k_self_signed_days = 3650;

enum class generated { No, Yes };

// When neither `cert` nor `key` exists, writes a new key (mode 0600) and a self-signed
// certificate for `hostname` (subject CN and subjectAltName DNS), creating their folders;
// each file is written to a temporary name, fsynced and renamed into place. When both
// exist, does nothing. When only one exists, fails rather than overwrite or mismatch it.
result<generated> ensure_self_signed(const std::filesystem::path& cert,
                                     const std::filesystem::path& key, std::string_view hostname);

}  // namespace posthorn::tls
