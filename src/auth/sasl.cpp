// PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login-00) as RFC 4954 runs them over
// SMTP: base64 lines, "=" for an empty initial response, "*" to cancel.

#include "auth/sasl.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdint>
#include <string>

namespace posthorn::auth {

namespace {

// RFC 4954 §6 replies.
constexpr int k_code_syntax = 501;
constexpr int k_code_too_long = 500;
constexpr int k_code_invalid = 535;
constexpr std::string_view k_bad_base64_status = "5.5.2";
constexpr std::string_view k_bad_base64_text = "Cannot decode the base64 response";
constexpr std::string_view k_cancelled_status = "5.7.0";
constexpr std::string_view k_cancelled_text = "Authentication cancelled";
constexpr std::string_view k_too_long_status = "5.5.6";
constexpr std::string_view k_too_long_text = "Authentication exchange line is too long";
constexpr std::string_view k_invalid_status = "5.7.8";
constexpr std::string_view k_invalid_text = "Authentication credentials invalid";
constexpr std::string_view k_unavailable_status = "5.5.4";
constexpr std::string_view k_unavailable_text = "Mechanism not available here";

// RFC 5802 §7 server-error values as reply texts (static: sasl_failed holds views). They
// name what went wrong with the exchange, never whether the account exists.
std::string_view scram_error_text(std::string_view e) {
  static constexpr std::string_view k_texts[][2] = {
      {"invalid-encoding", "Malformed SCRAM message (e=invalid-encoding)"},
      {"invalid-username-encoding", "Malformed SCRAM user name (e=invalid-username-encoding)"},
      {"extensions-not-supported", "SCRAM extensions not supported (e=extensions-not-supported)"},
      {"channel-bindings-dont-match",
       "Channel binding does not match (e=channel-bindings-dont-match)"},
      {"server-does-support-channel-binding",
       "Channel binding is offered: use SCRAM-SHA-256-PLUS "
       "(e=server-does-support-channel-binding)"},
      {"unsupported-channel-binding-type",
       "Unsupported channel binding type (e=unsupported-channel-binding-type)"},
      {"no-resources", "Temporary failure (e=no-resources)"},
  };
  for (const auto& t : k_texts) {
    if (t[0] == e) {
      return t[1];
    }
  }
  return "Authentication failed (e=other-error)";
}

// draft-murchison-sasl-login-00 §2: the prompts are "Username:" and "Password:",
// which clients do not interpret but some expect verbatim.
constexpr std::string_view k_login_user_prompt = "VXNlcm5hbWU6";
constexpr std::string_view k_login_password_prompt = "UGFzc3dvcmQ6";

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

// An identity is a login name: non-empty, bounded, and free of control characters so
// that it can be looked up and logged safely. Octets above 127 (UTF-8) are allowed.
bool valid_identity(std::string_view id) {
  if (id.empty() || id.size() > k_max_identity) {
    return false;
  }
  for (const char c : id) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return false;
    }
  }
  return true;
}

// RFC 4616 §2: passwd = 1*SAFE, SAFE being any UTF-8 octet but NUL. Other octets are let
// through: the hash was made from whatever bytes the user's client sends.
bool valid_password(std::string_view pw) {
  return !pw.empty() && pw.size() <= k_max_password && pw.find('\0') == std::string_view::npos;
}

// The value of a base64 character, or -1.
int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == '/') {
    return 63;
  }
  return -1;
}

}  // namespace

std::optional<mechanism> parse_mechanism(std::string_view name) {
  if (iequals(name, "PLAIN")) {
    return mechanism::Plain;
  }
  if (iequals(name, "LOGIN")) {
    return mechanism::Login;
  }
  if (iequals(name, "SCRAM-SHA-256")) {
    return mechanism::ScramSha256;
  }
  if (iequals(name, "SCRAM-SHA-256-PLUS")) {
    return mechanism::ScramSha256Plus;
  }
  return std::nullopt;
}

