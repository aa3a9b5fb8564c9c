// Self-signed key and certificate generation with OpenSSL 3 (EVP_EC_gen, X509 v3
// extensions built as structures, not parsed from config strings).

#include "tls/certificate.hpp"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "tls/openssl_util.hpp"

namespace posthorn::tls {

namespace fs = std::filesystem;

namespace {

using detail::bio_ptr;
using detail::drain_errors;
using detail::pkey_ptr;
using detail::x509_ptr;

constexpr mode_t k_key_mode = 0600;
constexpr mode_t k_cert_mode = 0644;
// RFC 5280 §4.1.2.2: serial numbers are positive and at most 20 octets.
constexpr int k_serial_bits = 159;
// RFC 5280 ub-common-name: a longer host name goes in subjectAltName only.
constexpr std::size_t k_max_common_name = 64;

error io_error(const std::string& what, const fs::path& path, int err) {
  return error::temp("", what + " " + path.string() + ": " + std::strerror(err));
}

error openssl_error(const std::string& what) {
  return error::temp("", what + ": " + drain_errors());
}

result<void> fsync_folder(const fs::path& folder) {
  const int fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return fail(io_error("cannot open folder", folder, errno));
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    return fail(io_error("cannot fsync folder", folder, err));
  }
  return {};
}

// Writes `data` to `path` with `mode` (whatever the umask) through a temporary file in the
// same folder, fsynced and renamed into place, so a crash never leaves half a key.
result<void> write_file(const fs::path& path, std::string_view data, mode_t mode) {
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return fail(io_error("cannot create", tmp, errno));
  }
  const auto cleanup = [&](int err, const char* what) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail(io_error(what, tmp, err));
  };
  if (::fchmod(fd, mode) != 0) {
    return cleanup(errno, "cannot set the mode of");
  }
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return cleanup(errno, "cannot write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    return cleanup(errno, "cannot fsync");
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(io_error("cannot close", tmp, err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(io_error("cannot rename into place", path, err));
  }
  return fsync_folder(path.parent_path());
}

result<void> add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) {
    return fail(openssl_error(std::string("cannot make the extension ") + OBJ_nid2sn(nid)));
  }
  const int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) {
    return fail(openssl_error("cannot add an extension"));
  }
  return {};
}

// RFC 6125 §6.4.4 clients match subjectAltName dNSName, so the host name goes there.
result<void> add_dns_name(X509* cert, std::string_view hostname) {
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  GENERAL_NAME* name = GENERAL_NAME_new();
  ASN1_IA5STRING* text = ASN1_IA5STRING_new();
  bool ok = names != nullptr && name != nullptr && text != nullptr &&
            ASN1_STRING_set(text, hostname.data(), static_cast<int>(hostname.size())) == 1;
  if (ok) {
    GENERAL_NAME_set0_value(name, GEN_DNS, text);
    text = nullptr;
    ok = sk_GENERAL_NAME_push(names, name) > 0;
    if (ok) {
      name = nullptr;
      ok = X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
    }
  }
  ASN1_IA5STRING_free(text);
  GENERAL_NAME_free(name);
  GENERAL_NAMES_free(names);
  if (!ok) {
    return fail(openssl_error("cannot add subjectAltName"));
  }
  return {};
}

