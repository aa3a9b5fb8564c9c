#include "delivery/remote.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ctime>
#include <map>

#include "delivery/mx_filter.hpp"
#include "dns/types.hpp"
#include "policy/relay_domains.hpp"
#include "queue/delivery_metrics.hpp"
#include "smtp/client/connector.hpp"

namespace posthorn::delivery {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

// The recipients of one domain across a batch: (attempt index, recipient index).
struct domain_group {
  std::string domain;
  std::vector<std::pair<std::size_t, std::size_t>> members;
};

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// "Mail loops back to myself" (DESIGN.md §4.2): an MX address and port we listen on.
bool is_own_listener(const config::config& cfg, const asio::ip::tcp::endpoint& ep) {
  for (const config::listen_config& l : cfg.listen) {
    if (l.endpoint.port != ep.port()) {
      continue;
    }
    boost::system::error_code ec;
    auto a = asio::ip::make_address(l.endpoint.host, ec);
    if (ec) {
      continue;
    }
    if (a == ep.address() || (a.is_unspecified() && (ep.address().is_loopback()))) {
      return true;
    }
  }
  return false;
}

asio::ip::address to_asio(const ip_address& a) {
  asio::ip::address_v6::bytes_type b;
  std::copy(a.bytes.begin(), a.bytes.end(), b.begin());
  asio::ip::address_v6 v6(b);
  if (v6.is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, v6);
  }
  return v6;
}

struct route {
  std::vector<smtp::client_endpoint> endpoints;
  std::optional<error> failure;  // when no endpoint can be had
  bool smarthost = false;        // the endpoints are the smarthost's
};

// The hosts to try for `domain`, in order: the smarthost, or MX (RFC 5321 §5.1) without
// us and those no better than us (select_mx()).
awaitable<route> find_route(const config::config& cfg, dns::resolver& resolver,
                            const std::string& domain) {
  route out;
  std::vector<std::pair<std::string, std::uint16_t>> hosts;
  std::vector<std::uint16_t> prefs;  // MX preference of each host (none for the smarthost)
  if (!cfg.relay.smarthost.empty()) {
    auto hp = host_port::parse(cfg.relay.smarthost);
    if (!hp) {
      out.failure = error::temp("4.3.5", "bad smarthost " + cfg.relay.smarthost);
      co_return out;
    }
    hosts.emplace_back(hp->host, hp->port);
    out.smarthost = true;
  } else {
    dns::mx_result mx = co_await dns::async_mx(resolver, domain);
    if (auto e = dns::mx_error(mx, domain)) {
      out.failure = std::move(*e);
      co_return out;
    }
    for (const dns::mx_target& t : mx.targets) {
      hosts.emplace_back(t.host, cfg.relay.outbound_port);
      prefs.push_back(t.preference);
    }
  }
  // Every host's addresses first: whether one of them is us decides which are tried.
  std::vector<dns::addr_result> resolved;
  std::vector<mx_candidate> candidates;
  const std::string own_name = mail::normalize_domain(cfg.hostname);
  for (std::size_t h = 0; h < hosts.size(); ++h) {
    resolved.push_back(co_await dns::async_addrs(resolver, hosts[h].first));
    mx_candidate c{h < prefs.size() ? prefs[h] : std::uint16_t(0), false};
    c.self = !out.smarthost && mail::normalize_domain(hosts[h].first) == own_name;
    if (resolved.back().status == dns::dns_status::Ok) {
      for (const ip_address& a : resolved.back().addrs) {
        c.self = c.self || is_own_listener(cfg, {to_asio(a), hosts[h].second});
      }
    }
    candidates.push_back(c);
  }
  const mx_selection chosen = select_mx(candidates);
  if (chosen.self_listed && chosen.usable.empty()) {
    // We are the best MX left. For a domain we are a backup MX for, the mail waits for
    // the primary (ETRN, or the next retry); for any other it is a loop.
    if (!out.smarthost && policy::relay_domains(cfg.domains.relay).contains(domain)) {
      out.failure = error::temp("4.4.4", "we are the best MX for " + domain + "; waiting");
    } else {
      out.failure = error::perm("5.4.6", "mail for " + domain + " loops back to myself");
    }
    co_return out;
  }
  bool looped = false;
  std::string last_detail;
  for (std::size_t h : chosen.usable) {
    const auto& [host, port] = hosts[h];
    const dns::addr_result& addrs = resolved[h];
    if (addrs.status != dns::dns_status::Ok) {
      last_detail = host + ": " + (addrs.detail.empty() ? "no address" : addrs.detail);
      continue;
    }
    for (const ip_address& a : addrs.addrs) {
      asio::ip::tcp::endpoint ep(to_asio(a), port);
      if (is_own_listener(cfg, ep)) {
        looped = true;
        continue;
      }
      out.endpoints.push_back(smtp::client_endpoint{ep, host});
    }
  }
  if (out.endpoints.empty()) {
    out.failure = looped
                      ? error::perm("5.4.6", "mail for " + domain + " loops back to myself")
                      : error::temp("4.4.3", "no reachable mail server for " + domain +
                                                 (last_detail.empty() ? "" : ": " + last_detail));
  }
  co_return out;
}

