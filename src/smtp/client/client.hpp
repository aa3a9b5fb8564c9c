#pragma once
// The client side of SMTP as a state machine without I/O (STYLE.md 1-4, DESIGN.md §1):
// reply bytes go in, commands and message blocks come out, and the driver is told what
// to do next. One object per connection; a connection carries as many transactions as
// the driver likes (RSET between them), then QUIT.
//
// The connection state (opening, TLS handshake, ready, busy, sending data, closed) is
// kept apart from the transaction being sent (STYLE.md 4). Timeouts are the driver's:
// phase() says which RFC 5321 §4.5.3.2 timeout applies, client_timeouts has the values.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/secret.hpp"
#include "mail/address.hpp"
#include "queue/envelope.hpp"
#include "smtp/client/data_encoder.hpp"
#include "smtp/client/reply_reader.hpp"
#include "smtp/proto/reply.hpp"

namespace posthorn::smtp {

// What the connection is waiting for, and so which timeout applies.
enum class client_phase : std::uint8_t {
  Greeting,      // the 220 greeting (RFC 5321 §4.5.3.2.1: 5 minutes)
  Ehlo,          // the reply to EHLO or HELO
  Starttls,      // the reply to STARTTLS (RFC 3207)
  TlsHandshake,  // the driver runs the TLS handshake
  Auth,          // a reply during AUTH (RFC 4954)
  Ready,         // idle between transactions: nothing is expected from the peer
  Rset,          // the reply to RSET (pipelined in front of MAIL)
  Mail,          // the reply to MAIL (§4.5.3.2.2: 5 minutes)
  Rcpt,          // the reply to RCPT (§4.5.3.2.3: 5 minutes)
  DataInit,      // the 354 to DATA (§4.5.3.2.4: 2 minutes)
  DataBlock,     // sending the message (§4.5.3.2.5: 3 minutes per block written)
  DataTerm,      // the reply to the final "." (§4.5.3.2.6: 10 minutes)
  Quit,          // the reply to QUIT
  Closed,        // the connection is finished
};

// "receiving the initial greeting", "sending the message", ...: for "lost connection
// with <host> while ..." in the log and in DSNs.
std::string_view describe(client_phase p);

// RFC 5321 §4.5.3.2's timeouts (the RFC's values are the defaults) and ours for the
// steps it does not name.
struct client_timeouts {
  using duration = std::chrono::milliseconds;
  duration connect = std::chrono::seconds(30);    // TCP connect, per address
  duration greeting = std::chrono::minutes(5);    // §4.5.3.2.1
  duration ehlo = std::chrono::minutes(5);        // as MAIL
  duration starttls = std::chrono::minutes(5);    // STARTTLS reply and the handshake
  duration auth = std::chrono::minutes(5);        // each reply during AUTH, as MAIL
  duration mail = std::chrono::minutes(5);        // §4.5.3.2.2; RSET too (pipelined with it)
  duration rcpt = std::chrono::minutes(5);        // §4.5.3.2.3
  duration data_init = std::chrono::minutes(2);   // §4.5.3.2.4
  duration data_block = std::chrono::minutes(3);  // §4.5.3.2.5
  duration data_term = std::chrono::minutes(10);  // §4.5.3.2.6
  duration quit = std::chrono::minutes(1);        // nothing rides on the 221

