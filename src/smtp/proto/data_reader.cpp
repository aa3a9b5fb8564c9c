#include "smtp/proto/data_reader.hpp"

#include "smtp/proto/line_end.hpp"

namespace posthorn::smtp {
void data_reader::reset(std::uint64_t limit) {
  scan_.reset(limit);
  state_ = at::LineStart;
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
        scan_.text(in.substr(0, i), out);
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
            scan_.mark_bare();
            scan_.text("\n", out);
          }
        }
        break;
      }
      case at::Cr:
        if (c == '\n') {
          in.remove_prefix(1);
          scan_.line_end(out);
          state_ = at::LineStart;
        } else {
          // Not consumed: the octet after a bare CR is looked at afresh.
          scan_.mark_bare();
          scan_.text("\r", out);
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
          scan_.finish(out);
        } else {
          scan_.mark_bare();
          scan_.text("\r", out);
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
