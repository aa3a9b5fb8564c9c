// Password hashes: new yescrypt hashes, and hashes made by other tools (mkpasswd from the
// whois package, openssl passwd, Dovecot's passwd-file scheme prefixes).

#include "auth/password.hpp"

#include <gtest/gtest.h>

#include <string>

namespace posthorn::auth {
namespace {

constexpr std::string_view k_password = "correct horse battery staple";

// echo -n 'correct horse battery staple' | mkpasswd -m sha-512 -s
constexpr std::string_view k_sha512_mkpasswd =
    "$6$dzXEC7UN8ucWVwl5$xenyXC.XQipojISEg9y93lvtQvpUNpxqpT2QAeBizdvNUougKjbsWV/"
    "dYR9o2npP3YZcPBBIDXYg8s/mbP37o/";
// openssl passwd -6 -salt 'posthorn.salt' 'correct horse battery staple'
constexpr std::string_view k_sha512_openssl =
    "$6$posthorn.salt$uowApiiazNp89AXTDsOD.epcjvwuUn5sdnYMrwPj4ibphjDAKHTYGafoeoc2JztMfJNCi3QnB/"
    "l2St9oKABef.";
// echo -n 'correct horse battery staple' | mkpasswd -m bcrypt -R 5 -s
constexpr std::string_view k_bcrypt_2b =
    "$2b$05$c2AkmFiu.trfUWZW1M6coOBd6.MZWj.sb3Wb75fePg0Z2amVxHsYm";
// Dovecot's BLF-CRYPT writes "$2y$"; $2y$ and $2b$ compute the same digest (both are the
// corrected bcrypt), so this is the hash above with the label Dovecot and PHP use.
constexpr std::string_view k_bcrypt_2y =
    "$2y$05$c2AkmFiu.trfUWZW1M6coOBd6.MZWj.sb3Wb75fePg0Z2amVxHsYm";
// echo -n 'pässwörd' | mkpasswd -m yescrypt -s   (UTF-8 password)
constexpr std::string_view k_yescrypt_utf8 =
    "$y$j9T$VyXeEiXTb7UHLcPiO/UhN/$9YLzPA8YwN3UdSXheaW6t.4X9ZJve25O.GG5w1m.LTD";

TEST(Password, HashThenVerify) {
  const auto hash = hash_password(k_password);
  ASSERT_TRUE(hash) << hash.error().message;
  EXPECT_EQ(hash->rfind("$y$", 0), 0u) << *hash;
  EXPECT_TRUE(verify_password(k_password, *hash));
  EXPECT_FALSE(verify_password("correct horse battery stapl", *hash));
  EXPECT_FALSE(verify_password("", *hash));
}

TEST(Password, SaltsDiffer) {
  const auto a = hash_password("password");
  const auto b = hash_password("password");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(verify_password("password", *a));
  EXPECT_TRUE(verify_password("password", *b));
}

TEST(Password, EmptyPasswordStillHashes) {
  // Refusing empty passwords is the command line's job; the hash itself must work.
  const auto hash = hash_password("");
  ASSERT_TRUE(hash);
  EXPECT_TRUE(verify_password("", *hash));
  EXPECT_FALSE(verify_password("x", *hash));
}

TEST(Password, NulInPasswordIsRefused) {
  EXPECT_FALSE(hash_password(std::string_view("ab\0cd", 5)));
  const auto hash = hash_password("ab");
  ASSERT_TRUE(hash);
  EXPECT_FALSE(verify_password(std::string_view("ab\0cd", 5), *hash));
}

TEST(Password, Sha512CryptVectors) {
  EXPECT_TRUE(verify_password(k_password, k_sha512_mkpasswd));
  EXPECT_TRUE(verify_password(k_password, k_sha512_openssl));
  EXPECT_FALSE(verify_password("correct horse battery staplE", k_sha512_mkpasswd));
  EXPECT_FALSE(verify_password("wrong", k_sha512_openssl));
}

TEST(Password, BcryptVectors) {
  EXPECT_TRUE(verify_password(k_password, k_bcrypt_2b));
  EXPECT_TRUE(verify_password(k_password, k_bcrypt_2y));
  EXPECT_FALSE(verify_password("correct horse battery stapler", k_bcrypt_2y));
}

TEST(Password, YescryptVectorWithUtf8Password) {
  EXPECT_TRUE(verify_password("pässwörd", k_yescrypt_utf8));
  EXPECT_FALSE(verify_password("passwoerd", k_yescrypt_utf8));
}

TEST(Password, DovecotSchemePrefixesAreStripped) {
  EXPECT_TRUE(verify_password(k_password, "{BLF-CRYPT}" + std::string(k_bcrypt_2y)));
  EXPECT_TRUE(verify_password(k_password, "{SHA512-CRYPT}" + std::string(k_sha512_mkpasswd)));
  EXPECT_TRUE(verify_password(k_password, "{sha512-crypt}" + std::string(k_sha512_openssl)));
  EXPECT_TRUE(verify_password(k_password, "{CRYPT}" + std::string(k_sha512_openssl)));
  EXPECT_FALSE(verify_password("wrong", "{BLF-CRYPT}" + std::string(k_bcrypt_2y)));
}

TEST(Password, NonCryptSchemesAreRefused) {
  EXPECT_FALSE(verify_password("secret", "{PLAIN}secret"));
  EXPECT_FALSE(verify_password("secret", "{CLEAR}secret"));
  EXPECT_FALSE(verify_password("secret", "{SSHA}" + std::string(k_sha512_openssl)));
  EXPECT_FALSE(verify_password(k_password, "{BLF-CRYPT" + std::string(k_bcrypt_2y)));
}

TEST(Password, UnusableHashesNeverMatch) {
  for (const std::string_view hash : {"", "*", "!", "!!", "*LK*", "x", "$6$", "$y$", "$2y$05$",
                                      "$6$dzXEC7UN8ucWVwl5$", "{SHA512-CRYPT}", "secret"}) {
    EXPECT_FALSE(verify_password("", hash)) << hash;
    EXPECT_FALSE(verify_password("secret", hash)) << hash;
    EXPECT_FALSE(verify_password(k_password, hash)) << hash;
  }
  // A locked account ("!" in front of a valid hash, as passwd -l does) stays locked.
  EXPECT_FALSE(verify_password(k_password, "!" + std::string(k_sha512_mkpasswd)));
}

TEST(Password, TruncatedHashDoesNotMatch) {
  const std::string hash(k_sha512_mkpasswd);
  EXPECT_FALSE(verify_password(k_password, hash.substr(0, hash.size() - 1)));
  EXPECT_FALSE(verify_password(k_password, hash + "x"));
}

}  // namespace
}  // namespace posthorn::auth