void apply(queue::envelope& env, std::size_t i, queue::rcpt_status status, std::string reply,
           const std::string& relay, bool relayed) {
  queue::recipient& r = env.recipients[i];
  ++r.attempts;
  r.status = status;
  r.last_reply = std::move(reply);
  r.relayed = relayed;
  r.remote_mta = relay.substr(0, relay.find('['));
  queue::note_delivery(env, r, queue::outcome_of(status), relay, unix_now());
}

// What one domain's delivery needs from the agent.
struct agent_context {
  std::shared_ptr<const config::config> cfg;  // the batch's; a reload does not change it
  dns::resolver& resolver;
  asio::ssl::context* tls;
  std::shared_ptr<const smtp::client_credentials> smarthost_credentials;
  destination_limiter& limiter;
};

awaitable<void> deliver_domain(asio::any_io_executor ex, agent_context ctx,
                               std::vector<queue::scheduler::remote_attempt>& batch,
                               domain_group group, std::string dest) {
  const config::config& cfg = *ctx.cfg;
  route rt = co_await find_route(cfg, ctx.resolver, group.domain);
  if (rt.failure) {
    const error& e = *rt.failure;
    std::string reply = (e.temporary() ? "451 " : "550 ") + e.enhanced + " " + e.message;
    for (auto [a, i] : group.members) {
      apply(*batch[a].env, i,
            e.temporary() ? queue::rcpt_status::Deferred : queue::rcpt_status::Failed, reply, "",
            false);
    }
    co_return;
  }
  // One transaction per message, every recipient of the domain in it.
  std::vector<smtp::client_transaction> txns;
  std::vector<std::size_t> txn_attempt;
  std::vector<std::vector<std::size_t>> txn_rcpts;
  std::map<std::size_t, std::size_t> by_attempt;
  for (auto [a, i] : group.members) {
    auto [it, fresh] = by_attempt.try_emplace(a, txn_rcpts.size());
    if (fresh) {
      txn_rcpts.emplace_back();
      txn_attempt.push_back(a);
    }
    txn_rcpts[it->second].push_back(i);
  }
  for (std::size_t t = 0; t < txn_rcpts.size(); ++t) {
    const auto& at = batch[txn_attempt[t]];
    txns.push_back(smtp::make_transaction(*at.env, txn_rcpts[t], at.message->contents()));
  }
  // deliver() holds one connection at a time: one slot covers it.
  destination_limiter::slot held = co_await ctx.limiter.acquire(dest);
  smtp::delivery_report report = co_await smtp::deliver(
      ex, rt.endpoints, cfg.hostname, std::move(txns), ctx.tls, smtp::client_timeouts{},
      rt.smarthost ? ctx.smarthost_credentials : nullptr);
  held.reset();
  for (const std::string& why : report.tried) {
    spdlog::info("event=host-failed domain={} {}", group.domain, why);
  }
  for (std::size_t t = 0; t < txn_rcpts.size(); ++t) {
    queue::envelope& env = *batch[txn_attempt[t]].env;
    const smtp::transaction_result* tr = t < report.results.size() ? &report.results[t] : nullptr;
    for (std::size_t k = 0; k < txn_rcpts[t].size(); ++k) {
      std::size_t i = txn_rcpts[t][k];
      if (tr == nullptr || k >= tr->recipients.size()) {
        apply(env, i, queue::rcpt_status::Deferred, "451 4.4.1 no answer from any host",
              report.relay, false);
        continue;
      }
      const smtp::client_outcome& o = tr->recipients[k];
      bool relayed = o.status == queue::rcpt_status::Delivered && !tr->peer_dsn;
      std::string reply = o.reply;
      if (o.code == 0 && !o.dsn.empty()) {
        // Our own verdict (SIZE, SMTPUTF8, ...): give it the reply form bounces parse.
        reply = std::string(o.status == queue::rcpt_status::Failed ? "550 " : "451 ") + o.dsn +
                " " + reply;
      }
      // Recipients may have been decided by different hosts (the next MX in the same
      // attempt): each gets the relay that answered for it.
      const std::string& relay =
          k < tr->relays.size() && !tr->relays[k].empty() ? tr->relays[k] : report.relay;
      apply(env, i, o.status, std::move(reply), relay, relayed);
    }
  }
}

}  // namespace

struct destination_limiter::waiter {
  explicit waiter(const asio::any_io_executor& ex)
      : timer(ex, asio::steady_timer::time_point::max()) {}
  asio::steady_timer timer;
  bool granted = false;  // under mu_
};

destination_limiter::slot& destination_limiter::slot::operator=(slot&& o) noexcept {
  if (this != &o) {
    reset();
    owner_ = std::exchange(o.owner_, nullptr);
    dest_ = std::move(o.dest_);
  }
  return *this;
}

void destination_limiter::slot::reset() {
  if (owner_ != nullptr) {
    std::exchange(owner_, nullptr)->release(dest_);
  }
}

