// Self-signed generation ([tls] self_signed): files, modes, contents, and the cases
// where nothing may be generated.

#include "tls/certificate.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "tls_test_util.hpp"

namespace posthorn::tls {
namespace {

namespace fs = std::filesystem;
using test::temp_dir;

struct x509_deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct pkey_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<X509, x509_deleter> read_cert(const fs::path& p) {
  std::FILE* f = std::fopen(p.c_str(), "r");
  if (f == nullptr) {
    return nullptr;
  }
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return std::unique_ptr<X509, x509_deleter>(x);
}

std::unique_ptr<EVP_PKEY, pkey_deleter> read_key(const fs::path& p) {
  std::FILE* f = std::fopen(p.c_str(), "r");
  if (f == nullptr) {
    return nullptr;
  }
  EVP_PKEY* k = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return std::unique_ptr<EVP_PKEY, pkey_deleter>(k);
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

TEST(SelfSigned, GeneratesKeyAndCertificateInNewFolders) {
  const temp_dir dir;
  const fs::path cert = dir.path() / "a" / "b" / "cert.pem";
  const fs::path key = dir.path() / "c" / "key.pem";
  const auto made = ensure_self_signed(cert, key, "mx.example.test");
  ASSERT_TRUE(made.has_value()) << made.error().message;
  EXPECT_EQ(*made, generated::Yes);
  EXPECT_EQ(mode_of(key), 0600u);
  EXPECT_EQ(mode_of(cert), 0644u);
  // No temporary files left behind.
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir.path())) {
    files += e.is_regular_file() ? 1 : 0;
  }
  EXPECT_EQ(files, 2u);

  const auto x = read_cert(cert);
  const auto k = read_key(key);
  ASSERT_TRUE(x);
  ASSERT_TRUE(k);
  EXPECT_EQ(EVP_PKEY_get_base_id(k.get()), EVP_PKEY_EC);
  EXPECT_EQ(X509_check_private_key(x.get(), k.get()), 1);
  EXPECT_EQ(X509_get_version(x.get()), X509_VERSION_3);
  EXPECT_EQ(X509_check_host(x.get(), "mx.example.test", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(x.get(), "MX.Example.Test", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(x.get(), "other.example.test", 0, 0, nullptr), 1);
  // Self-signed, valid now, for about ten years.
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(x.get()), X509_get_issuer_name(x.get())), 0);
  EXPECT_EQ(X509_verify(x.get(), k.get()), 1);
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(x.get())), 0);
  int days = 0;
  int secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x.get()), X509_get0_notAfter(x.get())),
            1);
  EXPECT_GE(days, k_self_signed_days);
  EXPECT_EQ(X509_get_extended_key_usage(x.get()) & XKU_SSL_SERVER, XKU_SSL_SERVER);
}

TEST(SelfSigned, ExistingPairIsLeftAlone) {
  const temp_dir dir;
  const fs::path cert = dir.path() / "cert.pem";
  const fs::path key = dir.path() / "key.pem";
  ASSERT_TRUE(ensure_self_signed(cert, key, "mx.example.test"));
  const auto before = fs::last_write_time(cert);
  const auto again = ensure_self_signed(cert, key, "mx.example.test");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, generated::No);
  EXPECT_EQ(fs::last_write_time(cert), before);
}

TEST(SelfSigned, OneFileWithoutTheOtherIsAnError) {
  const temp_dir dir;
  const fs::path cert = dir.path() / "cert.pem";
  const fs::path key = dir.path() / "key.pem";
  std::ofstream(cert) << "not really a certificate\n";
  auto r = ensure_self_signed(cert, key, "mx.example.test");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find(key.string()), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(key));
  fs::remove(cert);
  std::ofstream(key) << "not really a key\n";
  r = ensure_self_signed(cert, key, "mx.example.test");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find(cert.string()), std::string::npos) << r.error().message;
}

TEST(SelfSigned, LongHostNameGoesInSubjectAltNameOnly) {
  const temp_dir dir;
  const std::string host = std::string(60, 'a') + ".mail.example.test";  // > 64 octets
  ASSERT_TRUE(ensure_self_signed(dir.path() / "c.pem", dir.path() / "k.pem", host));
  const auto x = read_cert(dir.path() / "c.pem");
  ASSERT_TRUE(x);
  EXPECT_EQ(X509_check_host(x.get(), host.c_str(), host.size(), 0, nullptr), 1);
}

TEST(SelfSigned, NonAsciiHostNameIsRefused) {
  const temp_dir dir;
  const auto r =
      ensure_self_signed(dir.path() / "c.pem", dir.path() / "k.pem", "m\xc3\xbcnchen.test");
  ASSERT_FALSE(r.has_value());
  EXPECT_FALSE(fs::exists(dir.path() / "k.pem"));
}

TEST(SelfSigned, FolderThatCannotBeMadeIsAnErrorNamingIt) {
  const temp_dir dir;
  // A file where a folder should be: fails for root too, unlike a read-only folder.
  std::ofstream(dir.path() / "plain") << "a file\n";
  const fs::path folder = dir.path() / "plain" / "tls";
  const auto r = ensure_self_signed(folder / "cert.pem", folder / "key.pem", "mx.example.test");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find(folder.string()), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace posthorn::tls
