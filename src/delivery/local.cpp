#include "delivery/local.hpp"

#include <fmt/format.h>

#include "queue/file_io.hpp"

namespace posthorn::delivery {

namespace {

// Due: pending, or deferred and its retry time reached (a message may be attempted
// earlier for another recipient, a delay warning or expiry).
bool wants_local(const queue::recipient& r, std::int64_t now) {
  return r.local && (r.status == queue::rcpt_status::Pending ||
                     (r.status == queue::rcpt_status::Deferred && r.next_attempt <= now));
}

// Adds the recipients to try; false when there are none.
bool add_recipients(maildir& target, const queue::envelope& env, std::string_view message,
                    std::int64_t now) {
  target.begin(env);
  bool any = false;
  for (std::size_t i = 0; i < env.recipients.size(); ++i) {
    if (wants_local(env.recipients[i], now)) {
      target.add_recipient(i);
      any = true;
    }
  }
  if (!any) {
    target.abort();
    return false;
  }
  target.body(message);
  return true;
}

}  // namespace

std::vector<outcome> deliver_local(maildir& target, const queue::envelope& env,
                                   std::string_view message, std::int64_t now) {
  if (!add_recipients(target, env, message, now)) {
    return {};
  }
  return target.commit();
}

void deliver_local_batch(std::vector<local_job>& jobs, const fs::path& root,
                         const std::string& hostname, std::int64_t now,
                         const std::function<void()>& record, const std::string& junk_folder) {
  std::vector<maildir> boxes;
  boxes.reserve(jobs.size());
  std::vector<std::size_t> job_of;  // boxes index -> jobs index
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    maildir m(root, hostname);
    m.set_junk_folder(junk_folder);
    if (add_recipients(m, *jobs[j].env, jobs[j].message, now)) {
      boxes.push_back(std::move(m));
      job_of.push_back(j);
    }
  }
  if (!boxes.empty()) {
    for (maildir& m : boxes) {
      m.prepare(flush_mode::Deferred);
    }
    int err = queue::io::sync_filesystem(root);
    if (err == 0) {
      for (maildir& m : boxes) {
        m.publish(flush_mode::Deferred);
      }
      err = queue::io::sync_filesystem(root);
    }
    if (err != 0) {
      // Never retried: after a failed flush nothing written is known to be on disk.
      error e =
          error::temp("4.3.0", fmt::format("maildir flush failed: {}", queue::io::errno_text(err)));
      for (maildir& m : boxes) {
        m.fail_all(e);
      }
    }
    for (std::size_t b = 0; b < boxes.size(); ++b) {
      jobs[job_of[b]].outcomes = boxes[b].outcomes();
    }
  }
  record();
  for (maildir& m : boxes) {
    m.cleanup();
  }
}

}  // namespace posthorn::delivery
