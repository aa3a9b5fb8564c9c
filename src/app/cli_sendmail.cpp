// `posthorn sendmail` and the program called as sendmail, mailq or newaliases
// (DESIGN.md §4.4): the options, who the user is, and which mode runs. The message rules
// are in mail/submission, the dialogue with the server in app/sendmail_client.

#include <pwd.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <random>

#include "app/cli_commands.hpp"
#include "app/sendmail_client.hpp"
#include "mail/address_list.hpp"
#include "mail/sendmail_args.hpp"
#include "mail/submission.hpp"

namespace posthorn::app {

namespace {

namespace fs = std::filesystem;

// -c, else $POSTHORN_CONFIG (an installed /usr/sbin/sendmail is run from anywhere), else
// posthorn.toml here, else the packaged location when that exists.
fs::path choose_config(const mail::sendmail_args& a) {
  if (a.config) {
    return *a.config;
  }
  if (const char* env = std::getenv("POSTHORN_CONFIG"); env != nullptr && *env != '\0') {
    return env;
  }
  std::error_code ec;
  if (!fs::exists("posthorn.toml", ec) && fs::exists("/etc/posthorn/posthorn.toml", ec)) {
    return "/etc/posthorn/posthorn.toml";
  }
  return "posthorn.toml";
}

// The submitting user's login name (sendmail's habit: the password database, not the
// environment, which anybody can set; the server records the real uid anyway).
std::string login_name() {
  const uid_t uid = ::getuid();
  if (const passwd* pw = ::getpwuid(uid); pw != nullptr && pw->pw_name[0] != '\0') {
    return pw->pw_name;
  }
  for (const char* var : {"LOGNAME", "USER"}) {
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') {
      return v;
    }
  }
  return "uid" + std::to_string(uid);
}

// -f/-r: "" and "<>" are the null sender; an address without a domain gets ours.
std::expected<mail::address, std::string> parse_sender(std::string_view text,
                                                       std::string_view hostname) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  if (text.empty() || text == "<>") {
    return mail::address{};
  }
  auto list = mail::parse_address_list(text, hostname);
  if (!list) {
    return std::unexpected(list.error().message);
  }
  if (list->size() != 1) {
    return std::unexpected("one address wanted");
  }
  return std::move(list->front());
}

// Reads stdin through the collector until EOF or the lone dot. Refuses a message
// larger than the server would take, before memory runs out.
std::expected<std::string, int> read_message(bool dot_ends, std::uint64_t limit) {
  mail::input_collector in(dot_ends);
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      std::cerr << "sendmail: reading the message: " << std::strerror(errno)
                << "; the message was NOT sent\n";
      return std::unexpected(EX_IOERR);
    }
    if (n == 0) {
      in.finish();
      break;
    }
    if (in.feed(std::string_view(buf, static_cast<std::size_t>(n)))) {
      break;
    }
    // Some headers are added later; the server has the last word on the size.
    if (limit != 0 && in.size() > limit + 4096) {
      std::cerr << "sendmail: the message is larger than the server accepts ([limits] "
                   "message_size = "
                << limit << " octets); it was NOT sent\n";
      return std::unexpected(EX_DATAERR);
    }
  }
  return in.take_message();
}

int deliver(const mail::sendmail_args& a, const config::config& cfg) {
  std::vector<mail::address> rcpts;
  for (const auto& text : a.recipients) {
    auto list = mail::parse_address_list(text, cfg.hostname);
    if (!list) {
      std::cerr << "sendmail: bad recipient address \"" << text << "\": " << list.error().message
                << '\n';
      return EX_USAGE;
    }
    rcpts.insert(rcpts.end(), list->begin(), list->end());
  }
  if (rcpts.empty() && !a.extract_recipients) {
    std::cerr << "sendmail: no recipients given (name them, or use -t to take them from the "
                 "message's To, Cc and Bcc)\n";
    return EX_USAGE;
  }

  mail::submission_options o;
  o.extract_recipients = a.extract_recipients;
  o.recipients = std::move(rcpts);
  o.login = login_name();
  o.hostname = cfg.hostname;
  if (a.sender) {
    auto s = parse_sender(*a.sender, cfg.hostname);
    if (!s) {
      std::cerr << "sendmail: bad sender address \"" << *a.sender << "\": " << s.error() << '\n';
      return EX_USAGE;
    }
    o.sender = std::move(*s);
  }
  if (a.full_name) {
    o.full_name = *a.full_name;
  } else if (const char* name = std::getenv("NAME"); name != nullptr) {
    o.full_name = name;  // Postfix's sendmail reads $NAME too
  }
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  std::tm utc{};
  ::localtime_r(&now, &local);
  ::gmtime_r(&now, &utc);
  o.date = mail::rfc5322_date(local, local.tm_gmtoff);
  std::random_device rd;
  const std::uint64_t random = (static_cast<std::uint64_t>(rd()) << 32) | rd();
  o.message_id = mail::make_message_id(utc, static_cast<std::uint64_t>(::getpid()), random,
                                       cfg.hostname);

  auto message = read_message(a.dot_ends_input, cfg.limits.message_size);
  if (!message) {
    return message.error();
  }
  auto sub = mail::prepare_submission(*message, o);
  if (!sub) {
    std::cerr << "sendmail: " << sub.error().message << "; the message was NOT sent\n";
    return EX_DATAERR;
  }

  submit_params p;
  p.ehlo_name = cfg.hostname;
  p.eight_bit_declared = a.eight_bit_declared;
  p.notify = a.notify;
  p.ret = a.ret;
  p.envid = a.envid;
  return submit_message(cfg.submit_socket(), *sub, p);
}

}  // namespace

int sendmail_command(std::string_view program, std::span<const std::string_view> args) {
  auto parsed = mail::parse_sendmail_args(args, program);
  if (!parsed) {
    std::cerr << program << ": " << parsed.error() << "\n" << mail::sendmail_usage();
    return EX_USAGE;
  }
  const mail::sendmail_args& a = *parsed;
  switch (a.mode) {
    case mail::sendmail_mode::Help:
      std::cout << mail::sendmail_usage();
      return EX_OK;
    case mail::sendmail_mode::Nothing:
      return EX_OK;
    case mail::sendmail_mode::Newaliases:
      // No database to build: the server reads the aliases file itself.
      std::cerr << program << ": posthorn reads [accounts] aliases_file directly; reload the "
                   "server (SIGHUP) to apply changes\n";
      return EX_OK;
    default:
      break;
  }

  const fs::path config_file = choose_config(a);
  if (a.mode == mail::sendmail_mode::ListQueue) {
    return queue_command(config_file.string(), queue_request{queue_action::List, "", false});
  }
  if (a.mode == mail::sendmail_mode::Flush) {
    return queue_command(config_file.string(),
                         queue_request{queue_action::Flush, a.flush_id, false});
  }
  const auto cfg = load_config_or_report(config_file);
  if (!cfg) {
    std::cerr << program << ": cannot read the config; the message was NOT sent\n";
    return EX_CONFIG;
  }
  if (a.mode == mail::sendmail_mode::Smtp) {
    return bridge_smtp(cfg->submit_socket());
  }
  return deliver(a, *cfg);
}

}  // namespace posthorn::app
