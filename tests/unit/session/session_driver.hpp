#pragma once
// A session on a real spool, driven like the connection driver does (Spill, Commit),
// for the BDAT, bare-LF and VRFY/EXPN tests. Input is cut every way the tests ask:
// the replies must not depend on where the reads end.

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/server/session.hpp"
#include "test_env.hpp"

namespace posthorn::smtp::testing_support {

class session_driver : public testing::Test {
 protected:
  void SetUp() override {
    auto acc = policy::accounts::from_text(
        {"example.test", "other.test"},
        "alice@example.test:\nbob@example.test:\nalice@other.test:\n"
        "j\xc3\xb6rg@example.test:\n",
        "team: alice, bob\nforward: carol@remote.test\nlist@example.test: alice, ghost\n"
        "intl: j\xc3\xb6rg@example.test, bob\n",
        "old@example.test: new@elsewhere.test\n");
    ASSERT_TRUE(acc.has_value());
    accounts_ = *acc;
    settings_.hostname = "mx.example.test";
    settings_.expn = true;
    restart();
  }

  // A new session with the current settings_.
  void restart() {
    session_ = std::make_unique<session>(settings_, accounts_, *env_,
                                         peer_info{"192.0.2.7", "unknown", false});
    session_->greet();
    session_->output().clear();
  }

  // Feeds the pieces in order, carrying out the session's actions; returns the replies.
  std::string run_pieces(const std::vector<std::string_view>& pieces) {
    std::string replies;
    for (const std::string_view piece : pieces) {
      std::string pending(piece);
      do {
        std::string_view v = pending;
        action a = session_->feed(v);
        pending.erase(0, pending.size() - v.size());
        replies += session_->output();
        session_->output().clear();
        if (a == action::Check) {
          // What the connection driver does with the check chain (checks.hpp), with
          // checker_ standing in for the modules.
          ++checks_;
          steps_seen_.push_back(session_->check_wanted().step);
          check_verdict verdict = checker_ ? checker_(*session_) : check_verdict{};
          if (session_->check_wanted().step == check_step::Message && !verdict.refuse) {
            EXPECT_TRUE(session_->message().prepend(verdict.prepend).has_value());
            verdict.prepend.clear();
          }
          a = session_->check_done(std::move(verdict));
          replies += session_->output();
          session_->output().clear();
        }
        if (a == action::Spill) {
          ++spills_;
          session_->spill_done(session_->message().spill());
        } else if (a == action::Commit) {
          auto r = spool_->commit(session_->envelope(), std::move(session_->message()));
          if (r) {
            committed_.push_back(session_->envelope());
          }
          session_->commit_done(std::move(r));
        } else if (a == action::Close) {
          replies += session_->output();
          session_->output().clear();
          return replies;
        } else if (a == action::Read && pending.empty()) {
          break;
        }
        replies += session_->output();
        session_->output().clear();
      } while (true);
    }
    return replies;
  }
  std::string run(std::string_view input) { return run_pieces({input}); }

  // The spooled message (our Received: field first).
  std::string body_of(const queue::envelope& e) {
    auto m = spool_->open_message(e.id);
    EXPECT_TRUE(m.has_value());
    return std::string((*m)->contents());
  }
  // The message as the client sent it: what follows our Received: field.
  std::string content_of(const queue::envelope& e) {
    std::string body = body_of(e);
    // Our Received: field is folded: its end is the first line not starting with space.
    std::size_t at = 0;
    do {
      at = body.find("\r\n", at) + 2;
    } while (at < body.size() && (body[at] == ' ' || body[at] == '\t'));
    return body.substr(at);
  }

  testing_support::temp_spool world_{"driver"};
  const std::filesystem::path& dir_ = world_.dir();
  queue::spool* spool_ = world_.spool();
  test_env* env_ = world_.env();
  std::shared_ptr<const policy::accounts> accounts_;
  session_settings settings_;
  std::unique_ptr<session> session_;
  std::vector<queue::envelope> committed_;
  int spills_ = 0;
  // The check seam: the verdict for each Check action (none: an empty verdict).
  std::function<check_verdict(session&)> checker_;
  int checks_ = 0;
  std::vector<check_step> steps_seen_;
};

}  // namespace posthorn::smtp::testing_support
