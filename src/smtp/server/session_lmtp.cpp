// LMTP (RFC 2033) on a listener with role "lmtp": another MTA hands mail for our local
// users to us. The dialogue is SMTP's with three changes: LHLO instead of HELO/EHLO
// (§4.1), one reply per recipient accepted at RCPT after the message (§4.2), and no
// relaying: only local recipients (users and aliases) are taken. AUTH, STARTTLS, ETRN
// and XCLIENT are not offered: the client is a trusted MTA on a local socket or network.

#include "smtp/server/session.hpp"
#include "smtp/server/session_util.hpp"

namespace posthorn::smtp {

using detail::starts_with_ci;
using detail::trim;

namespace {

// The path of a "RCPT TO:<path> params" argument, for the per-recipient reply texts.
std::string rcpt_path(std::string_view arg) {
  arg = trim(arg.substr(std::min<std::size_t>(3, arg.size())));
  const std::size_t close = arg.find('>');
  if (!arg.empty() && arg.front() == '<' && close != std::string_view::npos) {
    return std::string(arg.substr(1, close - 1));
  }
  return std::string(arg.substr(0, arg.find(' ')));
}

}  // namespace

void session::dispatch_lmtp(const command& c) {
  if (c.v == verb::Unknown && c.name.size() == 4 && starts_with_ci(c.name, "LHLO")) {
    on_lhlo(c);
    return;
  }
  switch (c.v) {
    case verb::Helo:
    case verb::Ehlo:
      error_reply(500, "5.5.1", "Error: this is LMTP (RFC 2033): send LHLO");
      return;
    case verb::Auth:
    case verb::Starttls:
    case verb::Etrn:
    case verb::Xclient:
      on_not_offered(c);
      return;
    default:
      break;
  }
  const handler_entry* e = find_entry(c.v);
  if (e == nullptr) {
    error_reply(500, "5.5.2", "Error: command not recognized");
    return;
  }
  const std::size_t mark = out_.size();
  (this->*(e->fn))(c);
  const bool ok = out_.compare(mark, 3, "250") == 0;
  // The recipients owed a reply after the message: those answered 250 at RCPT, in
  // order, duplicates included (each got its 250, so each gets its reply).
  if (c.v == verb::Rcpt && ok) {
    lmtp_rcpts_.push_back(rcpt_path(c.arg));
  } else if ((c.v == verb::Mail && ok) || c.v == verb::Rset) {
    lmtp_rcpts_.clear();
  }
}

void session::on_lhlo(const command& c) {
  std::string_view arg = trim(c.arg);
  if (arg.empty()) {
    error_reply(501, "5.5.4", "Syntax: LHLO hostname");
    return;
  }
  reset_transaction();
  lmtp_rcpts_.clear();
  helo_ = std::string(arg.substr(0, arg.find(' ')));
  esmtp_ = true;
  proto_fixed_ = "LMTP";  // RFC 3848: "with LMTP" in Received:
  enter_phase(phase::Greeted);
  reply r{250, "", {settings_.hostname}};
  r.lines.push_back("PIPELINING");
  r.lines.push_back(settings_.message_size == 0 ? std::string("SIZE")
                                                : "SIZE " + std::to_string(settings_.message_size));
  r.lines.push_back("8BITMIME");
  r.lines.push_back("SMTPUTF8");
  r.lines.push_back("ENHANCEDSTATUSCODES");
  r.lines.push_back("DSN");
  r.lines.push_back("HELP");
  send(r);
}

void session::message_reply(int code, std::string_view enhanced, std::string_view text,
                            bool error) {
  if (!lmtp()) {
    if (error) {
      error_reply(code, enhanced, text);
    } else {
      reply_with(code, enhanced, text);
    }
    return;
  }
  // RFC 2033 §4.2: after the final dot, one reply for each RCPT that was accepted, in
  // the order of the RCPTs. The message is queued once for all of them, so the replies
  // agree; each names its recipient, as LMTP servers do.
  if (error) {
    log_reject(code, enhanced, text);
    ++stats_.errors;
  }
  for (const std::string& rcpt : lmtp_rcpts_) {
    reply_with(code, enhanced, "<" + rcpt + "> " + std::string(text));
  }
  lmtp_rcpts_.clear();
  if (error) {
    check_limits();
  }
}

}  // namespace posthorn::smtp
