// Wiring only: the spool, the committer, the scheduler with its delivery targets,
// the accounts and the listeners, and the signals that stop or reload them.

#include "app/serve.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "admin/control_server.hpp"
#include "admin/metrics_http.hpp"
#include "app/checks_setup.hpp"
#include "app/maildir_sweeper.hpp"
#include "app/privileges.hpp"
#include "app/reload.hpp"
#include "auth/limiter.hpp"
#include "auth/scram.hpp"
#include "delivery/lmtp_agent.hpp"
#include "delivery/local.hpp"
#include "delivery/maildir.hpp"
#include "delivery/remote.hpp"
#include "dns/unbound_resolver.hpp"
#include "mail/received.hpp"
#include "policy/accounts.hpp"
#include "queue/bounce.hpp"
#include "queue/committer.hpp"
#include "queue/delivery_metrics.hpp"
#include "queue/file_io.hpp"
#include "queue/scheduler.hpp"
#include "queue/spool.hpp"
#include "smtp/server/listener.hpp"
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
  delivery::deliver_local_batch(
      jobs, cfg.mailbox.maildir_root, cfg.hostname, unix_now(),
      [&] {
        std::int64_t now = unix_now();
        for (std::size_t j = 0; j < jobs.size(); ++j) {
          queue::envelope& env = *batch[j].env;
          for (const delivery::outcome& o : jobs[j].outcomes) {
            queue::recipient& r = env.recipients[o.rcpt];
            ++r.attempts;
            if (o.status) {
              r.status = queue::rcpt_status::Delivered;
              r.last_reply = "250 2.0.0 delivered to maildir";
            } else if (o.status.error().temporary()) {
              r.status = queue::rcpt_status::Deferred;
              r.last_reply = "451 " + o.status.error().enhanced + " " + o.status.error().message;
            } else {
              r.status = queue::rcpt_status::Failed;
              r.last_reply = "550 " + o.status.error().enhanced + " " + o.status.error().message;
            }
            queue::note_delivery(env, r, queue::outcome_of(r.status), "local", now);
          }
        }
        record();
      },
      cfg.mailbox.junk_folder);
}

// Builds a delivery status notification (RFC 3464) for `rcpts` of `env` and queues it
// from <> to the original sender, durably, like any other message. An error when it could
// not be committed: the scheduler then keeps the original and tries again.
result<void> queue_report(const config::config& cfg, const policy::accounts& accounts,
                          queue::spool& spool, queue::scheduler& scheduler,
                          const queue::envelope& env, const queue::message_reader& message,
                          queue::report_kind kind, const std::vector<std::size_t>& rcpts) {
  queue::dsn_kind dk = kind == queue::report_kind::Failure     ? queue::dsn_kind::Failure
                       : kind == queue::report_kind::Delay     ? queue::dsn_kind::Delay
                       : kind == queue::report_kind::Delivered ? queue::dsn_kind::Delivered
                                                               : queue::dsn_kind::Relayed;
  queue::dsn_action action = queue::action_for(dk);
  queue::dsn_request req;
  req.reporting_mta = cfg.hostname;
  req.kind = dk;
  req.original = env;
  for (std::size_t i : rcpts) {
    const queue::recipient& r = env.recipients[i];
    if (queue::wants_dsn(env, r, dk)) {
      queue::dsn_recipient rep = queue::dsn_report_for(r, action);
      if (rep.remote_mta.empty() && !r.remote_mta.empty()) {
        rep.remote_mta = "dns; " + r.remote_mta;
      }
      if (dk == queue::dsn_kind::Delay) {
        rep.will_retry_until = env.arrival + cfg.queue.max_lifetime.count();
      }
      req.recipients.push_back(std::move(rep));
    }
  }
  if (req.recipients.empty()) {
    return {};  // NOTIFY=NEVER, or the null sender: nothing to say (RFC 3461 §6.2)
  }
  req.message = message.contents();
  std::int64_t now = unix_now();
  req.now = now;
  queue::envelope out;
  out.id = spool.new_id();
  req.unique = out.id;
  std::string text = queue::build_dsn(req);
  out.arrival = now;
  out.protocol = "local";
  out.smtputf8 = queue::dsn_is_global(req);
  out.body = mail::is_ascii(text) ? queue::body_type::SevenBit : queue::body_type::EightBitMime;
  // To the sender: delivered here when it is one of ours (through its aliases), else relayed.
  const auto add_targets = [&](const mail::address& to) {
    for (const policy::target& t : accounts.expand(to).targets) {
      if (t.k != policy::target::kind::Local && t.k != policy::target::kind::Remote) {
        continue;  // unknown or moved: nobody to give it to
      }
      queue::recipient r{
          .address = t.address, .original = to, .local = t.k == policy::target::kind::Local};
      r.notify = queue::notify::Never;  // never a report about a report
      out.recipients.push_back(std::move(r));
    }
  };
  if (accounts.is_local_domain(env.sender.domain)) {
    // Never relayed: mail for our own domain that nobody here receives would only loop.
    add_targets(env.sender);
  } else {
    queue::recipient r{.address = env.sender, .original = env.sender, .local = false};
    r.notify = queue::notify::Never;
    out.recipients.push_back(std::move(r));
  }
  if (out.recipients.empty()) {
    // A local sender nobody receives for (unknown, moved, an alias loop): the report itself
    // is undeliverable. Postfix drops such double bounces by default (notify_classes without
    // 2bounce); we do too, but never without a word in the log.
    spdlog::error(
        "id={} event=dsn-undeliverable to=<{}> kind={} reason=\"the sender has no "
        "deliverable address here\"",
        env.id, env.sender.str(), queue::action_name(action));
    return {};
  }
  queue::message_writer w = spool.begin(out.id);
  mail::received_info trace;
  trace.by_host = cfg.hostname;
  trace.queue_id = out.id;
  trace.when = now;
  w.append(mail::received_header(trace));  // like every message we queue (DESIGN.md §4.2)
  w.append(text);
  if (auto r = spool.commit(out, std::move(w)); !r) {
    spdlog::error("id={} cannot queue the delivery report: {}", env.id, r.error().message);
    return std::unexpected(r.error());
  }
  spdlog::info("id={} event=dsn kind={} report={} to=<{}>", env.id, queue::action_name(action),
               out.id, env.sender.str());
  scheduler.submit(std::move(out));
  return {};
}

}  // namespace

