// sendmail's options, read the way getopt(3) reads them, with the option set of
// Postfix's sendmail(1): what it implements we implement, what it ignores we ignore.

#include "mail/sendmail_args.hpp"

namespace posthorn::mail {

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// -N: "never" or a list of success, delay and failure (RFC 3461 §4.1 NOTIFY).
std::expected<std::string, std::string> parse_notify(std::string_view v) {
  std::string out;
  bool never = false;
  std::size_t count = 0;
  while (true) {
    const std::size_t comma = v.find(',');
    const std::string word = upper(trim(v.substr(0, comma)));
    if (word == "NEVER") {
      never = true;
    } else if (word != "SUCCESS" && word != "DELAY" && word != "FAILURE") {
      return std::unexpected("-N wants never, or success, delay and failure separated by "
                             "commas, not \"" + std::string(v) + "\"");
    }
    if (out.find(word) == std::string::npos) {
      out += (out.empty() ? "" : ",") + word;
      ++count;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    v.remove_prefix(comma + 1);
  }
  if (never && count > 1) {
    return std::unexpected("-N never cannot be combined with other values");
  }
  return out;
}

// Which letters take a value (getopt's "x:"). q takes one only when attached.
bool takes_value(char c) {
  constexpr std::string_view k_with_value = "ABCFLNORVXbcefhopr";
  return k_with_value.find(c) != std::string_view::npos;
}

std::string unknown(char c) { return std::string("unknown option -") + c; }

}  // namespace

std::expected<sendmail_args, std::string> parse_sendmail_args(
    std::span<const std::string_view> args, std::string_view program) {
  sendmail_args out;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      out.recipients.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg.starts_with("--")) {
      if (arg == "--help") {
        out.mode = sendmail_mode::Help;
        continue;
      }
      if (arg.starts_with("--config=")) {
        out.config = std::string(arg.substr(9));
        continue;
      }
      if (arg == "--config") {
        if (i + 1 >= args.size()) {
          return std::unexpected("option --config needs a value");
        }
        out.config = std::string(args[++i]);
        continue;
      }
      return std::unexpected("unknown option " + std::string(arg));
    }
    for (std::size_t j = 1; j < arg.size();) {
      const char c = arg[j++];
      if (c == 'q') {
        // -q, -qI<id>, -qR<site>, -q<interval> (ignored, as Postfix does: there is no
        // queue runner to start).
        const std::string_view v = arg.substr(j);
        j = arg.size();
        if (v.empty()) {
          out.mode = sendmail_mode::Flush;
        } else if (v[0] == 'I') {
          if (v.size() == 1) {
            return std::unexpected("-qI needs a queue id");
          }
          out.mode = sendmail_mode::Flush;
          out.flush_id = std::string(v.substr(1));
        } else if (v[0] == 'R') {
          out.mode = sendmail_mode::Flush;  // no per-site queue: flushing all is a superset
        } else if (v[0] == 'S') {
          return std::unexpected("-qS is not implemented; use -q");
        } else if (v[0] < '0' || v[0] > '9') {
          return std::unexpected("unknown option -q" + std::string(v));
        }
        continue;
      }
      std::string value;
      if (takes_value(c)) {
        if (j < arg.size()) {
          value = std::string(arg.substr(j));
        } else if (i + 1 < args.size()) {
          value = std::string(args[++i]);
        } else {
          return std::unexpected(std::string("option -") + c + " needs a value");
        }
        j = arg.size();
      }
      switch (c) {
        case 't':
          out.extract_recipients = true;
          break;
        case 'i':
          out.dot_ends_input = false;
          break;
        case 'I':
          out.mode = sendmail_mode::Newaliases;
          break;
        case 'G':  // gateway submission
        case 'U':  // initial user submission
        case 'm':  // "me too"
        case 'n':  // no aliasing
        case 'v':  // verbose / delivery report
        case 'x':
          break;
        case 'f':
        case 'r':
          out.sender = value;
          break;
        case 'F':
          out.full_name = value;
          break;
        case 'c':
        case 'C':
          out.config = value;
          break;
        case 'o':
          // -oi is the only -o option with an effect; -oem, -odb, -odi, -oQ... and the
          // rest belong to sendmail.cf and are ignored (Postfix does the same).
          if (value == "i") {
            out.dot_ends_input = false;
          }
          break;
        case 'b':
          if (value == "m") {
            out.mode = sendmail_mode::Deliver;
          } else if (value == "s") {
            out.mode = sendmail_mode::Smtp;
          } else if (value == "p") {
            out.mode = sendmail_mode::ListQueue;
          } else if (value == "i") {
            out.mode = sendmail_mode::Newaliases;
          } else if (value == "h" || value == "H") {
            out.mode = sendmail_mode::Nothing;
          } else if (value == "d" || value == "D" || value == "l") {
            return std::unexpected("-b" + value + ": the server runs as `posthorn serve`");
          } else {
            return std::unexpected("-b" + value + " is not supported");
          }
          break;
        case 'B': {
          const std::string v = upper(value);
          if (v != "7BIT" && v != "8BITMIME") {
            return std::unexpected("-B wants 7BIT or 8BITMIME, not \"" + value + "\"");
          }
          out.eight_bit_declared = v == "8BITMIME";
          break;
        }
        case 'N': {
          auto n = parse_notify(value);
          if (!n) {
            return std::unexpected(n.error());
          }
          out.notify = *n;
          break;
        }
        case 'R': {
          const std::string v = upper(value);
          if (v != "FULL" && v != "HDRS") {
            return std::unexpected("-R wants full or hdrs, not \"" + value + "\"");
          }
          out.ret = v;
          break;
        }
        case 'V':
          // RFC 3461 §4.4: printable ASCII, at most 100 characters.
          if (value.empty() || value.size() > 100) {
            return std::unexpected("-V wants an envelope id of 1 to 100 characters");
          }
          for (const char ch : value) {
            if (ch < 32 || ch > 126) {
              return std::unexpected("-V: the envelope id must be printable ASCII");
            }
          }
          out.envid = value;
          break;
        case 'A':  // -Am, -Ac
        case 'L':  // syslog label
        case 'O':  // sendmail.cf option=value
        case 'X':  // traffic log file, or -XV (VERP, not implemented)
        case 'e':  // error mode
        case 'h':  // hop count
        case 'p':  // protocol
          break;
        default:
          return std::unexpected(unknown(c));
      }
    }
  }
  if (program == "mailq") {
    out.mode = sendmail_mode::ListQueue;
  } else if (program == "newaliases") {
    out.mode = sendmail_mode::Newaliases;
  }
  return out;
}

