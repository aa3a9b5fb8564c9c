#pragma once
// The server side of SMTP as a state machine without I/O (STYLE.md 1-4): bytes go in,
// rendered replies and actions come out. The connection driver owns the socket, the
// clock and the threads; this class decides what every byte means.
//
// Input mode (command / data / bdat / sasl) is kept apart from the transaction (the
// envelope being built), which RSET, MAIL, HELO/EHLO and the end of the message reset.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/sasl.hpp"
#include "config/config.hpp"
#include "policy/accounts.hpp"
#include "queue/envelope.hpp"
#include "queue/spool.hpp"
#include "smtp/proto/bdat_reader.hpp"
#include "smtp/proto/command.hpp"
#include "smtp/proto/data_reader.hpp"
#include "smtp/proto/reply.hpp"
#include "smtp/server/check_types.hpp"

namespace posthorn::smtp {

// Per-listener settings, taken from the config once.
struct session_settings {
  std::string hostname = "localhost";
  std::uint64_t message_size = 35'000'000;  // 0 = no limit
  std::uint32_t max_recipients = 1000;
  std::uint32_t max_errors = 10;
  std::uint64_t min_free_space = 0;
  bool vrfy = true;
  bool expn = false;
  config::listener_role role = config::listener_role::Mx;
  bool tls_available = false;         // a certificate is loaded: STARTTLS may be offered
  bool allow_plaintext_auth = false;  // AUTH without TLS (never by default)
  config::sender_rule sender_policy = config::sender_rule::Own;
  bool xclient_allowed = false;  // the client is in [smtp] xclient_networks: XCLIENT offered
  // SCRAM offered: the users file holds the secrets. False with [auth] dovecot_socket,
  // whose check takes a password (PLAIN and LOGIN only).
  bool scram = true;
  // The steps (step_bit(check_step)) at which the driver runs the check chain
  // (checks.hpp): the session returns action::Check there. 0: none.
  unsigned check_steps = 0;

  static session_settings from(const config::config& cfg, const config::listen_config& l);
};

// What the session knows of the other end.
struct peer_info {
  std::string addr = "127.0.0.1";  // textual IP
  std::string name = "unknown";    // reverse DNS name, "unknown" when none
  bool trusted = false;            // in [relay] trusted_networks: may relay
};

// What an accepted XCLIENT says the client is (Postfix's XCLIENT_README).
struct client_change {
  peer_info peer;  // addr ("unknown" for [UNAVAILABLE]) and name; `trusted` is the driver's
  // For the log: the attributes as given ("" = not given or unavailable).
  std::string helo, login, proto, port, destaddr, destport;
};

// The services a session needs that touch the world; the driver supplies real
// ones, tests supply doubles. None of these may block.
class session_env {
 public:
  virtual ~session_env() = default;
  virtual std::string new_queue_id() = 0;
  virtual queue::message_writer begin_message(const std::string& id) = 0;
  virtual std::uint64_t free_space() = 0;  // octets free in the spool
  virtual std::int64_t now() = 0;          // unix seconds
  // A SASL exchange failed before any password check (bad base64, malformed PLAIN):
  // it counts toward the AUTH failure limit like a wrong password.
  virtual void auth_failure() {}
};

// Verbs the per-verb counters track (every smtp::verb, Unknown included).
inline constexpr std::size_t k_verb_count = static_cast<std::size_t>(verb::Unknown) + 1;

// What the driver must do before feeding more input.
enum class action {
  Read,        // all input consumed: flush pending output, then read more
  Flush,       // output is large: write it before going on
  Spill,       // the message buffer is full: call message().spill() off the loop, then spill_done()
  Commit,      // end of DATA / BDAT LAST accepted: commit envelope()+message(), then commit_done()
  StartTls,    // write pending output, drop all unread input, handshake, then tls_started()
  AuthVerify,  // check auth_credentials() off the loop, then auth_done()
  NewClient,   // XCLIENT accepted: judge pending_client() (trust, limits), then client_done()
  Etrn,        // start delivery of the queued mail etrn_wanted() names, then etrn_done()
  Check,       // run the check chain for check_wanted(), then check_done()
  Close,       // write pending output, then close the connection
};

// Data and Bdat read message content (the driver applies [limits] data_timeout).
enum class input_mode { Command, Data, Bdat, Sasl, Closed };

// What an ETRN (RFC 1985) asks for: the queued mail of one domain, or of a domain and
// every name below it ("ETRN @domain").
struct etrn_request {
  std::string domain;  // as the client wrote it, without "@" and a trailing dot
  bool subdomains = false;
};

// The coarse SMTP state for sequencing (RFC 5321 §4.1.4).
enum class phase { Connected, Greeted, Mail, Rcpt };

class session {
 public:
  session(session_settings settings, std::shared_ptr<const policy::accounts> accounts,
          session_env& env, peer_info peer);

