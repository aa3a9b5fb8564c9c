#pragma once
// In-memory TLS connections for the tls tests: a client SSL and a server SSL joined by an
// OpenSSL BIO pair, driven by hand in one thread.

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

namespace posthorn::tls::test {

namespace fs = std::filesystem;

struct ssl_free_deleter {
  void operator()(SSL* s) const { SSL_free(s); }
};
struct session_free_deleter {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
struct ctx_free_deleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using ssl_ptr = std::unique_ptr<SSL, ssl_free_deleter>;
using session_ptr = std::unique_ptr<SSL_SESSION, session_free_deleter>;
struct x509_free_deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using ctx_ptr = std::unique_ptr<SSL_CTX, ctx_free_deleter>;
using x509_ref = std::unique_ptr<X509, x509_free_deleter>;

// A fresh folder under the system temp folder, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "posthorn-tls-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) {
      path_ = tmpl;
    }
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct handshake_result {
  bool ok = false;
  // The first failure: which side, and OpenSSL's reason code for it.
  bool server_failed = false;
  int reason = 0;
};

class memory_connection {
 public:
  memory_connection(SSL_CTX* server_ctx, SSL_CTX* client_ctx)
      : server_(SSL_new(server_ctx)), client_(SSL_new(client_ctx)) {
    BIO* server_bio = nullptr;
    BIO* client_bio = nullptr;
    BIO_new_bio_pair(&server_bio, 0, &client_bio, 0);
    SSL_set_bio(server_.get(), server_bio, server_bio);
    SSL_set_bio(client_.get(), client_bio, client_bio);
    SSL_set_accept_state(server_.get());
    SSL_set_connect_state(client_.get());
  }

  SSL* server() const { return server_.get(); }
  SSL* client() const { return client_.get(); }

  handshake_result handshake() {
    ERR_clear_error();
    handshake_result r;
    bool client_done = false;
    bool server_done = false;
    for (int round = 0; round < 50 && !(client_done && server_done); ++round) {
      if (!client_done) {
        const int rc = SSL_do_handshake(client_.get());
        client_done = rc == 1;
        if (!client_done && !want_more(client_.get(), rc)) {
          r.reason = ERR_GET_REASON(ERR_peek_error());
          return r;
        }
      }
      if (!server_done) {
        const int rc = SSL_do_handshake(server_.get());
        server_done = rc == 1;
        if (!server_done && !want_more(server_.get(), rc)) {
          r.server_failed = true;
          r.reason = ERR_GET_REASON(ERR_peek_error());
          return r;
        }
      }
    }
    r.ok = client_done && server_done;
    // TLS 1.3 tickets arrive after the handshake: let the client read them.
    if (r.ok) {
      client_reads_pending();
    }
    return r;
  }

  // Reads whatever the server sent after the handshake (NewSessionTicket messages).
  void client_reads_pending() {
    char buf[256];
    for (int i = 0; i < 4; ++i) {
      const int n = SSL_read(client_.get(), buf, sizeof buf);
      if (n <= 0) {
        break;
      }
    }
    ERR_clear_error();
  }

  // The client's session after the handshake (for resumption).
  session_ptr client_session() const { return session_ptr(SSL_get1_session(client_.get())); }

 private:
  static bool want_more(SSL* ssl, int rc) {
    const int e = SSL_get_error(ssl, rc);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
  }

  ssl_ptr server_;
  ssl_ptr client_;
};

}  // namespace posthorn::tls::test
