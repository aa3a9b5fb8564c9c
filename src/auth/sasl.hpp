#pragma once
// SASL server mechanisms for SMTP AUTH (RFC 4954) without I/O (STYLE.md 1): the session
// feeds the AUTH argument and each client line in, and reads back what to answer: a
// "334 " challenge, credentials to verify, or a failure reply. Checking the credentials
// is the caller's job (policy::credential_checker, off the event loop).
//
// Mechanisms: PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login-00). Both send the
// password in the clear, so the session offers them only over TLS unless a listener
// says otherwise (RFC 4954 §4, RFC 4616 §6). SCRAM-SHA-256 and SCRAM-SHA-256-PLUS
// (RFC 7677, auth/scram.hpp) check the client's proof inside the exchange; they need
// scram_options (the user's stored secrets, channel binding data) at start.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "auth/scram.hpp"
#include "auth/secret.hpp"

namespace posthorn::auth {

enum class mechanism { Plain, Login, ScramSha256, ScramSha256Plus };

// "PLAIN" / "login" (SASL mechanism names are case-insensitive, RFC 4422 §3.1);
// nullopt for anything else: the session answers 504 5.5.4 (RFC 4954 §4).
std::optional<mechanism> parse_mechanism(std::string_view name);
// "PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS".
std::string_view mechanism_name(mechanism m);
// The password mechanisms, which need no scram_options: "PLAIN LOGIN".
std::string_view advertised_mechanisms();
// The EHLO AUTH keyword's value, most preferred first: "SCRAM-SHA-256-PLUS SCRAM-SHA-256
// PLAIN LOGIN", without -PLUS when there is no channel binding data (no TLS).
std::string_view advertised_mechanisms_with_scram(bool plus);

// Longest client line (base64) accepted in an exchange, the AUTH command's argument
// included: RFC 4954 §4 raises the line limit to 12288 octets for AUTH.
inline constexpr std::size_t k_max_response_line = 12288;
// Longest authorization or authentication identity, and longest password, after
// decoding. RFC 4616 §2 asks servers to accept at least 255 octets of each.
inline constexpr std::size_t k_max_identity = 512;
inline constexpr std::size_t k_max_password = 1024;

// RFC 4648 §4 base64 with padding, no line breaks.
std::string base64_encode(std::string_view data);
// Strict RFC 4648 §4 decoding: length a multiple of 4, '=' only as the last one or two
// characters, no whitespace or other characters, unused bits zero (§3.5). The empty
// string decodes to nothing. A secret, because SASL responses carry passwords.
std::optional<secret> base64_decode(std::string_view text);

// Send "334 " + text (text may be empty).
struct sasl_challenge {
  std::string text;  // base64
};

// The client has given its credentials: check them, answer 235 2.7.0 or 535 5.7.8.
// The views point into the exchange and live as long as it does.
struct sasl_verify {
  std::string_view authzid;   // "" or equal to authcid (ASCII case aside): no proxy login
  std::string_view authcid;   // the login name
  std::string_view password;  // "" for SCRAM
  // Set by SCRAM, which checks the proof itself: whether it matched. The caller then only
  // maps authcid to the account (and applies its failure limits); password is empty.
  std::optional<bool> verified;
};

// The exchange ended without credentials: send this reply.
struct sasl_failed {
  int code = 535;
  std::string_view enhanced;  // RFC 3463 / RFC 4954 §6
  std::string_view text;
};

using sasl_step = std::variant<sasl_challenge, sasl_verify, sasl_failed>;

// One AUTH exchange. Movable; the decoded credentials are wiped when it is destroyed.
class sasl_exchange {
 public:
  // `initial_response` is the AUTH command's optional second argument (base64, "=" for
  // an empty response, RFC 4954 §4). The SCRAM mechanisms need `scram` (its `plus`
  // is set from `m`); without it they fail at once.
  static sasl_exchange start(mechanism m, std::optional<std::string_view> initial_response,
                             std::optional<scram_options> scram = std::nullopt);

  // What to do now.
  sasl_step current() const;
  // True once current() is a sasl_verify or a sasl_failed.
  bool done() const { return state_ == state::Verify || state_ == state::Failed; }
  mechanism mech() const { return mech_; }
  // After a sasl_verify whose `verified` is true: the mechanism's additional data with
  // success (SCRAM's server-final "v=...", base64), which RFC 4954 §4 sends as a 334
  // challenge answered by an empty line before the 235. "" for PLAIN and LOGIN.
  std::string success_data() const;

  // A client line answering a challenge, without its CRLF: base64, or "*" to cancel
  // (RFC 4954 §4). Ignored unless current() is a sasl_challenge.
  void respond(std::string_view line);

 private:
  enum class state { Challenge, Verify, Failed };

  explicit sasl_exchange(mechanism m) : mech_(m) {}
  // Handles one decoded client message (the initial response or a line).
  void take(std::string_view line, bool initial);
  void take_plain(std::string_view message);
  void take_login(std::string_view message);
  void take_scram(std::string_view message);
  void fail(int code, std::string_view enhanced, std::string_view text);

  mechanism mech_;
  state state_ = state::Challenge;
  std::string challenge_;    // base64, when state_ == Challenge
  unsigned login_step_ = 0;  // LOGIN: 0 = waiting for the user name, 1 = the password
  std::size_t authzid_len_ = 0;
  // authzid, authcid and password, in one wiped buffer: the views in sasl_verify point here.
  secret creds_;
  std::size_t authcid_len_ = 0;
  int fail_code_ = 0;
  std::string_view fail_enhanced_;  // static strings
  std::string_view fail_text_;
  std::unique_ptr<scram_server> scram_;  // SCRAM mechanisms only
};

}  // namespace posthorn::auth