  // The 220 banner.
  void greet();
  // Refuses the connection up front (too many connections): 421 and Close.
  void refuse(const reply& r);

  // Consumes input from the front of `in` until it is empty or an action is due.
  action feed(std::string_view& in);

  // The driver's answers to Spill and Commit.
  void spill_done(result<void> r);
  void commit_done(result<void> r);
  // TLS is up (after STARTTLS, or at once on an implicit-TLS listener): everything
  // learned before is forgotten (RFC 3207 §4.2). `info` names protocol and cipher;
  // `bindings` is the connection's channel binding data for SCRAM-SHA-256-PLUS.
  void tls_started(std::string info, auth::channel_bindings bindings = {});
  bool tls_active() const { return tls_active_; }
  // Valid while an AuthVerify action is pending.
  const auth::sasl_verify& auth_credentials() const { return verify_; }
  // The verdict on auth_credentials(): the account logged in, or nullopt (535).
  void auth_done(std::optional<mail::address> login);
  // The password could not be checked now (Dovecot's auth down or slow): 454 4.7.0.
  void auth_unavailable();
  // Valid while a NewClient action is pending.
  const client_change& pending_client() const { return xclient_; }
  // The driver's verdict on pending_client(): `trusted` from [relay] trusted_networks;
  // not `admitted` when the new address is over its connection limit (421 4.7.0 and
  // Close). Admitted, the session starts over as if that client had connected: 220.
  // `refusal`: the Connect checks refused the new client (as refuse_service, or 421).
  void client_done(bool trusted, bool admitted, std::optional<reply> refusal = std::nullopt);
  const peer_info& peer() const { return peer_; }
  // Valid while an Etrn action is pending.
  const etrn_request& etrn_wanted() const { return etrn_; }
  // The driver's answer to Etrn: how many queued messages were started (0: none was
  // waiting), or nullopt when the queue cannot take the request now (458).
  void etrn_done(std::optional<std::size_t> started);
  // Valid while a Check action is pending: the step, and at Rcpt the recipient asked
  // about (HELO name, sender, envelope and message through the accessors below).
  struct check_point {
    check_step step = check_step::Helo;
    mail::address rcpt;
  };
  const check_point& check_wanted() const { return check_; }
  // The merged verdict of the chain. Helo/Mail/Rcpt: a refusal replaces the 250 and
  // undoes the command (a refused RCPT adds no recipient); else the 250 goes out.
  // Message: a refusal refuses the message, `discard` answers 250 and keeps nothing,
  // else junk/hold go into the envelope and the result is Commit. Returns the next
  // action (Read, Commit or Close).
  action check_done(check_verdict v);
  // The Connect checks refused the client with something other than 421: `r` is the
  // greeting (RFC 5321 §3.1: 554), then every command but QUIT gets 503 5.5.1.
  void refuse_service(const reply& r);
  // What the Message checks said for the log line (event=queued ... <log>).
  const std::string& check_log() const { return check_log_; }
  std::string_view helo_name() const { return helo_; }
  const mail::address& sender() const { return txn_.sender; }

  // Too many AUTH failures from this client: 421 4.7.0 and Close.
  void auth_blocked();
  const std::optional<mail::address>& authenticated() const { return auth_user_; }
  // The driver's timer fired without input: 421 4.4.2 and Close.
  void timeout();
  // The server is shutting down: 421 4.3.2 and Close.
  void shutdown();

  // Rendered replies not yet written; the driver writes and clears them.
  std::string& output() { return out_; }
  bool closing() const { return mode_ == input_mode::Closed; }
  input_mode mode() const { return mode_; }
  phase current_phase() const { return phase_; }

  // Valid while a Spill or Commit action is pending.
  queue::message_writer& message() { return writer_; }
  queue::envelope& envelope() { return env_; }

