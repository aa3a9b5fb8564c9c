// sendmail's input rules and the header work of a submission (RFC 5322 §3.6).

#include "mail/submission.hpp"

#include <array>
#include <cstdio>
#include <unordered_set>

#include "mail/address_list.hpp"

namespace posthorn::mail {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

// RFC 5322 §2.2 ftext: printable US-ASCII except ':'.
bool is_ftext(unsigned char c) { return c >= 33 && c <= 126 && c != ':'; }

// A "name:" (or obsolete "name :", RFC 5322 §4.5) line; returns the length of the
// name, 0 when the line is not a header field.
std::size_t field_name_length(std::string_view line) {
  std::size_t n = 0;
  while (n < line.size() && is_ftext(static_cast<unsigned char>(line[n]))) {
    ++n;
  }
  if (n == 0) {
    return 0;
  }
  std::size_t i = n;
  while (i < line.size() && is_wsp(line[i])) {
    ++i;
  }
  return i < line.size() && line[i] == ':' ? n : 0;
}

// One line of `s` starting at `pos`: its content and where the next one starts.
struct line_span {
  std::string_view text;  // without CRLF
  std::size_t next = 0;
  bool terminated = false;  // ended by CRLF (not by the end of the message)
};

line_span line_at(std::string_view s, std::size_t pos) {
  const std::size_t crlf = s.find("\r\n", pos);
  if (crlf == std::string_view::npos) {
    return {s.substr(pos), s.size(), false};
  }
  return {s.substr(pos, crlf - pos), crlf + 2, true};
}

constexpr std::array<const char*, 7> k_days = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<const char*, 12> k_months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::string base64(std::string_view in) {
  static constexpr char k_alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out.push_back(k_alphabet[(v >> 18) & 63]);
    out.push_back(k_alphabet[(v >> 12) & 63]);
    out.push_back(k_alphabet[(v >> 6) & 63]);
    out.push_back(k_alphabet[v & 63]);
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) {
      v |= static_cast<unsigned char>(in[i + 1]) << 8;
    }
    out.push_back(k_alphabet[(v >> 18) & 63]);
    out.push_back(k_alphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? k_alphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// RFC 2047 §2: an encoded word is at most 75 characters, so a long name becomes
// several, split between UTF-8 sequences; white space between them is not displayed
// (§6.2).
std::string encoded_words(std::string_view utf8) {
  constexpr std::size_t k_max_octets = 45;  // 60 base64 characters + "=?UTF-8?B??=" = 72
  std::string out;
  std::size_t i = 0;
  while (i < utf8.size()) {
    std::size_t n = std::min(k_max_octets, utf8.size() - i);
    while (i + n < utf8.size() && (static_cast<unsigned char>(utf8[i + n]) & 0xc0) == 0x80) {
      --n;  // do not cut a UTF-8 sequence
    }
    if (!out.empty()) {
      out += "\r\n ";
    }
    out += "=?UTF-8?B?" + base64(utf8.substr(i, n)) + "?=";
    i += n;
  }
  return out;
}

// RFC 5322 §3.2.3: the characters that may stand unquoted in a phrase.
bool is_phrase_char(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ') {
    return true;
  }
  constexpr std::string_view k_atext = "!#$%&'*+-/=?^_`{|}~";
  return k_atext.find(static_cast<char>(c)) != std::string_view::npos;
}

}  // namespace

bool input_collector::feed(std::string_view in) {
  for (std::size_t i = 0; i < in.size() && !ended_; ++i) {
    const char c = in[i];
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        end_line();
        continue;
      }
      line_.push_back(' ');  // a CR that ends nothing
    }
    if (c == '\r') {
      pending_cr_ = true;
    } else if (c == '\n') {
      end_line();
    } else {
      line_.push_back(c);
    }
  }
  return ended_;
}

void input_collector::finish() {
  if (ended_) {
    return;
  }
  if (pending_cr_) {
    // A CR at the very end is taken as the line end its writer meant.
    pending_cr_ = false;
    end_line();
  } else if (!line_.empty()) {
    end_line();
  }
  ended_ = true;
}

void input_collector::end_line() {
  if (dot_ends_ && line_ == ".") {
    ended_ = true;
    line_.clear();
    return;
  }
  out_ += line_;
  out_ += "\r\n";
  line_.clear();
}

message_layout split_message(std::string_view message) {
  message_layout out;
  std::size_t pos = 0;
  while (pos < message.size()) {
    const line_span line = line_at(message, pos);
    if (line.text.empty() && line.terminated) {
      out.header_end = pos;
      out.body_begin = line.next;
      out.separator = true;
      return out;
    }
    const std::size_t name_len = field_name_length(line.text);
    if (name_len == 0) {
      break;  // the body starts here, without an empty line
    }
    header_field f;
    f.begin = pos;
    f.name = line.text.substr(0, name_len);
    const std::size_t colon = line.text.find(':', name_len);
    std::size_t value_end = pos + line.text.size();
    std::size_t next = line.next;
    // Continuation lines: RFC 5322 §2.2.3 folding.
    bool terminated = line.terminated;
    while (terminated && next < message.size() && is_wsp(message[next])) {
      const line_span cont = line_at(message, next);
      value_end = next + cont.text.size();
      terminated = cont.terminated;
      next = cont.next;
    }
    const std::size_t value_begin = pos + colon + 1;
    f.value = message.substr(value_begin, value_end - value_begin);
    f.end = next;
    out.fields.push_back(f);
    pos = next;
  }
  out.header_end = pos;
  out.body_begin = pos;
  return out;
}

