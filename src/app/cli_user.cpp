// `posthorn user add|passwd|del|list`: edits [accounts] users_file. A running server
// picks the change up on SIGHUP (DESIGN.md §4.4).

#include <openssl/crypto.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <string>

#include "app/cli_commands.hpp"
#include "auth/password.hpp"
#include "auth/scram.hpp"
#include "policy/users_file.hpp"

namespace posthorn::app {

namespace {

// A password in memory, wiped when it goes.
struct secret {
  std::string text;
  secret() = default;
  secret(const secret&) = delete;
  secret& operator=(const secret&) = delete;
  ~secret() { OPENSSL_cleanse(text.data(), text.size()); }
};

// The terminal's settings while echo is off, so a signal can put them back.
struct termios g_saved_termios {};
volatile std::sig_atomic_t g_echo_off = 0;

extern "C" void restore_echo_and_reraise(int sig) {
  if (g_echo_off != 0) {
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_termios);
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// Turns terminal echo off for its lifetime (and back on after Ctrl-C).
class echo_off {
 public:
  echo_off() {
    if (::tcgetattr(STDIN_FILENO, &g_saved_termios) != 0) {
      return;
    }
    struct termios quiet = g_saved_termios;
    quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
    quiet.c_lflag |= ECHONL;  // the Enter key still moves to the next line
    for (const int sig : {SIGINT, SIGTERM, SIGQUIT, SIGTSTP}) {
      std::signal(sig, restore_echo_and_reraise);
    }
    g_echo_off = 1;
    if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
      g_echo_off = 0;
    }
  }
  ~echo_off() {
    if (g_echo_off != 0) {
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_termios);
      g_echo_off = 0;
    }
    for (const int sig : {SIGINT, SIGTERM, SIGQUIT, SIGTSTP}) {
      std::signal(sig, SIG_DFL);
    }
  }
  echo_off(const echo_off&) = delete;
  echo_off& operator=(const echo_off&) = delete;
};

bool read_line(std::string& out) {
  if (!std::getline(std::cin, out)) {
    return false;
  }
  if (!out.empty() && out.back() == '\r') {
    out.pop_back();
  }
  return true;
}

// The new password: one line from stdin when it is not a terminal (scripts), else
// typed twice without echo. Returns an exit code other than k_exit_ok on failure.
int read_new_password(secret& password) {
  if (::isatty(STDIN_FILENO) == 0) {
    if (!read_line(password.text)) {
      std::cerr << "posthorn: no password on stdin\n";
      return k_exit_usage;
    }
  } else {
    secret again;
    {
      const echo_off quiet;
      std::cerr << "New password: " << std::flush;
      const bool first = read_line(password.text);
      std::cerr << "Retype new password: " << std::flush;
      if (!first || !read_line(again.text)) {
        std::cerr << "\nposthorn: no password given\n";
        return k_exit_usage;
      }
    }
    if (password.text != again.text) {
      std::cerr << "posthorn: the passwords do not match\n";
      return k_exit_usage;
    }
  }
  if (password.text.empty()) {
    std::cerr << "posthorn: empty passwords are not allowed\n";
    return k_exit_usage;
  }
  return k_exit_ok;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

std::string_view domain_of(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view{} : address.substr(at + 1);
}

int list_users(const std::filesystem::path& file, std::string_view filter) {
  const auto users = policy::users_file::list(file);
  if (!users) {
    std::cerr << "posthorn: " << users.error().message << '\n';
    return k_exit_failure;
  }
  // A filter with '@' is one address; without, a domain ("example.test" or "@example.test").
  const bool by_address = filter.find('@') != std::string_view::npos && filter.front() != '@';
  const std::string wanted = lower(filter.starts_with('@') ? filter.substr(1) : filter);
  for (const auto& u : *users) {
    const bool match = wanted.empty() || (by_address ? lower(u.address) == wanted
                                                     : lower(domain_of(u.address)) == wanted);
    if (match) {
      std::cout << u.address << '\n';
    }
  }
  return k_exit_ok;
}

}  // namespace

int user_command(user_action action, const std::filesystem::path& config_file,
                 std::string_view address) {
  const auto cfg = load_config_or_report(config_file);
  if (!cfg) {
    return k_exit_usage;
  }
  const std::filesystem::path& file = cfg->accounts.users_file;
  if (file.empty()) {
    std::cerr << config_file.string() << ": accounts.users_file: not set\n";
    return k_exit_usage;
  }
  if (action == user_action::List) {
    return list_users(file, address);
  }

  const auto normalized = policy::users_file::normalize_address(address);
  if (!normalized) {
    std::cerr << "posthorn: \"" << address << "\" is not an address like alice@example.test\n";
    return k_exit_usage;
  }
  const auto& local = cfg->domains.local;
  if (std::find(local.begin(), local.end(), std::string(domain_of(*normalized))) == local.end()) {
    std::cerr << "posthorn: " << domain_of(*normalized)
              << " is not a local domain (domains.local in " << config_file.string() << ")\n";
    return k_exit_usage;
  }

  result<void> done;
  const char* what = "";
  if (action == user_action::Del) {
    done = policy::users_file::remove(file, *normalized);
    what = "deleted";
  } else {
    secret password;
    if (const int rc = read_new_password(password); rc != k_exit_ok) {
      return rc;
    }
    const auto hash = auth::hash_password(password.text);
    if (!hash) {
      std::cerr << "posthorn: " << hash.error().message << '\n';
      return k_exit_failure;
    }
    // SCRAM-SHA-256 secrets beside the crypt hash (RFC 7677): PBKDF2 with a fresh salt.
    // A password SASLprep refuses (RFC 4013 §2.3) still works with PLAIN and LOGIN.
    std::string scram;
    if (auto secrets = auth::scram_make(password.text); secrets) {
      scram = auth::scram_format(*secrets);
    } else if (secrets.error().permanent()) {
      std::cerr << "posthorn: warning: " << secrets.error().message
                << "; no SCRAM-SHA-256 secrets stored, PLAIN and LOGIN still work\n";
    } else {
      std::cerr << "posthorn: " << secrets.error().message << '\n';
      return k_exit_failure;
    }
    if (action == user_action::Add) {
      done = policy::users_file::add(file, *normalized, *hash, scram);
      what = "added";
    } else {
      done = policy::users_file::set_password(file, *normalized, *hash, scram);
      what = "password changed";
    }
  }
  if (!done) {
    std::cerr << "posthorn: " << done.error().message << '\n';
    return k_exit_failure;
  }
  std::cout << *normalized << ": " << what << '\n';
  return k_exit_ok;
}

}  // namespace posthorn::app
