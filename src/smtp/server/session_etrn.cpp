// ETRN (RFC 1985): a client asks us to start delivery of the mail queued for a domain
// we are a backup MX for ([domains] relay). The session checks the request; the driver
// asks the scheduler (the Etrn action) and reports how many messages were started.
//
// Replies (RFC 1985 §5, with RFC 3463 enhanced codes of the same class):
//   251 2.0.0 OK, no messages waiting for node <x>
//   253 2.0.0 OK, <n> pending messages for node <x> started
//   458 4.3.0 Unable to queue messages for node <x>       (queue shutting down)
//   459 4.7.1 Node <x> not allowed: <reason>              (not a [domains] relay domain)
//   459 4.5.4 Node #<q> not allowed: <reason>             (we have no named queues)
//   501 5.5.4 Syntax: ETRN [@]<domain>
//   503 5.5.1 before HELO/EHLO, or in a mail transaction
// We always know the count, so 250 and 252 (started, count unknown) are not used.

#include <spdlog/spdlog.h>

#include "common/domain_name.hpp"
#include "smtp/server/session.hpp"
#include "smtp/server/session_util.hpp"

namespace posthorn::smtp {

using detail::trim;

void session::on_etrn(const command& c) {
  if (!greeted_check()) {
    return;
  }
  // Not in the middle of a mail transaction (as Postfix): the queue run is its own act.
  if (txn_.active) {
    error_reply(503, "5.5.1", "Error: MAIL transaction in progress");
    return;
  }
  std::string_view arg = trim(c.arg);
  if (arg.empty() || arg.find_first_of(" \t") != std::string_view::npos) {
    error_reply(501, "5.5.4", "Syntax: ETRN [@]<domain>");
    return;
  }
  if (arg.front() == '#') {
    // RFC 1985 §5: "#" names a queue; ours are kept per domain only.
    error_reply(459, "4.5.4",
                "Node " + std::string(arg) + " not allowed: named queues are not supported");
    return;
  }
  etrn_request req;
  if (arg.front() == '@') {
    req.subdomains = true;  // RFC 1985 §5: the domain and everything below it
    arg.remove_prefix(1);
  }
  if (arg.size() > 1 && arg.back() == '.') {
    arg.remove_suffix(1);
  }
  if (!plausible_domain_name(arg)) {
    error_reply(501, "5.5.4", "Syntax: ETRN [@]<domain>");
    return;
  }
  req.domain = std::string(arg);
  const policy::relay_domains& relay = accounts_->relay();
  if (!(req.subdomains ? relay.covers_subtree(req.domain) : relay.contains(req.domain))) {
    error_reply(459, "4.7.1", "Node " + req.domain + " not allowed: not a domain we relay for");
    return;
  }
  etrn_ = std::move(req);
  etrn_pending_ = true;
}

void session::etrn_done(std::optional<std::size_t> started) {
  etrn_pending_ = false;
  const std::string node = etrn_.domain;
  etrn_ = {};
  if (!started) {
    reply_with(458, "4.3.0", "Unable to queue messages for node " + node);
    return;
  }
  spdlog::info("event=etrn client=[{}] node={} messages={}", peer_.addr, node, *started);
  if (*started == 0) {
    reply_with(251, "2.0.0", "OK, no messages waiting for node " + node);
    return;
  }
  reply_with(253, "2.0.0",
             "OK, " + std::to_string(*started) + " pending messages for node " + node + " started");
}

}  // namespace posthorn::smtp