bool field_name_is(std::string_view name, std::string_view want) {
  if (name.size() != want.size()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(name[i]) != lower(want[i])) {
      return false;
    }
  }
  return true;
}

std::string rfc5322_date(const std::tm& local, long utc_offset) {
  const long minutes = (utc_offset < 0 ? -utc_offset : utc_offset) / 60;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld",
                k_days[static_cast<std::size_t>(local.tm_wday) % 7], local.tm_mday,
                k_months[static_cast<std::size_t>(local.tm_mon) % 12], local.tm_year + 1900,
                local.tm_hour, local.tm_min, local.tm_sec, utc_offset < 0 ? '-' : '+',
                minutes / 60, minutes % 60);
  return buf;
}

std::string make_message_id(const std::tm& utc, std::uint64_t pid, std::uint64_t random,
                            std::string_view hostname) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "<%04d%02d%02d%02d%02d%02d.%llu.%016llx@", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<unsigned long long>(pid), static_cast<unsigned long long>(random));
  return std::string(buf) + std::string(hostname) + ">";
}

std::string display_name(std::string_view name) {
  // Control characters (a newline from $NAME) would break the header: spaces instead.
  std::string clean;
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    clean.push_back(u < 32 || u == 127 ? ' ' : c);
  }
  const auto first = clean.find_first_not_of(' ');
  if (first == std::string::npos) {
    return {};
  }
  clean = clean.substr(first, clean.find_last_not_of(' ') - first + 1);
  if (!is_ascii(clean)) {
    return encoded_words(clean);
  }
  bool plain = true;
  for (const char c : clean) {
    plain = plain && is_phrase_char(static_cast<unsigned char>(c));
  }
  // "=?" would be read as the start of an encoded word (RFC 2047 §5).
  if (plain && clean.find("=?") == std::string::npos) {
    return clean;
  }
  std::string out = "\"";
  for (const char c : clean) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

result<submission> prepare_submission(std::string_view message, const submission_options& o) {
  // A Unix mailbox separator line in front ("From alice Thu Feb 13 ..."): sendmail has
  // always dropped it; it is no header field and would push the real ones into the body.
  if (message.starts_with("From ")) {
    message.remove_prefix(line_at(message, 0).next);
  }
  const message_layout layout = split_message(message);

  submission out;
  if (o.sender) {
    out.sender = *o.sender;
  } else {
    out.sender = address{o.login, o.hostname};
  }

  std::unordered_set<std::string> seen;
  const auto add = [&](const address& a) {
    if (seen.insert(address_key(a)).second) {
      out.recipients.push_back(a);
    }
  };

  bool has_resent = false;
  bool has_from = false, has_date = false, has_message_id = false;
  for (const auto& f : layout.fields) {
    has_resent = has_resent || field_name_is(f.name, "Resent-To") ||
                 field_name_is(f.name, "Resent-Cc") || field_name_is(f.name, "Resent-Bcc");
    has_from = has_from || field_name_is(f.name, "From");
    has_date = has_date || field_name_is(f.name, "Date");
    has_message_id = has_message_id || field_name_is(f.name, "Message-ID");
  }

  std::string headers;
  for (const auto& f : layout.fields) {
    const bool bcc = field_name_is(f.name, "Bcc") || field_name_is(f.name, "Resent-Bcc");
    if (o.extract_recipients) {
      const std::string_view prefix = has_resent ? "Resent-" : "";
      bool wanted = false;
      for (const char* n : {"To", "Cc", "Bcc"}) {
        const std::string want = std::string(prefix) + n;
        wanted = wanted || field_name_is(f.name, want);
      }
      if (wanted) {
        auto list = parse_address_list(f.value, o.hostname);
        if (!list) {
          return fail(error::perm("5.1.3", "bad address in the " + std::string(f.name) +
                                               ": header: " + list.error().message));
        }
        for (const auto& a : *list) {
          add(a);
        }
      }
    }
    if (!bcc) {
      headers.append(message.substr(f.begin, f.end - f.begin));
    }
  }
  for (const auto& a : o.recipients) {
    add(a);
  }
  if (out.recipients.empty()) {
    return fail(error::perm("5.5.1", o.extract_recipients
                                         ? "no recipient addresses found in the message header"
                                         : "no recipients"));
  }

  // A last field without CRLF (the message ended inside it): end it before ours.
  if (!headers.empty() && !headers.ends_with("\r\n")) {
    headers += "\r\n";
  }
  // RFC 5322 §3.6: Date and From are required, Message-ID should be there. From names
  // the envelope sender when there is one, else the submitting user.
  if (!has_from) {
    const address from = out.sender.empty() ? address{o.login, o.hostname} : out.sender;
    const std::string name = display_name(o.full_name);
    headers += "From: ";
    headers += name.empty() ? from.str() : name + " <" + from.str() + ">";
    headers += "\r\n";
  }
  if (!has_date && !o.date.empty()) {
    headers += "Date: " + o.date + "\r\n";
  }
  if (!has_message_id && !o.message_id.empty()) {
    headers += "Message-ID: " + o.message_id + "\r\n";
  }

  out.message = std::move(headers);
  const std::string_view body = message.substr(layout.body_begin);
  if (layout.separator || !body.empty()) {
    out.message += "\r\n";
  }
  out.message.append(body);

  for (const unsigned char c : out.message) {
    if (c >= 0x80) {
      out.eight_bit = true;
      break;
    }
  }
  out.smtputf8 = out.sender.needs_utf8();
  for (const auto& a : out.recipients) {
    out.smtputf8 = out.smtputf8 || a.needs_utf8();
  }
  return out;
}

}  // namespace posthorn::mail
