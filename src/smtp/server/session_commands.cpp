// The session's envelope and information commands: MAIL, RCPT, DATA, HELP, VRFY,
// EXPN, and the command table.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_set>

#include "mail/received.hpp"
#include "policy/credentials.hpp"
#include "smtp/proto/params.hpp"
#include "smtp/server/session.hpp"
#include "smtp/server/session_util.hpp"

namespace posthorn::smtp {

using detail::starts_with_ci;
using detail::trim;

namespace {

std::string bracketed(const mail::address& a) { return "<" + a.str() + ">"; }

// What EHLO offers decides which parameters are known (RFC 5321 §4.1.1.11: 555).
constexpr param_support k_supported{
    .size = true,
    .eightbitmime = true,
    .binarymime = true,  // RFC 3030 §3, with CHUNKING
    .smtputf8 = true,
    .dsn = true,
    .auth = true};  // RFC 4954 §5: AUTH= is accepted (and not trusted)

}  // namespace

// Every verb has its entry; ETRN is in session_etrn.cpp.
const session::handler_entry* session::find_entry(verb v) {
  static const handler_entry k_table[] = {
      {verb::Helo, "HELO <hostname>: identify yourself (SMTP)", &session::on_helo},
      {verb::Ehlo, "EHLO <hostname>: identify yourself and list extensions", &session::on_ehlo},
      {verb::Mail,
       "MAIL FROM:<sender> [SIZE=n] [BODY=7BIT|8BITMIME|BINARYMIME] [SMTPUTF8] [AUTH=<>]",
       &session::on_mail},
      {verb::Rcpt, "RCPT TO:<recipient>: add a recipient", &session::on_rcpt},
      {verb::Data, "DATA: send the message, end it with <CRLF>.<CRLF>", &session::on_data},
      {verb::Rset, "RSET: abandon the current transaction", &session::on_rset},
      {verb::Noop, "NOOP: do nothing", &session::on_noop},
      {verb::Quit, "QUIT: close the connection", &session::on_quit},
      {verb::Help, "HELP [command]: this text", &session::on_help},
      {verb::Vrfy, "VRFY <address>: verify an address", &session::on_vrfy},
      {verb::Expn, "EXPN <list>: list the members of a mailing list", &session::on_expn},
      {verb::Starttls, "STARTTLS: start TLS (RFC 3207)", &session::on_starttls},
      {verb::Auth, "AUTH <mechanism> [initial-response]: authenticate (RFC 4954)",
       &session::on_auth},
      {verb::Xclient, "XCLIENT attribute=value...: speak for another client (Postfix)",
       &session::on_xclient},
      {verb::Bdat, "BDAT <size> [LAST]: send <size> octets of the message (RFC 3030)",
       &session::on_bdat},
      {verb::Etrn, "ETRN [@]<domain>: start delivery of mail queued for that domain (RFC 1985)",
       &session::on_etrn},
      {verb::Send, "", &session::on_obsolete},
      {verb::Soml, "", &session::on_obsolete},
      {verb::Saml, "", &session::on_obsolete},
      {verb::Turn, "", &session::on_obsolete},
  };
  for (const handler_entry& e : k_table) {
    if (e.v == v) {
      return &e;
    }
  }
  return nullptr;
}

void session::on_mail(const command& c) {
  // RFC 5321 §4.1.4: MAIL needs a prior HELO/EHLO and no transaction under way.
  if (!greeted_check()) {
    return;
  }
  if (txn_.active) {
    error_reply(503, "5.5.1", "Error: nested MAIL command");
    return;
  }
  // RFC 6409 §4.3: a submission server may require AUTH before MAIL.
  if (submission() && !auth_user_) {
    error_reply(530, "5.7.0", "Error: authentication required");
    return;
  }
  std::string_view arg = c.arg;
  if (!starts_with_ci(arg, "FROM:")) {
    error_reply(501, "5.5.4", "Syntax: MAIL FROM:<address>");
    return;
  }
  // Many clients put a space after the colon; Postfix and others accept it.
  arg = trim(arg.substr(5));
  auto path = mail::parse_path(arg, /*allow_null=*/true, /*utf8=*/true);
  if (!path) {
    if (path.error() == mail::path_error::TooLong) {
      error_reply(501, "5.5.4", "Error: sender address too long");
    } else {
      error_reply(501, "5.1.7", "Error: bad sender address syntax");
    }
    return;
  }
  if (!path->params.empty() && !esmtp_) {
    error_reply(555, "5.5.4", "Error: parameters need EHLO");
    return;
  }
  auto params = parse_mail_params(path->params, k_supported);
  if (!params) {
    error_reply(params.error().code(), params.error().enhanced(), params.error().text());
    return;
  }
  if (params->size && settings_.message_size != 0 && *params->size > settings_.message_size) {
    // RFC 1870 §6.1.
    error_reply(552, "5.3.4", "Error: message size exceeds fixed maximum message size");
    return;
  }
  if (path->addr.needs_utf8() && !params->smtputf8) {
    // RFC 6531 §3.4.
    error_reply(553, "5.6.7", "Error: UTF-8 address needs the SMTPUTF8 parameter");
    return;
  }
  if (auth_user_ &&
      !policy::sender_allowed(*accounts_, settings_.sender_policy, *auth_user_, path->addr)) {
    error_reply(553, "5.7.1",
                bracketed(path->addr) + ": Sender address rejected: not owned by user " +
                    auth_user_->str());
    return;
  }
  if (env_api_.free_space() < settings_.min_free_space + params->size.value_or(0)) {
    error_reply(452, "4.3.1", "Error: insufficient system storage");
    return;
  }
  txn_ = transaction{};
  txn_.active = true;
  txn_.sender = path->addr;
  txn_.smtputf8 = params->smtputf8;
  txn_.body = params->body == body_kind::EightBitMime ? queue::body_type::EightBitMime
              : params->body == body_kind::BinaryMime ? queue::body_type::BinaryMime
                                                      : queue::body_type::SevenBit;
  txn_.declared_size = params->size;
  txn_.envid = params->envid.value_or("");
  if (params->ret) {
    txn_.ret = *params->ret == "HDRS" ? queue::dsn_ret::Hdrs : queue::dsn_ret::Full;
  }
  enter_phase(phase::Mail);
  reply_with(250, "2.1.0", "Ok");
}

void session::on_rcpt(const command& c) {
  if (!greeted_check()) {
    return;
  }
  if (!txn_.active) {
    error_reply(503, "5.5.1", "Error: need MAIL command");
    return;
  }
  std::string_view arg = c.arg;
  if (!starts_with_ci(arg, "TO:")) {
    error_reply(501, "5.5.4", "Syntax: RCPT TO:<address>");
    return;
  }
  arg = trim(arg.substr(3));
  ++txn_.rcpt_attempts;
  mail::address addr;
  std::string_view param_text;
  if (auto pm = mail::parse_postmaster_path(arg); pm && !accounts_->local_domains().empty()) {
    // RFC 5321 §4.1.1.3: "<Postmaster>" without a domain means ours.
    addr = mail::address{"postmaster", accounts_->local_domains().front()};
    param_text = *pm;
  } else {
    auto path = mail::parse_path(arg, /*allow_null=*/false, /*utf8=*/true);
    if (!path) {
      if (path.error() == mail::path_error::TooLong) {
        error_reply(501, "5.5.4", "Error: recipient address too long");
      } else {
        error_reply(501, "5.1.3", "Error: bad recipient address syntax");
      }
      return;
    }
    addr = path->addr;
    param_text = path->params;
  }
  if (!param_text.empty() && !esmtp_) {
    error_reply(555, "5.5.4", "Error: parameters need EHLO");
    return;
  }
  auto params = parse_rcpt_params(param_text, k_supported);
  if (!params) {
    error_reply(params.error().code(), params.error().enhanced(), params.error().text());
    return;
  }
  if (addr.needs_utf8() && !txn_.smtputf8) {
    error_reply(553, "5.6.7", "Error: UTF-8 address needs SMTPUTF8 on MAIL FROM");
    return;
  }
  // RFC 5321 §4.5.3.1.8: 452 tells the client to send the rest in another transaction.
  if (settings_.max_recipients != 0 && txn_.rcpts.size() >= settings_.max_recipients) {
    ++stats_.recipients_rejected;
    error_reply(452, "4.5.3", "Error: too many recipients");
    return;
  }
  std::string who = bracketed(addr);
  // Sender-specified routing through us (user%host@us, host!user@us, "user@host"@us) is
  // a relay attempt from a client that may not relay, whatever the rest names: Postfix's
  // reject_unauth_destination refuses it too, and a gateway that honoured it would be an
  // open relay.
  if (!peer_.trusted && !auth_user_ && addr.local.find_first_of("%!@") != std::string::npos) {
    ++stats_.recipients_rejected;
    error_reply(550, "5.7.1", who + ": Relaying denied (sender-specified routing)");
    return;
  }
  policy::lookup l = accounts_->find(addr);
  bool local = true;
  switch (l.kind) {
    case policy::recipient_kind::User:
      break;
    case policy::recipient_kind::Alias:
      // A 250 must end in a delivery or a bounce: an alias that leaves nobody to deliver to
      // is refused here rather than queued with no recipient (DESIGN.md §4.2).
      if (!rcpt_alias_check(addr, who)) {
        return;
      }
      break;
    case policy::recipient_kind::Unknown:
      ++stats_.recipients_rejected;
      error_reply(550, "5.1.1", who + ": Recipient address rejected: User unknown");
      return;
    case policy::recipient_kind::Relocated:
      ++stats_.recipients_rejected;
      error_reply(551, "5.1.6", who + ": User has moved; please try <" + l.relocated_to + ">");
      return;
    case policy::recipient_kind::Remote:
      // Trusted networks and authenticated users may relay; nobody else (no open relay).
      if (!peer_.trusted && !auth_user_) {
        ++stats_.recipients_rejected;
        error_reply(550, "5.7.1", who + ": Relaying denied");
        return;
      }
      local = false;
      break;
    case policy::recipient_kind::Relay:
      // We are a backup MX for this domain ([domains] relay): from anyone, like a
      // local recipient, and relayed to the domain's MX hosts. Not over LMTP.
      if (lmtp()) {
        ++stats_.recipients_rejected;
        error_reply(550, "5.7.1", who + ": Relaying denied");
        return;
      }
      local = false;
      break;
  }
  std::string key = mail::address_key(addr);
  bool duplicate = std::any_of(txn_.rcpts.begin(), txn_.rcpts.end(),
                               [&](const rcpt& r) { return mail::address_key(r.addr) == key; });
  if (!duplicate) {
    txn_.rcpts.push_back(rcpt{addr, params->orcpt.value_or(""), local, params->notify});
  }
  last_rcpt_ = addr;
  enter_phase(phase::Rcpt);
  reply_with(250, "2.1.5", "Ok");
}

namespace {

// Why an alias that leaves nobody to deliver to is refused; RCPT and VRFY say the same.
struct alias_refusal {
  const char* status;
  const char* reason;
};

alias_refusal refusal_for(policy::undeliverable why) {
  switch (why) {
    case policy::undeliverable::Loop:
      return {"5.4.6", "alias loop"};
    case policy::undeliverable::AllRelocated:
      // No single new address to offer (551 wants one, RFC 5321 §3.4): the list has moved.
      return {"5.1.6", "all members have moved"};
    case policy::undeliverable::Unknown:
    case policy::undeliverable::No:
      break;
  }
  return {"5.1.1", "User unknown"};
}

}  // namespace

bool session::rcpt_alias_check(const mail::address& addr, const std::string& who) {
  const policy::undeliverable why = accounts_->expand(addr).why_undeliverable();
  if (why == policy::undeliverable::No) {
    return true;
  }
  if (why == policy::undeliverable::Loop) {
    spdlog::warn("event=alias-loop alias=<{}> client=[{}]", addr.str(), peer_.addr);
  }
  ++stats_.recipients_rejected;
  const alias_refusal r = refusal_for(why);
  error_reply(550, r.status, who + ": Recipient address rejected: " + r.reason);
  return false;
}

void session::on_data(const command& c) {
  if (!greeted_check()) {
    return;
  }
  if (!txn_.active) {
    error_reply(503, "5.5.1", "Error: need MAIL command");
    return;
  }
  if (txn_.bdat_started || txn_.bdat_failed) {
    // RFC 3030 §3: 503, and the transaction is then to be reset (RSET).
    txn_.bdat_failed = true;
    error_reply(503, "5.5.1", "Error: BDAT and DATA cannot be mixed in one transaction");
    return;
  }
  if (txn_.body == queue::body_type::BinaryMime) {
    // RFC 3030 §3: a BINARYMIME message can only be sent with BDAT (which then works).
    error_reply(503, "5.5.1", "Error: BODY=BINARYMIME needs BDAT, not DATA");
    return;
  }
  txn_.data_tried = true;
  if (txn_.rcpts.empty()) {
    // RFC 2920 §3.1: DATA after only failed RCPTs gets 554 (or 503).
    if (txn_.rcpt_attempts > 0) {
      error_reply(554, "5.5.1", "Error: no valid recipients");
    } else {
      error_reply(503, "5.5.1", "Error: need RCPT command");
    }
    return;
  }
  if (!trim(c.arg).empty()) {
    error_reply(501, "5.5.4", "Syntax: DATA");
    return;
  }
  if (env_api_.free_space() < settings_.min_free_space + txn_.declared_size.value_or(0)) {
    error_reply(452, "4.3.1", "Error: insufficient system storage");
    return;
  }
  begin_message();
  data_.reset(settings_.message_size);
  mode_ = input_mode::Data;
  send(reply{354, "", {"End data with <CR><LF>.<CR><LF>"}});
}

std::string session::protocol_name() const {
  // RFC 3848 and RFC 6531 §3.7.3 name the "with" protocols.
  std::string p = !proto_fixed_.empty() ? proto_fixed_ : esmtp_ ? "ESMTP" : "SMTP";
  if (txn_.smtputf8) {
    p = "UTF8SMTP";
  }
  if (tls_active_) {
    p += "S";
  }
  if (auth_user_) {
    p += "A";  // RFC 3848
  }
  return p;
}

std::string session::received_field() const {
  mail::received_info info;
  info.from_helo = helo_;
  info.client_name = peer_.name;
  info.client_addr = peer_.addr;
  info.by_host = settings_.hostname;
  info.protocol = protocol_name();
  info.queue_id = txn_.id;
  if (txn_.rcpts.size() == 1) {
    info.for_rcpt = txn_.rcpts.front().addr.str();
  }
  info.when = env_api_.now();
  info.tls_info = tls_info_;
  return mail::received_header(info);
}

// Aliases are expanded once the message is accepted, with the accounts as they are
// then; each final target keeps the address the client gave (Delivered-To, DSN).
void session::build_envelope() {
  env_ = queue::envelope{};
  env_.id = txn_.id;
  env_.sender = txn_.sender;
  env_.arrival = env_api_.now();
  env_.body = txn_.body;
  env_.smtputf8 = txn_.smtputf8;
  env_.envid = txn_.envid;
  env_.ret = txn_.ret;
  env_.client_addr = peer_.addr;
  env_.client_name = peer_.name;
  env_.helo = helo_;
  env_.protocol = protocol_name();
  env_.auth_user = auth_user_ ? auth_user_->str() : std::string();
  std::unordered_set<std::string> seen;
  auto add = [&](queue::recipient r) {
    std::string key = (r.local ? "L" : "R") + mail::address_key(r.address);
    if (seen.insert(key).second) {
      env_.recipients.push_back(std::move(r));
    }
  };
  for (const rcpt& r : txn_.rcpts) {
    if (!r.local) {
      add(queue::recipient{.address = r.addr,
                           .original = r.addr,
                           .orcpt = r.orcpt,
                           .notify = r.notify,
                           .local = false});
      continue;
    }
    policy::expansion exp = accounts_->expand(r.addr);
    if (exp.loop) {
      spdlog::warn("id={} alias loop while expanding <{}>", env_.id, r.addr.str());
    }
    for (const policy::target& t : exp.targets) {
      queue::recipient q{.address = t.address,
                         .original = r.addr,
                         .orcpt = r.orcpt,
                         .notify = r.notify,
                         .local = t.k != policy::target::kind::Remote};
      if (t.k == policy::target::kind::Unknown) {
        q.status = queue::rcpt_status::Failed;
        q.last_reply = "550 5.1.1 <" + t.address.str() + ">: User unknown";
      } else if (t.k == policy::target::kind::Relocated) {
        q.status = queue::rcpt_status::Failed;
        q.last_reply = "551 5.1.6 <" + t.address.str() + ">: User has moved; please try <" +
                       t.relocated_to + ">";
      }
      add(std::move(q));
    }
  }
}

void session::on_help(const command& c) {
  std::string_view topic = trim(c.arg);
  if (topic.empty()) {
    reply r{214, "2.0.0", {"posthorn commands:"}};
    std::string verbs;
    for (verb v :
         {verb::Helo, verb::Ehlo, verb::Mail, verb::Rcpt, verb::Data, verb::Bdat, verb::Rset,
          verb::Noop, verb::Quit, verb::Help, verb::Vrfy, verb::Expn, verb::Etrn}) {
      verbs += (verbs.empty() ? "  " : " ") + std::string(verb_name(v));
    }
    r.lines.push_back(verbs);
    r.lines.push_back("For more on a command: HELP <command>");
    r.lines.push_back("End of HELP info");
    send(r);
    return;
  }
  command asked = parse_command(topic);
  const handler_entry* e = find_entry(asked.v);
  if (e == nullptr || e->help.empty()) {
    error_reply(504, "5.5.4", "Error: no HELP for that topic");
    return;
  }
  send(reply{214, "2.0.0", {std::string(e->help), "End of HELP info"}});
}

namespace {

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c & 0x80) == 0; });
}

}  // namespace

