#include "smtp/server/session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <utility>

#include "common/metrics.hpp"
#include "mail/received.hpp"
#include "policy/credentials.hpp"
#include "smtp/proto/xclient.hpp"
#include "smtp/server/session_util.hpp"

namespace posthorn::smtp {

using detail::starts_with_ci;
using detail::trim;

namespace {

// --- Metrics (STYLE.md 10; docs/operations.md lists them) ----------------------------

metrics::family<metrics::counter>& m_commands = metrics::default_registry().add_counter_family(
    "posthorn_smtp_commands_total", "SMTP commands by verb and the class of their final reply.",
    {"verb", "class"});
metrics::counter& m_messages_accepted = metrics::default_registry().add_counter(
    "posthorn_messages_accepted_total", "Messages queued (250 after DATA).");
metrics::counter& m_messages_rejected = metrics::default_registry().add_counter(
    "posthorn_messages_rejected_total",
    "Messages refused after their data was received (size, bare CR or LF, loop, disk).");
metrics::counter& m_received_bytes = metrics::default_registry().add_counter(
    "posthorn_received_bytes_total",
    "Message octets received in DATA (after dot-unstuffing) or BDAT, accepted or not.");
metrics::family<metrics::counter>& m_auth = metrics::default_registry().add_counter_family(
    "posthorn_auth_total", "AUTH exchanges by result.", {"result"});
metrics::counter& m_auth_success = m_auth.with({"success"});
metrics::counter& m_auth_failure = m_auth.with({"failure"});
metrics::counter& m_auth_blocked = m_auth.with({"blocked"});

// The commands family's children, resolved on first use and read without a lock after:
// counting a command is one atomic load and one atomic add.
metrics::counter& command_counter(verb v, int code) {
  static std::array<std::array<std::atomic<metrics::counter*>, 3>, k_verb_count> slots{};
  static constexpr std::array<std::string_view, 3> k_class = {"2xx", "4xx", "5xx"};
  const std::size_t cls = code < 400 ? 0 : code < 500 ? 1 : 2;
  std::atomic<metrics::counter*>& slot = slots[static_cast<std::size_t>(v)][cls];
  metrics::counter* c = slot.load(std::memory_order_acquire);
  if (c == nullptr) {
    std::string_view name = v == verb::Unknown ? std::string_view("unknown") : verb_name(v);
    c = &m_commands.with({name, k_class[cls]});
    slot.store(c, std::memory_order_release);
  }
  return *c;
}

// A logfmt value in quotes: a client's text (an address with a quoted local part) may
// hold quotes and backslashes.
std::string quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  out += '"';
  return out;
}

const char* phase_name(phase p) {
  switch (p) {
    case phase::Connected:
      return "connected";
    case phase::Greeted:
      return "greeted";
    case phase::Mail:
      return "mail";
    case phase::Rcpt:
      return "rcpt";
  }
  return "?";
}

// A first line like this is a web client or proxy probe, never SMTP.
bool looks_like_http(std::string_view line) {
  static constexpr std::array<std::string_view, 7> k_prefixes = {
      "GET ", "POST ", "CONNECT ", "HOST:", "HEAD ", "PUT ", "OPTIONS "};
  return std::any_of(k_prefixes.begin(), k_prefixes.end(),
                     [&](std::string_view p) { return starts_with_ci(line, p); });
}

}  // namespace

session_settings session_settings::from(const config::config& cfg, const config::listen_config& l) {
  session_settings s;
  s.hostname = cfg.hostname;
  s.message_size = cfg.limits.message_size;
  s.max_recipients = cfg.limits.recipients;
  s.max_errors = cfg.limits.errors;
  s.min_free_space = cfg.limits.min_free_space;
  s.vrfy = cfg.smtp.vrfy;
  s.expn = cfg.smtp.expn;
  s.role = l.role;
  s.allow_plaintext_auth = l.allow_plaintext_auth;
  s.sender_policy = cfg.submission.sender_policy;
  s.scram = cfg.auth.dovecot_socket.empty();
  return s;
}

