#include "queue/envelope.hpp"

#include <gtest/gtest.h>

namespace posthorn::queue {
namespace {

TEST(envelope, done_when_every_recipient_is_delivered_or_failed) {
  envelope env;
  EXPECT_TRUE(env.done());
  env.recipients.resize(2);
  EXPECT_FALSE(env.done());
  env.recipients[0].status = rcpt_status::Delivered;
  env.recipients[1].status = rcpt_status::Deferred;
  EXPECT_FALSE(env.done());
  env.recipients[1].status = rcpt_status::Failed;
  EXPECT_TRUE(env.done());
}

TEST(envelope, status_names_are_the_cli_contract) {
  // DESIGN.md §4.4: pending|deferred|delivered|failed.
  EXPECT_STREQ(status_name(rcpt_status::Pending), "pending");
  EXPECT_STREQ(status_name(rcpt_status::Deferred), "deferred");
  EXPECT_STREQ(status_name(rcpt_status::Delivered), "delivered");
  EXPECT_STREQ(status_name(rcpt_status::Failed), "failed");
}

}  // namespace
}  // namespace posthorn::queue
