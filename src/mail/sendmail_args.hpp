#pragma once
// sendmail's command line (DESIGN.md §4.4; Postfix's sendmail(1) is the reference for
// which options exist and which are accepted and ignored). Kept beside the submission
// rules rather than in app/ so that it is unit-tested like them. No I/O.

#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace posthorn::mail {

enum class sendmail_mode {
  Deliver,     // -bm (the default): read a message from stdin and submit it
  Smtp,        // -bs: SMTP on stdin/stdout
  ListQueue,   // -bp, or called as mailq
  Flush,       // -q, -qI<id>, -qR<site>
  Newaliases,  // -bi, -I, or called as newaliases: nothing to build
  Nothing,     // -bh, -bH: accepted, nothing to do
  Help,        // --help
};

struct sendmail_args {
  sendmail_mode mode = sendmail_mode::Deliver;
  bool extract_recipients = false;        // -t
  bool dot_ends_input = true;             // false with -i / -oi
  std::optional<std::string> sender;      // -f / -r, as given ("" and "<>": null sender)
  std::optional<std::string> full_name;   // -F
  std::optional<std::string> config;      // -c FILE (also -C FILE)
  std::string flush_id;                   // -qI<id>: flush only this message
  bool eight_bit_declared = false;        // -B 8BITMIME
  std::string notify;                     // -N: "NEVER" or "SUCCESS,DELAY,FAILURE" subsets
  std::string ret;                        // -R: "FULL" or "HDRS"
  std::string envid;                      // -V envid (RFC 3461 ENVID), decoded
  std::vector<std::string> recipients;    // the operands, each an address list
};

// Parses the arguments after the program name. `program` is the basename of argv[0]:
// "mailq" lists the queue and "newaliases" does nothing, whatever the options.
// Options may be clustered ("-ti"), their values attached ("-fuser") or separate
// ("-f user"), and mixed with recipients (as glibc's getopt allows); "--" ends the
// options. Returns the reason for a usage error (EX_USAGE).
std::expected<sendmail_args, std::string> parse_sendmail_args(
    std::span<const std::string_view> args, std::string_view program);

// The usage text for --help.
std::string_view sendmail_usage();

}  // namespace posthorn::mail