int run_serve(const config::config& cfg_in, const serve_options& opts) {
  setup_logging(opts.log_level);
  auto cfg = std::make_shared<const config::config>(cfg_in);
  // `user` is checked before anything is created or bound: a typo is a config error.
  if (auto who = resolve_run_as(*cfg); !who) {
    spdlog::critical("{}: {}", cfg->source.string(), who.error().message);
    return 2;
  }

  auto accounts = policy::accounts::load(*cfg);
  if (!accounts) {
    spdlog::critical("{}", accounts.error().str());
    return 2;
  }
  // state_dir may be traversed by everyone (0711), so that local users reach
  // submit.sock for sendmail; what is inside (spool/, tls/, control.sock) is private.
  // A state_dir that exists keeps the mode its administrator gave it.
  if (std::error_code fec; !std::filesystem::exists(cfg->state_dir, fec)) {
    int err = queue::io::make_dirs(cfg->state_dir, 0711);
    if (err == 0 && ::chmod(cfg->state_dir.c_str(), 0711) != 0) {  // whatever the umask
      err = errno;
    }
    if (err != 0) {
      spdlog::critical("cannot create state_dir {}: {}", cfg->state_dir.string(),
                       queue::io::errno_text(err));
      return 1;
    }
  }
  if (struct stat st{}; ::stat(cfg->state_dir.c_str(), &st) == 0 && (st.st_mode & S_IXOTH) == 0) {
    spdlog::warn(
        "event=config state_dir={} reason=\"mode {:o}: local users cannot reach "
        "submit.sock (sendmail); chmod o+x to let them\"",
        cfg->state_dir.string(), st.st_mode & 07777);
  }
  // SCRAM's made-up salts for unknown users stay the same across restarts.
  if (auto k = auth::load_scram_fake_salt_key(cfg->state_dir / "scram-salt.key"); !k) {
    spdlog::warn("event=config reason=\"{}; SCRAM salts of unknown users change at restart\"",
                 k.error().message);
  }
  auto spool = queue::spool::open(cfg->spool_dir());
  if (!spool) {
    spdlog::critical("cannot open spool {}: {}", cfg->spool_dir().string(), spool.error().message);
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
  asio::io_context io(static_cast<int>(cores));

  // Remote delivery: DNS through libunbound on the event loop, SMTP out with
  // opportunistic STARTTLS.
  auto resolver = dns::unbound_resolver::create(
      io.get_executor(), dns::unbound_options{.nameservers = cfg->dns.nameservers});
  if (!resolver) {
    spdlog::critical("DNS: {}", resolver.error().message);
    return 1;
  }
  auto client_tls = tls::make_client_context();
  if (!client_tls) {
    spdlog::critical("TLS client: {}", client_tls.error().message);
    return 1;
  }
  delivery::remote_agent remote(io.get_executor(), cfg, **resolver, *client_tls);
  // [mailbox] lmtp: local recipients go to that LMTP server instead of the Maildirs.
  delivery::lmtp_agent lmtp(io);

  queue::scheduler* sched_ptr = nullptr;
  smtp::server_context* ctx_ptr = nullptr;
  queue::scheduler scheduler(
      **spool, cfg->queue,
      [&ctx_ptr, &lmtp](std::vector<queue::scheduler::attempt>& batch,
                        const std::function<void()>& record) {
        const auto live = ctx_ptr->cfg.load();  // the live config (SIGHUP)
        if (!live->mailbox.lmtp.empty()) {
          lmtp.deliver(*live, batch, unix_now(), record);
        } else {
          deliver_locally(*live, batch, record);
        }
      },
      2, unix_now,
      [&remote](std::vector<queue::scheduler::remote_attempt>& batch, std::function<void()> done) {
        remote.deliver(batch, std::move(done));
      },
      [&](const queue::envelope& env, const queue::message_reader& message, queue::report_kind kind,
          const std::vector<std::size_t>& rcpts) {
        return queue_report(*ctx_ptr->cfg.load(), *ctx_ptr->accounts.load(), **spool, *sched_ptr,
                            env, message, kind, rcpts);
      });
  sched_ptr = &scheduler;

  smtp::server_context ctx{
      cfg,
      *accounts,
      **spool,
      committer,
      scheduler,
      blocking,
      smtp::connection_limits(cfg->limits.connections, cfg->limits.connections_per_ip)};
  ctx_ptr = &ctx;
  spdlog::info("event=recovered messages={}", recovered->size());

  // TLS when a certificate is configured or may be generated; without one, no STARTTLS
  // and no implicit-TLS listeners.
  std::shared_ptr<tls::context_store> tls_store;
  if (wants_server_tls(*cfg)) {
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
  ctx.resolver = resolver->get();
  const check_setup checks_env{io, blocking, resolver->get()};
  if (auto checks = make_checks(*cfg, checks_env); checks) {
    ctx.checks.store(*checks);
  } else {
    spdlog::critical("{}", checks.error().message);
    return 2;
  }

  std::vector<std::unique_ptr<smtp::listener>> listeners;
  for (const config::listen_config& l : cfg->listen) {
    auto lis = std::make_unique<smtp::listener>(io, ctx, l);
    if (auto r = lis->open(); !r) {
      spdlog::critical("{}", r.error().message);
      return 1;
    }
    spdlog::info("event=listening address={} role={}", l.address, config::role_name(l.role));
    lis->start();
    listeners.push_back(std::move(lis));
  }
  // Local submission for `posthorn sendmail` (SMTP on a Unix socket).
  smtp::local_listener submit_listener(io, ctx, cfg->submit_socket());
  if (auto r = submit_listener.open(); !r) {
    spdlog::critical("{}", r.error().message);
    return 1;
  }
  submit_listener.start();
  spdlog::info("event=listening address={} role=sendmail", cfg->submit_socket().string());

  // The control socket for `posthorn queue` (mode 0600); removed again at exit.
  admin::control_server control(io, blocking, scheduler, **spool, cfg->control_socket());
  if (auto r = control.open(); !r) {
    spdlog::critical("{}", r.error().message);
    return 1;
  }
  control.start();
  spdlog::info("event=listening address={} role=control", cfg->control_socket().string());

  // Prometheus metrics on [metrics] address (DESIGN.md §4.5); the queue's size is read
  // at each scrape, for as long as the scheduler lives.
  metrics::registration queue_size_metric = queue::expose_queue_size(scheduler);
  std::shared_ptr<admin::metrics_server> metrics_listener;
  if (!cfg->metrics.address.empty()) {
    auto m = admin::metrics_server::open(io, cfg->metrics.endpoint, metrics::default_registry());
    if (!m) {
      spdlog::critical("{}", m.error().message);
      return 1;
    }
    metrics_listener = std::move(*m);
    metrics_listener->start();
    spdlog::info("event=listening address={} role=metrics", metrics_listener->address());
  }

  // `user`: run as that user from here on. This must stay AFTER every socket is bound
  // (the listeners, the submit and control sockets, metrics: ports below 1024 need
  // root) and after the state exists (spool, generated TLS files), and BEFORE anything
  // writes mail as root: the recovered messages are handed to the scheduler below, and
  // sessions start with io.run().
  if (auto r = drop_privileges(*cfg); !r) {
    spdlog::critical("cannot drop privileges: {}", r.error().message);
    return 1;
  }
  for (queue::envelope& env : *recovered) {
    scheduler.submit(std::move(env));
  }
  // Crash markers and stale files in the Maildirs' tmp/ (docs/flow.md): swept on the
  // blocking pool now, as the user that owns the mail, and every 12 hours.
  maildir_sweeper sweeper(
      io, blocking, [&ctx] { return ctx.cfg.load(); }, **spool);
  sweeper.start();

  // SIGHUP: the config file and the users, aliases, relocated and certificate files are
  // read again off the event loop (reload.hpp); new sessions get them, running ones keep
  // theirs; anything broken keeps the whole old set.
  reload_targets reload{opts.config_file.empty() ? cfg->source : opts.config_file, ctx, scheduler,
                        remote, tls_store};
  reload.make_checks = [&checks_env](const config::config& c) {
    return make_checks(c, checks_env);
  };
  asio::signal_set hup(io, SIGHUP);
  std::function<void()> await_hup = [&] {
    hup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) {
        return;
      }
      asio::post(blocking, [&] { reload_config(reload); });
      await_hup();
    });
  };
  await_hup();

  // Polls until every session has ended; at the deadline closes the rest, and a few
  // seconds later stops regardless (a client that does not read its 421).
  asio::steady_timer stop_timer(io);
  bool cut_short = false;  // sessions or deliveries were still under way at io.stop()
  std::function<void(std::chrono::steady_clock::time_point)> wait_for_sessions =
      [&](std::chrono::steady_clock::time_point started) {
        auto elapsed = std::chrono::steady_clock::now() - started;
        const auto grace = ctx.cfg.load()->limits.shutdown_timeout;  // as last reloaded
        // Deliveries under way finish too (the remote ones need the event loop), so that
        // an outcome a peer has answered is recorded rather than tried again.
        if ((ctx.connections.size() == 0 && scheduler.busy() == 0) ||
            elapsed > grace + std::chrono::seconds(5)) {
          if (scheduler.busy() != 0 || ctx.connections.size() != 0) {
            spdlog::warn(
                "event=stopping unfinished_deliveries={} sessions={} (deliveries are "
                "tried again after the start)",
                scheduler.busy(), ctx.connections.size());
            cut_short = true;
          }
          io.stop();
          return;
        }
        if (!ctx.closing_all && elapsed >= grace) {
          spdlog::info("event=stopping closing={}", ctx.connections.size());
          ctx.closing_all = true;
          ctx.connections.wake_all();
        }
        stop_timer.expires_after(std::chrono::milliseconds(20));
        stop_timer.async_wait([&, started](const boost::system::error_code& ec) {
          if (!ec) {
            wait_for_sessions(started);
          }
        });
      };
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) {
      return;
    }
    // Graceful stop: no new connections; sessions without a transaction get 421 at
    // once, transactions under way may finish for [limits] shutdown_timeout, then the
    // rest get 421 too. A message is either committed (250) or was never acknowledged.
    spdlog::info("event=stopping signal={} connections={} grace={}s", sig, ctx.connections.size(),
                 ctx.cfg.load()->limits.shutdown_timeout.count());
    ctx.stopping = true;
    scheduler.drain();  // no new delivery attempts; those under way go on
    sweeper.stop();
    for (auto& l : listeners) {
      l->close();
    }
    submit_listener.close();
    control.close();
    if (metrics_listener) {
      metrics_listener->close();
    }
    hup.cancel();
    ctx.connections.wake_all();
    wait_for_sessions(std::chrono::steady_clock::now());
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
  if (cut_short) {
    // Coroutines of the sessions and deliveries cut off are still in the io_context;
    // its destructor would run their frames' destructors after the objects they use
    // (the server context, the remote agent) are gone. Everything durable is on disk
    // (commits and outcomes are fsynced before they count), so leave without unwinding.
    spdlog::shutdown();
    std::_Exit(0);
  }
  return 0;
}

}  // namespace posthorn::app