session::session(session_settings settings, std::shared_ptr<const policy::accounts> accounts,
                 session_env& env, peer_info peer)
    : settings_(std::move(settings)),
      accounts_(std::move(accounts)),
      env_api_(env),
      peer_(std::move(peer)) {
  if (lmtp()) {
    peer_.trusted = false;      // LMTP delivers locally, never relays
    settings_.check_steps = 0;  // the MTA handing mail over did the checking
  }
}

void session::greet() { send(reply{220, "", {settings_.hostname + " ESMTP posthorn"}}); }

void session::refuse(const reply& r) {
  send(r);
  mode_ = input_mode::Closed;
}

void session::enter_phase(phase p) {
  if (p != phase_) {
    spdlog::trace("smtp {}: {} -> {}", peer_.addr, phase_name(phase_), phase_name(p));
    phase_ = p;
  }
}

void session::reset_transaction() {
  txn_ = transaction{};
  writer_.discard();
  env_ = queue::envelope{};
  if (phase_ == phase::Mail || phase_ == phase::Rcpt) {
    enter_phase(phase::Greeted);
  }
}

void session::send(const reply& r) {
  if (hold_success_ && r.code < 400) {
    held_reply_ = r;  // the checks decide whether it goes out (session_checks.cpp)
    return;
  }
  r.render(out_);
  note_reply(r.code);
}

void session::note_reply(int code) {
  // 334 and 354 ask for more; the command is answered by what follows them.
  if (!answer_due_ || code == 334 || code == 354) {
    return;
  }
  answer_due_ = false;
  const auto i = static_cast<std::size_t>(answering_);
  ++stats_.verb_total[i];
  if (code < 400) {
    ++stats_.verb_ok[i];
  }
  command_counter(answering_, code).inc();
}

void session::log_reject(int code, std::string_view enhanced, std::string_view text) const {
  if (!spdlog::should_log(spdlog::level::info)) {
    return;
  }
  // The verb only: arguments may hold AUTH payloads (DESIGN.md §4.5).
  std::string_view cmd = !answer_due_                  ? std::string_view("none")
                         : answering_ == verb::Unknown ? std::string_view("unknown")
                                                       : verb_name(answering_);
  std::string from = txn_.active ? " from=<" + txn_.sender.str() + ">" : std::string();
  if (!txn_.id.empty()) {
    spdlog::info("id={} event=reject client=[{}] command={} code={} dsn={} reason={}{}", txn_.id,
                 peer_.addr, cmd, code, enhanced, quoted(text), from);
  } else {
    spdlog::info("event=reject client=[{}] command={} code={} dsn={} reason={}{}", peer_.addr, cmd,
                 code, enhanced, quoted(text), from);
  }
}

std::string session::counters::summary() const {
  // Postfix's order: the dialogue as it usually runs, then the oddities.
  static constexpr std::array k_order = {
      verb::Helo, verb::Ehlo, verb::Xclient, verb::Starttls, verb::Auth, verb::Mail, verb::Rcpt,
      verb::Data, verb::Bdat, verb::Rset,    verb::Noop,     verb::Vrfy, verb::Expn, verb::Help,
      verb::Etrn, verb::Quit, verb::Send,    verb::Soml,     verb::Saml, verb::Turn, verb::Unknown};
  static_assert(k_order.size() == k_verb_count);
  std::string out;
  std::uint32_t ok = 0, total = 0;
  auto count = [&out](std::string_view name, std::uint32_t good, std::uint32_t all) {
    if (!out.empty()) {
      out += ' ';
    }
    out += name;
    out += '=';
    out += std::to_string(good);
    if (good != all) {
      out += '/';
      out += std::to_string(all);
    }
  };
  for (verb v : k_order) {
    const auto i = static_cast<std::size_t>(v);
    if (verb_total[i] == 0) {
      continue;
    }
    std::string name(v == verb::Unknown ? std::string_view("unknown") : verb_name(v));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; });
    count(name, verb_ok[i], verb_total[i]);
    ok += verb_ok[i];
    total += verb_total[i];
  }
  count("commands", ok, total);
  return out;
}