  // Counters for the disconnect log line.
  struct counters {
    std::uint32_t commands = 0, errors = 0, messages = 0, recipients_rejected = 0;
    // Per verb (indexed by smtp::verb; Unknown also holds lines refused unparsed):
    // commands answered, and those whose final reply was a success (below 400).
    std::array<std::uint32_t, k_verb_count> verb_total{}, verb_ok{};

    // Postfix's summary for the disconnect line: "ehlo=1 mail=1 rcpt=2/3 data=1 quit=1
    // commands=6/7"; a count is "ok/total" where some were refused ("commands=0" alone
    // when there were none).
    std::string summary() const;
  };
  const counters& stats() const { return stats_; }

 private:
  using handler = void (session::*)(const command&);
  // The command table (STYLE.md 3): verb, HELP text, handler. Sequence rules live in
  // the handlers, each citing the RFC 5321 §4.1.4 rule it applies.
  struct handler_entry {
    verb v;
    std::string_view help;
    handler fn;
  };
  static const handler_entry* find_entry(verb v);

  // One accepted RCPT TO, expanded at the end of DATA.
  struct rcpt {
    mail::address addr;
    std::string orcpt;
    bool local = true;
    std::uint8_t notify = 0;  // RFC 3461 NOTIFY bits
  };

  // The envelope being built (STYLE.md 4); reset by RSET, MAIL, HELO, EHLO, end of DATA.
  struct transaction {
    bool active = false;
    mail::address sender;
    std::vector<rcpt> rcpts;
    queue::body_type body = queue::body_type::SevenBit;
    bool smtputf8 = false;
    std::optional<std::uint64_t> declared_size;
    std::string id;
    std::string envid;  // RFC 3461 ENVID, decoded
    queue::dsn_ret ret = queue::dsn_ret::Unset;
    std::uint32_t rcpt_attempts = 0;
    // RFC 3030 §3: DATA and BDAT do not mix in one transaction.
    bool data_tried = false;    // DATA was sent in this transaction
    bool bdat_started = false;  // a BDAT chunk was accepted: the message is under way
    bool bdat_failed = false;   // a BDAT was refused: later ones get 503 until RSET/MAIL
  };

  // The BDAT chunk being read: whether it is kept, and the refusal owed at its end.
  struct chunk_state {
    bool last = false;
    int refusal = 0;  // 0 = accepted; else the reply code owed once the octets are in
    std::string enhanced;
    std::string text;
  };

  void enter_phase(phase p);
  void reset_transaction();
  void reply_with(int code, std::string_view enhanced, std::string_view text);
  void send(const reply& r);
  // Counts the final reply to the command being answered (not 334/354, which ask for
  // more) in stats_ and the metrics.
  void note_reply(int code);
  // The mail log's line for a refused command (never with its arguments: AUTH).
  void log_reject(int code, std::string_view enhanced, std::string_view text) const;
  void error_reply(int code, std::string_view enhanced, std::string_view text);
  bool check_limits();
  action feed_command(std::string_view& in);
  action feed_data(std::string_view& in);
  action feed_bdat(std::string_view& in);
  // The one path of message content into the spool, from DATA and BDAT alike: the
  // Received: field first, then the content, spilled when the buffer fills.
  void begin_message();
  void absorb(const content_scanner& content, bool complete);
  action spill_or_read();
  action finish_message(const content_scanner& content);
  bool refused_content(const content_scanner& content) const;
  static constexpr unsigned k_max_received = 100;  // RFC 5321 §6.3 loop limit
  void dispatch(const command& c);
  // The check seam (session_checks.cpp): the step a verb's success is checked at.
  std::optional<check_step> check_step_of(verb v) const;
  // A refusal from the checks in place of the reply owed (logged, counted as an error).
  action refuse_checked(const reply& r);
  // The accepted / rejected message counters (metrics).
  static void count_message(bool accepted);
  // After a message's final reply: ready for the next transaction.
  void end_message();

