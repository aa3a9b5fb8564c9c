#include "pop3/session.hpp"

#include <array>

namespace posthorn::pop3 {

namespace {

// The command table (STYLE.md 3): in which states a verb may run.
struct verb_rule {
  verb v;
  bool authorization;
  bool transaction;
};

constexpr std::array<verb_rule, 15> k_rules{{
    {verb::User, true, false},
    {verb::Pass, true, false},
    {verb::Apop, true, false},
    {verb::Auth, true, false},
    {verb::Capa, true, true},
    {verb::Stls, true, false},
    {verb::Stat, false, true},
    {verb::List, false, true},
    {verb::Retr, false, true},
    {verb::Dele, false, true},
    {verb::Noop, false, true},
    {verb::Rset, false, true},
    {verb::Top, false, true},
    {verb::Uidl, false, true},
    {verb::Quit, true, true},
}};

const verb_rule* rule_for(verb v) {
  for (const verb_rule& r : k_rules) {
    if (r.v == v) {
      return &r;
    }
  }
  return nullptr;
}

// Dovecot's wording, which clients and administrators know.
constexpr std::string_view k_plaintext_refused =
    "[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.";

}  // namespace

session::session(session_settings settings)
    : settings_(std::move(settings)), lines_(k_max_auth_line, smtp::lf_mode::EndsLine) {}

void session::greet() { reply_ok(settings_.hostname + " POP3 server ready"); }

void session::reply_ok(std::string_view text) {
  out_ += "+OK";
  if (!text.empty()) {
    out_ += ' ';
    out_ += text;
  }
  out_ += "\r\n";
}

void session::reply_err(std::string_view text) {
  out_ += "-ERR ";
  out_ += text;
  out_ += "\r\n";
}

void session::error(std::string_view text) {
  reply_err(text);
  ++stats_.errors;
  if (settings_.max_errors != 0 && stats_.errors >= settings_.max_errors) {
    reply_err("Too many invalid commands, closing");
    closed_ = true;
  }
}

action session::feed(std::string_view& in) {
  while (true) {
    if (closed_) {
      return action::Close;
    }
    if (wants_ != action::Read) {
      return wants_;
    }
    if (listing_) {
      continue_listing();
    }
    if (out_.size() >= settings_.output_limit) {
      return action::Flush;
    }
    std::optional<smtp::line> l = lines_.feed(in);
    if (!l) {
      return action::Read;
    }
    if (l->too_long) {
      if (mode_ == mode::Sasl) {
        cancel_auth();
      }
      error("Line too long");
      continue;
    }
    if (mode_ == mode::Sasl) {
      feed_sasl(l->text);
    } else {
      run(l->text);
    }
  }
}

void session::run(std::string_view line) {
  const command c = parse_command(line);
  const verb_rule* r = rule_for(c.v);
  if (r == nullptr) {
    error("Unknown command");
    return;
  }
  if ((state_ == state::Authorization && !r->authorization) ||
      (state_ == state::Transaction && !r->transaction)) {
    error(state_ == state::Authorization ? "Not logged in" : "Command not valid after login");
    return;
  }
  switch (c.v) {
    case verb::User:
      on_user(c);
      return;
    case verb::Pass:
      on_pass(c);
      return;
    case verb::Apop:
      error("APOP is not supported");  // no timestamp in the greeting (RFC 1939 §7)
      return;
    case verb::Auth:
      on_auth(c);
      return;
    case verb::Capa:
      on_capa();
      return;
    case verb::Stls:
      on_stls();
      return;
    case verb::Stat:
      on_stat();
      return;
    case verb::List:
      on_list(c, false);
      return;
    case verb::Uidl:
      on_list(c, true);
      return;
    case verb::Retr:
      on_retr(c, false);
      return;
    case verb::Top:
      on_retr(c, true);
      return;
    case verb::Dele:
      on_dele(c);
      return;
    case verb::Noop:
      reply_ok("");
      return;
    case verb::Rset:
      on_rset();
      return;
    case verb::Quit:
      on_quit();
      return;
    case verb::Unknown:
      break;
  }
  error("Unknown command");
}

// --- AUTHORIZATION ---------------------------------------------------------------------

std::string session::mechanisms() const {
  if (settings_.scram_lookup) {
    return std::string(auth::advertised_mechanisms_with_scram(scram_plus_offered()));
  }
  return std::string(auth::advertised_mechanisms());
}

// RFC 2449 §5: what this session offers now. USER and SASL only where a password may be
// sent (TLS, or allow_plaintext_auth), STLS only before TLS.
void session::on_capa() {
  reply_ok("Capability list follows");
  out_ += "TOP\r\n";
  if (state_ == state::Authorization && auth_allowed()) {
    out_ += "USER\r\nSASL " + mechanisms() + "\r\n";
  }
  out_ += "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUIDL\r\n";
  if (state_ == state::Authorization && settings_.tls_available && !tls_active_) {
    out_ += "STLS\r\n";
  }
  out_ += "IMPLEMENTATION posthorn\r\n.\r\n";
}

void session::on_stls() {
  if (tls_active_) {
    error("TLS is already active");
    return;
  }
  if (!settings_.tls_available) {
    error("STLS is not available");
    return;
  }
  if (user_) {
    error("STLS after USER");  // RFC 2595 §4: only before the client authenticates
    return;
  }
  reply_ok("Begin TLS negotiation now");
  wants_ = action::StartTls;
}

void session::tls_started(auth::channel_bindings bindings) {
  if (wants_ == action::StartTls) {
    wants_ = action::Read;
  }
  lines_.reset();  // CVE-2011-0411: nothing sent before the handshake is a command
  tls_active_ = true;
  bindings_ = std::move(bindings);
  user_.reset();
  credentials_.clear();
}

void session::on_user(const command& c) {
  if (!auth_allowed()) {
    error(k_plaintext_refused);
    return;
  }
  if (c.args.empty()) {
    error("USER needs a name");
    return;
  }
  if (c.args.size() > auth::k_max_identity) {
    error("[AUTH] Name too long");
    return;
  }
  // Accepted whoever it names: PASS says whether name and password match, so the reply
  // does not tell which accounts exist (RFC 1939 §13).
  user_ = std::string(c.args);
  reply_ok("");
}

void session::on_pass(const command& c) {
  if (!auth_allowed()) {
    error(k_plaintext_refused);
    return;
  }
  if (!user_) {
    error("Send USER first");
    return;
  }
  // RFC 1939 §7: a server may take the whole rest of the line, spaces included.
  std::string_view password = c.args;
  if (password.size() > auth::k_max_password) {
    user_.reset();
    error("[AUTH] Password too long");
    return;
  }
  credentials_.assign(*user_);
  credentials_.append(password);
  const std::string_view both = credentials_.view();
  verify_ = {};
  verify_.authcid = both.substr(0, user_->size());
  verify_.password = both.substr(user_->size());
  user_.reset();
  wants_ = action::AuthVerify;
}

void session::on_auth(const command& c) {
  if (!auth_allowed()) {
    error(k_plaintext_refused);
    return;
  }
  const split_args a = split_first(c.args);
  if (a.first.empty()) {
    // RFC 1734 clients ask for the list with a bare AUTH (as Dovecot answers it).
    reply_ok("");
    const std::string names = mechanisms();
    std::string_view m = names;
    while (!m.empty()) {
      const split_args next = split_first(m);
      out_ += std::string(next.first) + "\r\n";
      m = next.rest;
    }
    out_ += ".\r\n";
    return;
  }
  auto mech = auth::parse_mechanism(a.first);
  const bool scram =
      mech && (*mech == auth::mechanism::ScramSha256 || *mech == auth::mechanism::ScramSha256Plus);
  if (!mech || (scram && !settings_.scram_lookup) ||
      (*mech == auth::mechanism::ScramSha256Plus && !scram_plus_offered())) {
    error("Unsupported authentication mechanism");
    return;
  }
  std::optional<std::string_view> initial;
  if (!a.rest.empty()) {
    initial = a.rest;
  }
  std::optional<auth::scram_options> options;
  if (scram) {
    options.emplace();
    options->plus_offered = scram_plus_offered();
    options->bindings = bindings_;
    options->lookup = settings_.scram_lookup;
  }
  user_.reset();
  sasl_.emplace(auth::sasl_exchange::start(*mech, initial, std::move(options)));
  step_sasl();
}

void session::step_sasl() {
  const auth::sasl_step step = sasl_->current();
  if (const auto* ch = std::get_if<auth::sasl_challenge>(&step)) {
    // RFC 5034 §4: a continuation is "+" SP base64.
    out_ += "+ " + ch->text + "\r\n";
    mode_ = mode::Sasl;
    return;
  }
  mode_ = mode::Command;
  if (const auto* v = std::get_if<auth::sasl_verify>(&step)) {
    verify_ = *v;
    wants_ = action::AuthVerify;
    return;
  }
  const auto& f = std::get<auth::sasl_failed>(step);
  sasl_.reset();
  if (f.enhanced == "5.7.0") {
    reply_err("Authentication cancelled");  // "*" (RFC 5034 §4)
    return;
  }
  error("[AUTH] " + std::string(f.text));
}

void session::feed_sasl(std::string_view line) {
  if (scram_login_) {
    finish_scram(line);
    return;
  }
  sasl_->respond(line);
  step_sasl();
}

void session::cancel_auth() {
  mode_ = mode::Command;
  sasl_.reset();
  scram_login_.reset();
}

void session::auth_done(std::optional<mail::address> login) {
  if (wants_ == action::AuthVerify) {
    wants_ = action::Read;
  }
  verify_ = {};
  credentials_.clear();
  // SCRAM's server-final message is additional data with success: sent as a challenge
  // the client answers with an empty line (RFC 5034 §4, as RFC 4954 does it).
  const std::string final_data = login && sasl_ ? sasl_->success_data() : std::string();
  sasl_.reset();
  if (login && !final_data.empty()) {
    scram_login_ = std::move(login);
    out_ += "+ " + final_data + "\r\n";
    mode_ = mode::Sasl;
    return;
  }
  if (!login) {
    error("[AUTH] Authentication failed");
    return;
  }
  login_ = std::move(login);
  wants_ = action::OpenMailbox;
}

void session::finish_scram(std::string_view line) {
  mode_ = mode::Command;
  std::optional<mail::address> login = std::move(scram_login_);
  scram_login_.reset();
  if (!line.empty()) {
    error(line == "*" ? "Authentication cancelled" : "[AUTH] Expected an empty response");
    return;
  }
  login_ = std::move(login);
  wants_ = action::OpenMailbox;
}

void session::auth_blocked() {
  wants_ = action::Read;
  verify_ = {};
  credentials_.clear();
  cancel_auth();
  reply_err("[AUTH] Too many failed logins, try again later");
  closed_ = true;
}

void session::mailbox_opened(std::vector<message_info> messages) {
  wants_ = action::Read;
  messages_ = std::move(messages);
  deleted_.assign(messages_.size(), false);
  retrieved_.assign(messages_.size(), false);
  state_ = state::Transaction;
  reply_ok("Logged in, " + std::to_string(messages_.size()) + " messages (" +
           std::to_string(live_octets()) + " octets)");
}

void session::mailbox_failed(bool in_use) {
  wants_ = action::Read;
  login_.reset();
  // RFC 2449 §8.1.1 IN-USE; RFC 3206 SYS/TEMP. The session stays in AUTHORIZATION.
  reply_err(in_use ? "[IN-USE] Mailbox is locked by another POP3 session"
                   : "[SYS/TEMP] Mailbox cannot be opened now, try again later");
}

// --- TRANSACTION -----------------------------------------------------------------------

std::uint64_t session::live_octets() const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < messages_.size(); ++i) {
    if (!deleted_[i]) {
      n += messages_[i].size;
    }
  }
  return n;
}