void session::reply_with(int code, std::string_view enhanced, std::string_view text) {
  send(make_reply(code, enhanced, text));
}

void session::error_reply(int code, std::string_view enhanced, std::string_view text) {
  log_reject(code, enhanced, text);
  reply_with(code, enhanced, text);
  ++stats_.errors;
  check_limits();
}

// RFC 5321 §4.3.2 lets a server close after too many errors; 421 says why.
bool session::check_limits() {
  if (settings_.max_errors != 0 && stats_.errors >= settings_.max_errors &&
      mode_ != input_mode::Closed) {
    reply_with(421, "4.7.0", settings_.hostname + " Error: too many errors");
    mode_ = input_mode::Closed;
    return false;
  }
  return true;
}

action session::feed(std::string_view& in) {
  while (true) {
    if (mode_ == input_mode::Closed) {
      return action::Close;
    }
    if (spill_pending_) {
      return action::Spill;
    }
    if (verify_pending_) {
      return action::AuthVerify;
    }
    if (xclient_pending_) {
      return action::NewClient;
    }
    if (etrn_pending_) {
      return action::Etrn;
    }
    if (check_pending_) {
      return action::Check;
    }
    if (out_.size() >= 16 * 1024) {
      return action::Flush;
    }
    // A BDAT chunk of 0 octets ("BDAT 0 LAST") is complete without more input.
    if (in.empty() && !(mode_ == input_mode::Bdat && bdat_.left() == 0)) {
      return action::Read;
    }
    action a = mode_ == input_mode::Data   ? feed_data(in)
               : mode_ == input_mode::Bdat ? feed_bdat(in)
               : mode_ == input_mode::Sasl ? feed_sasl(in)
                                           : feed_command(in);
    if (a != action::Read) {
      return a;
    }
  }
}

action session::feed_command(std::string_view& in) {
  std::optional<line> l = lines_.feed(in);
  if (!l) {
    return action::Read;
  }
  ++stats_.commands;
  // Refused before it is parsed, a line counts as an unknown command.
  answering_ = verb::Unknown;
  answer_due_ = true;
  bool first = first_line_;
  first_line_ = false;
  if (first && looks_like_http(l->text)) {
    log_reject(554, "5.7.0", "this is an SMTP server, not a web server");
    reply_with(554, "5.7.0", "Error: this is an SMTP server, not a web server");
    mode_ = input_mode::Closed;
    return action::Close;
  }
  // RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with CRLF.
  if (l->too_long) {
    error_reply(500, "5.5.2", "Error: command line too long");
    return action::Read;
  }
  // §2.3.8: only CRLF ends a line; never act on a line with a bare CR or LF, nor on
  // any part of it (the text after a bare LF is not a command of its own).
  if (l->bare_lf) {
    error_reply(500, "5.5.2", "Error: bare <LF> received; lines must end with <CR><LF>");
    return action::Read;
  }
  if (l->bare_cr) {
    error_reply(500, "5.5.2", "Error: bare <CR> received; lines must end with <CR><LF>");
    return action::Read;
  }
  dispatch(parse_command(l->text));
  if (mode_ == input_mode::Closed) {
    return action::Close;
  }
  if (check_pending_) {
    return action::Check;
  }
  if (starttls_pending_) {
    starttls_pending_ = false;
    return action::StartTls;
  }
  if (xclient_pending_) {
    return action::NewClient;
  }
  return etrn_pending_ ? action::Etrn : action::Read;
}

void session::dispatch(const command& c) {
  answering_ = c.v;
  if (lmtp()) {
    dispatch_lmtp(c);
    return;
  }
  const handler_entry* e = find_entry(c.v);
  if (e == nullptr) {
    error_reply(500, "5.5.2", "Error: command not recognized");
    return;
  }
  // RFC 5321 §3.1: after a 554 greeting only QUIT is served.
  if (service_refused_ && c.v != verb::Quit) {
    error_reply(503, "5.5.1", "Error: service refused; send QUIT");
    return;
  }
  const std::optional<check_step> step = check_step_of(c.v);
  if (!step) {
    (this->*(e->fn))(c);
    return;
  }
  // The checks want this step: hold back the success reply and remember what to undo.
  undo_ = check_undo{phase_, helo_, esmtp_, txn_.rcpts.size()};
  hold_success_ = true;
  (this->*(e->fn))(c);
  hold_success_ = false;
  if (held_reply_) {
    check_ = check_point{*step, *step == check_step::Rcpt ? last_rcpt_ : mail::address{}};
    check_pending_ = true;
  }
}

