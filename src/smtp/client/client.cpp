#include "smtp/client/client.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <utility>

#include "auth/sasl.hpp"
#include "mail/downgrade.hpp"
#include "smtp/client/commands.hpp"

namespace posthorn::smtp {
namespace {

// RFC 2920 §3.1 lets the client write a whole group (RSET, MAIL, every RCPT, DATA) at
// once; it must also keep reading, or a peer that answers while we still write could
// block on a full socket. Capping the commands awaiting replies bounds both the write
// and the replies piling up; the next RCPTs go out as replies come in.
constexpr std::size_t k_pipeline_window = 100;
// The message goes out in blocks of this size (one write, one §4.5.3.2.5 timeout each);
// with CHUNKING each block is one BDAT chunk.
constexpr std::size_t k_data_block = 64 * 1024;
// BDAT chunks written before their replies are read, with PIPELINING (RFC 3030 §4.2).
// The replies are small; the cap keeps a peer that answers each chunk at once from
// filling its socket while we still write.
constexpr std::size_t k_chunk_window = 8;

client_outcome from_reply(const reply& r, outcome_source source) {
  client_outcome o;
  const int cls = r.code / 100;
  o.status = cls == 2   ? queue::rcpt_status::Delivered
             : cls == 5 ? queue::rcpt_status::Failed
                        : queue::rcpt_status::Deferred;
  o.dsn = status_of(r);
  o.reply = one_line(r);
  o.code = r.code;
  o.source = source;
  return o;
}

client_outcome ours(queue::rcpt_status status, std::string_view dsn, std::string_view text,
                    outcome_source source) {
  return client_outcome{status, std::string(dsn), std::string(text), 0, source};
}

}  // namespace

client::client(std::string hostname, bool tls_available,
               std::shared_ptr<const client_credentials> credentials, client_dialect dialect)
    : hostname_(std::move(hostname)),
      dialect_(dialect),
      tls_available_(tls_available),
      credentials_(std::move(credentials)) {
  // The name goes on the EHLO line: nothing in it may end that line early.
  std::erase_if(hostname_, [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
  if (hostname_.empty()) {
    hostname_ = "localhost";
  }
  // RFC 5321 §3.1: the client waits for the greeting before it says anything.
  awaiting_.push_back(sent{step::Greeting});
}

std::string_view client::state_name(conn_state s) {
  switch (s) {
    case conn_state::Opening:
      return "opening";
    case conn_state::TlsHandshake:
      return "tls-handshake";
    case conn_state::Ready:
      return "ready";
    case conn_state::Busy:
      return "busy";
    case conn_state::DataBlock:
      return "data";
    case conn_state::Closed:
      return "closed";
  }
  return "unknown";
}

void client::enter_state(conn_state s) {
  if (s != state_) {
    spdlog::trace("smtp client {}: {} -> {}", hostname_, state_name(state_), state_name(s));
    state_ = s;
  }
}

client_phase client::phase() const {
  switch (state_) {
    case conn_state::TlsHandshake:
      return client_phase::TlsHandshake;
    case conn_state::Ready:
      return client_phase::Ready;
    case conn_state::DataBlock:
      return client_phase::DataBlock;
    case conn_state::Closed:
      return client_phase::Closed;
    case conn_state::Opening:
    case conn_state::Busy:
      break;
  }
  if (awaiting_.empty()) {
    return client_phase::Ready;
  }
  switch (awaiting_.front().s) {
    case step::Greeting:
      return client_phase::Greeting;
    case step::Ehlo:
    case step::Helo:
      return client_phase::Ehlo;
    case step::Starttls:
      return client_phase::Starttls;
    case step::AuthPlain:
    case step::AuthLogin:
    case step::AuthUser:
    case step::AuthPass:
      return client_phase::Auth;
    case step::Rset:
      return client_phase::Rset;
    case step::Mail:
      return client_phase::Mail;
    case step::Rcpt:
      return client_phase::Rcpt;
    case step::Data:
      return client_phase::DataInit;
    case step::Dot:
    case step::DotIgnored:
    case step::BdatLast:
      return client_phase::DataTerm;
    case step::Bdat:
      return client_phase::DataBlock;
    case step::Quit:
      return client_phase::Quit;
  }
  return client_phase::Ready;
}

std::optional<transaction_result> client::take_result() { return std::exchange(result_, {}); }

client_action client::idle_action() const {
  switch (state_) {
    case conn_state::TlsHandshake:
      return client_action::StartTls;
    case conn_state::Ready:
      return client_action::Ready;
    case conn_state::DataBlock:
      return chunk_window_full() ? client_action::Read : client_action::Write;
    case conn_state::Closed:
      return client_action::Close;
    case conn_state::Opening:
    case conn_state::Busy:
      break;
  }
  return client_action::Read;
}

void client::send(step s, std::string line) {
  out_ += line;
  awaiting_.push_back(sent{s});
}

client_action client::feed(std::string_view& in) {
  while (!in.empty()) {
    if (state_ == conn_state::Closed || state_ == conn_state::TlsHandshake) {
      in = {};
      break;
    }
    if (state_ == conn_state::DataBlock && !txn_.bdat) {
      break;  // the peer must not answer before the end of the message: fed after it
    }
    auto r = reader_.feed(in);
    if (!r) {
      in = {};
      return protocol_error(r.error());
    }
    if (!*r) {
      break;
    }
    const client_action a = awaiting_.empty() ? on_unsolicited(**r) : on_reply(**r);
    if (a == client_action::StartTls || a == client_action::Close) {
      in = {};
      return a;
    }
    if (a == client_action::Write) {
      return a;
    }
    // Read: more replies may follow in `in`. Ready: anything more is unsolicited.
  }
  return idle_action();
}

client_action client::on_unsolicited(const reply& r) {
  // RFC 5321 §3.8: a server may announce 421 and close at any time; any other reply
  // nobody asked for means the two ends disagree about the dialogue.
  if (r.code == 421) {
    return fail_connection(from_reply(r, outcome_source::Connection), false);
  }
  return protocol_error("unexpected reply \"" + one_line(r) + "\"");
}

client_action client::on_reply(const reply& r) {
  const sent cmd = awaiting_.front();
  awaiting_.pop_front();
  const int cls = r.code / 100;

  if (cmd.s == step::Quit) {
    enter_state(conn_state::Closed);
    return client_action::Close;
  }
  if (r.code == 421) {
    // RFC 5321 §3.8: the server is closing the connection; no QUIT.
    return fail_connection(from_reply(r, outcome_source::Connection), false);
  }
  if (cmd.s == step::AuthPlain || cmd.s == step::AuthLogin || cmd.s == step::AuthUser ||
      cmd.s == step::AuthPass) {
    return on_auth_reply(cmd.s, r);
  }
  // 354 answers DATA and nothing else; DATA is answered 354 or refused, never 2xx.
  if ((cls == 3) != (cmd.s == step::Data) && (cls == 3 || cls == 2)) {
    return protocol_error("unexpected reply \"" + one_line(r) + "\"");
  }

  switch (cmd.s) {
    case step::Greeting:
      if (cls != 2) {
        // RFC 5321 §3.1, §4.3.2: 554 (or 4xx) instead of 220: no service here; the
        // client says QUIT and the delivery layer tries the next MX.
        greeting_ = r;
        return fail_connection(from_reply(r, outcome_source::Connection), true);
      }
      greeting_ = r;
      send(step::Ehlo, hello());
      return client_action::Read;

    case step::Ehlo:
      if (cls == 2) {
        ext_ = parse_ehlo(r);
        if (dialect_ == client_dialect::Lmtp) {
          // BDAT LAST would also take one reply per recipient (RFC 3030 §4.2 with RFC
          // 2033); DATA is what every LMTP server has.
          ext_.chunking = false;
          ext_.binarymime = false;
        }
        return greeted();
      }
      if (cls == 5 && dialect_ == client_dialect::Smtp) {
        // RFC 5321 §3.2: a server that does not know EHLO answers 500/502 (some say
        // 501, 550 or 554); fall back to HELO without extensions.
        send(step::Helo, "HELO " + hostname_ + "\r\n");
        return client_action::Read;
      }
      return fail_connection(from_reply(r, outcome_source::Connection), true);

    case step::Helo:
      if (cls != 2) {
        return fail_connection(from_reply(r, outcome_source::Connection), true);
      }
      ext_ = peer_extensions{};
      return authenticate();

    case step::Starttls:
      if (cls == 2) {
        // RFC 3207 §4.2: the handshake starts at once; anything the server sent
        // after its 220 in the clear is thrown away (see feed()).
        reader_.reset();
        enter_state(conn_state::TlsHandshake);
        return client_action::StartTls;
      }
      // Opportunistic TLS: a refused STARTTLS (454 4.7.0 ...) leaves the session in
      // the clear, as it was (RFC 3207 §4).
      return authenticate();

    case step::Rset:
      if (cls != 2) {
        // The connection is not in a state we understand any more.
        return fail_connection(from_reply(r, outcome_source::Connection), true);
      }
      return after_reply();

    case step::Mail:
      if (cls != 2) {
        // RFC 2920 §3.1: with the MAIL refused, the pipelined RCPTs and DATA are
        // answered 503; every recipient gets the refusal of MAIL instead.
        txn_.mail_failed = true;
        for (std::size_t i = 0; i < txn_.outcomes.size(); ++i) {
          decide(i, from_reply(r, outcome_source::Peer));
        }
      }
      return after_reply();

    case step::Rcpt:
      if (!txn_.mail_failed) {
        if (cls == 2) {
          txn_.accepted.push_back(cmd.rcpt);
        } else {
          decide(cmd.rcpt, from_reply(r, outcome_source::Peer));
        }
      }
      return after_reply();

    case step::Data:
      if (txn_.mail_failed || txn_.accepted.empty()) {
        // RFC 2920 §3.1: even with every RCPT refused the DATA may be accepted; then
        // the client sends a lone dot and ignores the reply.
        if (cls == 3) {
          send(step::DotIgnored, ".\r\n");
          return client_action::Read;
        }
        return after_reply();
      }
      if (cls != 3) {
        for (const std::size_t i : txn_.accepted) {
          decide(i, from_reply(r, outcome_source::Peer));
        }
        return after_reply();
      }
      encoder_.reset();
      txn_.data_pos = 0;
      enter_state(conn_state::DataBlock);
      return more();

    case step::Dot:
      if (dialect_ == client_dialect::Lmtp) {
        // RFC 2033 §4.2: one reply per recipient accepted at RCPT, in that order.
        decide(cmd.rcpt, from_reply(r, outcome_source::Peer));
        return awaiting_.empty() ? finish_transaction() : client_action::Read;
      }
      // RFC 5321 §4.2.5: the reply to the end of data decides for every recipient
      // accepted at RCPT; 2xx means the peer took responsibility.
      for (const std::size_t i : txn_.accepted) {
        decide(i, from_reply(r, outcome_source::Peer));
      }
      return finish_transaction();

    case step::DotIgnored:
      return finish_transaction();

    case step::Bdat:
    case step::BdatLast:
      return on_chunk_reply(cmd.s, r);

    case step::AuthPlain:
    case step::AuthLogin:
    case step::AuthUser:
    case step::AuthPass:
    case step::Quit:
      break;
  }
  return after_reply();
}

client_action client::greeted() {
  // RFC 3207: opportunistic STARTTLS when offered and we can; not twice. STARTTLS ends a
  // pipelined group (RFC 3207 §4.2), so it goes alone.
  if (ext_.starttls && tls_available_ && !tls_active_) {
    send(step::Starttls, "STARTTLS\r\n");
    return client_action::Read;
  }
  return authenticate();
}

client_action client::authenticate() {
  if (!credentials_ || authenticated_) {
    return ready();
  }
  // RFC 4954 §4, RFC 4616 §6: PLAIN and LOGIN carry the password in the clear, so they
  // go over TLS only. The mail waits in the queue rather than the password leaking.
  if (!tls_active_) {
    return fail_connection(ours(queue::rcpt_status::Deferred, "4.7.0",
                                "smarthost requires TLS for AUTH", outcome_source::Connection),
                           true);
  }
  const auto offers = [this](std::string_view m) {
    return std::find(ext_.auth.begin(), ext_.auth.end(), m) != ext_.auth.end();
  };
  const client_credentials& c = *credentials_;
  if (offers("PLAIN")) {
    // RFC 4616 §2: [authzid] NUL authcid NUL passwd; no authzid (we act for ourselves).
    // RFC 4954 §4: the initial response saves a round trip.
    auth::secret message;
    message.append(std::string_view("\0", 1));
    message.append(c.user);
    message.append(std::string_view("\0", 1));
    message.append(c.password.view());
    send_secret(step::AuthPlain, "AUTH PLAIN ", message.view());
    return client_action::Read;
  }
  if (offers("LOGIN")) {
    send(step::AuthLogin, "AUTH LOGIN\r\n");
    return client_action::Read;
  }
  std::string text = "the smarthost offers no AUTH mechanism posthorn can use (PLAIN, LOGIN)";
  return fail_connection(
      ours(queue::rcpt_status::Deferred, "4.7.0", text, outcome_source::Connection), true);
}

void client::send_secret(step s, std::string_view prefix, std::string_view payload) {
  std::string encoded = auth::base64_encode(payload);
  // RFC 4954 §4: an empty initial response is sent as "=".
  if (encoded.empty() && s == step::AuthPlain) {
    encoded = "=";
  }
  out_.reserve(out_.size() + prefix.size() + encoded.size() + 2);
  out_ += prefix;
  out_ += encoded;
  out_ += "\r\n";
  OPENSSL_cleanse(encoded.data(), encoded.size());
  awaiting_.push_back(sent{s});
}

client_action client::on_auth_reply(step s, const reply& r) {
  const int cls = r.code / 100;
  switch (s) {
    case step::AuthPlain:
    case step::AuthPass:
      if (cls == 2) {
        // RFC 4954 §4: 235; the session goes on as after EHLO.
        authenticated_ = true;
        spdlog::debug("smtp client {}: AUTH accepted", hostname_);
        return ready();
      }
      if (cls == 3) {
        // More challenges than the mechanism has: cancel is pointless, the peer is
        // not speaking PLAIN or LOGIN as we know them.
        return protocol_error("unexpected AUTH challenge \"" + one_line(r) + "\"");
      }
      return auth_refused(r);
    case step::AuthLogin:
      if (r.code == 334) {
        send_secret(step::AuthUser, "", credentials_->user);
        return client_action::Read;
      }
      break;
    case step::AuthUser:
      if (r.code == 334) {
        send_secret(step::AuthPass, "", credentials_->password.view());
        return client_action::Read;
      }
      break;
    default:
      break;
  }
  if (cls == 2 || cls == 3) {
    return protocol_error("unexpected reply to AUTH \"" + one_line(r) + "\"");
  }
  return auth_refused(r);
}

client_action client::auth_refused(const reply& r) {
  // A 4xx is the peer's passing trouble. A 5xx (535 5.7.8 bad credentials, 534, 538,
  // 504) is about our login, not about the message: deferred as 4.7.0, so the mail is
  // delivered once the operator fixes the config instead of bouncing meanwhile.
  client_outcome o = from_reply(r, outcome_source::Connection);
  if (r.code / 100 != 4) {
    o = ours(queue::rcpt_status::Deferred, "4.7.0",
             "smarthost refused our AUTH (" + one_line(r) + ")", outcome_source::Connection);
  } else {
    o.reply = "smarthost refused our AUTH (" + o.reply + ")";
    o.code = 0;
  }
  return fail_connection(std::move(o), true);
}

client_action client::ready() {
  window_ = ext_.pipelining ? k_pipeline_window : 1;
  enter_state(conn_state::Ready);
  return client_action::Ready;
}

client_action client::tls_done(bool ok, std::string_view why) {
  if (state_ != conn_state::TlsHandshake) {
    return idle_action();
  }
  if (!ok) {
    std::string text = "TLS handshake failed";
    if (!why.empty()) {
      text += ": ";
      text += why;
    }
    return fail_connection(
        ours(queue::rcpt_status::Deferred, "4.7.5", text, outcome_source::Connection), false);
  }
  // RFC 3207 §4.2: forget everything learnt before TLS and say EHLO again.
  tls_active_ = true;
  ext_ = peer_extensions{};
  reader_.reset();
  enter_state(conn_state::Opening);
  send(step::Ehlo, hello());
  return client_action::Read;
}

client_action client::begin(client_transaction t) {
  assert(state_ == conn_state::Ready || state_ == conn_state::Closed);
  txn_ = transaction_state{};
  txn_.active = true;
  txn_.outcomes.resize(t.recipients.size());
  txn_.t = std::move(t);
  txn_.peer_dsn = ext_.dsn;
  result_.reset();
  if (state_ != conn_state::Ready) {
    client_outcome o = failure_.value_or(ours(queue::rcpt_status::Deferred, "4.4.2",
                                              "connection closed", outcome_source::Connection));
    for (std::size_t i = 0; i < txn_.outcomes.size(); ++i) {
      decide(i, o);
    }
    finish_transaction();
    enter_state(conn_state::Closed);
    return client_action::Close;
  }
  if (reader_.partial()) {
    // Part of a reply came while nothing was asked: the dialogue is out of step.
    return protocol_error("unexpected data from the server while idle");
  }
  if (txn_.t.recipients.empty()) {
    return finish_transaction();
  }
  ++transactions_;

  const client_transaction& tx = txn_.t;
  const detail::mail_plan plan = detail::plan_transaction(tx, ext_);
  if (!plan.failure_dsn.empty()) {
    return fail_all_local(plan.failure_dsn, plan.failure_text);
  }
  txn_.peer_dsn = plan.dsn;
  txn_.rest = tx.message;
  if (plan.downgrade) {
    // RFC 6857 on the way out to this peer only; SIZE= follows the new length.
    const std::size_t end = mail::header_section_end(tx.message);
    txn_.head = mail::downgrade_header(tx.message.substr(0, end));
    txn_.rest = tx.message.substr(end);
    const std::uint64_t queued = tx.size != 0 ? tx.size : tx.message.size();
    txn_.t.size = queued - std::min<std::uint64_t>(queued, end) + txn_.head.size();
  }
  const std::optional<std::string> from = detail::render_path(tx.sender, plan.use_utf8);
  if (!from) {
    return fail_all_local("5.1.7", "the sender address cannot be sent to this peer");
  }

  enter_state(conn_state::Busy);
  staged_.clear();
  // RFC 5321 §4.1.1.5: RSET clears whatever an earlier transaction on this connection
  // left behind; RFC 2920 §3.1 lets it lead the pipelined group.
  if (needs_rset_) {
    staged_.push_back(staged{step::Rset, 0, "RSET\r\n"});
  }
  staged_.push_back(staged{step::Mail, 0, detail::mail_command(tx, plan, ext_, *from)});
  bool any = false;
  for (std::size_t i = 0; i < tx.recipients.size(); ++i) {
    const client_recipient& r = tx.recipients[i];
    const std::optional<std::string> to = detail::render_path(r.address, plan.use_utf8);
    if (!to || to->empty()) {
      decide(i, ours(queue::rcpt_status::Failed, "5.1.3",
                     "the recipient address cannot be sent to this peer", outcome_source::Local));
      continue;
    }
    staged_.push_back(staged{step::Rcpt, i, detail::rcpt_command(r, plan, *to)});
    any = true;
  }
  if (!any) {
    staged_.clear();
    enter_state(conn_state::Ready);
    return finish_transaction();
  }
  if (plan.bdat) {
    // RFC 3030: the chunks follow once every RCPT is answered (pump() waits), so that
    // no message octets go to a peer that took no recipient.
    txn_.bdat = true;
    txn_.mode = plan.binarymime ? data_encoder::mode::Binary : data_encoder::mode::Chunks;
    staged_.push_back(staged{step::Bdat, 0, ""});
  } else {
    // RFC 2920 §3.1: DATA may only end a group; pump() holds it back as needed.
    staged_.push_back(staged{step::Data, 0, "DATA\r\n"});
  }
  needs_rset_ = true;
  pump();
  return client_action::Read;
}

void client::pump() {
  while (!staged_.empty() && awaiting_.size() < window_) {
    const staged& next = staged_.front();
    if (txn_.mail_failed) {
      staged_.clear();  // lock-step: MAIL was refused, the RCPTs are pointless
      break;
    }
    if (next.s == step::Data && awaiting_.empty() && txn_.accepted.empty()) {
      staged_.clear();  // every RCPT reply is in and none accepted: no DATA (§3.3)
      break;
    }
    if (next.s == step::Bdat) {
      if (!awaiting_.empty()) {
        break;  // the first chunk waits for the last RCPT reply
      }
      staged_.clear();
      if (!txn_.accepted.empty()) {
        encoder_.reset(txn_.mode);
        txn_.data_pos = 0;
        enter_state(conn_state::DataBlock);
      }
      break;
    }
    out_ += next.line;
    awaiting_.push_back(sent{next.s, next.rcpt});
    staged_.pop_front();
  }
}

client_action client::after_reply() {
  if (!txn_.active) {
    return idle_action();
  }
  pump();
  if (state_ == conn_state::DataBlock) {
    return chunk_window_full() ? client_action::Read : client_action::Write;
  }
  if (staged_.empty() && awaiting_.empty()) {
    return finish_transaction();
  }
  return client_action::Read;
}

bool client::chunk_window_full() const {
  if (!txn_.bdat) {
    return false;
  }
  return awaiting_.size() >= (ext_.pipelining ? k_chunk_window : 1);
}

std::string_view client::next_block() {
  // One block never spans the downgraded head and the queued rest: a block may be short.
  std::string_view block;
  if (txn_.data_pos < txn_.head.size()) {
    block = std::string_view(txn_.head).substr(txn_.data_pos, k_data_block);
  } else {
    block = txn_.rest.substr(txn_.data_pos - txn_.head.size(), k_data_block);
  }
  txn_.data_pos += block.size();
  return block;
}

client_action client::more_chunks() {
  // RFC 3030 §2: "BDAT <size> [LAST]", then exactly <size> octets, no dot-stuffing.
  std::string chunk;
  encoder_.feed(next_block(), chunk);
  const bool last = txn_.data_pos >= outgoing_size();
  if (last) {
    encoder_.finish(chunk);
  }
  out_ += "BDAT " + std::to_string(chunk.size()) + (last ? " LAST\r\n" : "\r\n");
  out_ += chunk;
  awaiting_.push_back(sent{last ? step::BdatLast : step::Bdat});
  if (last) {
    txn_.data_sent = true;
    enter_state(conn_state::Busy);
    return client_action::Read;
  }
  return chunk_window_full() ? client_action::Read : client_action::Write;
}

client_action client::on_chunk_reply(step s, const reply& r) {
  if (r.code / 100 != 2) {
    // RFC 3030 §2: a refused chunk fails the transaction; the peer still reads and
    // discards the octets already announced, and the rest are not sent. RSET (begin())
    // clears the peer's state before the next transaction.
    for (const std::size_t i : txn_.accepted) {
      decide(i, from_reply(r, outcome_source::Peer));
    }
    txn_.chunk_failed = true;
    if (state_ == conn_state::DataBlock) {
      enter_state(conn_state::Busy);
    }
  } else if (s == step::BdatLast) {
    // The reply to the last chunk decides like the reply to the end of DATA.
    for (const std::size_t i : txn_.accepted) {
      decide(i, from_reply(r, outcome_source::Peer));
    }
  }
  if (state_ == conn_state::DataBlock) {
    return client_action::Write;  // a reply made room in the window: the next chunk
  }
  return awaiting_.empty() ? finish_transaction() : client_action::Read;
}

client_action client::more() {
  if (state_ != conn_state::DataBlock) {
    return idle_action();
  }
  if (txn_.bdat) {
    return more_chunks();
  }
  encoder_.feed(next_block(), out_);
  if (txn_.data_pos < outgoing_size()) {
    return client_action::Write;
  }
  encoder_.finish(out_);
  txn_.data_sent = true;
  enter_state(conn_state::Busy);
  if (dialect_ == client_dialect::Lmtp) {
    for (const std::size_t i : txn_.accepted) {
      awaiting_.push_back(sent{step::Dot, i});
    }
  } else {
    awaiting_.push_back(sent{step::Dot});
  }
  return client_action::Read;
}

std::string client::hello() const {
  return (dialect_ == client_dialect::Lmtp ? "LHLO " : "EHLO ") + hostname_ + "\r\n";
}

void client::decide(std::size_t rcpt, client_outcome o) {
  if (rcpt < txn_.outcomes.size() && !txn_.outcomes[rcpt]) {
    txn_.outcomes[rcpt] = std::move(o);
  }
}

client_action client::finish_transaction() {
  transaction_result res;
  res.peer_dsn = txn_.peer_dsn;
  res.data_sent = txn_.data_sent;
  res.recipients.reserve(txn_.outcomes.size());
  for (std::optional<client_outcome>& o : txn_.outcomes) {
    // Every recipient has an outcome by now; the fallback keeps a bug from losing one.
    res.recipients.push_back(o ? std::move(*o)
                               : ours(queue::rcpt_status::Deferred, "4.3.0",
                                      "no outcome from the peer", outcome_source::Connection));
  }
  result_ = std::move(res);
  txn_ = transaction_state{};
  staged_.clear();
  if (state_ == conn_state::Closed) {
    return client_action::Close;
  }
  enter_state(conn_state::Ready);
  return client_action::Ready;
}

client_action client::fail_all_local(std::string_view dsn, std::string_view text) {
  const auto status =
      dsn.starts_with('5') ? queue::rcpt_status::Failed : queue::rcpt_status::Deferred;
  for (std::size_t i = 0; i < txn_.outcomes.size(); ++i) {
    decide(i, ours(status, dsn, text, outcome_source::Local));
  }
  return finish_transaction();
}

client_action client::fail_connection(client_outcome o, bool say_quit) {
  failure_ = o;
  out_.clear();
  if (say_quit) {
    out_ = "QUIT\r\n";  // written on the way out; its reply is not awaited
  }
  awaiting_.clear();
  staged_.clear();
  enter_state(conn_state::Closed);
  if (txn_.active) {
    for (std::size_t i = 0; i < txn_.outcomes.size(); ++i) {
      decide(i, o);
    }
    finish_transaction();
  }
  return client_action::Close;
}

client_action client::protocol_error(std::string_view what) {
  std::string text = "protocol error: ";
  text += what;
  return fail_connection(
      ours(queue::rcpt_status::Deferred, "4.5.0", text, outcome_source::Connection), false);
}

client_action client::connection_lost(std::string_view reason) {
  if (state_ == conn_state::Closed) {
    return client_action::Close;
  }
  if (!awaiting_.empty() && awaiting_.front().s == step::Quit) {
    enter_state(conn_state::Closed);  // the peer closed after QUIT without its 221
    return client_action::Close;
  }
  return fail_connection(
      ours(queue::rcpt_status::Deferred, "4.4.2", reason, outcome_source::Connection), false);
}

client_action client::quit() {
  if (state_ == conn_state::Closed) {
    return client_action::Close;
  }
  if (state_ != conn_state::Ready || !awaiting_.empty()) {
    // Mid-dialogue: the recipients not decided yet are deferred, and the connection
    // goes without waiting for replies it could no longer match up.
    const bool in_message = state_ == conn_state::DataBlock;
    if (txn_.active) {
      for (std::size_t i = 0; i < txn_.outcomes.size(); ++i) {
        decide(i,
               ours(queue::rcpt_status::Deferred, "4.4.2",
                    "connection closed before the transaction ended", outcome_source::Connection));
      }
      enter_state(conn_state::Closed);
      finish_transaction();
    }
    // Inside the message a QUIT would only be more message text.
    out_ = in_message ? std::string() : std::string("QUIT\r\n");
    awaiting_.clear();
    staged_.clear();
    enter_state(conn_state::Closed);
    return client_action::Close;
  }
  enter_state(conn_state::Busy);
  send(step::Quit, "QUIT\r\n");
  return client_action::Read;
}

}  // namespace posthorn::smtp
