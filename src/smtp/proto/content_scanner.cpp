#include "smtp/proto/content_scanner.hpp"

#include "smtp/proto/line_end.hpp"

namespace posthorn::smtp {
namespace {

// Field names longer than this cannot be "Received"; collecting stops there so a
// header line costs bounded memory however long it is.
constexpr std::size_t k_field_name_max = 32;

// True when a field name (as collected up to its colon) is `want` (lower case).
bool is_field(std::string_view name, std::string_view want) {
  // RFC 5322 §4.5.3 (obs-optional) allows white space before the colon.
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
    name.remove_suffix(1);
  }
  if (name.size() != want.size()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c != want[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

void content_scanner::reset(std::uint64_t limit) {
  limit_ = limit;
  size_ = 0;
  bare_ = false;
  received_ = 0;
  seen_ = 0;
  header_end_ = 0;
  in_headers_ = true;
  line_empty_ = true;
  name_open_ = true;
  held_cr_ = false;
  header_start_.clear();
}

void content_scanner::track_header(std::string_view octets) {
  for (const char c : octets) {
    if (!name_open_) {
      return;
    }
    if (c == ':') {
      name_open_ = false;
      if (is_field(header_start_, "received")) {
        ++received_;
      } else if (is_field(header_start_, "message-id")) {
        seen_ |= k_seen_message_id;
      } else if (is_field(header_start_, "date")) {
        seen_ |= k_seen_date;
      } else if (is_field(header_start_, "from")) {
        seen_ |= k_seen_from;
      }
    } else if (header_start_.size() >= k_field_name_max) {
      name_open_ = false;
    } else {
      header_start_.push_back(c);
    }
  }
}

void content_scanner::text(std::string_view octets, std::string& out) {
  if (octets.empty()) {
    return;
  }
  if (in_headers_) {
    track_header(octets);
  }
  line_empty_ = false;
  if (limit_ == 0) {
    out.append(octets);
  } else if (size_ < limit_) {
    const std::uint64_t room = limit_ - size_;
    out.append(
        octets.substr(0, room < octets.size() ? static_cast<std::size_t>(room) : octets.size()));
  }
  size_ += octets.size();
}

void content_scanner::line_end(std::string& out) {
  const bool was_empty = line_empty_;
  text("\r\n", out);
  line_empty_ = true;
  if (in_headers_) {
    // RFC 5322 §2.1: the header section ends at the first empty line.
    if (was_empty) {
      in_headers_ = false;
      header_end_ = size_ - 2;
    }
    header_start_.clear();
    name_open_ = true;
  }
}

void content_scanner::raw(std::string_view in, std::string& out) {
  while (!in.empty()) {
    if (held_cr_) {
      held_cr_ = false;
      if (in.front() == '\n') {
        in.remove_prefix(1);
        line_end(out);
        continue;
      }
      // RFC 5321 §2.3.8: a CR is only ever half of a line end.
      mark_bare();
      text("\r", out);
      continue;
    }
    const std::size_t i = detail::find_cr_or_lf(in);
    text(in.substr(0, i), out);
    if (i == in.size()) {
      return;
    }
    const char end = in[i];
    in.remove_prefix(i + 1);
    if (end == '\r') {
      held_cr_ = true;
    } else {
      mark_bare();
      text("\n", out);
    }
  }
}

void content_scanner::finish(std::string& out) {
  if (held_cr_) {
    held_cr_ = false;
    mark_bare();
    text("\r", out);
  }
  if (in_headers_) {
    header_end_ = size_;  // no body: fields go at the very end
  }
}

}  // namespace posthorn::smtp
