// Negotiated TLS parameters and client-side peer names.

#include "tls/session_info.hpp"

#include <openssl/evp.h>

#include "tls/openssl_util.hpp"

namespace posthorn::tls {

session_info describe(const SSL* ssl) {
  session_info info;
  if (ssl == nullptr) {
    return info;
  }
  info.protocol = SSL_get_version(ssl);
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) {
    info.cipher = SSL_CIPHER_get_name(cipher);
    info.bits = SSL_CIPHER_get_bits(cipher, nullptr);
  }
  info.resumed = SSL_session_reused(ssl) == 1;
  return info;
}

std::string received_comment(const SSL* ssl) {
  const session_info info = describe(ssl);
  if (info.cipher.empty()) {
    return {};
  }
  return "(using " + info.protocol + " with cipher " + info.cipher + ")";
}

channel_binding_data channel_bindings(SSL* ssl, bool server) {
  channel_binding_data out;
  if (ssl == nullptr || SSL_is_init_finished(ssl) != 1) {
    return out;
  }
  const int version = SSL_version(ssl);
  if (version >= TLS1_3_VERSION || SSL_get_extms_support(ssl) == 1) {
    static constexpr char k_label[] = "EXPORTER-Channel-Binding";
    unsigned char key[32];
    if (SSL_export_keying_material(ssl, key, sizeof key, k_label, sizeof k_label - 1, nullptr, 0,
                                   1) == 1) {
      out.exporter.assign(reinterpret_cast<const char*>(key), sizeof key);
    }
  }
  if (version < TLS1_3_VERSION) {
    // The client sends its Finished first on a full handshake, the server on a resumption.
    const bool ours = (SSL_session_reused(ssl) == 1) == server;
    unsigned char finished[EVP_MAX_MD_SIZE];
    const std::size_t n = ours ? SSL_get_finished(ssl, finished, sizeof finished)
                               : SSL_get_peer_finished(ssl, finished, sizeof finished);
    if (n > 0 && n <= sizeof finished) {
      out.unique.assign(reinterpret_cast<const char*>(finished), n);
    }
  }
  return out;
}

result<void> set_peer_name(SSL* ssl, const std::string& host, bool verify_name) {
  // RFC 6066 §3: SNI carries a host name, never an address literal.
  const bool literal = host.empty() || host.front() == '[' ||
                       host.find_first_not_of("0123456789.") == std::string::npos ||
                       host.find(':') != std::string::npos;
  if (!literal && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
    return fail(error::temp("4.7.5", "cannot set SNI for " + host + ": " + detail::drain_errors()));
  }
  if (verify_name && SSL_set1_host(ssl, host.c_str()) != 1) {
    return fail(
        error::temp("4.7.5", "cannot check the name " + host + ": " + detail::drain_errors()));
  }
  return {};
}

}  // namespace posthorn::tls
