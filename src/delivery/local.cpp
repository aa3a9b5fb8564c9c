#include "delivery/local.hpp"

namespace posthorn::delivery {

std::vector<outcome> deliver_local(maildir& target, const queue::envelope& env,
                                   std::string_view message) {
  target.begin(env);
  bool any = false;
  for (std::size_t i = 0; i < env.recipients.size(); ++i) {
    const queue::recipient& r = env.recipients[i];
    if (r.local &&
        (r.status == queue::rcpt_status::Pending || r.status == queue::rcpt_status::Deferred)) {
      target.add_recipient(i);
      any = true;
    }
  }
  if (!any) {
    target.abort();
    return {};
  }
  target.body(message);
  return target.commit();
}

}  // namespace posthorn::delivery
