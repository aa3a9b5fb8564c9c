// crypt(3) hashes through libxcrypt's reentrant calls (crypt_gensalt_rn, crypt_rn):
// no static buffers, so hashing may run on any worker thread.

#include "auth/password.hpp"

#include <crypt.h>
#include <openssl/crypto.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace posthorn::auth {

namespace {

// crypt_data is 32 KiB: on the heap, and wiped afterwards because it holds
// password-derived state.
// A C string copy of a password, wiped when it goes.
struct secret_cstr {
  explicit secret_cstr(std::string_view s) : text(s) {}
  ~secret_cstr() { OPENSSL_cleanse(text.data(), text.size()); }
  secret_cstr(const secret_cstr&) = delete;
  secret_cstr& operator=(const secret_cstr&) = delete;
  const char* c_str() const { return text.c_str(); }
  std::string text;
};

struct crypt_scratch {
  crypt_scratch() : data(std::make_unique<crypt_data>()) {
    std::memset(data.get(), 0, sizeof *data);
  }
  ~crypt_scratch() { OPENSSL_cleanse(data.get(), sizeof *data); }
  crypt_scratch(const crypt_scratch&) = delete;
  crypt_scratch& operator=(const crypt_scratch&) = delete;
  std::unique_ptr<crypt_data> data;
};

// Dovecot passwd-files may name the scheme in front of the hash ("{BLF-CRYPT}$2y$...");
// these schemes are all crypt(3) formats, so the prefix is dropped. Any other scheme
// ({PLAIN}, {SSHA}, ...) is not a crypt hash and is refused.
std::string_view strip_scheme(std::string_view hash, bool& ok) {
  ok = true;
  if (hash.empty() || hash.front() != '{') {
    return hash;
  }
  const auto close = hash.find('}');
  if (close == std::string_view::npos) {
    ok = false;
    return hash;
  }
  std::string scheme(hash.substr(1, close - 1));
  for (char& c : scheme) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  static constexpr std::string_view k_crypt_schemes[] = {"CRYPT", "MD5-CRYPT", "SHA256-CRYPT",
                                                         "SHA512-CRYPT", "BLF-CRYPT"};
  for (const auto known : k_crypt_schemes) {
    if (scheme == known) {
      return hash.substr(close + 1);
    }
  }
  ok = false;
  return hash;
}

}  // namespace

result<std::string> hash_password(std::string_view password) {
  if (password.find('\0') != std::string_view::npos) {
    return fail(error::perm("", "password contains a NUL character"));
  }
  std::array<char, CRYPT_GENSALT_OUTPUT_SIZE> setting{};
  // count 0 = yescrypt's default cost; null rbytes = libxcrypt reads the OS's random source.
  if (crypt_gensalt_rn("$y$", 0, nullptr, 0, setting.data(), static_cast<int>(setting.size())) ==
      nullptr) {
    return fail(error::temp("", std::string("cannot make a salt: ") + std::strerror(errno)));
  }
  const secret_cstr phrase(password);
  crypt_scratch scratch;
  const char* out = crypt_rn(phrase.c_str(), setting.data(), scratch.data.get(),
                             static_cast<int>(sizeof(crypt_data)));
  if (out == nullptr || out[0] == '*') {
    return fail(error::temp("", std::string("cannot hash the password: ") + std::strerror(errno)));
  }
  return std::string(out);
}

bool verify_password(std::string_view password, std::string_view hash) {
  bool ok = false;
  hash = strip_scheme(hash, ok);
  // "", "*", "!..." (locked) and anything else that is not a crypt setting never match.
  if (!ok || hash.empty() || hash.front() == '*' || hash.front() == '!') {
    return false;
  }
  if (password.find('\0') != std::string_view::npos || hash.find('\0') != std::string_view::npos) {
    return false;
  }
  const std::string setting(hash);
  const int check = crypt_checksalt(setting.c_str());
  if (check != CRYPT_SALT_OK && check != CRYPT_SALT_METHOD_LEGACY) {
    return false;
  }
  const secret_cstr phrase(password);
  crypt_scratch scratch;
  const char* out = crypt_rn(phrase.c_str(), setting.c_str(), scratch.data.get(),
                             static_cast<int>(sizeof(crypt_data)));
  if (out == nullptr || out[0] == '*') {
    return false;
  }
  // The hash's length is public (it is in the users file); its bytes are compared in
  // constant time so a timing probe learns nothing about how much matched.
  const std::size_t len = std::strlen(out);
  return len == setting.size() && CRYPTO_memcmp(out, setting.data(), len) == 0;
}

}  // namespace posthorn::auth