// RFC 6531 §3.7.4.2: VRFY and EXPN take an optional SMTPUTF8 parameter after their
// string ("VRFY <addr> SMTPUTF8"); it says the client reads UTF-8 in the reply.
session::query_arg session::split_query(std::string_view arg) {
  query_arg q{trim(arg), false};
  const std::size_t space = q.text.find_last_of(' ');
  if (space != std::string_view::npos) {
    std::string_view last = q.text.substr(space + 1);
    if (last.size() == 8 && starts_with_ci(last, "SMTPUTF8")) {
      q.text = trim(q.text.substr(0, space));
      q.utf8 = true;
    }
  }
  return q;
}

// Sends a VRFY/EXPN answer, unless it holds UTF-8 the client did not ask for:
// RFC 6531 §3.7.4.2 then wants 553 5.6.8 in its place.
void session::query_reply(const reply& r, bool utf8) {
  if (!utf8 && !std::all_of(r.lines.begin(), r.lines.end(),
                            [](const std::string& l) { return is_ascii(l); })) {
    error_reply(553, "5.6.8", "Error: the reply needs UTF-8; send the SMTPUTF8 parameter");
    return;
  }
  if (r.code >= 400) {
    log_reject(r.code, r.enhanced, r.lines.empty() ? std::string() : r.lines.front());
    send(r);
    ++stats_.errors;
    check_limits();
    return;
  }
  send(r);
}

