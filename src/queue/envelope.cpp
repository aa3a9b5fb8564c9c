#include "queue/envelope.hpp"

#include <algorithm>

namespace posthorn::queue {

bool envelope::done() const {
  return std::ranges::all_of(recipients, [](const recipient& r) {
    return r.status == rcpt_status::Delivered || r.status == rcpt_status::Failed;
  });
}

const char* status_name(rcpt_status s) {
  switch (s) {
    case rcpt_status::Pending:
      return "pending";
    case rcpt_status::Deferred:
      return "deferred";
    case rcpt_status::Delivered:
      return "delivered";
    case rcpt_status::Failed:
      return "failed";
  }
  return "unknown";
}

}  // namespace posthorn::queue
