#pragma once
// TLS contexts (OpenSSL 3 through Boost.Asio's ssl::context): the server context for
// STARTTLS (RFC 3207) and implicit TLS (RFC 8314), kept in a store that a SIGHUP
// reloads without disturbing running sessions, and the client context for outbound
// opportunistic STARTTLS.
//
// Server policy (RFC 8996, RFC 9325): TLS 1.2 and 1.3 only; for TLS 1.2 only ECDHE
// with AEAD ciphers (AES-GCM, ChaCha20-Poly1305); the server's cipher order; no
// compression (CRIME); no renegotiation; small buffers for idle sessions.

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "common/error.hpp"
#include "config/config.hpp"

namespace posthorn::tls {

using ssl_context = boost::asio::ssl::context;

struct server_settings {
  std::filesystem::path cert;  // PEM chain, leaf first
  std::filesystem::path key;   // PEM private key
  bool self_signed = false;    // generate cert and key when both are absent
  bool session_tickets = true;
  std::string hostname = "localhost";  // names the self-signed certificate

  static server_settings from(const config::config& cfg);
};

// A new server context from the files (made first when self_signed says so). Errors
// name the file at fault. `ticket_keys_from`, when given, lends its session ticket keys,
// so that tickets issued before a reload still resume after it.
result<std::shared_ptr<ssl_context>> make_server_context(const server_settings& settings,
                                                         ssl_context* ticket_keys_from = nullptr);

struct client_settings {
  // Opportunistic TLS (DESIGN §4.2) does not verify; a policy (MTA-STS, DANE) may.
  bool verify_peer = false;
  std::filesystem::path ca_file;  // "" = the system's trust store (when verifying)
};

// The context for outbound connections: TLS 1.2 or later, peer not verified by default.
// Per connection, call set_peer_name() (session_info.hpp) for SNI and name checks.
result<std::shared_ptr<ssl_context>> make_client_context(const client_settings& settings = {});

// Holds the current server context. Sessions take current() when they start TLS and
// keep that shared_ptr for their lifetime; reload() builds a new context and swaps it in,
// so running sessions are untouched and a failed reload changes nothing. Thread-safe.
class context_store {
 public:
  // Loads (or generates) the first context.
  static result<std::shared_ptr<context_store>> create(server_settings settings);

  std::shared_ptr<ssl_context> current() const;
  // Reads the files again (SIGHUP).
  result<void> reload();
  // Switches to new settings (a reloaded config); on failure keeps the old ones.
  result<void> reload(server_settings settings);
  server_settings settings() const;

  context_store(const context_store&) = delete;
  context_store& operator=(const context_store&) = delete;

 private:
  context_store(server_settings settings, std::shared_ptr<ssl_context> ctx)
      : settings_(std::move(settings)), current_(std::move(ctx)) {}

  mutable std::mutex mutex_;
  // Serializes reloads, so two at once cannot swap in an older context last; held while
  // the files are read, unlike mutex_, which current() takes.
  std::mutex reload_mutex_;
  server_settings settings_;
  std::shared_ptr<ssl_context> current_;
};

}  // namespace posthorn::tls