bool session::greeted_check() {
  if (phase_ == phase::Connected) {
    error_reply(503, "5.5.1", "Error: send HELO/EHLO first");
    return false;
  }
  return true;
}

void session::on_helo(const command& c) {
  std::string_view arg = trim(c.arg);
  if (arg.empty()) {
    error_reply(501, "5.5.4", "Syntax: HELO hostname");
    return;
  }
  reset_transaction();
  if (!helo_fixed_) {
    helo_ = std::string(arg.substr(0, arg.find(' ')));
  }
  esmtp_ = false;
  enter_phase(phase::Greeted);
  // RFC 2034 §3: HELO/EHLO replies carry no enhanced code (clients parse keywords).
  send(reply{250, "", {settings_.hostname}});
}

void session::on_ehlo(const command& c) {
  std::string_view arg = trim(c.arg);
  if (arg.empty()) {
    error_reply(501, "5.5.4", "Syntax: EHLO hostname");
    return;
  }
  reset_transaction();
  if (!helo_fixed_) {
    helo_ = std::string(arg.substr(0, arg.find(' ')));
  }
  esmtp_ = true;
  enter_phase(phase::Greeted);
  reply r{250, "", {settings_.hostname}};
  r.lines.push_back("PIPELINING");
  r.lines.push_back(settings_.message_size == 0 ? std::string("SIZE")
                                                : "SIZE " + std::to_string(settings_.message_size));
  r.lines.push_back("8BITMIME");
  r.lines.push_back("BINARYMIME");  // RFC 3030 §3, with CHUNKING
  r.lines.push_back("SMTPUTF8");
  r.lines.push_back("ENHANCEDSTATUSCODES");
  r.lines.push_back("DSN");
  r.lines.push_back("CHUNKING");  // RFC 3030 §2
  r.lines.push_back("ETRN");      // RFC 1985 §3
  // RFC 4954 §4: no AUTH over plain text unless the listener allows it.
  if (!auth_user_ && (tls_active_ || settings_.allow_plaintext_auth)) {
    r.lines.push_back("AUTH " + std::string(settings_.scram ? auth::advertised_mechanisms_with_scram(
                                                                  scram_plus_offered())
                                                            : auth::advertised_mechanisms()));
  }
  if (settings_.tls_available && !tls_active_) {
    r.lines.push_back("STARTTLS");  // RFC 3207 §4.2: not after TLS is up
  }
  if (settings_.xclient_allowed) {
    r.lines.push_back("XCLIENT " + std::string(k_xclient_attributes));
  }
  r.lines.push_back("HELP");
  send(r);
}

void session::on_rset(const command& c) {
  if (!trim(c.arg).empty()) {
    error_reply(501, "5.5.4", "Syntax: RSET");
    return;
  }
  reset_transaction();
  reply_with(250, "2.0.0", "Ok");
}

void session::on_noop(const command&) { reply_with(250, "2.0.0", "Ok"); }

void session::on_quit(const command&) {
  send(reply{221, "", {settings_.hostname + " closing connection"}});
  mode_ = input_mode::Closed;
}

void session::on_obsolete(const command& c) {
  // RFC 5321 §4.5.3? lists SEND/SOML/SAML as obsolete; TURN is unsafe (RFC 2645).
  error_reply(
      502, "5.5.1",
      std::string("Error: ") + std::string(verb_name(c.v)) + " is obsolete and not implemented");
}

