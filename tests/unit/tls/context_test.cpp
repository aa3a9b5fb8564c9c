// Server and client contexts in memory (BIO pairs): versions, ciphers, tickets and
// resumption, the Received: comment, loading errors, and reload.

#include "tls/context.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <fstream>

#include "tls/certificate.hpp"
#include "tls/session_info.hpp"
#include "tls_test_util.hpp"

namespace posthorn::tls {
namespace {

using test::ctx_ptr;
using test::memory_connection;
namespace fs = std::filesystem;
using test::temp_dir;

constexpr const char* k_host = "mx.example.test";

class TlsContext : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.cert = dir_.path() / "tls" / "cert.pem";
    settings_.key = dir_.path() / "tls" / "key.pem";
    settings_.self_signed = true;
    settings_.hostname = k_host;
  }

  std::shared_ptr<ssl_context> server(const server_settings& s) {
    auto ctx = make_server_context(s);
    EXPECT_TRUE(ctx.has_value()) << (ctx ? "" : ctx.error().message);
    return ctx.value_or(nullptr);
  }
  std::shared_ptr<ssl_context> client() {
    auto ctx = make_client_context();
    EXPECT_TRUE(ctx.has_value()) << (ctx ? "" : ctx.error().message);
    return ctx.value_or(nullptr);
  }
  // A client context that only speaks `version`, with every cipher OpenSSL still has.
  static ctx_ptr legacy_client(int version) {
    ctx_ptr c(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_security_level(c.get(), 0);
    SSL_CTX_set_min_proto_version(c.get(), version);
    SSL_CTX_set_max_proto_version(c.get(), version);
    SSL_CTX_set_cipher_list(c.get(), "ALL:@SECLEVEL=0");
    return c;
  }

  temp_dir dir_;
  server_settings settings_;
};

TEST_F(TlsContext, Tls13IsNegotiatedWithTheServersCipher) {
  const auto s = server(settings_);
  const auto c = client();
  ASSERT_TRUE(s && c);
  memory_connection conn(s->native_handle(), c->native_handle());
  ASSERT_TRUE(conn.handshake().ok);
  EXPECT_EQ(SSL_version(conn.server()), TLS1_3_VERSION);
  const session_info info = describe(conn.server());
  EXPECT_EQ(info.protocol, "TLSv1.3");
  EXPECT_EQ(info.cipher, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(info.bits, 256);
  EXPECT_FALSE(info.resumed);
  EXPECT_EQ(received_comment(conn.server()), "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)");
}

TEST_F(TlsContext, ReceivedCommentIsEmptyBeforeTheHandshake) {
  const auto s = server(settings_);
  ASSERT_TRUE(s);
  test::ssl_ptr ssl(SSL_new(s->native_handle()));
  EXPECT_EQ(received_comment(ssl.get()), "");
  EXPECT_EQ(received_comment(nullptr), "");
}

TEST_F(TlsContext, Tls12UsesEcdheAead) {
  const auto s = server(settings_);
  const auto c = client();
  ASSERT_TRUE(s && c);
  SSL_CTX_set_max_proto_version(c->native_handle(), TLS1_2_VERSION);
  // The client prefers AES-128; the server's order (RFC 9325 §4.2 ciphers) wins.
  SSL_CTX_set_cipher_list(c->native_handle(),
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384");
  memory_connection conn(s->native_handle(), c->native_handle());
  ASSERT_TRUE(conn.handshake().ok);
  EXPECT_EQ(received_comment(conn.server()),
            "(using TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384)");
}

TEST_F(TlsContext, OldVersionsAreRefused) {
  const auto s = server(settings_);
  ASSERT_TRUE(s);
  for (const int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    const ctx_ptr c = legacy_client(version);
    memory_connection conn(s->native_handle(), c.get());
    const auto r = conn.handshake();
    EXPECT_FALSE(r.ok) << version;
    // The server refuses it, not the client failing to offer it.
    EXPECT_TRUE(r.server_failed) << version;
    EXPECT_EQ(r.reason, SSL_R_UNSUPPORTED_PROTOCOL) << version;
  }
}

TEST_F(TlsContext, WeakTls12CiphersAreRefused) {
  const auto s = server(settings_);
  ASSERT_TRUE(s);
  for (const char* weak : {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384",
                           "AES128-GCM-SHA256", "AES256-SHA", "ECDHE-ECDSA-NULL-SHA"}) {
    const ctx_ptr c = legacy_client(TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(c.get(), (std::string(weak) + ":@SECLEVEL=0").c_str());
    memory_connection conn(s->native_handle(), c.get());
    const auto r = conn.handshake();
    EXPECT_FALSE(r.ok) << weak;
    EXPECT_TRUE(r.server_failed) << weak;
    EXPECT_EQ(r.reason, SSL_R_NO_SHARED_CIPHER) << weak;
  }
}

TEST_F(TlsContext, ServerOptions) {
  const auto s = server(settings_);
  ASSERT_TRUE(s);
  const uint64_t opts = SSL_CTX_get_options(s->native_handle());
  EXPECT_TRUE(opts & SSL_OP_NO_COMPRESSION);
  EXPECT_TRUE(opts & SSL_OP_NO_RENEGOTIATION);
  EXPECT_TRUE(opts & SSL_OP_CIPHER_SERVER_PREFERENCE);
  EXPECT_FALSE(opts & SSL_OP_NO_TICKET);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(s->native_handle()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(s->native_handle()), TLS1_3_VERSION);
  EXPECT_TRUE(SSL_CTX_get_mode(s->native_handle()) & SSL_MODE_RELEASE_BUFFERS);
}

TEST_F(TlsContext, TicketsResumeTls13) {
  const auto s = server(settings_);
  const auto c = client();
  ASSERT_TRUE(s && c);
  memory_connection first(s->native_handle(), c->native_handle());
  ASSERT_TRUE(first.handshake().ok);
  const auto session = first.client_session();
  ASSERT_TRUE(session);
  EXPECT_TRUE(SSL_SESSION_has_ticket(session.get()));

  memory_connection second(s->native_handle(), c->native_handle());
  SSL_set_session(second.client(), session.get());
  ASSERT_TRUE(second.handshake().ok);
  EXPECT_TRUE(describe(second.server()).resumed);
}

TEST_F(TlsContext, TicketsOffSendsNoTicket) {
  settings_.session_tickets = false;
  const auto s = server(settings_);
  const auto c = client();
  ASSERT_TRUE(s && c);
  EXPECT_TRUE(SSL_CTX_get_options(s->native_handle()) & SSL_OP_NO_TICKET);
  memory_connection first(s->native_handle(), c->native_handle());
  ASSERT_TRUE(first.handshake().ok);
  const auto session = first.client_session();
  ASSERT_TRUE(session);
  EXPECT_FALSE(SSL_SESSION_has_ticket(session.get()));
  // TLS 1.3 resumes only with a ticket.
  EXPECT_FALSE(SSL_SESSION_is_resumable(session.get()));
}

TEST_F(TlsContext, TicketsOffTls12StillResumesFromTheSessionCache) {
  settings_.session_tickets = false;
  const auto s = server(settings_);
  const auto c = client();
  ASSERT_TRUE(s && c);
  SSL_CTX_set_max_proto_version(c->native_handle(), TLS1_2_VERSION);
  memory_connection first(s->native_handle(), c->native_handle());
  ASSERT_TRUE(first.handshake().ok);
  const auto session = first.client_session();
  ASSERT_TRUE(session);
  EXPECT_FALSE(SSL_SESSION_has_ticket(session.get()));

  memory_connection second(s->native_handle(), c->native_handle());
  SSL_set_session(second.client(), session.get());
  ASSERT_TRUE(second.handshake().ok);
  EXPECT_TRUE(describe(second.server()).resumed);
}

TEST_F(TlsContext, ClientVerifiesTheSelfSignedCertificateByName) {
  const auto s = server(settings_);
  ASSERT_TRUE(s);
  auto c = make_client_context({.verify_peer = true, .ca_file = settings_.cert});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  {
    memory_connection conn(s->native_handle(), (*c)->native_handle());
    ASSERT_TRUE(set_peer_name(conn.client(), k_host, true));
    ASSERT_TRUE(conn.handshake().ok);
    EXPECT_EQ(SSL_get_verify_result(conn.client()), X509_V_OK);
    EXPECT_STREQ(SSL_get_servername(conn.server(), TLSEXT_NAMETYPE_host_name), k_host);
  }
  memory_connection wrong(s->native_handle(), (*c)->native_handle());
  ASSERT_TRUE(set_peer_name(wrong.client(), "other.example.test", true));
  const auto r = wrong.handshake();
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.server_failed);
  EXPECT_EQ(r.reason, SSL_R_CERTIFICATE_VERIFY_FAILED);
}

TEST_F(TlsContext, ClientDoesNotVerifyByDefault) {
  const auto s = server(settings_);
  const auto c = client();
  ASSERT_TRUE(s && c);
  EXPECT_EQ(SSL_CTX_get_verify_mode(c->native_handle()), SSL_VERIFY_NONE);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(c->native_handle()), TLS1_2_VERSION);
  memory_connection conn(s->native_handle(), c->native_handle());
  // No SNI for an address literal, and nothing to check.
  ASSERT_TRUE(set_peer_name(conn.client(), "192.0.2.1", false));
  ASSERT_TRUE(conn.handshake().ok);
  EXPECT_EQ(SSL_get_servername(conn.server(), TLSEXT_NAMETYPE_host_name), nullptr);
}

TEST_F(TlsContext, ClientWithAMissingCaFileFails) {
  const auto c = make_client_context({.verify_peer = true, .ca_file = dir_.path() / "nothing.pem"});
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("nothing.pem"), std::string::npos) << c.error().message;
}

// Loading errors name the file at fault.

TEST_F(TlsContext, MissingFilesWithoutSelfSigned) {
  settings_.self_signed = false;
  const auto r = make_server_context(settings_);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find(settings_.cert.string()), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(fs::exists(settings_.key));
}

TEST_F(TlsContext, GarbageCertificate) {
  ASSERT_TRUE(make_server_context(settings_));
  std::ofstream(settings_.cert, std::ios::trunc) << "-----BEGIN CERTIFICATE-----\nxx\n";
  const auto r = make_server_context(settings_);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find(settings_.cert.string()), std::string::npos)
      << r.error().message;
}