awaitable<destination_limiter::slot> destination_limiter::acquire(std::string dest) {
  const asio::any_io_executor ex = co_await asio::this_coro::executor;
  std::shared_ptr<waiter> w;
  {
    std::lock_guard lock(mu_);
    entry& e = entries_[dest];
    if (e.active < limit_) {
      ++e.active;
      co_return slot(this, std::move(dest));
    }
    w = std::make_shared<waiter>(ex);
    e.waiting.push_back(w);
  }
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (w->granted) {
        break;
      }
    }
    // Woken by release() (a cancel posted to this executor, so it cannot come before
    // the wait starts); the timer itself never expires.
    co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return slot(this, std::move(dest));
}

void destination_limiter::release(const std::string& dest) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(dest);
  if (it == entries_.end()) {
    return;
  }
  entry& e = it->second;
  // Over a limit lowered by a reload, the slot is dropped rather than passed on.
  if (!e.waiting.empty() && e.active <= limit_) {
    // The slot passes straight to the first waiter: `active` stays as it is.
    std::shared_ptr<waiter> w = std::move(e.waiting.front());
    e.waiting.pop_front();
    w->granted = true;
    asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
    return;
  }
  if (--e.active == 0) {
    entries_.erase(it);
  }
}

void destination_limiter::set_limit(std::size_t limit) {
  std::lock_guard lock(mu_);
  limit_ = limit == 0 ? 1 : limit;
  // A higher limit admits waiters now, not only at the next release.
  for (auto& [dest, e] : entries_) {
    while (e.active < limit_ && !e.waiting.empty()) {
      std::shared_ptr<waiter> w = std::move(e.waiting.front());
      e.waiting.pop_front();
      ++e.active;
      w->granted = true;
      asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
    }
  }
}

std::size_t destination_limiter::active(const std::string& dest) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(dest);
  return it == entries_.end() ? 0 : it->second.active;
}

remote_agent::remote_agent(asio::any_io_executor ex, std::shared_ptr<const config::config> cfg,
                           dns::resolver& resolver, std::shared_ptr<asio::ssl::context> client_tls)
    : ex_(std::move(ex)),
      resolver_(resolver),
      client_tls_(std::move(client_tls)),
      limiter_(cfg->relay.destination_concurrency) {
  settings_.store(make_settings(std::move(cfg)));
}

std::shared_ptr<const remote_agent::settings> remote_agent::make_settings(
    std::shared_ptr<const config::config> cfg) {
  auto s = std::make_shared<settings>();
  if (!cfg->relay.smarthost.empty() && !cfg->relay.smarthost_user.empty()) {
    auto c = std::make_shared<smtp::client_credentials>();
    c->user = cfg->relay.smarthost_user;
    c->password.assign(cfg->relay.smarthost_password);
    s->smarthost_credentials = std::move(c);
  }
  s->cfg = std::move(cfg);
  return s;
}

void remote_agent::reconfigure(std::shared_ptr<const config::config> cfg) {
  limiter_.set_limit(cfg->relay.destination_concurrency);
  settings_.store(make_settings(std::move(cfg)));
}

void remote_agent::deliver(std::vector<queue::scheduler::remote_attempt>& batch,
                           std::function<void()> done) {
  // One config for the whole batch, even if a reload lands in the middle of it.
  const std::shared_ptr<const settings> live = settings_.load();
  const config::config& cfg = *live->cfg;
  // Group by domain (normalized), keeping batch order within each group.
  std::vector<domain_group> groups;
  std::vector<std::string> dests;  // the limiter's key per group
  std::map<std::string, std::size_t> index;
  for (std::size_t a = 0; a < batch.size(); ++a) {
    for (std::size_t i : batch[a].rcpts) {
      std::string key = cfg.relay.smarthost.empty()
                            ? mail::normalize_domain(batch[a].env->recipients[i].address.domain)
                            : "smarthost " + cfg.relay.smarthost;
      auto [it, fresh] = index.try_emplace(key, groups.size());
      if (fresh) {
        groups.push_back(domain_group{batch[a].env->recipients[i].address.domain, {}});
        dests.push_back(key);
      }
      groups[it->second].members.emplace_back(a, i);
    }
  }
  if (groups.empty()) {
    done();
    return;
  }
  // Every domain on its own coroutine, all on one strand: outcomes land in the shared
  // envelopes one at a time.
  auto strand = asio::make_strand(ex_);
  auto remaining = std::make_shared<std::size_t>(groups.size());
  auto finish = std::make_shared<std::function<void()>>(std::move(done));
  const agent_context ctx{live->cfg, resolver_, client_tls_.get(), live->smarthost_credentials,
                          limiter_};
  for (std::size_t g = 0; g < groups.size(); ++g) {
    asio::co_spawn(strand,
                   deliver_domain(strand, ctx, batch, std::move(groups[g]), std::move(dests[g])),
                   [remaining, finish](std::exception_ptr e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         spdlog::error("remote delivery ended by an exception: {}", ex.what());
                       }
                     }
                     if (--*remaining == 0) {
                       (*finish)();
                     }
                   });
  }
}

}  // namespace posthorn::delivery