// Resolves a VRFY/EXPN argument to one address, or replies with why not.
std::optional<mail::address> session::query_address(const query_arg& q, std::string_view verb) {
  if (q.utf8 && !esmtp_) {
    // SMTPUTF8 is offered in the EHLO reply only (RFC 5321 §4.1.1.11).
    error_reply(555, "5.5.4", "Error: parameters need EHLO");
    return std::nullopt;
  }
  std::string_view arg = q.text;
  if (!q.utf8 && !is_ascii(arg)) {
    // RFC 6531 §3.7.4.2: a UTF-8 string comes with SMTPUTF8, and so may its answer.
    error_reply(553, "5.6.8", "Error: a UTF-8 string needs the SMTPUTF8 parameter");
    return std::nullopt;
  }
  if (arg.empty()) {
    error_reply(501, "5.5.4", "Syntax: " + std::string(verb) + " <address>");
    return std::nullopt;
  }
  if (arg.find('@') != std::string_view::npos) {
    auto a = mail::parse_address(arg, /*allow_brackets=*/true);
    if (!a) {
      error_reply(501, "5.1.3", "Error: bad address syntax");
      return std::nullopt;
    }
    return a;
  }
  std::string_view name = arg;
  if (name.size() >= 2 && name.front() == '<' && name.back() == '>') {
    name = name.substr(1, name.size() - 2);
  }
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
    name = name.substr(1, name.size() - 2);
  }
  std::vector<mail::address> matches = accounts_->match_name(name);
  if (matches.empty()) {
    error_reply(550, "5.1.1", "<" + std::string(name) + ">: User unknown");
    return std::nullopt;
  }
  if (matches.size() > 1) {
    // RFC 5321 §3.5.3: 553 for an ambiguous name, listing the candidates.
    reply r{553, "5.1.4", {"Ambiguous; possibilities are:"}};
    for (const mail::address& m : matches) {
      r.lines.push_back(bracketed(m));
    }
    query_reply(r, q.utf8);
    return std::nullopt;
  }
  return matches.front();
}