std::size_t session::live_count() const {
  std::size_t n = 0;
  for (bool d : deleted_) {
    n += d ? 0 : 1;
  }
  return n;
}

std::optional<std::size_t> session::message_arg(std::string_view arg) {
  auto n = parse_number(arg);
  if (!n) {
    error("Invalid message number");
    return std::nullopt;
  }
  if (*n > messages_.size()) {
    error("There is no message " + std::string(arg));
    return std::nullopt;
  }
  const std::size_t i = *n - 1;
  if (deleted_[i]) {
    error("Message " + std::to_string(*n) + " is deleted");
    return std::nullopt;
  }
  return i;
}

void session::on_stat() {
  reply_ok(std::to_string(live_count()) + " " + std::to_string(live_octets()));
}

void session::on_list(const command& c, bool uidl) {
  const split_args a = split_first(c.args);
  if (!a.first.empty()) {
    if (!a.rest.empty()) {
      error("Too many arguments");
      return;
    }
    auto i = message_arg(a.first);
    if (!i) {
      return;
    }
    const message_info& m = messages_[*i];
    reply_ok(std::to_string(*i + 1) + " " + (uidl ? m.uid : std::to_string(m.size)));
    return;
  }
  if (uidl) {
    reply_ok("Unique-ID listing follows");
  } else {
    reply_ok(std::to_string(live_count()) + " messages (" + std::to_string(live_octets()) +
             " octets)");
  }
  listing_ = listing{uidl, 0};
  continue_listing();
}