TEST_F(TlsContext, KeyOfAnotherCertificate) {
  ASSERT_TRUE(make_server_context(settings_));
  const fs::path other_cert = dir_.path() / "other" / "cert.pem";
  const fs::path other_key = dir_.path() / "other" / "key.pem";
  ASSERT_TRUE(ensure_self_signed(other_cert, other_key, k_host));
  server_settings mixed = settings_;
  mixed.key = other_key;
  const auto r = make_server_context(mixed);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find(other_key.string()), std::string::npos) << r.error().message;
  // OpenSSL notices while loading the key ("key values mismatch"), or the check after.
  EXPECT_TRUE(r.error().message.find("mismatch") != std::string::npos ||
              r.error().message.find("does not match") != std::string::npos)
      << r.error().message;
}

TEST_F(TlsContext, EncryptedKeyFailsWithoutPrompting) {
  ASSERT_TRUE(make_server_context(settings_));
  // Re-encrypt the generated key with a passphrase.
  std::FILE* in = std::fopen(settings_.key.c_str(), "r");
  ASSERT_NE(in, nullptr);
  EVP_PKEY* key = PEM_read_PrivateKey(in, nullptr, nullptr, nullptr);
  std::fclose(in);
  ASSERT_NE(key, nullptr);
  std::FILE* out = std::fopen(settings_.key.c_str(), "w");
  ASSERT_NE(out, nullptr);
  char pass[] = "passphrase";
  ASSERT_EQ(PEM_write_PKCS8PrivateKey(out, key, EVP_aes_256_cbc(), pass, sizeof pass - 1, nullptr,
                                      nullptr),
            1);
  std::fclose(out);
  EVP_PKEY_free(key);
  const auto r = make_server_context(settings_);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find(settings_.key.string()), std::string::npos) << r.error().message;
}

