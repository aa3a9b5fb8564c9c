// Server and client TLS contexts, configured through OpenSSL's C API and handed to
// Asio wrapped in ssl::context (which takes ownership of the SSL_CTX).

#include "tls/context.hpp"

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "tls/certificate.hpp"
#include "tls/openssl_util.hpp"

namespace posthorn::tls {

namespace fs = std::filesystem;

namespace {

using detail::drain_errors;
using detail::ssl_ctx_ptr;

// TLS 1.2: forward secrecy (ECDHE) and AEAD only, as RFC 9325 §4.2 recommends; ECDSA
// suites first since a generated key is ECDSA, RSA ones for RSA certificates.
constexpr const char* k_tls12_ciphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256";
// TLS 1.3 (RFC 8446 §9.1 suites), OpenSSL's default order.
constexpr const char* k_tls13_suites =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
constexpr const char* k_groups = "X25519:P-256:P-384";
// Sessions (and tickets) resume only in a context with the same id context; it stays
// the same across reloads.
constexpr std::string_view k_session_id_context = "posthorn-smtp";
// Name (16), HMAC key (32) and AES key (32): the layout SSL_CTX_get_tlsext_ticket_keys uses.
constexpr std::size_t k_ticket_keys_size = 80;

error load_error(const std::string& what, const fs::path& path) {
  return error::perm("", "cannot load " + what + " from " + path.string() + ": " + drain_errors());
}

// A clearer message than OpenSSL's "system lib" for a file that is not there.
result<void> check_readable(const fs::path& path, const char* key) {
  if (path.empty()) {
    return fail(error::perm("", std::string(key) + " is not set"));
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return fail(error::perm("", "cannot read " + path.string() + ": " + std::strerror(errno)));
  }
  std::fclose(f);
  return {};
}

// An encrypted key must not make OpenSSL prompt on the terminal: refuse the passphrase.
extern "C" int no_passphrase(char*, int, int, void*) { return 0; }

result<void> apply_common(SSL_CTX* ctx) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Idle sessions give their read and write buffers back (memory per idle connection).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    return fail(error::temp("", "cannot limit the TLS versions: " + drain_errors()));
  }
  return {};
}

}  // namespace

server_settings server_settings::from(const config::config& cfg) {
  server_settings s;
  s.cert = cfg.tls.cert;
  s.key = cfg.tls.key;
  s.self_signed = cfg.tls.self_signed;
  s.session_tickets = cfg.tls.session_tickets;
  s.hostname = cfg.hostname;
  return s;
}

result<std::shared_ptr<ssl_context>> make_server_context(const server_settings& settings,
                                                         ssl_context* ticket_keys_from) {
  ERR_clear_error();
  if (settings.self_signed) {
    if (auto made = ensure_self_signed(settings.cert, settings.key, settings.hostname); !made) {
      return fail(made.error());
    }
  }
  if (auto st = check_readable(settings.cert, "tls.cert"); !st) {
    return fail(st.error());
  }
  if (auto st = check_readable(settings.key, "tls.key"); !st) {
    return fail(st.error());
  }

  ssl_ctx_ptr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    return fail(error::temp("", "cannot make a TLS context: " + drain_errors()));
  }
  SSL_CTX* c = ctx.get();
  if (auto st = apply_common(c); !st) {
    return fail(st.error());
  }
  SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(c, k_tls12_ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(c, k_tls13_suites) != 1 ||
      SSL_CTX_set1_groups_list(c, k_groups) != 1) {
    return fail(error::temp("", "cannot set the TLS ciphers: " + drain_errors()));
  }
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_session_id_context(
      c, reinterpret_cast<const unsigned char*>(k_session_id_context.data()),
      static_cast<unsigned>(k_session_id_context.size()));
  if (!settings.session_tickets) {
    // RFC 5077 tickets off for TLS 1.2, and no NewSessionTicket at all in TLS 1.3
    // (with SSL_OP_NO_TICKET alone OpenSSL would still send stateful 1.3 tickets).
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(c, 0);
  } else if (ticket_keys_from != nullptr) {
    std::array<unsigned char, k_ticket_keys_size> keys{};
    if (SSL_CTX_get_tlsext_ticket_keys(ticket_keys_from->native_handle(), keys.data(),
                                       keys.size()) == 1) {
      SSL_CTX_set_tlsext_ticket_keys(c, keys.data(), keys.size());
    }
    OPENSSL_cleanse(keys.data(), keys.size());
  }
  SSL_CTX_set_default_passwd_cb(c, no_passphrase);

  if (SSL_CTX_use_certificate_chain_file(c, settings.cert.c_str()) != 1) {
    return fail(load_error("the certificate chain", settings.cert));
  }
  if (SSL_CTX_use_PrivateKey_file(c, settings.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail(load_error("the private key", settings.key));
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    return fail(error::perm("", "the private key in " + settings.key.string() +
                                    " does not match the certificate in " + settings.cert.string() +
                                    ": " + drain_errors()));
  }
  return std::make_shared<ssl_context>(ctx.release());
}

result<std::shared_ptr<ssl_context>> make_client_context(const client_settings& settings) {
  ERR_clear_error();
  ssl_ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    return fail(error::temp("", "cannot make a TLS context: " + drain_errors()));
  }
  SSL_CTX* c = ctx.get();
  if (auto st = apply_common(c); !st) {
    return fail(st.error());
  }
  if (settings.verify_peer) {
    const bool loaded = settings.ca_file.empty() ? SSL_CTX_set_default_verify_paths(c) == 1
                                                 : SSL_CTX_load_verify_locations(
                                                       c, settings.ca_file.c_str(), nullptr) == 1;
    if (!loaded) {
      return fail(load_error("trusted certificates", settings.ca_file.empty()
                                                         ? fs::path("(system store)")
                                                         : settings.ca_file));
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  }
  return std::make_shared<ssl_context>(ctx.release());
}

result<std::shared_ptr<context_store>> context_store::create(server_settings settings) {
  auto ctx = make_server_context(settings);
  if (!ctx) {
    return fail(ctx.error());
  }
  return std::shared_ptr<context_store>(new context_store(std::move(settings), std::move(*ctx)));
}

std::shared_ptr<ssl_context> context_store::current() const {
  const std::lock_guard lock(mutex_);
  return current_;
}

server_settings context_store::settings() const {
  const std::lock_guard lock(mutex_);
  return settings_;
}

result<void> context_store::reload() { return reload(settings()); }

result<void> context_store::reload(server_settings settings) {
  const std::lock_guard serialize(reload_mutex_);
  const std::shared_ptr<ssl_context> old = current();
  auto fresh = make_server_context(settings, old.get());
  if (!fresh) {
    return fail(fresh.error());
  }
  const std::lock_guard lock(mutex_);
  settings_ = std::move(settings);
  current_ = std::move(*fresh);
  return {};
}

}  // namespace posthorn::tls
