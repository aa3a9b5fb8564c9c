// The Received: trace field, RFC 5321 §4.4, and the RFC 5322 §3.3 date.

#include "mail/received.hpp"

#include <fmt/format.h>

#include <ctime>
#include <vector>

#include "mail/address.hpp"

namespace posthorn::mail {

namespace {

// RFC 5322 §2.1.1: lines SHOULD be no more than 78 characters without the CRLF.
constexpr std::size_t k_fold_width = 78;
// A tab is counted as reaching the next multiple of 8, as a reader's screen shows it.
constexpr std::size_t k_tab_width = 8;

constexpr const char* k_days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* k_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

enum class context { Token, Comment, Path };

// Makes client-supplied text safe for one unfoldable token of the field. Controls never
// pass, nor do spaces except in a path ("john doe"@example.test) where they are quoted. Outside
// comments, characters that would open a comment, end the clause list (';') or quote become '?';
// inside a comment, parentheses and backslashes are quoted (RFC 5322 §3.2.2 quoted-pair). Octets
// above 127 stay only when the message is UTF-8 anyway (RFC 6532).
std::string safe(std::string_view text, context where, bool utf8) {
  std::string out;
  out.reserve(text.size());
  const bool keep_8bit = utf8 && valid_utf8(text);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool blank_ok = c == 0x20 && where == context::Path;
    if ((c <= 0x20 && !blank_ok) || c == 0x7f || (c >= 0x80 && !keep_8bit)) {
      out.push_back('?');
      continue;
    }
    switch (where) {
      case context::Comment:
        if (c == '(' || c == ')' || c == '\\') {
          out.push_back('\\');
        }
        break;
      case context::Token:
        if (c == '(' || c == ')' || c == '\\' || c == ';' || c == '"' || c == '<' || c == '>') {
          out.push_back('?');
          continue;
        }
        break;
      case context::Path:
        break;
    }
    out.push_back(ch);
  }
  return out;
}

// Writes clauses of unbreakable words, one clause per line, each continuation line
// starting with a tab, folding between words when a line would pass the width.
class folder {
 public:
  void clause(const std::vector<std::string>& words) {
    bool first_word = true;
    for (const auto& w : words) {
      if (first_word && !out_.empty()) {
        newline();
      } else if (!first_word) {
        if (col_ + 1 + w.size() > k_fold_width && col_ > k_tab_width) {
          newline();
        } else {
          out_.push_back(' ');
          ++col_;
        }
      }
      out_ += w;
      col_ += w.size();
      first_word = false;
    }
  }

  std::string finish() {
    out_ += "\r\n";
    return std::move(out_);
  }

 private:
  void newline() {
    out_ += "\r\n\t";
    col_ = k_tab_width;
  }

  std::string out_;
  std::size_t col_ = 0;
};

}  // namespace

std::string rfc5322_date(std::int64_t unix_seconds, int utc_offset_seconds) {
  const std::time_t shifted = static_cast<std::time_t>(unix_seconds + utc_offset_seconds);
  std::tm tm{};
  gmtime_r(&shifted, &tm);
  const char sign = utc_offset_seconds < 0 ? '-' : '+';
  const int off = utc_offset_seconds < 0 ? -utc_offset_seconds : utc_offset_seconds;
  return fmt::format("{}, {} {} {:04} {:02}:{:02}:{:02} {}{:02}{:02}", k_days[tm.tm_wday % 7],
                     tm.tm_mday, k_months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, sign, off / 3600, (off % 3600) / 60);
}

std::string rfc5322_date(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  localtime_r(&t, &tm);
  return rfc5322_date(unix_seconds, static_cast<int>(tm.tm_gmtoff));
}

std::string received_header(const received_info& info) {
  const bool utf8 = info.protocol.starts_with("UTF8");
  folder f;
  std::vector<std::string> words{"Received:"};

  // RFC 5321 §4.4: From-domain = "FROM" FWS Extended-Domain, with TCP-info in a comment.
  if (!info.from_helo.empty() || !info.client_addr.empty()) {
    words.push_back("from");
    words.push_back(info.from_helo.empty() ? "unknown"
                                           : safe(info.from_helo, context::Token, utf8));
    std::string name = info.client_name.empty() ? std::string("unknown")
                                                : safe(info.client_name, context::Comment, utf8);
    if (info.client_addr.empty()) {
      words.push_back("(" + name + ")");
    } else {
      std::string addr = safe(info.client_addr, context::Comment, false);
      // RFC 5321 §4.1.3: an IPv6 address literal carries the "IPv6:" tag.
      if (addr.find(':') != std::string::npos && !addr.starts_with("IPv6:")) {
        addr.insert(0, "IPv6:");
      }
      words.push_back("(" + name);
      words.push_back("[" + addr + "])");
    }
    f.clause(words);
    words.clear();
  }

  if (!info.tls_info.empty()) {
    std::vector<std::string> tls;
    std::string_view rest = info.tls_info;
    while (!rest.empty()) {
      const std::size_t sp = rest.find(' ');
      const std::string_view w = rest.substr(0, sp);
      if (!w.empty()) {
        tls.push_back(safe(w, context::Path, false));
      }
      rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    }
    f.clause(tls);
  }

  words.push_back("by");
  words.push_back(safe(info.by_host, context::Token, utf8));
  words.push_back("(posthorn)");
  if (!info.protocol.empty()) {
    words.push_back("with");
    words.push_back(safe(info.protocol, context::Token, false));
  }
  if (!info.queue_id.empty()) {
    words.push_back("id");
    words.push_back(safe(info.queue_id, context::Token, false));
  }
  if (!info.for_rcpt.empty()) {
    f.clause(words);
    words.clear();
    std::string rcpt = safe(info.for_rcpt, context::Path, utf8);
    if (!rcpt.starts_with('<')) {
      rcpt = "<" + rcpt + ">";
    }
    words.push_back("for");
    words.push_back(std::move(rcpt));
  }
  // RFC 5321 §4.4: the date-time follows the last clause after ";".
  words.back() += ';';
  words.push_back(rfc5322_date(info.when));
  f.clause(words);
  return f.finish();
}

bool is_received_header_line(std::string_view line) {
  constexpr std::string_view k_name = "received";
  if (line.size() <= k_name.size() || ascii_lower(line.substr(0, k_name.size())) != k_name) {
    return false;
  }
  // RFC 5322 §4.5.1 (obsolete syntax) allows blanks before the colon.
  std::size_t i = k_name.size();
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
    ++i;
  }
  return i < line.size() && line[i] == ':';
}

}  // namespace posthorn::mail