void session::on_vrfy(const command& c) {
  if (!settings_.vrfy) {
    // RFC 5321 §3.5.3: 252 neither confirms nor denies an account.
    reply_with(252, "2.1.5", "Cannot VRFY user, but will accept message and attempt delivery");
    return;
  }
  const query_arg q = split_query(c.arg);
  auto a = query_address(q, "VRFY");
  if (!a) {
    return;
  }
  policy::lookup l = accounts_->find(*a);
  switch (l.kind) {
    case policy::recipient_kind::User:
      query_reply(make_reply(250, "2.1.5", bracketed(l.canonical)), q.utf8);
      return;
    case policy::recipient_kind::Alias: {
      policy::expansion exp = accounts_->expand(*a);
      if (const auto why = exp.why_undeliverable(); why != policy::undeliverable::No) {
        // Answered as RCPT would be: VRFY must not promise what RCPT refuses.
        const alias_refusal r = refusal_for(why);
        error_reply(550, r.status, bracketed(*a) + ": " + r.reason);
        return;
      }
      if (exp.targets.size() == 1 && exp.targets.front().k == policy::target::kind::Remote) {
        query_reply(
            make_reply(251, "2.1.5",
                       "User not local; will forward to " + bracketed(exp.targets.front().address)),
            q.utf8);
      } else {
        query_reply(make_reply(250, "2.1.5", bracketed(l.canonical)), q.utf8);
      }
      return;
    }
    case policy::recipient_kind::Relocated:
      query_reply(make_reply(551, "5.1.6", "User not local; please try <" + l.relocated_to + ">"),
                  q.utf8);
      return;
    case policy::recipient_kind::Unknown:
      error_reply(550, "5.1.1", bracketed(*a) + ": User unknown");
      return;
    case policy::recipient_kind::Remote:
    case policy::recipient_kind::Relay:
      reply_with(252, "2.1.5", "Cannot VRFY remote user, but will attempt delivery");
      return;
  }
}

