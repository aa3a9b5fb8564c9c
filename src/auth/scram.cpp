// SCRAM-SHA-256 (RFC 7677, RFC 5802): stored secrets, SASLprep as far as documented in
// the header, and the server side of the exchange.

#include "auth/scram.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <vector>

#include "auth/sasl.hpp"

namespace posthorn::auth {

namespace {

scram_key hmac_sha256(std::string_view key, std::string_view data) {
  scram_key out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

std::string_view as_view(const scram_key& k) {
  return {reinterpret_cast<const char*>(k.data()), k.size()};
}

scram_key sha256(const scram_key& data) {
  scram_key out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

// ClientKey / ServerKey / StoredKey from SaltedPassword (RFC 5802 §3).
void keys_from_salted(const scram_key& salted, scram_secrets& out) {
  scram_key client_key = hmac_sha256(as_view(salted), "Client Key");
  out.stored_key = sha256(client_key);
  out.server_key = hmac_sha256(as_view(salted), "Server Key");
  OPENSSL_cleanse(client_key.data(), client_key.size());
}

// One UTF-8 code point from the front of `s`; nullopt for invalid UTF-8 (overlong forms,
// surrogates, values above U+10FFFF).
std::optional<char32_t> next_code_point(std::string_view& s) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  std::size_t len = 0;
  char32_t cp = 0;
  if (b0 < 0x80) {
    s.remove_prefix(1);
    return b0;
  }
  if ((b0 & 0xe0) == 0xc0) {
    len = 2;
    cp = b0 & 0x1f;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3;
    cp = b0 & 0x0f;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return std::nullopt;
  }
  if (s.size() < len) {
    return std::nullopt;
  }
  for (std::size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xc0) != 0x80) {
      return std::nullopt;
    }
    cp = (cp << 6) | (b & 0x3f);
  }
  static constexpr char32_t k_min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < k_min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    return std::nullopt;
  }
  s.remove_prefix(len);
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

bool in(char32_t cp, char32_t lo, char32_t hi) { return cp >= lo && cp <= hi; }

// RFC 3454 B.1, "commonly mapped to nothing".
bool mapped_to_nothing(char32_t cp) {
  return cp == 0x00ad || cp == 0x034f || cp == 0x1806 || in(cp, 0x180b, 0x180d) ||
         in(cp, 0x200b, 0x200d) || cp == 0x2060 || in(cp, 0xfe00, 0xfe0f) || cp == 0xfeff;
}

// RFC 3454 C.1.2, non-ASCII space characters.
bool non_ascii_space(char32_t cp) {
  return cp == 0x00a0 || cp == 0x1680 || in(cp, 0x2000, 0x200b) || cp == 0x202f || cp == 0x205f ||
         cp == 0x3000;
}

// RFC 4013 §2.3: RFC 3454 C.2.1 to C.9 (C.1.2 was mapped away before).
bool prohibited(char32_t cp) {
  if (cp < 0x20 || cp == 0x7f || in(cp, 0x80, 0x9f)) {  // C.2.1, C.2.2
    return true;
  }
  if (cp == 0x06dd || cp == 0x070f || cp == 0x180e || in(cp, 0x200c, 0x200f) ||
      in(cp, 0x2028, 0x202e) || in(cp, 0x2060, 0x2063) || in(cp, 0x206a, 0x206f) || cp == 0xfeff ||
      in(cp, 0xfff9, 0xfffd) || in(cp, 0x1d173, 0x1d17a)) {  // C.2.2, C.6, C.8
    return true;
  }
  if (in(cp, 0xe000, 0xf8ff) || in(cp, 0xf0000, 0xffffd) || in(cp, 0x100000, 0x10fffd)) {
    return true;  // C.3 private use
  }
  if (in(cp, 0xfdd0, 0xfdef) || (cp & 0xfffe) == 0xfffe) {  // C.4 non-characters
    return true;
  }
  if (in(cp, 0x2ff0, 0x2ffb) || cp == 0x0340 || cp == 0x0341) {  // C.7, C.8
    return true;
  }
  return cp == 0xe0001 || in(cp, 0xe0020, 0xe007f);  // C.9 tagging
}

// RFC 5802 §7 saslname: "=2C" and "=3D" stand for ',' and '='; any other '=' is invalid.
std::optional<std::string> decode_saslname(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ',') {
      return std::nullopt;
    }
    if (s[i] != '=') {
      out += s[i];
      continue;
    }
    const std::string_view esc = s.substr(i + 1, 2);
    if (esc == "2C") {
      out += ',';
    } else if (esc == "3D") {
      out += '=';
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  return out;
}

// A login name we can look up and log: non-empty, bounded, valid UTF-8, no controls.
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > k_max_identity) {
    return false;
  }
  std::string_view rest = name;
  while (!rest.empty()) {
    const auto cp = next_code_point(rest);
    if (!cp || *cp < 0x20 || *cp == 0x7f || in(*cp, 0x80, 0x9f)) {
      return false;
    }
  }
  return true;
}