// RFC 3207.
void session::on_starttls(const command& c) {
  if (!trim(c.arg).empty()) {
    error_reply(501, "5.5.4", "Syntax: STARTTLS");
    return;
  }
  if (tls_active_) {
    error_reply(503, "5.5.1", "Error: TLS already active");
    return;
  }
  if (!settings_.tls_available) {
    error_reply(454, "4.7.0", "TLS not available due to temporary reason");
    return;
  }
  if (txn_.active) {
    error_reply(503, "5.5.1", "Error: STARTTLS not allowed during a mail transaction");
    return;
  }
  send(reply{220, "2.0.0", {"Ready to start TLS"}});
  starttls_pending_ = true;
}

void session::tls_started(std::string info, auth::channel_bindings bindings) {
  // RFC 3207 §4.2: discard all knowledge from before TLS; the client must EHLO again.
  // Unread input was discarded by the driver (CVE-2011-0411).
  lines_.reset();
  reset_transaction();
  helo_.clear();
  helo_fixed_ = false;
  proto_fixed_.clear();
  esmtp_ = false;
  enter_phase(phase::Connected);
  tls_active_ = true;
  tls_info_ = std::move(info);
  bindings_ = std::move(bindings);
  auth_user_.reset();
  sasl_.reset();
  scram_login_.reset();
}

bool session::submission() const {
  return settings_.role != config::listener_role::Mx && !lmtp();
}

// --- AUTH (RFC 4954) ------------------------------------------------------------------

void session::on_auth(const command& c) {
  if (phase_ == phase::Connected || !esmtp_) {
    error_reply(503, "5.5.1", "Error: send EHLO first");
    return;
  }
  if (auth_user_) {
    error_reply(503, "5.5.1", "Error: already authenticated");
    return;
  }
  if (txn_.active) {
    error_reply(503, "5.5.1", "Error: AUTH not allowed during a mail transaction");
    return;
  }
  if (!tls_active_ && !settings_.allow_plaintext_auth) {
    error_reply(538, "5.7.11", "Error: encryption required for requested authentication mechanism");
    return;
  }
  std::string_view arg = trim(c.arg);
  std::string_view name = arg.substr(0, arg.find(' '));
  std::optional<std::string_view> initial;
  if (name.size() < arg.size()) {
    initial = trim(arg.substr(name.size()));
  }
  auto mech = auth::parse_mechanism(name);
  // -PLUS is offered only where there is channel binding data (TLS).
  if (!mech || (*mech == auth::mechanism::ScramSha256Plus && !scram_plus_offered()) ||
      (!settings_.scram && *mech != auth::mechanism::Plain && *mech != auth::mechanism::Login)) {
    error_reply(504, "5.5.4", "Error: unrecognized authentication type");
    return;
  }
  sasl_.emplace(auth::sasl_exchange::start(*mech, initial, scram_options_for(*mech)));
  step_sasl();
}

// SCRAM (RFC 7677) checks the proof inside the exchange, against the secrets the users
// file holds; the lookup is an in-memory one, so it runs here.
std::optional<auth::scram_options> session::scram_options_for(auth::mechanism m) const {
  if (m != auth::mechanism::ScramSha256 && m != auth::mechanism::ScramSha256Plus) {
    return std::nullopt;
  }
  auth::scram_options o;
  o.plus_offered = scram_plus_offered();
  o.bindings = bindings_;
  std::shared_ptr<const policy::accounts> accounts = accounts_;
  o.lookup = [accounts](std::string_view authcid) -> std::optional<auth::scram_secrets> {
    const policy::user* u = accounts ? policy::find_login(*accounts, authcid) : nullptr;
    // A locked account ("*", "!...") cannot log in with any mechanism.
    if (u == nullptr || u->hash.empty() || u->hash.front() == '*' || u->hash.front() == '!') {
      return std::nullopt;
    }
    return u->scram;
  };
  return o;
}