  // The timeout for waiting in phase p; zero for Ready and Closed (no I/O expected).
  duration for_phase(client_phase p) const;
};

// What the driver must do next. Whatever the action, pending output() is written first.
enum class client_action : std::uint8_t {
  Read,      // read from the peer and feed() what arrives
  Write,     // the message is being sent: after writing, call more() for the next block
  StartTls,  // run the TLS handshake on the connection, then call tls_done()
  Ready,     // idle: a finished transaction's result is in take_result(); begin() or quit()
  Close,     // close the connection (output() may hold a QUIT to write on the way out)
};

// Who decided an outcome.
enum class outcome_source : std::uint8_t {
  Peer,        // the peer's reply to this recipient's RCPT, to MAIL, or to the message
  Connection,  // the connection failed (greeting, EHLO, 421, I/O, timeout, protocol error):
               // nothing was decided about the recipient; another host may be tried at once
  Local,       // decided here without asking the peer (SIZE, SMTPUTF8, 8BITMIME, syntax)
};

// What became of one recipient (or of the whole connection).
struct client_outcome {
  queue::rcpt_status status = queue::rcpt_status::Deferred;  // Delivered, Deferred or Failed
  std::string dsn;    // RFC 3463 status: the peer's enhanced code, else class.0.0, or ours
  std::string reply;  // "550 5.1.1 <bob@example.test>: unknown user" (one line) or our reason
  int code = 0;       // the peer's reply code; 0 when `reply` is our own text
  outcome_source source = outcome_source::Local;
};

// One recipient of a transaction.
struct client_recipient {
  mail::address address;
  std::uint8_t notify = 0;  // queue::notify bits; 0 = NOTIFY not given
  std::string orcpt;        // DSN ORCPT as received ("rfc822;bob@example.test"); "" = none
};

// One message to some recipients: MAIL, RCPT..., DATA.
struct client_transaction {
  mail::address sender;  // empty = null sender <>
  std::vector<client_recipient> recipients;
  queue::body_type body = queue::body_type::SevenBit;
  bool smtputf8 = false;  // received with SMTPUTF8 (RFC 6531)
  std::string envid;      // DSN ENVID, decoded; "" = none
  queue::dsn_ret ret = queue::dsn_ret::Unset;
  std::string_view message;  // the queued octets (CRLF); must stay valid until the result
  std::uint64_t size = 0;    // for SIZE= (RFC 1870); 0 = message.size()
};

// A transaction for the recipients `rcpts` (indexes into env.recipients) of a queued
// message; results come back in the same order.
client_transaction make_transaction(const queue::envelope& env,
                                    const std::vector<std::size_t>& rcpts,
                                    std::string_view message);

// The outcome of a transaction.
struct transaction_result {
  std::vector<client_outcome> recipients;  // in the transaction's order
  bool peer_dsn = false;   // the peer offered DSN and got NOTIFY/ORCPT/RET/ENVID (else
                           // NOTIFY=SUCCESS earns a "relayed" DSN, RFC 3461 §6.2.1)
  bool data_sent = false;  // the final "." went out: if the connection failed after it,
                           // the peer may have the message (RFC 1047)
  // deliver() only: per recipient, the host whose answer is in `recipients` ("" = none).
  std::vector<std::string> relays;
};

// A login for a peer that wants SMTP AUTH (a smarthost, RFC 4954). The password never
// goes into a log line or an outcome, and never over a connection without TLS.
struct client_credentials {
  std::string user;
  auth::secret password;
};

// SMTP (RFC 5321), or LMTP (RFC 2033): LHLO instead of EHLO, no HELO fallback, no BDAT,
// and after the data one reply per recipient accepted at RCPT, in RCPT order (§4.2).
enum class client_dialect : std::uint8_t { Smtp, Lmtp };

class client {
 public:
  // `hostname` is ours, for EHLO and HELO. `tls_available`: the driver can run a TLS
  // handshake, so STARTTLS is used when the peer offers it (opportunistic, RFC 3207).
  // With `credentials` the client authenticates after TLS is up, before the first MAIL:
  // AUTH PLAIN if offered, else LOGIN. Without TLS, or without a mechanism it knows, or
  // when the peer refuses the login, the connection fails with a temporary 4.7.x outcome
  // (a wrong password is the operator's to fix; the queue keeps the mail meanwhile).
  client(std::string hostname, bool tls_available,
         std::shared_ptr<const client_credentials> credentials = {},
         client_dialect dialect = client_dialect::Smtp);

  // Consumes reply bytes from the front of `in` until they run out or an action other
  // than Read is due; the driver keeps what is left and feeds it after that action
  // (StartTls and Close discard the rest: nothing sent in the clear before the handshake
  // may be believed, RFC 3207 §4.2).
  client_action feed(std::string_view& in);
  // DataBlock: puts the next block of the message (or the next BDAT chunk, with its
  // command) into output().
  client_action more();
  // The driver's answer to StartTls; `why` says what failed, for the log.
  client_action tls_done(bool ok, std::string_view why = {});
  // Starts a transaction; only when Ready. Checks that need no round trip (SIZE,
  // SMTPUTF8, 8BITMIME, address syntax) may finish it at once (Ready again).
  client_action begin(client_transaction t);
  // Ends the connection politely: QUIT, then Close when the 221 arrives.
  client_action quit();
  // The driver lost the connection, or timed out waiting in phase(); `reason` goes into
  // the outcome of every recipient not decided yet ("lost connection with ... while ...").
  client_action connection_lost(std::string_view reason);