// The store and reload.

TEST_F(TlsContext, ReloadSwapsAndKeepsOldContextsAlive) {
  auto store = context_store::create(settings_);
  ASSERT_TRUE(store.has_value()) << store.error().message;
  const auto before = (*store)->current();
  const auto c = client();
  ASSERT_TRUE(before && c);

  memory_connection old_conn(before->native_handle(), c->native_handle());
  ASSERT_TRUE(old_conn.handshake().ok);
  const auto ticket = old_conn.client_session();
  ASSERT_TRUE(ticket);
  test::x509_ref old_cert(SSL_get1_peer_certificate(old_conn.client()));

  // New files in place, as an operator renewing a certificate does, then SIGHUP.
  const fs::path fresh = dir_.path() / "fresh";
  ASSERT_TRUE(ensure_self_signed(fresh / "cert.pem", fresh / "key.pem", k_host));
  fs::copy_file(fresh / "cert.pem", settings_.cert, fs::copy_options::overwrite_existing);
  fs::copy_file(fresh / "key.pem", settings_.key, fs::copy_options::overwrite_existing);
  ASSERT_TRUE((*store)->reload());
  const auto after = (*store)->current();
  ASSERT_NE(after, before);

  memory_connection new_conn(after->native_handle(), c->native_handle());
  ASSERT_TRUE(new_conn.handshake().ok);
  test::x509_ref new_cert(SSL_get1_peer_certificate(new_conn.client()));
  EXPECT_NE(X509_cmp(old_cert.get(), new_cert.get()), 0);

  // A session that took the old context keeps it, and it still works.
  memory_connection still_old(before->native_handle(), c->native_handle());
  ASSERT_TRUE(still_old.handshake().ok);
  test::x509_ref again(SSL_get1_peer_certificate(still_old.client()));
  EXPECT_EQ(X509_cmp(old_cert.get(), again.get()), 0);

  // Ticket keys carry over: a ticket from before the reload resumes after it.
  memory_connection resumed(after->native_handle(), c->native_handle());
  SSL_set_session(resumed.client(), ticket.get());
  ASSERT_TRUE(resumed.handshake().ok);
  EXPECT_TRUE(describe(resumed.server()).resumed);
}