void session::step_sasl() {
  auth::sasl_step step = sasl_->current();
  if (auto* ch = std::get_if<auth::sasl_challenge>(&step)) {
    // RFC 4954 §4: continue-req = "334" SP [base64] CRLF; the space stays when empty.
    out_ += "334 " + ch->text + "\r\n";
    mode_ = input_mode::Sasl;
    lines_.set_limit(auth::k_max_response_line);
    return;
  }
  mode_ = input_mode::Command;
  lines_.set_limit(512);
  if (auto* v = std::get_if<auth::sasl_verify>(&step)) {
    verify_ = *v;
    verify_pending_ = true;
    return;
  }
  const auto& f = std::get<auth::sasl_failed>(step);
  if (f.enhanced != "5.7.0") {  // "*" cancels (501 5.7.0): not a guess
    env_api_.auth_failure();
    m_auth_failure.inc();
  }
  error_reply(f.code, f.enhanced, f.text);
  sasl_.reset();
}

action session::feed_sasl(std::string_view& in) {
  std::optional<line> l = lines_.feed(in);
  if (!l) {
    return action::Read;
  }
  if (l->too_long) {
    // RFC 4954 §4: 500 5.5.6 for an over-long authentication line.
    mode_ = input_mode::Command;
    lines_.set_limit(512);
    sasl_.reset();
    scram_login_.reset();
    error_reply(500, "5.5.6", "Error: authentication exchange line is too long");
    return mode_ == input_mode::Closed ? action::Close : action::Read;
  }
  if (scram_login_) {
    finish_scram(l->text);
    return mode_ == input_mode::Closed ? action::Close : action::Read;
  }
  sasl_->respond(l->text);
  step_sasl();
  if (mode_ == input_mode::Closed) {
    return action::Close;
  }
  return verify_pending_ ? action::AuthVerify : action::Read;
}

void session::auth_done(std::optional<mail::address> login) {
  verify_pending_ = false;
  verify_ = {};
  // RFC 4954 §4: SCRAM's server-final message is additional data with success, sent as
  // a 334 challenge; the client checks it and answers with an empty line.
  const std::string final_data = login && sasl_ ? sasl_->success_data() : std::string();
  sasl_.reset();
  if (login && !final_data.empty()) {
    scram_login_ = std::move(login);
    out_ += "334 " + final_data + "\r\n";
    mode_ = input_mode::Sasl;
    lines_.set_limit(auth::k_max_response_line);
    return;
  }
  if (login) {
    m_auth_success.inc();
    auth_user_ = std::move(login);
    reply_with(235, "2.7.0", "Authentication successful");
    return;
  }
  m_auth_failure.inc();
  // Failed attempts count toward [limits] errors (DESIGN.md §4.2).
  error_reply(535, "5.7.8", "Error: authentication credentials invalid");
}

void session::finish_scram(std::string_view line) {
  mode_ = input_mode::Command;
  lines_.set_limit(512);
  std::optional<mail::address> login = std::move(scram_login_);
  scram_login_.reset();
  if (line.empty()) {
    m_auth_success.inc();
    auth_user_ = std::move(login);
    reply_with(235, "2.7.0", "Authentication successful");
    return;
  }
  // "*": the client did not accept our signature (RFC 4954 §4); anything else is not
  // the empty response the exchange ends with.
  m_auth_failure.inc();
  if (line == "*") {
    error_reply(501, "5.7.0", "Error: authentication cancelled");
  } else {
    error_reply(501, "5.5.2", "Error: expected an empty response");
  }
}

void session::auth_blocked() {
  m_auth_blocked.inc();
  verify_pending_ = false;
  verify_ = {};
  sasl_.reset();
  scram_login_.reset();
  reply_with(421, "4.7.0", settings_.hostname + " Error: too many failed authentications");
  mode_ = input_mode::Closed;
}

void session::on_not_offered(const command& c) {
  error_reply(502, "5.5.1",
              std::string("Error: ") + std::string(verb_name(c.v)) + " not implemented");
}

// --- The message content (DATA and BDAT) --------------------------------------------

void session::begin_message() {
  txn_.id = env_api_.new_queue_id();
  writer_ = env_api_.begin_message(txn_.id);
  std::string received = received_field();
  received_size_ = received.size();
  headers_checked_ = false;
  writer_.append(received);
  data_buf_.clear();
}