result<x509_ptr> make_certificate(EVP_PKEY* key, std::string_view hostname) {
  x509_ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return fail(openssl_error("cannot make a certificate"));
  }
  BIGNUM* serial = BN_new();
  const bool serial_ok = serial != nullptr &&
                         BN_rand(serial, k_serial_bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1 &&
                         BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get())) != nullptr;
  BN_free(serial);
  // An hour of slack before now for clients whose clocks run a little behind.
  const bool times_ok =
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) != nullptr &&
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), k_self_signed_days, 0, nullptr) != nullptr;
  if (!serial_ok || !times_ok || X509_set_pubkey(cert.get(), key) != 1) {
    return fail(openssl_error("cannot make a certificate"));
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const auto add_entry = [subject](const char* field, std::string_view value) {
    return X509_NAME_add_entry_by_txt(subject, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.data()),
                                      static_cast<int>(value.size()), -1, 0) == 1;
  };
  if (!add_entry("O", "posthorn self-signed") ||
      (hostname.size() <= k_max_common_name && !add_entry("CN", hostname)) ||
      X509_set_issuer_name(cert.get(), subject) != 1) {
    return fail(openssl_error("cannot name the certificate"));
  }
  for (const auto& [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                                   std::pair{NID_key_usage, "critical,digitalSignature"},
                                   std::pair{NID_ext_key_usage, "serverAuth"},
                                   std::pair{NID_subject_key_identifier, "hash"}}) {
    if (auto st = add_extension(cert.get(), nid, value); !st) {
      return fail(st.error());
    }
  }
  if (auto st = add_dns_name(cert.get(), hostname); !st) {
    return fail(st.error());
  }
  if (X509_sign(cert.get(), key, EVP_sha256()) <= 0) {
    return fail(openssl_error("cannot sign the certificate"));
  }
  return cert;
}

std::string_view bio_contents(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string_view(data, static_cast<std::size_t>(len)) : std::string_view();
}

// Exists, does not exist, or cannot tell (the error names the file).
result<bool> file_exists(const fs::path& path) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return fail(error::temp("", "cannot check " + path.string() + ": " + ec.message()));
  }
  return fs::exists(st);
}

result<void> make_folder(const fs::path& path) {
  const fs::path folder = path.parent_path();
  std::error_code ec;
  if (!folder.empty() && !fs::create_directories(folder, ec) && ec) {
    return fail(error::temp("", "cannot create folder " + folder.string() + ": " + ec.message()));
  }
  return {};
}

}  // namespace

result<generated> ensure_self_signed(const fs::path& cert_path, const fs::path& key_path,
                                     std::string_view hostname) {
  const auto cert_exists = file_exists(cert_path);
  if (!cert_exists) {
    return fail(cert_exists.error());
  }
  const auto key_exists = file_exists(key_path);
  if (!key_exists) {
    return fail(key_exists.error());
  }
  if (*cert_exists && *key_exists) {
    return generated::No;
  }
  if (*cert_exists || *key_exists) {
    const fs::path& missing = *cert_exists ? key_path : cert_path;
    const fs::path& present = *cert_exists ? cert_path : key_path;
    return fail(error::perm("", missing.string() + ": missing while " + present.string() +
                                    " exists; not generating a self-signed pair over it"));
  }
  for (const char c : hostname) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      return fail(error::perm("",
                              "hostname must be ASCII (A-labels) for a self-signed "
                              "certificate"));
    }
  }
  ERR_clear_error();
  pkey_ptr key(EVP_EC_gen("P-256"));
  if (!key) {
    return fail(openssl_error("cannot generate an ECDSA P-256 key"));
  }
  auto cert = make_certificate(key.get(), hostname);
  if (!cert) {
    return fail(cert.error());
  }
  // The key's PEM lives in OpenSSL's secure heap (when set up) and is wiped when freed.
  bio_ptr key_pem(BIO_new(BIO_s_secmem()));
  bio_ptr cert_pem(BIO_new(BIO_s_mem()));
  if (!key_pem || !cert_pem ||
      PEM_write_bio_PrivateKey(key_pem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1 ||
      PEM_write_bio_X509(cert_pem.get(), cert->get()) != 1) {
    return fail(openssl_error("cannot encode the key and certificate"));
  }
  for (const fs::path& p : {key_path, cert_path}) {
    if (auto st = make_folder(p); !st) {
      return fail(st.error());
    }
  }
  // The key first: a certificate without its key would never load.
  if (auto st = write_file(key_path, bio_contents(key_pem.get()), k_key_mode); !st) {
    return fail(st.error());
  }
  if (auto st = write_file(cert_path, bio_contents(cert_pem.get()), k_cert_mode); !st) {
    // Leave neither, so the next start generates both again.
    ::unlink(key_path.c_str());
    return fail(st.error());
  }
  return generated::Yes;
}

}  // namespace posthorn::tls