std::string_view mechanism_name(mechanism m) {
  switch (m) {
    case mechanism::Plain:
      return "PLAIN";
    case mechanism::Login:
      return "LOGIN";
    case mechanism::ScramSha256:
      return "SCRAM-SHA-256";
    case mechanism::ScramSha256Plus:
      return "SCRAM-SHA-256-PLUS";
  }
  return "PLAIN";
}

std::string_view advertised_mechanisms() { return "PLAIN LOGIN"; }

std::string_view advertised_mechanisms_with_scram(bool plus) {
  return plus ? "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN" : "SCRAM-SHA-256 PLAIN LOGIN";
}

std::string base64_encode(std::string_view data) {
  if (data.empty()) {
    return {};
  }
  // EVP_EncodeBlock writes 4 characters per 3 octets and a terminating NUL.
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

std::optional<secret> base64_decode(std::string_view text) {
  if (text.empty()) {
    return secret();
  }
  // EVP_DecodeBlock itself skips surrounding whitespace and accepts odd padding, so the
  // text is validated here first.
  if (text.size() % 4 != 0 || text.size() > static_cast<std::size_t>(INT32_MAX / 2)) {
    return std::nullopt;
  }
  std::size_t pad = 0;
  if (text.back() == '=') {
    pad = text[text.size() - 2] == '=' ? 2 : 1;
  }
  const std::size_t data_chars = text.size() - pad;
  for (std::size_t i = 0; i < data_chars; ++i) {
    if (base64_value(text[i]) < 0) {
      return std::nullopt;
    }
  }
  // RFC 4648 §3.5: the bits a padded final group does not use must be zero, so that each
  // octet string has exactly one encoding.
  if (pad == 1 && (base64_value(text[data_chars - 1]) & 0x03) != 0) {
    return std::nullopt;
  }
  if (pad == 2 && (base64_value(text[data_chars - 1]) & 0x0f) != 0) {
    return std::nullopt;
  }
  std::string buffer(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(buffer.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  std::optional<secret> out;
  if (n >= 0 && static_cast<std::size_t>(n) == buffer.size()) {
    out.emplace(std::string_view(buffer).substr(0, buffer.size() - pad));
  }
  OPENSSL_cleanse(buffer.data(), buffer.size());
  return out;
}

sasl_exchange sasl_exchange::start(mechanism m, std::optional<std::string_view> initial_response,
                                   std::optional<scram_options> scram) {
  sasl_exchange ex(m);
  const bool is_scram = m == mechanism::ScramSha256 || m == mechanism::ScramSha256Plus;
  if (is_scram) {
    if (!scram) {
      ex.fail(504, k_unavailable_status, k_unavailable_text);
      return ex;
    }
    scram->plus = m == mechanism::ScramSha256Plus;
    ex.scram_ = std::make_unique<scram_server>(std::move(*scram));
  }
  if (initial_response) {
    ex.take(*initial_response, true);
  } else if (m != mechanism::Login) {
    // RFC 4616 §2 and RFC 5802 §5: the client speaks first; an empty "334 " asks for it.
    ex.challenge_.clear();
  } else {
    ex.challenge_ = std::string(k_login_user_prompt);
  }
  return ex;
}

sasl_step sasl_exchange::current() const {
  switch (state_) {
    case state::Challenge:
      return sasl_challenge{challenge_};
    case state::Verify: {
      if (scram_) {
        return sasl_verify{scram_->authzid(), scram_->authcid(), {}, scram_->proof_ok()};
      }
      const std::string_view all = creds_.view();
      return sasl_verify{all.substr(0, authzid_len_), all.substr(authzid_len_, authcid_len_),
                         all.substr(authzid_len_ + authcid_len_)};
    }
    case state::Failed:
      break;
  }
  return sasl_failed{fail_code_, fail_enhanced_, fail_text_};
}

void sasl_exchange::respond(std::string_view line) {
  if (state_ != state::Challenge) {
    return;
  }
  take(line, false);
}

void sasl_exchange::take(std::string_view line, bool initial) {
  if (line.size() > k_max_response_line) {
    fail(k_code_too_long, k_too_long_status, k_too_long_text);
    return;
  }
  // RFC 4954 §4: "*" cancels the exchange with a 501 reply.
  if (!initial && line == "*") {
    fail(k_code_syntax, k_cancelled_status, k_cancelled_text);
    return;
  }
  // RFC 4954 §4: an empty initial response is sent as "=", so that it differs from none.
  std::optional<secret> decoded = (initial && line == "=") ? secret() : base64_decode(line);
  if (!decoded) {
    fail(k_code_syntax, k_bad_base64_status, k_bad_base64_text);
    return;
  }
  if (scram_) {
    take_scram(decoded->view());
  } else if (mech_ == mechanism::Plain) {
    take_plain(decoded->view());
  } else {
    take_login(decoded->view());
  }
}

std::string sasl_exchange::success_data() const {
  if (state_ != state::Verify || !scram_ || !scram_->proof_ok()) {
    return {};
  }
  return base64_encode(scram_->server_final());
}

// RFC 5802 §5: client-first, server-first, client-final, then the verdict.
void sasl_exchange::take_scram(std::string_view message) {
  const bool first = scram_->server_first().empty();
  const auto st = first ? scram_->client_first(message) : scram_->client_final(message);
  if (st == scram_server::status::Failed) {
    const std::string_view e = scram_->error();
    fail(e == "no-resources" ? 454 : (scram_->malformed() ? k_code_syntax : k_code_invalid),
         e == "no-resources" ? "4.7.0" : (scram_->malformed() ? "5.5.2" : k_invalid_status),
         scram_error_text(e));
    return;
  }
  if (st == scram_server::status::Continue) {
    challenge_ = base64_encode(scram_->server_first());
    return;
  }
  state_ = state::Verify;
  challenge_.clear();
}

// RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd.
void sasl_exchange::take_plain(std::string_view message) {
  const std::size_t first = message.find('\0');
  const std::size_t second =
      first == std::string_view::npos ? first : message.find('\0', first + 1);
  if (second == std::string_view::npos) {
    fail(k_code_invalid, k_invalid_status, k_invalid_text);
    return;
  }
  const std::string_view authzid = message.substr(0, first);
  const std::string_view authcid = message.substr(first + 1, second - first - 1);
  const std::string_view password = message.substr(second + 1);
  if ((!authzid.empty() && !valid_identity(authzid)) || !valid_identity(authcid) ||
      !valid_password(password)) {
    fail(k_code_invalid, k_invalid_status, k_invalid_text);
    return;
  }
  // RFC 4616 §2: acting as another identity needs authorization we do not grant; the
  // same identity spelt out is no proxying (addresses compare case-insensitively here).
  if (!authzid.empty() && !iequals(authzid, authcid)) {
    fail(k_code_invalid, k_invalid_status, k_invalid_text);
    return;
  }
  creds_.assign(authzid);
  creds_.append(authcid);
  creds_.append(password);
  authzid_len_ = authzid.size();
  authcid_len_ = authcid.size();
  state_ = state::Verify;
  challenge_.clear();
}

void sasl_exchange::take_login(std::string_view message) {
  if (login_step_ == 0) {
    if (!valid_identity(message)) {
      fail(k_code_invalid, k_invalid_status, k_invalid_text);
      return;
    }
    creds_.assign(message);
    authzid_len_ = 0;
    authcid_len_ = message.size();
    login_step_ = 1;
    challenge_ = std::string(k_login_password_prompt);
    return;
  }
  if (!valid_password(message)) {
    fail(k_code_invalid, k_invalid_status, k_invalid_text);
    return;
  }
  creds_.append(message);
  state_ = state::Verify;
  challenge_.clear();
}

void sasl_exchange::fail(int code, std::string_view enhanced, std::string_view text) {
  state_ = state::Failed;
  fail_code_ = code;
  fail_enhanced_ = enhanced;
  fail_text_ = text;
  challenge_.clear();
  creds_.clear();
  authzid_len_ = 0;
  authcid_len_ = 0;
}

}  // namespace posthorn::auth