bool session::refused_content(const content_scanner& content) const {
  // RFC 3030 §3: only a BINARYMIME body may hold bare CR and LF (binary octets).
  return content.over_limit() ||
         (content.bare_cr_or_lf() && txn_.body != queue::body_type::BinaryMime);
}

void session::absorb(const content_scanner& content, bool complete) {
  // A refused message is still read to its end, but nothing more is kept.
  const bool refused = refused_content(content);
  if (refused) {
    data_buf_.clear();
    writer_.discard();
  } else if (!data_buf_.empty()) {
    writer_.append(data_buf_);
    data_buf_.clear();
  }
  if (!headers_checked_ && (!content.in_headers() || complete) && !refused) {
    add_missing_headers(content);
  }
}

action session::spill_or_read() {
  if (writer_.wants_spill()) {
    spill_pending_ = true;
    return action::Spill;
  }
  return action::Read;
}

action session::feed_data(std::string_view& in) {
  const bool done = data_.feed(in, data_buf_);
  absorb(data_.content(), done);
  if (done) {
    return finish_message(data_.content());
  }
  return spill_or_read();
}

void session::spill_done(result<void> r) {
  spill_pending_ = false;
  if (!r) {
    // The disk failed under us: keep reading to the end of data, then answer 451.
    spdlog::error("id={} spill failed: {}", txn_.id, r.error().message);
    writer_.discard();
    spill_failed_ = true;
  }
}

// RFC 6409 §8.2/8.3: a submission server may add a missing Date and Message-ID.
void session::add_missing_headers(const content_scanner& content) {
  headers_checked_ = true;
  if (!submission() && !auth_user_) {
    return;
  }
  unsigned seen = content.seen_headers();
  std::string fields;
  if ((seen & content_scanner::k_seen_date) == 0) {
    fields += "Date: " + mail::rfc5322_date(env_api_.now()) + "\r\n";
  }
  if ((seen & content_scanner::k_seen_message_id) == 0) {
    fields += "Message-ID: <" + txn_.id + "@" + settings_.hostname + ">\r\n";
  }
  if (!fields.empty()) {
    writer_.insert(received_size_ + content.header_end(), fields);
  }
}

action session::finish_message(const content_scanner& content) {
  mode_ = input_mode::Command;
  lines_.reset();
  const bool spill_failed = std::exchange(spill_failed_, false);
  m_received_bytes.inc(content.size());
  auto refuse = [&](int code, std::string_view enhanced, std::string_view text) {
    m_messages_rejected.inc();
    message_reply(code, enhanced, text, true);
    reset_transaction();
    return mode_ == input_mode::Closed ? action::Close : action::Read;
  };
  if (content.over_limit()) {
    return refuse(552, "5.3.4", "Error: message size exceeds fixed limit");
  }
  if (refused_content(content)) {
    // RFC 5321 §2.3.8: CR and LF only ever appear together; a message with a bare
    // one is refused whole (SMTP smuggling defence), unless declared BINARYMIME.
    return refuse(550, "5.6.0",
                  "Error: message contains bare <CR> or <LF>; lines must end with <CR><LF>");
  }
  // RFC 5321 §6.3: more than 100 trace fields in the message as received is a loop.
  if (content.received_headers() > k_max_received) {
    return refuse(554, "5.4.6", "Error: too many hops (mail loop?)");
  }
  if (spill_failed) {
    return refuse(451, "4.3.0", "Error: queue file write error");
  }
  build_envelope();
  if ((settings_.check_steps & step_bit(check_step::Message)) != 0) {
    check_ = check_point{check_step::Message, {}};
    check_pending_ = true;
    return action::Check;
  }
  return action::Commit;
}

// --- BDAT (RFC 3030) -----------------------------------------------------------------

