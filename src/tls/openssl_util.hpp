#pragma once
// Small helpers over OpenSSL's C API for this folder: owning pointers and the text of
// the thread's error queue.

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace posthorn::tls::detail {

template <class T, void (*Free)(T*)>
struct openssl_deleter {
  void operator()(T* p) const { Free(p); }
};

using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO, BIO_free_all>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509, X509_free>>;
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, openssl_deleter<SSL_CTX, SSL_CTX_free>>;

// Empties the thread's OpenSSL error queue into one line: "reason; reason" (the most
// recent last), or `fallback` when the queue is empty.
inline std::string drain_errors(const char* fallback = "unknown OpenSSL error") {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    if (!out.empty()) {
      out += "; ";
    }
    out += reason != nullptr ? reason : "error " + std::to_string(ERR_GET_REASON(e));
  }
  return out.empty() ? std::string(fallback) : out;
}

}  // namespace posthorn::tls::detail