// RFC 5802 §7 printable: %x21-2B / %x2D-7E.
bool valid_nonce(std::string_view n) {
  if (n.empty()) {
    return false;
  }
  for (const char c : n) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e || c == ',') {
      return false;
    }
  }
  return true;
}

// RFC 5802 §7 cb-name = 1*(ALPHA / DIGIT / "." / "-").
bool valid_cb_name(std::string_view n) {
  if (n.empty()) {
    return false;
  }
  for (const char c : n) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = ascii_lower(c);
  }
  return out;
}

// Splits on ','; a SCRAM attribute value never holds one (RFC 5802 §5.1).
std::vector<std::string_view> split_attributes(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    const auto comma = s.find(',');
    out.push_back(s.substr(0, comma));
    if (comma == std::string_view::npos) {
      return out;
    }
    s.remove_prefix(comma + 1);
  }
}

// RFC 5802 §7 attr-val for optional extensions: ALPHA "=" value.
bool valid_extension(std::string_view a) {
  return a.size() >= 2 && ((a[0] >= 'a' && a[0] <= 'z') || (a[0] >= 'A' && a[0] <= 'Z')) &&
         a[1] == '=';
}

std::string random_text(std::size_t octets) {
  std::string raw(octets, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) != 1) {
    return {};
  }
  return raw;
}

std::mutex g_fake_key_mutex;
std::string& fake_key_storage() {
  static std::string key = [] {
    std::string k = random_text(32);
    // Without randomness the made-up salts are still deterministic per name; they just
    // differ from a real user's pattern less.
    return k.empty() ? std::string(32, 'k') : k;
  }();
  return key;
}

}  // namespace

scram_secrets::~scram_secrets() {
  OPENSSL_cleanse(stored_key.data(), stored_key.size());
  OPENSSL_cleanse(server_key.data(), server_key.size());
}

std::optional<secret> saslprep(std::string_view password) {
  secret out;
  std::string buf;
  buf.reserve(password.size());
  std::string_view rest = password;
  bool ok = true;
  while (!rest.empty()) {
    const auto cp = next_code_point(rest);
    if (!cp) {
      ok = false;
      break;
    }
    if (mapped_to_nothing(*cp)) {
      continue;
    }
    if (non_ascii_space(*cp)) {
      buf += ' ';
      continue;
    }
    if (prohibited(*cp)) {
      ok = false;
      break;
    }
    append_utf8(buf, *cp);
  }
  if (ok && !buf.empty()) {
    out.assign(buf);
  }
  OPENSSL_cleanse(buf.data(), buf.size());
  if (!ok || out.empty()) {
    return std::nullopt;
  }
  return out;
}