void session::on_expn(const command& c) {
  if (!settings_.expn) {
    error_reply(502, "5.5.1", "Error: EXPN is disabled");
    return;
  }
  const query_arg q = split_query(c.arg);
  auto a = query_address(q, "EXPN");
  if (!a) {
    return;
  }
  policy::lookup l = accounts_->find(*a);
  switch (l.kind) {
    case policy::recipient_kind::Alias: {
      reply r{250, "2.1.5", {}};
      for (const mail::address& m : accounts_->members(*a)) {
        r.lines.push_back(bracketed(m));
      }
      if (r.lines.empty()) {
        r.lines.push_back(bracketed(l.canonical));
      }
      query_reply(r, q.utf8);
      return;
    }
    case policy::recipient_kind::User:
      query_reply(make_reply(250, "2.1.5", bracketed(l.canonical)), q.utf8);
      return;
    case policy::recipient_kind::Relocated:
      query_reply(make_reply(551, "5.1.6", "User not local; please try <" + l.relocated_to + ">"),
                  q.utf8);
      return;
    case policy::recipient_kind::Unknown:
    case policy::recipient_kind::Remote:
    case policy::recipient_kind::Relay:
      error_reply(550, "5.1.1", bracketed(*a) + ": no such user or mailing list here");
      return;
  }
}

}  // namespace posthorn::smtp