  // Commands and message octets to write; the driver writes and clears it.
  std::string& output() { return out_; }
  client_phase phase() const;
  const peer_extensions& extensions() const { return ext_; }
  bool tls_active() const { return tls_active_; }
  // The peer accepted our AUTH.
  bool authenticated() const { return authenticated_; }
  const reply& greeting() const { return greeting_; }
  // Transactions begun on this connection (for a per-connection limit).
  std::uint32_t transactions() const { return transactions_; }
  // Why the connection ended badly; empty while it is fine or after a clean QUIT.
  const std::optional<client_outcome>& failure() const { return failure_; }
  // The result of the last transaction, once (after Ready, or Close during one).
  std::optional<transaction_result> take_result();

 private:
  // The commands the connection may wait on, in the order they were written.
  enum class step : std::uint8_t {
    Greeting,
    Ehlo,
    Helo,
    Starttls,
    AuthPlain,  // AUTH PLAIN with the initial response: 235 or a refusal
    AuthLogin,  // AUTH LOGIN: 334 for the user name
    AuthUser,   // the user name: 334 for the password
    AuthPass,   // the password: 235 or a refusal
    Rset,
    Mail,
    Rcpt,
    Data,
    Dot,
    DotIgnored,
    Bdat,      // a BDAT chunk before the last (RFC 3030 §2); staged: the first chunk's turn
    BdatLast,  // BDAT ... LAST: its reply decides like the end of DATA
    Quit,
  };
  struct sent {
    step s = step::Greeting;
    std::size_t rcpt = 0;  // for Rcpt: index into the transaction's recipients
  };
  struct staged {
    step s = step::Mail;
    std::size_t rcpt = 0;
    std::string line;  // with CRLF
  };
  enum class conn_state : std::uint8_t { Opening, TlsHandshake, Ready, Busy, DataBlock, Closed };

  // The transaction being sent (STYLE.md 4); begin() sets it, its end clears it.
  struct transaction_state {
    bool active = false;
    client_transaction t;
    std::vector<std::optional<client_outcome>> outcomes;
    std::vector<std::size_t> accepted;  // recipients the peer took at RCPT
    bool mail_failed = false;
    bool peer_dsn = false;
    bool data_sent = false;
    bool bdat = false;          // the message goes in BDAT chunks
    bool chunk_failed = false;  // a BDAT chunk was refused: no more are sent
    data_encoder::mode mode = data_encoder::mode::Data;
    // The message as it goes out: `head` (a downgraded header section, RFC 6857; empty
    // when the message goes as queued) followed by `rest` (the queued octets after it).
    std::string head;
    std::string_view rest;
    std::size_t data_pos = 0;  // outgoing octets encoded so far
  };

  static std::string_view state_name(conn_state s);
  void enter_state(conn_state s);
  client_action on_reply(const reply& r);
  client_action on_unsolicited(const reply& r);
  client_action after_reply();
  client_action greeted();
  client_action authenticate();
  client_action on_auth_reply(step s, const reply& r);
  client_action auth_refused(const reply& r);
  void send_secret(step s, std::string_view prefix, std::string_view payload);
  client_action ready();
  void send(step s, std::string line);
  void pump();
  client_action fail_connection(client_outcome o, bool say_quit);
  client_action protocol_error(std::string_view what);
  client_action finish_transaction();
  client_action more_chunks();
  client_action on_chunk_reply(step s, const reply& r);
  bool chunk_window_full() const;
  std::string_view next_block();
  std::size_t outgoing_size() const { return txn_.head.size() + txn_.rest.size(); }
  client_action fail_all_local(std::string_view dsn, std::string_view text);
  client_action idle_action() const;
  void decide(std::size_t rcpt, client_outcome o);
  // "EHLO name\r\n", or "LHLO name\r\n" in LMTP.
  std::string hello() const;

  std::string hostname_;
  client_dialect dialect_ = client_dialect::Smtp;
  bool tls_available_ = false;
  bool tls_active_ = false;
  std::shared_ptr<const client_credentials> credentials_;
  bool authenticated_ = false;
  conn_state state_ = conn_state::Opening;
  peer_extensions ext_;
  reply greeting_;
  reply_reader reader_;
  data_encoder encoder_;
  std::deque<sent> awaiting_;  // written, reply not read yet
  std::deque<staged> staged_;  // not written yet (the pipelining window is full)
  std::size_t window_ = 1;     // commands that may wait for replies at once
  bool needs_rset_ = false;    // a MAIL went out since the last EHLO
  std::uint32_t transactions_ = 0;
  transaction_state txn_;
  std::optional<transaction_result> result_;
  std::optional<client_outcome> failure_;
  std::string out_;
};

}  // namespace posthorn::smtp