std::string_view sendmail_usage() {
  return "usage: sendmail [options] [--] [recipient ...]\n"
         "  -t            recipients from the To, Cc and Bcc headers (plus the command line);\n"
         "                Bcc is removed\n"
         "  -f SENDER     envelope sender (also -r; -f '' or -f '<>' for the null sender)\n"
         "  -F NAME       full name for a From: header that posthorn adds\n"
         "  -i, -oi       a line holding only \".\" does not end the message\n"
         "  -B 8BITMIME   declare an 8-bit body (found out anyway)\n"
         "  -N DSN        never, or success,delay,failure (NOTIFY)\n"
         "  -R full|hdrs  what a bounce returns (RET)\n"
         "  -V ENVID      envelope id for delivery status notifications\n"
         "  -bs           SMTP on standard input and output\n"
         "  -bp           list the queue (as mailq)\n"
         "  -q, -qIID     deliver the queued mail now (all, or one message)\n"
         "  -c FILE       posthorn's config (default: $POSTHORN_CONFIG, else posthorn.toml)\n"
         "Ignored for compatibility: -Am -Ac -G -U -L -m -n -v -x -h -e -p -O -X -ox...\n"
         "Exit status: 0 submitted, 64 usage, 65 bad message or address, 69 refused,\n"
         "75 temporary failure (message NOT submitted; try again), 78 config error.\n";
}

}  // namespace posthorn::mail
