#pragma once
// The client side of Dovecot's authentication protocol (the "auth-client" socket, as
// Postfix's smtpd_sasl_type = dovecot uses it), without I/O (STYLE.md 1): lines go in,
// parsed events come out, commands are rendered as text. auth/dovecot_auth_client.hpp
// runs it over the socket.
//
// The dialogue (Dovecot's "Authentication Protocol", version 1.2):
//   server: VERSION 1 2, MECH <name> <flags>..., SPID, CUID, COOKIE, DONE
//   client: VERSION 1 2, CPID <pid>
//   client: AUTH <id> PLAIN service=smtp [secured] [lip=] [rip=] resp=<base64>
//   server: OK <id> user=<name> ... | FAIL <id> [reason=] [temp] ... | CONT <id> <base64>
// Fields are separated by TAB; TAB, LF, CR and 0x01 inside a value are escaped with 0x01.

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/secret.hpp"

namespace posthorn::auth::dovecot {

// Longest line accepted from the server; Dovecot's replies are short.
inline constexpr std::size_t k_max_line = 16 * 1024;

// Dovecot's tab-escaping of one field.
std::string escape(std::string_view value);
std::string unescape(std::string_view value);

// What a password check came to.
enum class verdict : std::uint8_t {
  Ok,       // the password is right; `user` is Dovecot's name for the account
  Fail,     // wrong password or unknown user: 535 5.7.8
  TempFail  // Dovecot could not decide (passdb down, "temp" flag, no connection): 454 4.7.0
};

struct check_result {
  verdict v = verdict::TempFail;
  std::string user;    // Ok: user=<name> from the reply (the login as Dovecot knows it)
  std::string reason;  // Fail/TempFail: reason=, or ours; never holds the password
};

// Who asks, for Dovecot's logs and its own policies (rip= for auth penalties).
struct request_info {
  std::string service = "smtp";
  std::string local_ip, remote_ip;  // "" = not sent
  std::uint16_t local_port = 0, remote_port = 0;
  bool secured = false;  // TLS (or a local socket): Dovecot's disable_plaintext_auth passes
};

// The handshake and the requests of one connection.
class client_codec {
 public:
  // The client's half of the handshake: "VERSION\t1\t2\nCPID\t<pid>\n".
  static std::string hello(std::uint32_t pid);
  // "AUTH\t<id>\tPLAIN\tservice=...\t...\tresp=<base64(\0user\0password)>\n"; a secret,
  // as it holds the password.
  static secret auth_plain(std::uint32_t id, const request_info& info, std::string_view user,
                           std::string_view password);

  struct event {
    enum class kind : std::uint8_t { Ready, Done } k = kind::Ready;
    std::uint32_t id = 0;  // Done: the request it answers
    check_result result;   // Done
  };

  // Consumes complete lines from the front of `in`; returns the next event, nullopt when
  // more input is needed, or an error (the connection is unusable: a protocol error,
  // a version we do not speak, a line over k_max_line, no PLAIN mechanism).
  std::expected<std::optional<event>, std::string> feed(std::string_view& in);

  bool ready() const { return ready_; }
  const std::vector<std::string>& mechanisms() const { return mechs_; }

 private:
  std::expected<std::optional<event>, std::string> on_line(std::string_view line);

  std::string partial_;
  bool version_seen_ = false;
  bool ready_ = false;
  std::vector<std::string> mechs_;
};

}  // namespace posthorn::auth::dovecot
