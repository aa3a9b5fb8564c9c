#pragma once
// A scripted server for the sans-I/O client: the test says what the server answers and
// checks what the client wrote. Every answer can be cut in pieces (STYLE.md "Tests":
// every byte offset), so each scenario runs once per cut.

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/client/client.hpp"

namespace posthorn::smtp::test {

// Cut 0: whole; cut 1: byte by byte; cut k >= 2: in two at offset k - 1 (when shorter,
// whole). Running cuts 0..k_max_cut covers every offset of answers up to that length.
inline constexpr std::size_t k_max_cut = 300;

inline std::vector<std::string_view> cut_pieces(std::string_view s, std::size_t cut) {
  std::vector<std::string_view> out;
  if (cut == 1) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      out.push_back(s.substr(i, 1));
    }
    return out;
  }
  const std::size_t at = cut >= 2 ? cut - 1 : 0;
  if (at == 0 || at >= s.size()) {
    out.push_back(s);
    return out;
  }
  out.push_back(s.substr(0, at));
  out.push_back(s.substr(at));
  return out;
}

// The server end of one client, for one cut.
class script {
 public:
  script(client& c, std::size_t cut) : c_(c), cut_(cut) {}

  // Feeds the server's answer the way the cut says, like a driver: what feed() leaves
  // is kept and fed again with the next piece. Returns the last action.
  client_action answer(std::string_view bytes) {
    client_action a = client_action::Read;
    for (const std::string_view piece : cut_pieces(bytes, cut_)) {
      pending_ += piece;
      std::string_view v = pending_;
      a = c_.feed(v);
      pending_.assign(v);
    }
    return a;
  }

  // What the client wrote since the last call, cleared.
  std::string written() {
    std::string out;
    out.swap(c_.output());
    wire_ += out;
    return out;
  }

  // Runs Write actions to the end of the message; returns the octets of the message
  // (with the final dot) and the action after it.
  std::string send_message(client_action& a, std::size_t* blocks = nullptr) {
    std::string data;
    std::size_t n = 0;
    while (a == client_action::Write) {
      data += written();
      ++n;
      a = c_.more();
    }
    data += written();
    if (blocks != nullptr) {
      *blocks = n;
    }
    return data;
  }

  const std::string& wire() const { return wire_; }
  std::size_t cut() const { return cut_; }

 private:
  client& c_;
  std::size_t cut_;
  std::string pending_;
  std::string wire_;
};

// Runs `f(cut)` for every cut, with the cut in failure messages.
template <class F>
void for_each_cut(F f) {
  for (std::size_t cut = 0; cut <= k_max_cut; ++cut) {
    SCOPED_TRACE("cut " + std::to_string(cut));
    f(cut);
    if (::testing::Test::HasFailure()) {
      return;
    }
  }
}

}  // namespace posthorn::smtp::test
