#pragma once
// Drives a pop3::session as the connection driver does, without sockets: actions are
// answered from canned data (users, a maildrop, message files), replies collected.

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mail/crlf_size.hpp"
#include "pop3/encoder.hpp"
#include "pop3/session.hpp"

namespace posthorn::pop3::testing_support {

class pop3_driver : public ::testing::Test {
 protected:
  void SetUp() override { restart(); }

  // A new session with the current settings_; greeting discarded.
  void restart() {
    s_.emplace(settings_);
    s_->greet();
    s_->output().clear();
    closed_ = false;
    updates_.clear();
  }

  // Feeds `input` in the given pieces; runs every action; returns all output.
  std::string run_pieces(const std::vector<std::string_view>& pieces) {
    std::string out;
    for (std::string_view piece : pieces) {
      pending_ += piece;
      std::string_view in = pending_;
      step(in, out);
      pending_ = std::string(in);
      if (closed_) {
        break;
      }
    }
    return out;
  }
  std::string run(std::string_view input) { return run_pieces({input}); }

  void step(std::string_view& in, std::string& out) {
    while (true) {
      const action a = s_->feed(in);
      switch (a) {
        case action::Read:
          take(out);
          return;
        case action::Flush:
          ++flushes_;
          take(out);
          continue;
        case action::AuthVerify: {
          const auth::sasl_verify& c = s_->auth_credentials();
          ++verifications_;
          std::optional<mail::address> login;
          if (c.verified) {
            if (*c.verified) {
              login = mail::address{"alice", "example.test"};
            }
          } else if ((c.authcid == "alice@example.test" || c.authcid == "alice") &&
                     c.password == password_) {
            login = mail::address{"alice", "example.test"};
          }
          if (blocked_) {
            s_->auth_blocked();
          } else {
            s_->auth_done(std::move(login));
          }
          continue;
        }
        case action::OpenMailbox:
          ++opens_;
          if (mailbox_error_) {
            s_->mailbox_failed(*mailbox_error_);
          } else {
            s_->mailbox_opened(box_);
          }
          continue;
        case action::Retrieve: {
          const retrieve_request& r = s_->retrieval();
          const message_info& m = s_->messages()[r.index];
          auto f = files_.find(m.name);
          if (f == files_.end()) {
            s_->retrieve_failed();
            continue;
          }
          s_->retrieve_started();
          take(out);
          message_encoder enc(r.top_lines);
          enc.feed(f->second, out);
          enc.finish(out);
          s_->retrieve_done();
          continue;
        }
        case action::StartTls:
          take(out);
          ++tls_starts_;
          in = {};  // what was pipelined after STLS is dropped
          s_->tls_started({});
          continue;
        case action::Update: {
          updates_.push_back({s_->deleted(), s_->retrieved()});
          update_result r;
          for (bool d : s_->deleted()) {
            r.deleted += d ? 1 : 0;
          }
          s_->update_done(r);
          continue;
        }
        case action::Close:
          take(out);
          closed_ = true;
          return;
      }
    }
  }

  void take(std::string& out) {
    out += s_->output();
    s_->output().clear();
  }

  // A message file (LF line ends) in the maildrop, with its CRLF size.
  void add_message(std::string name, std::string file, std::string uid) {
    message_info m;
    m.name = name;
    m.uid = std::move(uid);
    mail::crlf_size_counter c;
    c.feed(file);
    m.size = c.total();
    box_.push_back(m);
    files_[name] = std::move(file);
  }

  std::string login_script() const {
    return "USER alice@example.test\r\nPASS " + password_ + "\r\n";
  }

  struct update {
    std::vector<bool> deleted, retrieved;
  };

  session_settings settings_{
      .hostname = "pop.example.test", .tls_available = true, .allow_plaintext_auth = true};
  std::optional<session> s_;
  std::string pending_;
  bool closed_ = false;
  std::string password_ = "secret";
  bool blocked_ = false;
  std::optional<bool> mailbox_error_;  // true = in use, false = other failure
  std::vector<message_info> box_;
  std::map<std::string, std::string> files_;
  std::vector<update> updates_;
  int verifications_ = 0, opens_ = 0, tls_starts_ = 0, flushes_ = 0;
};

}  // namespace posthorn::pop3::testing_support