// Produced up to the output limit at a time: the driver writes it out in between.
void session::continue_listing() {
  while (listing_->next < messages_.size() && out_.size() < settings_.output_limit) {
    const std::size_t i = listing_->next++;
    if (deleted_[i]) {
      continue;
    }
    out_ += std::to_string(i + 1);
    out_ += ' ';
    out_ += listing_->uidl ? messages_[i].uid : std::to_string(messages_[i].size);
    out_ += "\r\n";
  }
  if (listing_->next >= messages_.size()) {
    out_ += ".\r\n";
    listing_.reset();
  }
}

void session::on_retr(const command& c, bool top) {
  const split_args a = split_first(c.args);
  std::optional<std::uint64_t> lines;
  if (top) {
    const split_args b = split_first(a.rest);
    if (b.first.empty() || !b.rest.empty()) {
      error("TOP needs a message number and a line count");
      return;
    }
    lines = parse_count(b.first);
    if (!lines) {
      error("Invalid line count");
      return;
    }
  } else if (!a.rest.empty()) {
    error("Too many arguments");
    return;
  }
  auto i = message_arg(a.first);
  if (!i) {
    return;
  }
  retrieval_ = retrieve_request{*i, lines};
  wants_ = action::Retrieve;
}

void session::retrieve_started() {
  const message_info& m = messages_[retrieval_.index];
  if (retrieval_.top_lines) {
    reply_ok("Top of message follows");
  } else {
    reply_ok(std::to_string(m.size) + " octets");
  }
}

