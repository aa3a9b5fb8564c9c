#pragma once
// SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 7677, RFC 5802) without I/O: the stored
// secrets (derivation, the users file's "scram-sha-256=" field), channel binding data
// (RFC 5929 tls-unique, RFC 9266 tls-exporter), and the server side of one exchange.
//
// The server never sees the password: it keeps StoredKey and ServerKey, checks the
// client's proof with two HMACs and a hash (cheap, so it runs on the event loop), and
// proves itself with the ServerSignature. PBKDF2 (slow on purpose) only runs when the
// secrets are made, in `posthorn user add|passwd`.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "auth/secret.hpp"
#include "common/error.hpp"

namespace posthorn::auth {

// RFC 7677 §4: the iteration count SHOULD be at least 4096; smaller counts in the users
// file are refused. New secrets use the default (as gsasl --mkpasswd does); clients pay
// it once per login, an attacker holding a leaked users file pays it per guess.
inline constexpr std::uint32_t k_scram_min_iterations = 4096;
inline constexpr std::uint32_t k_scram_default_iterations = 65536;
// A larger count would let a bad users file make every client spin.
inline constexpr std::uint32_t k_scram_max_iterations = 10'000'000;
inline constexpr std::size_t k_scram_salt_size = 16;
inline constexpr std::size_t k_scram_key_size = 32;  // SHA-256
// The users-file field name: "alice@example.test:<crypt hash>:scram-sha-256=<value>".
inline constexpr std::string_view k_scram_field = "scram-sha-256";

using scram_key = std::array<unsigned char, k_scram_key_size>;

// What the server stores for one user (RFC 5802 §3), never the password itself.
struct scram_secrets {
  std::uint32_t iterations = 0;
  std::string salt;  // raw octets
  scram_key stored_key{};
  scram_key server_key{};

  scram_secrets() = default;
  scram_secrets(const scram_secrets&) = default;
  scram_secrets& operator=(const scram_secrets&) = default;
  ~scram_secrets();
};

// RFC 4013 SASLprep of a stored password, as far as posthorn implements it: the UTF-8 is
// validated, non-ASCII spaces (RFC 3454 C.1.2) become U+0020, the "mapped to nothing"
// characters (B.1) are removed, and the prohibited characters (C.2 to C.9: controls,
// private use, non-characters, surrogates, tagging and direction marks) are refused.
// NFKC normalization and the bidirectional rule are not applied: a password must already
// be in NFKC (precomposed accents; no ligatures, full-width forms or superscripts) for a
// client that normalizes to agree with us. ASCII passwords without control characters
// pass unchanged. nullopt when the password cannot be used with SCRAM.
std::optional<secret> saslprep(std::string_view password);

// The secrets for `password` (SASLprep'd first) with `salt` and `iterations`. BLOCKING
// (PBKDF2, RFC 5802 §3 Hi()): never on an event-loop thread.
result<scram_secrets> scram_derive(std::string_view password, std::string_view salt,
                                   std::uint32_t iterations);
// The same with a fresh random salt of k_scram_salt_size octets.
result<scram_secrets> scram_make(std::string_view password,
                                 std::uint32_t iterations = k_scram_default_iterations);

// "<iterations>,<salt b64>,<StoredKey b64>,<ServerKey b64>": the value of the users
// file's scram-sha-256= field, in the order of Dovecot's {SCRAM-SHA-256} scheme.
std::string scram_format(const scram_secrets& s);
// The reverse; nullopt when malformed or the count is outside the bounds above.
std::optional<scram_secrets> scram_parse(std::string_view value);

// Channel binding data of the TLS connection an exchange runs over (RFC 5056).
struct channel_bindings {
  std::string tls_exporter;  // RFC 9266: 32 octets; empty unless TLS 1.3 or 1.2 with EMS
  std::string tls_unique;    // RFC 5929 §3: the first Finished; empty on TLS 1.3
  bool any() const { return !tls_exporter.empty() || !tls_unique.empty(); }
};

// How an exchange's server side is set up.
struct scram_options {
  bool plus = false;          // the client chose SCRAM-SHA-256-PLUS
  bool plus_offered = false;  // this session advertised -PLUS (RFC 5802 §6 downgrade check)
  channel_bindings bindings;
  // The user's secrets for a login name; nullopt for an unknown user or one without
  // SCRAM secrets. Called once, on the client-first message; must not block.
  std::function<std::optional<scram_secrets>(std::string_view authcid)> lookup;
  // Keys the made-up salt of a user without secrets, so that every name gets the same
  // salt each time and unknown names look like real ones.
  std::string fake_salt_key;
  // The server's part of the nonce; empty = 24 random octets, base64 (tests set it).
  std::string server_nonce;
};

// A fixed random key for made-up salts, the same for every session of this process.
// set_scram_fake_salt_key() replaces it (serve reads a persistent one from state_dir).
std::string scram_fake_salt_key();
void set_scram_fake_salt_key(std::string key);
// Reads that key from `file` (32 octets), creating the file (mode 0600, random, fsynced)
// when it is missing, so made-up salts stay the same across restarts. BLOCKING: once, at
// start.
result<void> load_scram_fake_salt_key(const std::filesystem::path& file);

// The server side of one exchange, fed decoded client messages.
class scram_server {
 public:
  explicit scram_server(scram_options options) : opts_(std::move(options)) {}

  // What the exchange wants next.
  enum class status { Continue, Verdict, Failed };

  // Takes the client-first message; Continue with server_first() to send, or Failed.
  status client_first(std::string_view message);
  // Takes the client-final message; Verdict (see proof_ok()) or Failed.
  status client_final(std::string_view message);

  // The server-first message (raw, not base64), after client_first() returned Continue.
  const std::string& server_first() const { return server_first_; }
  // After Verdict: whether the proof matched the stored secrets of a real user.
  bool proof_ok() const { return proof_ok_; }
  // After Verdict with proof_ok(): "v=<ServerSignature b64>", the server-final message.
  const std::string& server_final() const { return server_final_; }
  // The login name (n=, decoded) and the authorization identity (a=, "" when none).
  const std::string& authcid() const { return authcid_; }
  const std::string& authzid() const { return authzid_; }
  // After Failed: the RFC 5802 §7 server-error value ("invalid-proof", ...) and whether
  // the message was malformed (501 5.5.2) rather than refused (535 5.7.8).
  std::string_view error() const { return error_; }
  bool malformed() const { return malformed_; }

 private:
  status fail(std::string_view error, bool malformed);

  scram_options opts_;
  std::string gs2_header_;  // "n,," / "y,," / "p=tls-exporter,a=...,"
  std::string cb_name_;     // "" unless p=
  std::string client_first_bare_;
  std::string nonce_;  // client nonce + server nonce
  std::string server_first_;
  std::string server_final_;
  std::string authcid_, authzid_;
  std::optional<scram_secrets> secrets_;  // nullopt: unknown user, the proof never matches
  bool proof_ok_ = false;
  std::string_view error_;
  bool malformed_ = false;
};

}  // namespace posthorn::auth