result<scram_secrets> scram_derive(std::string_view password, std::string_view salt,
                                   std::uint32_t iterations) {
  if (iterations < 1 || iterations > k_scram_max_iterations || salt.empty()) {
    return fail(error::perm("", "bad SCRAM salt or iteration count"));
  }
  const auto prepared = saslprep(password);
  if (!prepared) {
    return fail(error::perm("",
                            "the password is not valid for SCRAM (RFC 4013 SASLprep: "
                            "invalid UTF-8 or a prohibited character)"));
  }
  scram_key salted{};
  if (PKCS5_PBKDF2_HMAC(prepared->view().data(), static_cast<int>(prepared->size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(salted.size()), salted.data()) != 1) {
    return fail(error::temp("", "PBKDF2 failed"));
  }
  scram_secrets out;
  out.iterations = iterations;
  out.salt = std::string(salt);
  keys_from_salted(salted, out);
  OPENSSL_cleanse(salted.data(), salted.size());
  return out;
}

result<scram_secrets> scram_make(std::string_view password, std::uint32_t iterations) {
  const std::string salt = random_text(k_scram_salt_size);
  if (salt.empty()) {
    return fail(error::temp("", "cannot make a random salt"));
  }
  return scram_derive(password, salt, iterations);
}

std::string scram_format(const scram_secrets& s) {
  return std::to_string(s.iterations) + "," + base64_encode(s.salt) + "," +
         base64_encode(as_view(s.stored_key)) + "," + base64_encode(as_view(s.server_key));
}

std::optional<scram_secrets> scram_parse(std::string_view value) {
  const auto parts = split_attributes(value);
  if (parts.size() != 4) {
    return std::nullopt;
  }
  scram_secrets out;
  const auto [end, ec] =
      std::from_chars(parts[0].data(), parts[0].data() + parts[0].size(), out.iterations);
  if (ec != std::errc() || end != parts[0].data() + parts[0].size() ||
      out.iterations < k_scram_min_iterations || out.iterations > k_scram_max_iterations) {
    return std::nullopt;
  }
  const auto salt = base64_decode(parts[1]);
  const auto stored = base64_decode(parts[2]);
  const auto server = base64_decode(parts[3]);
  if (!salt || salt->empty() || !stored || stored->size() != k_scram_key_size || !server ||
      server->size() != k_scram_key_size) {
    return std::nullopt;
  }
  out.salt = std::string(salt->view());
  std::copy_n(stored->view().begin(), k_scram_key_size, out.stored_key.begin());
  std::copy_n(server->view().begin(), k_scram_key_size, out.server_key.begin());
  return out;
}

std::string scram_fake_salt_key() {
  const std::lock_guard lock(g_fake_key_mutex);
  return fake_key_storage();
}

void set_scram_fake_salt_key(std::string key) {
  const std::lock_guard lock(g_fake_key_mutex);
  if (!key.empty()) {
    fake_key_storage() = std::move(key);
  }
}

// --- the exchange (RFC 5802 §5, §7) ---------------------------------------------------

scram_server::status scram_server::fail(std::string_view error, bool malformed) {
  error_ = error;
  malformed_ = malformed;
  secrets_.reset();
  return status::Failed;
}

scram_server::status scram_server::client_first(std::string_view msg) {
  if (!server_first_.empty() || !error_.empty()) {
    return fail("other-error", true);
  }
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  std::size_t pos = 0;
  char flag = 0;
  if (msg.starts_with("n,") || msg.starts_with("y,")) {
    flag = msg[0];
    pos = 2;
  } else if (msg.starts_with("p=")) {
    const auto comma = msg.find(',');
    if (comma == std::string_view::npos || !valid_cb_name(msg.substr(2, comma - 2))) {
      return fail("invalid-encoding", true);
    }
    flag = 'p';
    cb_name_ = std::string(msg.substr(2, comma - 2));
    pos = comma + 1;
  } else {
    return fail("invalid-encoding", true);
  }
  const std::string_view after_flag = msg.substr(pos);
  if (after_flag.starts_with("a=")) {
    const auto comma = after_flag.find(',');
    if (comma == std::string_view::npos) {
      return fail("invalid-encoding", true);
    }
    auto authzid = decode_saslname(after_flag.substr(2, comma - 2));
    if (!authzid || !valid_name(*authzid)) {
      return fail("invalid-username-encoding", true);
    }
    authzid_ = std::move(*authzid);
    pos += comma + 1;
  } else if (after_flag.starts_with(",")) {
    pos += 1;
  } else {
    return fail("invalid-encoding", true);
  }
  gs2_header_ = std::string(msg.substr(0, pos));
  client_first_bare_ = std::string(msg.substr(pos));

  // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
  const auto attrs = split_attributes(client_first_bare_);
  if (!attrs.empty() && attrs[0].starts_with("m=")) {
    return fail("extensions-not-supported", false);
  }
  if (attrs.size() < 2 || !attrs[0].starts_with("n=") || !attrs[1].starts_with("r=")) {
    return fail("invalid-encoding", true);
  }
  for (std::size_t i = 2; i < attrs.size(); ++i) {
    if (!valid_extension(attrs[i])) {
      return fail("invalid-encoding", true);
    }
  }
  auto name = decode_saslname(attrs[0].substr(2));
  if (!name || !valid_name(*name)) {
    return fail("invalid-username-encoding", true);
  }
  authcid_ = std::move(*name);
  const std::string_view client_nonce = attrs[1].substr(2);
  if (!valid_nonce(client_nonce)) {
    return fail("invalid-encoding", true);
  }

  // RFC 5802 §6: channel binding is what the mechanism name says; "y" while we offered
  // -PLUS means someone removed it from the EHLO reply (a downgrade).
  if (opts_.plus != (flag == 'p')) {
    return fail("channel-bindings-dont-match", false);
  }
  if (flag == 'y' && opts_.plus_offered) {
    return fail("server-does-support-channel-binding", false);
  }
  if (flag == 'p') {
    const bool known = (cb_name_ == "tls-exporter" && !opts_.bindings.tls_exporter.empty()) ||
                       (cb_name_ == "tls-unique" && !opts_.bindings.tls_unique.empty());
    if (!known) {
      return fail("unsupported-channel-binding-type", false);
    }
  }
  // RFC 4422 §2: acting for another identity needs an authorization we do not grant.
  if (!authzid_.empty() && lower(authzid_) != lower(authcid_)) {
    return fail("other-error", false);
  }

  if (opts_.lookup) {
    secrets_ = opts_.lookup(authcid_);
  }
  std::string salt;
  std::uint32_t iterations = 0;
  if (secrets_) {
    salt = secrets_->salt;
    iterations = secrets_->iterations;
  } else {
    // A made-up salt that stays the same for this name, so that asking twice does not
    // tell a missing account from a real one (no "e=unknown-user").
    const std::string key =
        opts_.fake_salt_key.empty() ? scram_fake_salt_key() : opts_.fake_salt_key;
    const scram_key mac = hmac_sha256(key, "scram-salt:" + lower(authcid_));
    salt = std::string(as_view(mac).substr(0, k_scram_salt_size));
    iterations = k_scram_default_iterations;
  }
  std::string server_nonce = opts_.server_nonce;
  if (server_nonce.empty()) {
    server_nonce = base64_encode(random_text(24));
    if (server_nonce.empty()) {
      return fail("no-resources", false);
    }
  }
  nonce_ = std::string(client_nonce) + server_nonce;
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(salt) + ",i=" + std::to_string(iterations);
  return status::Continue;
}

scram_server::status scram_server::client_final(std::string_view msg) {
  if (server_first_.empty() || !error_.empty() || !server_final_.empty()) {
    return fail("other-error", true);
  }
  // client-final-message = client-final-message-without-proof "," proof; proof is last.
  const auto proof_at = msg.rfind(",p=");
  if (proof_at == std::string_view::npos) {
    return fail("invalid-encoding", true);
  }
  const std::string_view without_proof = msg.substr(0, proof_at);
  const auto proof = base64_decode(msg.substr(proof_at + 3));
  if (!proof || proof->size() != k_scram_key_size) {
    return fail("invalid-encoding", true);
  }
  const auto attrs = split_attributes(without_proof);
  if (attrs.size() < 2 || !attrs[0].starts_with("c=") || !attrs[1].starts_with("r=")) {
    return fail("invalid-encoding", true);
  }
  for (std::size_t i = 2; i < attrs.size(); ++i) {
    if (!valid_extension(attrs[i])) {
      return fail("invalid-encoding", true);
    }
  }
  const auto cbind = base64_decode(attrs[0].substr(2));
  if (!cbind) {
    return fail("invalid-encoding", true);
  }
  // RFC 5802 §7: c= is base64(gs2-header [cbind-data]), cbind-data present iff "p=".
  std::string expected = gs2_header_;
  if (cb_name_ == "tls-exporter") {
    expected += opts_.bindings.tls_exporter;
  } else if (cb_name_ == "tls-unique") {
    expected += opts_.bindings.tls_unique;
  }
  if (cbind->size() != expected.size() ||
      CRYPTO_memcmp(cbind->view().data(), expected.data(), expected.size()) != 0) {
    return fail("channel-bindings-dont-match", false);
  }
  if (attrs[1].substr(2) != nonce_) {
    return fail("other-error", false);
  }

  // RFC 5802 §3: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage), and
  // H(ClientKey) must be the StoredKey. A user without secrets runs the same steps
  // against zero keys and never matches.
  const std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  const scram_secrets none;
  const scram_secrets& keys = secrets_ ? *secrets_ : none;
  scram_key client_key = hmac_sha256(as_view(keys.stored_key), auth_message);
  for (std::size_t i = 0; i < client_key.size(); ++i) {
    client_key[i] ^= static_cast<unsigned char>(proof->view()[i]);
  }
  const scram_key stored = sha256(client_key);
  OPENSSL_cleanse(client_key.data(), client_key.size());
  proof_ok_ = CRYPTO_memcmp(stored.data(), keys.stored_key.data(), stored.size()) == 0 &&
              secrets_.has_value();
  if (proof_ok_) {
    const scram_key signature = hmac_sha256(as_view(keys.server_key), auth_message);
    server_final_ = "v=" + base64_encode(as_view(signature));
  }
  secrets_.reset();
  return status::Verdict;
}

}  // namespace posthorn::auth
