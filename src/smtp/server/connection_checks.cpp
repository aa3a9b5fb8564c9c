// The chain of check modules of one connection (checks.hpp). Asio: in ph_net.

#include <spdlog/spdlog.h>

#include "common/run_blocking.hpp"
#include "smtp/server/checks.hpp"

namespace posthorn::smtp {

check_chain::check_chain(const check_list& modules, config::listener_role role,
                         const check_services& s)
    : blocking_(s.blocking) {
  for (const auto& m : modules) {
    const unsigned wanted = m->steps(role);
    if (wanted == 0) {
      continue;
    }
    auto c = m->open(s);
    if (!c) {
      continue;
    }
    links_.push_back(link{std::move(c), wanted, m->name()});
    steps_ |= wanted;
  }
}

boost::asio::awaitable<check_verdict> check_chain::run(check_request r,
                                                       queue::message_writer* message) {
  check_verdict all;
  const unsigned bit = step_bit(r.step);
  for (link& l : links_) {
    if ((l.steps & bit) == 0) {
      continue;
    }
    r.score = all.score;
    check_verdict v = co_await l.checks->run(r);
    if (r.step == check_step::Message && message != nullptr && !v.refuse && !v.prepend.empty()) {
      // Put the fields on the message now, so the next module reads them.
      const std::string fields = v.prepend;
      result<void> put =
          message->spilled() && blocking_ != nullptr
              ? co_await run_blocking(*blocking_,
                                      [message, &fields] { return message->prepend(fields); })
              : message->prepend(fields);
      if (!put) {
        spdlog::error("event=check-failed check={} reason=\"{}\"", l.name, put.error().message);
        v.refuse = make_reply(451, "4.3.0", "Error: queue file write error");
      }
      v.prepend.clear();  // applied: the merged verdict carries only what is still due
    }
    all.merge(std::move(v));
    if (all.refuse) {
      break;
    }
  }
  co_return all;
}

}  // namespace posthorn::smtp
