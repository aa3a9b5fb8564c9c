#pragma once
// What a TLS connection negotiated, for the Received: header (RFC 5321 §4.4, the
// "ESMTPS" protocol of RFC 3848) and logs; and per-connection client set-up.

#include <openssl/ssl.h>

#include <string>

#include "common/error.hpp"

namespace posthorn::tls {

struct session_info {
  std::string protocol;  // "TLSv1.3"
  std::string cipher;    // "TLS_AES_256_GCM_SHA384" (OpenSSL's names for TLS 1.2 suites)
  int bits = 0;          // the cipher's secret bits
  bool resumed = false;  // an abbreviated handshake (session or ticket reused)
};

// The negotiated parameters of an SSL* whose handshake is complete.
session_info describe(const SSL* ssl);

// "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)", the comment that
// mail::received_info::tls_info carries; "" before a handshake.
std::string received_comment(const SSL* ssl);

// Channel binding data of a connection whose handshake is complete (RFC 5056), for
// SCRAM-SHA-256-PLUS. Each is empty where the binding type is not defined or not secure.
struct channel_binding_data {
  // RFC 9266: 32 octets exported with the label "EXPORTER-Channel-Binding" and an empty
  // context; TLS 1.3, or TLS 1.2 with the extended master secret (RFC 7627), since
  // without it the exporter is not unique to the connection (RFC 9266 §3).
  std::string exporter;
  // RFC 5929 §3.1: the first Finished message of the latest handshake (the client's on a
  // full handshake, ours on a resumption); TLS 1.2 and older only (RFC 9266 §1).
  std::string unique;
};
channel_binding_data channel_bindings(SSL* ssl, bool server);

// Outbound connections: sends `host` as SNI (RFC 6066 §3) and, when `verify_name`, makes
// the certificate check also match `host` (RFC 6125). Call before the handshake.
result<void> set_peer_name(SSL* ssl, const std::string& host, bool verify_name);

}  // namespace posthorn::tls
