#pragma once
// The server side of POP3 as a state machine without I/O (STYLE.md 1-4), like
// smtp::session: bytes go in, rendered replies and actions come out; the driver
// (pop3/connection.cpp) owns the socket, the clock, the files and the threads.
//
// RFC 1939 (USER, PASS, STAT, LIST, RETR, DELE, NOOP, RSET, QUIT, TOP, UIDL; no APOP),
// RFC 2449 (CAPA, response codes, pipelining), RFC 2595 (STLS), RFC 5034 (AUTH with
// PLAIN, LOGIN, SCRAM-SHA-256[-PLUS]), RFC 3206 (SYS/TEMP, SYS/PERM, AUTH).
// States (RFC 1939 §3): AUTHORIZATION, TRANSACTION, UPDATE; the input mode (command or
// SASL) is kept apart from them.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/sasl.hpp"
#include "mail/address.hpp"
#include "pop3/command.hpp"
#include "pop3/maildrop.hpp"
#include "smtp/proto/command.hpp"

namespace posthorn::pop3 {

// Per-listener settings, taken from the config once.
struct session_settings {
  std::string hostname = "localhost";
  bool tls_available = false;         // a certificate is loaded: STLS may be offered
  bool allow_plaintext_auth = false;  // USER/PASS and AUTH without TLS
  std::uint32_t max_errors = 10;      // [limits] errors: bad commands before we close
  // Pending output beyond this makes feed() return Flush before going on, so that a
  // client pipelining commands without reading cannot grow it (LIST of a big maildrop
  // is produced in pieces of this size too).
  std::size_t output_limit = 64 * 1024;
  // The SCRAM secrets of a login name (cheap, in memory); empty = no SCRAM offered.
  std::function<std::optional<auth::scram_secrets>(std::string_view)> scram_lookup;
};

// What the driver must do before feeding more input.
enum class action {
  Read,         // all input consumed: flush pending output, then read more
  Flush,        // write the pending output, then call feed() again (with the rest)
  AuthVerify,   // check auth_credentials(), then call auth_done() or auth_blocked()
  OpenMailbox,  // lock and list login()'s maildrop, then mailbox_opened() / mailbox_failed()
  Retrieve,     // RETR or TOP: see retrieval(); retrieve_started() or retrieve_failed()
  StartTls,     // write the output, drop unread input, handshake, then tls_started()
  Update,       // QUIT in TRANSACTION: apply deleted() and retrieved(), then update_done()
  Close,        // write the output and close
};

enum class state { Authorization, Transaction, Update };

// A RETR or TOP the driver streams: the message and, for TOP, the body lines wanted.
struct retrieve_request {
  std::size_t index = 0;
  std::optional<std::uint64_t> top_lines;
};

// Counters for the disconnect log line.
struct session_stats {
  std::uint32_t retr = 0, top = 0, dele = 0, errors = 0;
  std::uint64_t retr_octets = 0;  // sizes of the messages retrieved
};

class session {
 public:
  explicit session(session_settings settings);

  // The greeting (RFC 1939 §4); no APOP timestamp, as APOP is not offered.
  void greet();
  // Consumes from the front of `in` as far as it can and says what to do next.
  action feed(std::string_view& in);
  // Replies not yet written; the driver clears what it wrote.
  std::string& output() { return out_; }
  bool closing() const { return closed_; }
  state current_state() const { return state_; }

  // TLS is up (after STLS, or from the start on pop3s).
  void tls_started(auth::channel_bindings bindings);
  bool tls_active() const { return tls_active_; }

  // AuthVerify: the login name and password (PASS, PLAIN, LOGIN) or a SCRAM verdict.
  const auth::sasl_verify& auth_credentials() const { return verify_; }
  // The user the credentials name (nullopt: refused, "-ERR [AUTH]").
  void auth_done(std::optional<mail::address> login);
  // Too many failures from this client: "-ERR [AUTH]" and close.
  void auth_blocked();

  // OpenMailbox: whose maildrop.
  const mail::address& login() const { return *login_; }
  void mailbox_opened(std::vector<message_info> messages);
  void mailbox_failed(bool in_use);

  // Retrieve: which message; then retrieve_started() (the driver sends the body and the
  // terminator after the output) and retrieve_done(), or retrieve_failed().
  const retrieve_request& retrieval() const { return retrieval_; }
  void retrieve_started();
  void retrieve_done();
  void retrieve_failed();

  // Update (RFC 1939 §6): the marks of this session, index i for message i.
  const std::vector<bool>& deleted() const { return deleted_; }
  const std::vector<bool>& retrieved() const { return retrieved_; }
  void update_done(const update_result& r);

  // The autologout timer ran out (RFC 1939 §3): close without UPDATE.
  void timeout();
  // The server is stopping: close without UPDATE.
  void shutdown();

  const std::vector<message_info>& messages() const { return messages_; }
  const session_stats& stats() const { return stats_; }

 private:
  enum class mode { Command, Sasl };

  void run(std::string_view line);
  void reply_ok(std::string_view text);
  void reply_err(std::string_view text);
  void error(std::string_view text);  // reply_err, counted toward max_errors
  bool auth_allowed() const { return tls_active_ || settings_.allow_plaintext_auth; }
  bool scram_plus_offered() const { return tls_active_ && bindings_.any(); }
  std::string mechanisms() const;

  void on_capa();
  void on_user(const command& c);
  void on_pass(const command& c);
  void on_auth(const command& c);
  void on_stls();
  void on_stat();
  void on_list(const command& c, bool uidl);
  void on_retr(const command& c, bool top);
  void on_dele(const command& c);
  void on_rset();
  void on_quit();

  void step_sasl();
  void feed_sasl(std::string_view line);
  void finish_scram(std::string_view line);
  void cancel_auth();
  // The message a number argument names: nullopt (and -ERR sent) when none or deleted.
  std::optional<std::size_t> message_arg(std::string_view arg);
  void continue_listing();
  std::uint64_t live_octets() const;
  std::size_t live_count() const;

  session_settings settings_;
  state state_ = state::Authorization;
  mode mode_ = mode::Command;
  bool closed_ = false;
  action wants_ = action::Read;  // an action under way (the driver has not answered yet)
  smtp::line_reader lines_;
  std::string out_;
  session_stats stats_;

  bool tls_active_ = false;
  auth::channel_bindings bindings_;
  std::optional<std::string> user_;  // USER given, waiting for PASS
  auth::secret credentials_;         // USER/PASS: the name then the password
  std::optional<auth::sasl_exchange> sasl_;
  std::optional<mail::address> scram_login_;  // SCRAM proved, waiting for the empty line
  auth::sasl_verify verify_;
  std::optional<mail::address> login_;

  std::vector<message_info> messages_;
  std::vector<bool> deleted_;
  std::vector<bool> retrieved_;
  retrieve_request retrieval_;
  struct listing {
    bool uidl = false;
    std::size_t next = 0;
  };
  std::optional<listing> listing_;
};

}  // namespace posthorn::pop3
