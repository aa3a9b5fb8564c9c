#include "smtp/proto/data_reader.hpp"

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

void data_reader::reset(std::uint64_t limit) {
  limit_ = limit;
  size_ = 0;
  bare_ = false;
  received_ = 0;
  seen_ = 0;
  header_end_ = 0;
  in_headers_ = true;
  state_ = at::LineStart;
  line_empty_ = true;
  name_open_ = true;
  header_start_.clear();
}

void data_reader::track_header(std::string_view octets) {
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

void data_reader::emit(std::string_view octets, std::string& out) {
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

void data_reader::end_line(std::string& out) {
  const bool was_empty = line_empty_;
  emit("\r\n", out);
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

bool data_reader::feed(std::string_view& in, std::string& out) {
  while (!in.empty() && state_ != at::Done) {
    const char c = in.front();
    switch (state_) {
      case at::LineStart:
        if (c == '.') {
          in.remove_prefix(1);
          state_ = at::Dot;
        } else if (c == '\r') {
          in.remove_prefix(1);
          state_ = at::Cr;
        } else {
          state_ = at::Middle;
        }
        break;
      case at::Middle: {
        const std::size_t i = detail::find_cr_or_lf(in);
        emit(in.substr(0, i), out);
        if (i == in.size()) {
          in.remove_prefix(i);
        } else {
          const char end = in[i];
          in.remove_prefix(i + 1);
          if (end == '\r') {
            state_ = at::Cr;
          } else {
            // A bare LF is content, never a line end: a following '.' is not at a
            // line start (RFC 5321 §2.3.8; the SMTP smuggling defence).
            bare_ = true;
            emit("\n", out);
          }
        }
        break;
      }
      case at::Cr:
        if (c == '\n') {
          in.remove_prefix(1);
          end_line(out);
          state_ = at::LineStart;
        } else {
          // Not consumed: the octet after a bare CR is looked at afresh.
          bare_ = true;
          emit("\r", out);
          state_ = at::Middle;
        }
        break;
      case at::Dot:
        // RFC 5321 §4.5.2: a line start '.' followed by more text is removed.
        if (c == '\r') {
          in.remove_prefix(1);
          state_ = at::DotCr;
        } else {
          state_ = at::Middle;
        }
        break;
      case at::DotCr:
        if (c == '\n') {
          in.remove_prefix(1);
          state_ = at::Done;
          if (in_headers_) {
            header_end_ = size_;  // no body: fields go at the very end
          }
        } else {
          bare_ = true;
          emit("\r", out);
          state_ = at::Middle;
        }
        break;
      case at::Done:
        break;
    }
  }
  return state_ == at::Done;
}

}  // namespace posthorn::smtp