void session::retrieve_done() {
  wants_ = action::Read;
  if (retrieval_.top_lines) {
    ++stats_.top;
    return;
  }
  ++stats_.retr;
  stats_.retr_octets += messages_[retrieval_.index].size;
  retrieved_[retrieval_.index] = true;  // marked seen at UPDATE
}

void session::retrieve_failed() {
  wants_ = action::Read;
  reply_err("[SYS/TEMP] Message " + std::to_string(retrieval_.index + 1) + " cannot be read now");
}

void session::on_dele(const command& c) {
  const split_args a = split_first(c.args);
  if (!a.rest.empty()) {
    error("Too many arguments");
    return;
  }
  auto i = message_arg(a.first);
  if (!i) {
    return;
  }
  deleted_[*i] = true;
  ++stats_.dele;
  reply_ok("Marked to be deleted");
}

// RFC 1939 §5: deletion marks are undone; so are the seen marks of RETR, as Dovecot does.
void session::on_rset() {
  deleted_.assign(messages_.size(), false);
  retrieved_.assign(messages_.size(), false);
  stats_.dele = 0;
  reply_ok(std::to_string(messages_.size()) + " messages (" + std::to_string(live_octets()) +
           " octets)");
}

void session::on_quit() {
  if (state_ == state::Authorization) {
    reply_ok("Logging out");
    closed_ = true;
    return;
  }
  state_ = state::Update;
  wants_ = action::Update;
}

void session::update_done(const update_result& r) {
  wants_ = action::Read;
  closed_ = true;
  if (r.failed != 0) {
    // RFC 1939 §6: some deleted messages not removed.
    reply_err("[SYS/TEMP] " + std::to_string(r.failed) + " messages could not be deleted");
    return;
  }
  const std::size_t left = messages_.size() - r.deleted;
  reply_ok("Logging out, " + std::to_string(r.deleted) + " deleted, " + std::to_string(left) +
           " left");
}

void session::timeout() {
  reply_err("Disconnected for inactivity");
  closed_ = true;
}

void session::shutdown() {
  reply_err("[SYS/TEMP] Server shutting down");
  closed_ = true;
}

}  // namespace posthorn::pop3
