// The scheduler's administration (the control socket behind `posthorn queue`): listing,
// flush, hold, release and delete, and the counts the metrics show.
//
// A change that touches the spool takes the message out of the scheduler's hands first
// (its slot goes null, as during an attempt), does the I/O without the lock, then puts
// it back. A message out for delivery is never changed under the worker's feet: the
// request waits in its slot and is applied when the attempt lands (checkin_locked).

#include <spdlog/spdlog.h>

#include <algorithm>

#include "mail/address.hpp"
#include "queue/scheduler.hpp"

namespace posthorn::queue {

namespace {

// `name` is `parent` or below it (both match_key()s).
bool at_or_below(std::string_view name, std::string_view parent) {
  if (name.size() == parent.size()) {
    return name == parent;
  }
  return name.size() > parent.size() && name.ends_with(parent) &&
         name[name.size() - parent.size() - 1] == '.';
}

}  // namespace

std::string scheduler::match_key(std::string_view domain) {
  // Plain ASCII names (nearly all) need no IDNA conversion: lower case is enough.
  if (mail::is_ascii(domain)) {
    std::string k = mail::ascii_lower(domain);
    if (k.find("xn--") == std::string::npos) {
      if (!k.empty() && k.back() == '.') {
        k.pop_back();
      }
      return k;
    }
  }
  return mail::normalize_domain(domain);
}

std::vector<std::string> scheduler::waiting_remote_domains(const envelope& env) {
  std::vector<std::string> out;
  for (const recipient& r : env.recipients) {
    if (r.local || (r.status != rcpt_status::Pending && r.status != rcpt_status::Deferred)) {
      continue;
    }
    std::string k = match_key(r.address.domain);
    if (std::find(out.begin(), out.end(), k) == out.end()) {
      out.push_back(std::move(k));
    }
  }
  return out;
}

std::size_t scheduler::flush_domain(std::string_view domain, bool subdomains) {
  const std::string want = match_key(domain);
  auto wanted = [&](std::string_view d) { return subdomains ? at_or_below(d, want) : d == want; };
  std::size_t n = 0;
  {
    std::lock_guard lock(mu_);
    const std::int64_t now = now_();
    for (auto& [id, s] : messages_) {
      if (!s.env) {
        // Out for delivery (or being changed): tried again when it comes back.
        if (std::any_of(s.out_domains.begin(), s.out_domains.end(), wanted)) {
          s.flush = true;
          ++n;
        }
        continue;
      }
      if (s.env->held) {
        continue;
      }
      const bool match =
          std::any_of(s.env->recipients.begin(), s.env->recipients.end(), [&](const recipient& r) {
            return !r.local &&
                   (r.status == rcpt_status::Pending || r.status == rcpt_status::Deferred) &&
                   wanted(match_key(r.address.domain));
          });
      if (match) {
        make_due_locked(s, now);
        ++n;
      }
    }
  }
  if (n > 0) {
    cv_.notify_all();
  }
  return n;
}

scheduler::queue_counts scheduler::counts() const {
  queue_counts c{0, 0, 0};
  std::lock_guard lock(mu_);
  for (const auto& [id, s] : messages_) {
    if (!s.env) {
      ++c.active;  // being attempted (or changed)
    } else if (s.env->held) {
      ++c.held;
    } else if (std::any_of(s.env->recipients.begin(), s.env->recipients.end(),
                           [](const recipient& r) { return r.status == rcpt_status::Pending; })) {
      ++c.active;
    } else {
      ++c.deferred;
    }
  }
  return c;
}

std::vector<scheduler::listed> scheduler::snapshot() const {
  std::vector<listed> out;
  std::vector<std::string> out_for_delivery;
  {
    std::lock_guard lock(mu_);
    out.reserve(messages_.size());
    for (const auto& [id, s] : messages_) {
      if (s.env) {
        out.push_back(listed{*s.env, false});
      } else {
        out_for_delivery.push_back(id);
      }
    }
  }
  // Outside the lock: the spool holds what the last attempt recorded. A message that
  // was delivered in the meantime is gone, and so not listed.
  for (const std::string& id : out_for_delivery) {
    if (auto env = spool_.load(id); env) {
      out.push_back(listed{std::move(*env), true});
    }
  }
  std::sort(out.begin(), out.end(), [](const listed& a, const listed& b) {
    return a.env.arrival != b.env.arrival ? a.env.arrival < b.env.arrival : a.env.id < b.env.id;
  });
  return out;
}

std::optional<scheduler::listed> scheduler::find(const std::string& id) const {
  {
    std::lock_guard lock(mu_);
    auto it = messages_.find(id);
    if (it == messages_.end()) {
      return std::nullopt;
    }
    if (it->second.env) {
      return listed{*it->second.env, false};
    }
  }
  if (auto env = spool_.load(id); env) {
    return listed{std::move(*env), true};
  }
  return std::nullopt;
}

std::size_t scheduler::flush_all() {
  std::size_t n = 0;
  {
    std::lock_guard lock(mu_);
    const std::int64_t now = now_();
    for (auto& [id, s] : messages_) {
      if (!s.env) {
        s.flush = true;
        ++n;
      } else if (!s.env->held) {
        make_due_locked(s, now);
        ++n;
      }
    }
  }
  cv_.notify_all();
  return n;
}

scheduler::admin_outcome scheduler::flush(const std::string& id) {
  admin_outcome out = admin_outcome::Done;
  {
    std::lock_guard lock(mu_);
    auto it = messages_.find(id);
    if (it == messages_.end()) {
      return admin_outcome::NotFound;
    }
    slot& s = it->second;
    if (!s.env) {
      s.flush = true;
      out = admin_outcome::Later;
    } else if (s.env->held) {
      return admin_outcome::Unchanged;  // postqueue -i leaves held mail alone too
    } else {
      make_due_locked(s, now_());
    }
  }
  cv_.notify_all();
  return out;
}

result<scheduler::admin_outcome> scheduler::hold(const std::string& id) {
  return change(id, admin_op::Hold);
}

result<scheduler::admin_outcome> scheduler::release(const std::string& id) {
  return change(id, admin_op::Release);
}

result<scheduler::admin_outcome> scheduler::delete_message(const std::string& id) {
  return change(id, admin_op::Delete);
}

result<scheduler::admin_outcome> scheduler::change(const std::string& id, admin_op op) {
  std::unique_ptr<envelope> env;
  {
    std::lock_guard lock(mu_);
    auto it = messages_.find(id);
    if (it == messages_.end()) {
      return admin_outcome::NotFound;
    }
    slot& s = it->second;
    if (!s.env) {
      return defer_locked(s, op);
    }
    if ((op == admin_op::Hold && s.env->held) || (op == admin_op::Release && !s.env->held)) {
      return admin_outcome::Unchanged;
    }
    env = std::move(s.env);
    s.seq = 0;
  }
  if (auto r = apply(std::move(env), op); !r) {
    return fail(std::move(r.error()));
  }
  return admin_outcome::Done;
}

// A message out for delivery: the request waits in its slot for the attempt to land.
// A delete outranks everything; a release cancels a hold that never took effect.
scheduler::admin_outcome scheduler::defer_locked(slot& s, admin_op op) {
  if (op == admin_op::Release && s.pending == admin_op::Hold) {
    s.pending = admin_op::None;
    return admin_outcome::Done;
  }
  if (op == admin_op::Delete || s.pending != admin_op::Delete) {
    s.pending = op;
  }
  return admin_outcome::Later;
}

scheduler::delete_counts scheduler::delete_all() {
  delete_counts c;
  std::vector<std::unique_ptr<envelope>> taken;
  {
    std::lock_guard lock(mu_);
    taken.reserve(messages_.size());
    for (auto& [id, s] : messages_) {
      if (s.env) {
        taken.push_back(std::move(s.env));
        s.seq = 0;
      } else {
        s.pending = admin_op::Delete;
        ++c.later;
      }
    }
  }
  for (std::unique_ptr<envelope>& env : taken) {
    if (apply(std::move(env), admin_op::Delete)) {
      ++c.deleted;
    } else {
      ++c.failed;
    }
  }
  return c;
}

result<void> scheduler::apply(std::unique_ptr<envelope> env, admin_op op) {
  const std::string id = env->id;
  result<void> r;
  bool due_now = false;
  switch (op) {
    case admin_op::Delete:
      r = spool_.remove(id);
      if (r) {
        spdlog::info("id={} event=deleted", id);
        {
          std::lock_guard lock(mu_);
          messages_.erase(id);  // heap items left for it are stale now
        }
        return r;
      }
      spdlog::error("id={} cannot delete queue file: {}", id, r.error().message);
      break;
    case admin_op::Hold:
      env->held = true;
      r = spool_.update(*env);
      if (r) {
        spdlog::info("id={} event=held", id);
      } else {
        env->held = false;
        spdlog::error("id={} cannot hold: {}", id, r.error().message);
      }
      break;
    case admin_op::Release:
      env->held = false;
      r = spool_.update(*env);
      if (r) {
        spdlog::info("id={} event=released", id);
        due_now = true;
      } else {
        env->held = true;
        spdlog::error("id={} cannot release: {}", id, r.error().message);
      }
      break;
    case admin_op::None:
      break;
  }
  {
    std::lock_guard lock(mu_);
    checkin_locked(std::move(env), due_now);
  }
  cv_.notify_all();
  return r;
}

}  // namespace posthorn::queue