void session::on_bdat(const command& c) {
  std::optional<bdat_args> args = parse_bdat_args(c.arg);
  if (!args) {
    // The chunk's length is unknown, so its octets cannot be told apart from the next
    // command: answer, then close rather than run message content as commands.
    error_reply(501, "5.5.4", "Syntax: BDAT <size> [LAST]");
    if (mode_ != input_mode::Closed) {
      reply_with(421, "4.7.0",
                 settings_.hostname + " Error: BDAT size unknown, closing connection");
      mode_ = input_mode::Closed;
    }
    return;
  }
  chunk_ = chunk_state{.last = args->last};
  auto refuse = [&](int code, std::string_view enhanced, std::string_view text) {
    chunk_.refusal = code;
    chunk_.enhanced = enhanced;
    chunk_.text = text;
  };
  // Whatever the verdict, the announced octets are read first and the reply follows
  // them (RFC 3030 §2: the reply to a BDAT comes after its chunk).
  if (phase_ == phase::Connected) {
    refuse(503, "5.5.1", "Error: send HELO/EHLO first");
  } else if (!txn_.active) {
    refuse(503, "5.5.1", "Error: need MAIL command");
  } else if (txn_.bdat_failed) {
    // RFC 3030 §2: after a failed chunk the client sends no more; any still in the
    // pipeline are read and discarded.
    refuse(503, "5.5.1", "Error: an earlier BDAT of this transaction failed; send RSET");
  } else if (txn_.data_tried) {
    refuse(503, "5.5.1", "Error: BDAT and DATA cannot be mixed in one transaction");
  } else if (txn_.rcpts.empty()) {
    if (txn_.rcpt_attempts > 0) {
      refuse(554, "5.5.1", "Error: no valid recipients");
    } else {
      refuse(503, "5.5.1", "Error: need RCPT command");
    }
  } else if (!txn_.bdat_started &&
             env_api_.free_space() < settings_.min_free_space + txn_.declared_size.value_or(0)) {
    refuse(452, "4.3.1", "Error: insufficient system storage");
  } else if (!txn_.bdat_started) {
    txn_.bdat_started = true;
    begin_message();
    bdat_.reset(settings_.message_size);
  }
  if (chunk_.refusal != 0 && txn_.active) {
    txn_.bdat_failed = true;
  }
  bdat_.start_chunk(args->size, chunk_.refusal == 0);
  mode_ = input_mode::Bdat;
}

action session::feed_bdat(std::string_view& in) {
  const bool done = bdat_.feed(in, data_buf_);
  const bool kept = chunk_.refusal == 0;
  if (kept && done && chunk_.last) {
    bdat_.finish(data_buf_);
  }
  if (kept) {
    absorb(bdat_.content(), done && chunk_.last);
  }
  if (!done) {
    return kept ? spill_or_read() : action::Read;
  }
  mode_ = input_mode::Command;
  if (!kept) {
    error_reply(chunk_.refusal, chunk_.enhanced, chunk_.text);
    return mode_ == input_mode::Closed ? action::Close : action::Read;
  }
  if (chunk_.last) {
    return finish_message(bdat_.content());
  }
  // The size so far, after this chunk (Postfix says "Ok: N bytes").
  reply_with(250, "2.0.0", "Ok: " + std::to_string(bdat_.received()) + " octets received");
  return spill_or_read();
}

void session::count_message(bool accepted) {
  (accepted ? m_messages_accepted : m_messages_rejected).inc();
}

void session::commit_done(result<void> r) {
  if (r) {
    ++stats_.messages;
    m_messages_accepted.inc();
    message_reply(250, "2.0.0", "Ok: queued as " + env_.id, false);
  } else {
    m_messages_rejected.inc();  // the driver logs why (event=commit-failed)
    message_reply(451, "4.3.0", "Error: queue file write error", false);
  }
  end_message();
}

void session::end_message() {
  txn_ = transaction{};
  env_ = queue::envelope{};
  writer_ = queue::message_writer{};
  check_log_.clear();
  enter_phase(phase::Greeted);
}

void session::timeout() {
  reply_with(421, "4.4.2", settings_.hostname + " Error: timeout exceeded");
  mode_ = input_mode::Closed;
}

void session::shutdown() {
  reply_with(421, "4.3.2", settings_.hostname + " Service shutting down, closing connection");
  mode_ = input_mode::Closed;
}

}  // namespace posthorn::smtp
