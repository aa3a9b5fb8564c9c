// Wiring only: the spool, the committer, the scheduler with its delivery targets,
// the accounts and the listeners, and the signals that stop or reload them.

#include "app/serve.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>

#include <ctime>
#include <thread>

#include "delivery/local.hpp"
#include "delivery/maildir.hpp"
#include "policy/accounts.hpp"
#include "queue/committer.hpp"
#include "queue/scheduler.hpp"
#include "queue/spool.hpp"
#include "smtp/server/listener.hpp"
#include "auth/limiter.hpp"
#include "tls/context.hpp"

namespace posthorn::app {

namespace asio = boost::asio;

namespace {

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("posthorn");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::trace);
}

// Delivers a batch of due messages to their local recipients and records each outcome
// in the envelope and the mail log.
void deliver_locally(const config::config& cfg, std::vector<queue::scheduler::attempt>& batch,
                     const std::function<void()>& record) {
  std::vector<delivery::local_job> jobs;
  jobs.reserve(batch.size());
  for (const auto& a : batch) {
    jobs.push_back(delivery::local_job{a.env, a.message->contents(), {}});
  }
  delivery::deliver_local_batch(jobs, cfg.mailbox.maildir_root, cfg.hostname, [&] {
    std::int64_t now = unix_now();
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      queue::envelope& env = *batch[j].env;
      for (const delivery::outcome& o : jobs[j].outcomes) {
        queue::recipient& r = env.recipients[o.rcpt];
        ++r.attempts;
        std::string status;
        if (o.status) {
          r.status = queue::rcpt_status::Delivered;
          r.last_reply = "250 2.0.0 delivered to maildir";
          status = "sent";
        } else if (o.status.error().temporary()) {
          r.status = queue::rcpt_status::Deferred;
          r.last_reply = "451 " + o.status.error().enhanced + " " + o.status.error().message;
          status = "deferred";
        } else {
          r.status = queue::rcpt_status::Failed;
          r.last_reply = "550 " + o.status.error().enhanced + " " + o.status.error().message;
          status = "bounced";
        }
        spdlog::info("id={} from=<{}> to=<{}> orig_to=<{}> relay=local delay={} status={} "
                     "reply=\"{}\"",
                     env.id, env.sender.str(), r.address.str(), r.original.str(),
                     now - env.arrival, status, r.last_reply);
      }
    }
    record();
  });
}

}  // namespace

int run_serve(const config::config& cfg_in, const serve_options& opts) {
  setup_logging(opts.log_level);
  auto cfg = std::make_shared<const config::config>(cfg_in);

  auto accounts = policy::accounts::load(*cfg);
  if (!accounts) {
    spdlog::critical("{}", accounts.error().str());
    return 2;
  }
  auto spool = queue::spool::open(cfg->spool_dir());
  if (!spool) {
    spdlog::critical("cannot open spool {}: {}", cfg->spool_dir().string(),
                     spool.error().message);
    return 1;
  }
  auto recovered = (*spool)->recover();
  if (!recovered) {
    spdlog::critical("spool recovery failed: {}", recovered.error().message);
    return 1;
  }

  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  asio::thread_pool blocking(4);
  queue::committer committer(**spool);
  queue::scheduler scheduler(
      **spool, cfg->queue,
      [&cfg](std::vector<queue::scheduler::attempt>& batch, const std::function<void()>& record) {
        deliver_locally(*cfg, batch, record);
      },
      2, unix_now);
  spdlog::info("event=recovered messages={}", recovered->size());
  for (queue::envelope& env : *recovered) {
    scheduler.submit(std::move(env));
  }

  asio::io_context io(static_cast<int>(cores));
  smtp::server_context ctx{cfg,
                           *accounts,
                           **spool,
                           committer,
                           scheduler,
                           blocking,
                           smtp::connection_limits(cfg->limits.connections,
                                                   cfg->limits.connections_per_ip)};
  // TLS when a certificate is configured or may be generated; without one, no STARTTLS
  // and no implicit-TLS listeners.
  std::shared_ptr<tls::context_store> tls_store;
  bool wants_tls = cfg->tls.self_signed || std::filesystem::exists(cfg->tls.cert);
  for (const config::listen_config& l : cfg->listen) {
    wants_tls = wants_tls || l.role == config::listener_role::Submissions;
  }
  if (wants_tls) {
    auto store = tls::context_store::create(tls::server_settings::from(*cfg));
    if (!store) {
      spdlog::critical("TLS: {}", store.error().message);
      return 1;
    }
    tls_store = *store;
    ctx.tls_context = [tls_store] { return tls_store->current(); };
  }
  ctx.auth_limiter = std::make_shared<auth::failure_limiter>(auth::limiter_settings{
      .max_failures = cfg->auth.max_failures, .window = cfg->auth.failure_window});

  std::vector<std::unique_ptr<smtp::listener>> listeners;
  for (const config::listen_config& l : cfg->listen) {
    auto lis = std::make_unique<smtp::listener>(io, ctx, l);
    if (auto r = lis->open(); !r) {
      spdlog::critical("{}", r.error().message);
      return 1;
    }
    spdlog::info("event=listening address={} role={}", l.address,
                 l.role == config::listener_role::Mx ? "mx"
                 : l.role == config::listener_role::Submission ? "submission"
                                                               : "submissions");
    lis->start();
    listeners.push_back(std::move(lis));
  }

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) {
      return;
    }
    spdlog::info("event=stopping signal={}", sig);
    ctx.stopping = true;
    for (auto& l : listeners) {
      l->close();
    }
    io.stop();
  });

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < cores; ++i) {
    threads.emplace_back([&io] { io.run(); });
  }
  io.run();
  for (std::thread& t : threads) {
    t.join();
  }
  committer.stop();
  scheduler.stop();
  blocking.join();
  spdlog::info("event=stopped");
  return 0;
}

}  // namespace posthorn::app