  void on_helo(const command& c);
  void on_ehlo(const command& c);
  void on_mail(const command& c);
  void on_rcpt(const command& c);
  void on_data(const command& c);
  void on_bdat(const command& c);
  void on_rset(const command& c);
  void on_noop(const command& c);
  void on_quit(const command& c);
  void on_help(const command& c);
  void on_vrfy(const command& c);
  void on_expn(const command& c);
  void on_obsolete(const command& c);
  void on_not_offered(const command& c);
  void on_starttls(const command& c);
  void on_auth(const command& c);
  void on_xclient(const command& c);
  std::optional<mail::address> xclient_login(std::string_view name) const;
  void on_etrn(const command& c);
  // LMTP (RFC 2033, session_lmtp.cpp): the role lmtp's dispatch, LHLO, and the replies at
  // the end of a message, one per recipient accepted at RCPT (one reply in SMTP).
  void dispatch_lmtp(const command& c);
  void on_lhlo(const command& c);
  void message_reply(int code, std::string_view enhanced, std::string_view text, bool error);
  bool lmtp() const { return settings_.role == config::listener_role::Lmtp; }
  void step_sasl();
  action feed_sasl(std::string_view& in);
  bool scram_plus_offered() const { return tls_active_ && bindings_.any(); }
  std::optional<auth::scram_options> scram_options_for(auth::mechanism m) const;
  void finish_scram(std::string_view line);
  void add_missing_headers(const content_scanner& content);
  bool submission() const;

  bool greeted_check();
  // A VRFY/EXPN argument: the string asked about and its SMTPUTF8 parameter.
  struct query_arg {
    std::string_view text;
    bool utf8 = false;
  };
  static query_arg split_query(std::string_view arg);
  std::optional<mail::address> query_address(const query_arg& q, std::string_view verb);
  void query_reply(const reply& r, bool utf8);
  // RCPT of an alias: false (and the 550 sent) when its expansion leaves nobody.
  bool rcpt_alias_check(const mail::address& addr, const std::string& who);
  std::string received_field() const;
  std::string protocol_name() const;
  void build_envelope();

  session_settings settings_;
  std::shared_ptr<const policy::accounts> accounts_;
  session_env& env_api_;
  peer_info peer_;

  input_mode mode_ = input_mode::Command;
  phase phase_ = phase::Connected;
  bool esmtp_ = false;
  bool first_line_ = true;
  std::string helo_;
  transaction txn_;
  line_reader lines_{512, lf_mode::InLine};
  data_reader data_;
  bdat_reader bdat_;
  chunk_state chunk_;
  std::string data_buf_;  // message octets on their way into writer_
  queue::message_writer writer_;
  queue::envelope env_;
  std::string out_;
  counters stats_;
  verb answering_ = verb::Unknown;  // the command whose final reply is due
  bool answer_due_ = false;
  bool spill_pending_ = false;
  bool starttls_pending_ = false;
  bool tls_active_ = false;
  std::string tls_info_;  // "(using TLSv1.3 with cipher ...)" for Received:
  std::optional<mail::address> auth_user_;
  std::optional<auth::sasl_exchange> sasl_;
  auth::sasl_verify verify_;
  auth::channel_bindings bindings_;  // of the TLS connection, for SCRAM-SHA-256-PLUS
  // SCRAM's proof matched: the login, once the client answers the server-final 334.
  std::optional<mail::address> scram_login_;
  std::vector<std::string> lmtp_rcpts_;  // LMTP: each RCPT answered 250, in order
  bool verify_pending_ = false;
  etrn_request etrn_;
  bool etrn_pending_ = false;
  bool headers_checked_ = false;     // missing Date/Message-ID considered for this message
  std::uint64_t received_size_ = 0;  // octets of our Received: at the message's start
  bool spill_failed_ = false;
  // XCLIENT: the change waiting for client_done(), and what it fixed for the session: a
  // HELO name and protocol that a later HELO/EHLO from the proxy does not replace.
  client_change xclient_;
  std::optional<mail::address> xclient_login_;
  bool xclient_pending_ = false;
  bool helo_fixed_ = false;
  // The check seam: the success reply held back while the chain runs, what to restore
  // when it refuses, and the recipient last accepted by RCPT.
  bool hold_success_ = false;
  bool check_pending_ = false;
  std::optional<reply> held_reply_;
  check_point check_;
  struct check_undo {
    phase ph = phase::Connected;
    std::string helo;
    bool esmtp = false;
    std::size_t rcpts = 0;
  } undo_;
  mail::address last_rcpt_;
  std::string check_log_;
  bool service_refused_ = false;
  std::string proto_fixed_;  // "SMTP" or "ESMTP"; "" = from HELO/EHLO
};

}  // namespace posthorn::smtp
