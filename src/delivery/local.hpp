#pragma once
// Local delivery of one queued message: every recipient marked local that is still
// pending or deferred goes into its Maildir in one transaction (DESIGN.md §4.1).

#include <string_view>
#include <vector>

#include "delivery/maildir.hpp"
#include "queue/envelope.hpp"

namespace posthorn::delivery {

// Blocking. One outcome per recipient tried (outcome.rcpt indexes env.recipients);
// recipients not tried (remote, delivered, failed) have none. The caller records the
// outcomes in the envelope and the spool.
std::vector<outcome> deliver_local(maildir& target, const queue::envelope& env,
                                   std::string_view message);

}  // namespace posthorn::delivery
