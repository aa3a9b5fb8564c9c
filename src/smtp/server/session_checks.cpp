// The session's side of the check seam (checks.hpp): which commands are checked, and
// what a verdict does to the reply, the transaction and the envelope.

#include <spdlog/spdlog.h>

#include "smtp/server/session.hpp"

namespace posthorn::smtp {

std::string_view to_string(check_step s) {
  switch (s) {
    case check_step::Connect:
      return "connect";
    case check_step::Helo:
      return "helo";
    case check_step::Mail:
      return "mail";
    case check_step::Rcpt:
      return "rcpt";
    case check_step::Message:
      return "message";
  }
  return "?";
}

void check_verdict::merge(check_verdict later) {
  if (!refuse) {
    refuse = std::move(later.refuse);
  }
  // A later module's fields go above the earlier ones (each is put on top in turn).
  if (!later.prepend.empty()) {
    later.prepend += prepend;
    prepend = std::move(later.prepend);
  }
  junk = junk || later.junk;
  hold = hold || later.hold;
  discard = discard || later.discard;
  score += later.score;
  if (!later.log.empty()) {
    if (!log.empty()) {
      log += ' ';
    }
    log += later.log;
  }
}

std::optional<check_step> session::check_step_of(verb v) const {
  check_step step;
  switch (v) {
    case verb::Helo:
    case verb::Ehlo:
      step = check_step::Helo;
      break;
    case verb::Mail:
      step = check_step::Mail;
      break;
    case verb::Rcpt:
      step = check_step::Rcpt;
      break;
    default:
      return std::nullopt;
  }
  if ((settings_.check_steps & step_bit(step)) == 0) {
    return std::nullopt;
  }
  return step;
}

void session::refuse_service(const reply& r) {
  send(r);
  if (r.code == 421) {
    mode_ = input_mode::Closed;
    return;
  }
  service_refused_ = true;
}

action session::refuse_checked(const reply& r) {
  const std::string text = r.lines.empty() ? std::string() : r.lines.front();
  log_reject(r.code, r.enhanced, text);
  send(r);
  ++stats_.errors;
  if (r.code == 421) {
    mode_ = input_mode::Closed;
  } else {
    check_limits();
  }
  return mode_ == input_mode::Closed ? action::Close : action::Read;
}

action session::check_done(check_verdict v) {
  check_pending_ = false;
  const check_step step = check_.step;
  if (step != check_step::Message) {
    std::optional<reply> success = std::exchange(held_reply_, std::nullopt);
    if (!v.refuse) {
      if (success) {
        send(*success);
      }
      return mode_ == input_mode::Closed ? action::Close : action::Read;
    }
    // Undo what the command did: a refused HELO/EHLO leaves the session as it was, a
    // refused MAIL starts no transaction, a refused RCPT adds no recipient.
    switch (step) {
      case check_step::Helo:
        helo_ = undo_.helo;
        esmtp_ = undo_.esmtp;
        enter_phase(undo_.ph);
        break;
      case check_step::Mail:
        reset_transaction();
        enter_phase(undo_.ph);
        break;
      case check_step::Rcpt:
        if (txn_.rcpts.size() > undo_.rcpts) {
          txn_.rcpts.resize(undo_.rcpts);
        }
        if (txn_.rcpts.empty()) {
          enter_phase(undo_.ph);
        }
        ++stats_.recipients_rejected;
        break;
      default:
        break;
    }
    return refuse_checked(*v.refuse);
  }
  // The end of a message.
  if (v.refuse) {
    count_message(false);
    const action a = refuse_checked(*v.refuse);
    reset_transaction();
    return a;
  }
  if (v.discard) {
    // A milter's discard: the client is told it was taken, and nothing is kept.
    spdlog::info("id={} event=discarded client=[{}] from=<{}> nrcpt={}{}{}", env_.id, peer_.addr,
                 env_.sender.str(), env_.recipients.size(), v.log.empty() ? "" : " ", v.log);
    ++stats_.messages;
    count_message(true);
    writer_.discard();
    reply_with(250, "2.0.0", "Ok: queued as " + env_.id);
    end_message();
    return mode_ == input_mode::Closed ? action::Close : action::Read;
  }
  env_.junk = env_.junk || v.junk;
  env_.held = env_.held || v.hold;
  check_log_ = std::move(v.log);
  return action::Commit;
}

}  // namespace posthorn::smtp