TEST_F(TlsContext, FailedReloadKeepsTheCurrentContext) {
  auto store = context_store::create(settings_);
  ASSERT_TRUE(store.has_value()) << store.error().message;
  const auto before = (*store)->current();
  std::ofstream(settings_.key, std::ios::trunc) << "garbage\n";
  const auto r = (*store)->reload();
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find(settings_.key.string()), std::string::npos) << r.error().message;
  EXPECT_EQ((*store)->current(), before);
}

TEST_F(TlsContext, ReloadWithNewSettings) {
  auto store = context_store::create(settings_);
  ASSERT_TRUE(store.has_value()) << store.error().message;
  server_settings changed = settings_;
  changed.session_tickets = false;
  ASSERT_TRUE((*store)->reload(changed));
  EXPECT_FALSE((*store)->settings().session_tickets);
  EXPECT_TRUE(SSL_CTX_get_options((*store)->current()->native_handle()) & SSL_OP_NO_TICKET);
  server_settings broken = settings_;
  broken.self_signed = false;
  broken.cert = dir_.path() / "missing.pem";
  EXPECT_FALSE((*store)->reload(broken));
  EXPECT_FALSE((*store)->settings().session_tickets);  // unchanged
}

TEST_F(TlsContext, CreateFailsWithoutFiles) {
  settings_.self_signed = false;
  const auto store = context_store::create(settings_);
  ASSERT_FALSE(store.has_value());
  EXPECT_NE(store.error().message.find(settings_.cert.string()), std::string::npos);
}

TEST(TlsSettings, FromConfig) {
  config::config cfg;
  cfg.hostname = "mail.example.test";
  cfg.tls.cert = "/srv/cert.pem";
  cfg.tls.key = "/srv/key.pem";
  cfg.tls.self_signed = true;
  cfg.tls.session_tickets = false;
  const auto s = server_settings::from(cfg);
  EXPECT_EQ(s.cert, "/srv/cert.pem");
  EXPECT_EQ(s.key, "/srv/key.pem");
  EXPECT_TRUE(s.self_signed);
  EXPECT_FALSE(s.session_tickets);
  EXPECT_EQ(s.hostname, "mail.example.test");
}

}  // namespace
}  // namespace posthorn::tls
