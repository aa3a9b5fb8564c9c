// libunbound driven by Asio: ub_resolve_async hands queries to libunbound's worker
// thread, answers come back through the pipe behind ub_fd(), and ub_process() runs
// our callback for each on the resolver's strand. A steady_timer per query bounds
// its time; ub_cancel() drops the late answer.

#include "dns/unbound_resolver.hpp"

#include <unbound.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <unordered_map>
#include <utility>

#include "dns/lookup.hpp"

namespace posthorn::dns {

namespace asio = boost::asio;

namespace {

constexpr int k_class_in = 1;  // RFC 1035 §3.2.4
constexpr int k_rcode_nxdomain = 3;
constexpr std::uint16_t k_dns_port = 53;

struct ub_result_deleter {
  void operator()(ub_result* r) const { ub_resolve_free(r); }
};
using result_ptr = std::unique_ptr<ub_result, ub_result_deleter>;

struct ub_ctx_deleter {
  void operator()(ub_ctx* c) const { ub_ctx_delete(c); }
};
using ctx_ptr = std::unique_ptr<ub_ctx, ub_ctx_deleter>;

// RFC 1035 §4.1.1 and RFC 6895 §2.3 names for the RCODEs a resolver returns.
std::string rcode_name(int rcode) {
  switch (rcode) {
    case 1:
      return "FORMERR";
    case 2:
      return "SERVFAIL";
    case 4:
      return "NOTIMP";
    case 5:
      return "REFUSED";
    default:
      return "RCODE " + std::to_string(rcode);
  }
}

lookup_answer translate(int err, const ub_result* r, const std::string& what) {
  if (err != 0 || r == nullptr) {
    return {dns_status::TempFail, {}, what + ": " + ub_strerror(err)};
  }
  if (r->bogus) {
    const std::string why = r->why_bogus ? r->why_bogus : "bogus";
    return {dns_status::TempFail, {}, what + ": DNSSEC validation failed: " + why};
  }
  if (r->rcode == k_rcode_nxdomain || r->nxdomain) {
    return {dns_status::NxDomain, {}, what + ": NXDOMAIN"};
  }
  if (r->rcode != 0) {
    return {dns_status::TempFail, {}, what + ": " + rcode_name(r->rcode)};
  }
  if (!r->havedata) {
    return {dns_status::NoData, {}, what + ": no records"};
  }
  lookup_answer answer{dns_status::Ok, {}, {}};
  for (int i = 0; r->data[i] != nullptr; ++i) {
    answer.rdata.emplace_back(r->data[i], static_cast<std::size_t>(r->len[i]));
  }
  return answer;
}

// "ip", "ip:port" or "[v6]:port" as libunbound's "ip@port".
std::optional<std::string> forwarder(std::string_view text) {
  if (const auto a = ip_address::parse(text)) {
    return a->str() + "@" + std::to_string(k_dns_port);
  }
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    if (const auto a = ip_address::parse(text.substr(1, text.size() - 2))) {
      return a->str() + "@" + std::to_string(k_dns_port);
    }
    return std::nullopt;
  }
  const auto hp = host_port::parse(text);
  if (!hp || hp->port == 0) {
    return std::nullopt;
  }
  const auto a = ip_address::parse(hp->host);
  if (!a) {
    return std::nullopt;
  }
  return a->str() + "@" + std::to_string(hp->port);
}

}  // namespace

class unbound_resolver::source final : public lookup_source {
 public:
  source(asio::any_io_executor strand, ctx_ptr ctx, std::chrono::milliseconds timeout,
         std::optional<std::uint64_t> seed)
      : lookup_source(strand, seed),
        ctx_(std::move(ctx)),
        pipe_(strand, ub_fd(ctx_.get())),
        timeout_(timeout) {}

  ~source() override { close(); }

  void lookup(const std::string& name, record_type type, lookup_handler done) override {
    const std::string what = name + " " + std::string(to_string(type));
    if (closed_) {
      complete(std::move(done), {dns_status::TempFail, {}, what + ": resolver closed"});
      return;
    }
    const std::uint64_t id = next_id_++;
    auto q = std::make_unique<query>(this, id, what, std::move(done), executor());
    query* raw = q.get();
    queries_.emplace(id, std::move(q));
    const int rc = ub_resolve_async(ctx_.get(), name.c_str(), static_cast<int>(type), k_class_in,
                                    raw, &source::on_result, &raw->async_id);
    if (rc != 0) {
      auto failed = take(id);
      complete(std::move(failed->done), {dns_status::TempFail, {}, what + ": " + ub_strerror(rc)});
      return;
    }
    ++active_;
    raw->timer.expires_after(timeout_);
    raw->timer.async_wait([self = self_ptr(), id](const boost::system::error_code& ec) {
      if (!ec) {
        self->on_timeout(id);
      }
    });
    watch();
  }

  // Ends every lookup with TempFail and frees libunbound (its worker thread too).
  void close() {
    if (closed_) {
      return;
    }
    closed_ = true;
    boost::system::error_code ec;
    pipe_.cancel(ec);
    pipe_.release();  // the descriptor belongs to libunbound
    ctx_.reset();     // ub_ctx_delete: no callbacks for queries under way
    auto queries = std::move(queries_);
    queries_.clear();
    for (auto& [id, q] : queries) {
      if (!q->abandoned) {
        complete(std::move(q->done), {dns_status::TempFail, {}, q->what + ": resolver closed"});
      }
    }
    active_ = 0;
  }

 private:
  struct query {
    query(source* o, std::uint64_t i, std::string w, lookup_handler d,
          const asio::any_io_executor& ex)
        : owner(o), id(i), what(std::move(w)), done(std::move(d)), timer(ex) {}
    source* owner;
    std::uint64_t id;
    std::string what;  // "name TYPE", for details
    lookup_handler done;
    asio::steady_timer timer;
    int async_id = 0;
    // Timed out but ub_cancel() failed: libunbound will still call back with this
    // query, which must stay allocated until then.
    bool abandoned = false;
  };

  std::shared_ptr<source> self_ptr() {
    return std::static_pointer_cast<source>(shared_from_this());
  }

  // Handlers never run inside ub_process() or lookup(): callers may start lookups
  // from them.
  void complete(lookup_handler done, lookup_answer answer) {
    asio::post(executor(), [done = std::move(done), answer = std::move(answer)]() mutable {
      done(std::move(answer));
    });
  }

  std::unique_ptr<query> take(std::uint64_t id) {
    auto node = queries_.extract(id);
    return node ? std::move(node.mapped()) : nullptr;
  }

  // Called by ub_process(), on the strand.
  static void on_result(void* arg, int err, ub_result* result) {
    result_ptr owned(result);
    auto* q = static_cast<query*>(arg);
    source* self = q->owner;
    auto mine = self->take(q->id);
    if (!mine || mine->abandoned) {
      return;
    }
    --self->active_;
    mine->timer.cancel();
    self->complete(std::move(mine->done), translate(err, owned.get(), mine->what));
  }

  void on_timeout(std::uint64_t id) {
    if (closed_) {
      return;
    }
    const auto it = queries_.find(id);
    if (it == queries_.end() || it->second->abandoned) {
      return;
    }
    query& q = *it->second;
    --active_;
    const std::string detail =
        q.what + ": no answer within " + std::to_string(timeout_.count()) + " ms";
    lookup_handler done = std::move(q.done);
    if (ub_cancel(ctx_.get(), q.async_id) == 0) {
      queries_.erase(it);
    } else {
      q.abandoned = true;
    }
    complete(std::move(done), {dns_status::TempFail, {}, detail});
    if (active_ == 0 && waiting_) {
      // Stop watching the pipe so that an idle io_context can run out of work; a
      // late answer waits there until the next ub_process().
      boost::system::error_code ignored;
      pipe_.cancel(ignored);
    }
  }

  // Waits for the result pipe while lookups are under way; with none, the
  // io_context is free to run out of work.
  void watch() {
    if (waiting_ || closed_ || active_ == 0) {
      return;
    }
    waiting_ = true;
    pipe_.async_wait(
        asio::posix::stream_descriptor::wait_read,
        [self = self_ptr()](const boost::system::error_code& ec) { self->on_readable(ec); });
  }

  void on_readable(const boost::system::error_code& ec) {
    waiting_ = false;
    if (closed_) {
      return;
    }
    if (ec == asio::error::operation_aborted) {
      watch();  // a lookup may have started since the wait was cancelled
      return;
    }
    const int rc = ec ? UB_PIPE : ub_process(ctx_.get());
    if (rc != 0) {
      fail_all(std::string("libunbound: ") + ub_strerror(rc));
      return;
    }
    watch();
  }

  // The result pipe broke: nothing under way can finish any more.
  void fail_all(const std::string& why) {
    for (auto it = queries_.begin(); it != queries_.end();) {
      query& q = *it->second;
      if (q.abandoned) {
        ++it;
        continue;
      }
      q.timer.cancel();
      complete(std::move(q.done), {dns_status::TempFail, {}, q.what + ": " + why});
      if (ub_cancel(ctx_.get(), q.async_id) == 0) {
        it = queries_.erase(it);
      } else {
        q.abandoned = true;
        ++it;
      }
    }
    active_ = 0;
  }

  ctx_ptr ctx_;
  asio::posix::stream_descriptor pipe_;
  std::chrono::milliseconds timeout_;
  std::unordered_map<std::uint64_t, std::unique_ptr<query>> queries_;
  std::uint64_t next_id_ = 1;
  std::size_t active_ = 0;  // queries whose handler has not been called
  bool waiting_ = false;
  bool closed_ = false;
};

result<std::unique_ptr<unbound_resolver>> unbound_resolver::create(asio::any_io_executor executor,
                                                                   unbound_options options) {
  ctx_ptr ctx(ub_ctx_create());
  if (!ctx) {
    return fail(error::perm("", "libunbound: cannot create a resolver context"));
  }
  auto check = [](int rc, const std::string& what) -> result<void> {
    if (rc != 0) {
      return fail(error::perm("", "libunbound: " + what + ": " + ub_strerror(rc)));
    }
    return {};
  };
  // A worker thread rather than a forked process: the server may hold many
  // descriptors and much memory.
  if (auto r = check(ub_ctx_async(ctx.get(), 1), "async"); !r) {
    return fail(r.error());
  }
  // Forwarders on loopback (a local cache, or the test server) must be usable.
  if (auto r = check(ub_ctx_set_option(ctx.get(), "do-not-query-localhost:", "no"),
                     "do-not-query-localhost");
      !r) {
    return fail(r.error());
  }
  // DESIGN.md §3: libunbound answers NXDOMAIN for "test." itself (RFC 6761 §6.2)
  // unless told otherwise. "nodefault" given through ub_ctx_set_option() is not
  // applied by libunbound 1.17 (the zone name keeps the type word), so a
  // transparent zone replaces the built-in one: without local data, queries under
  // test. go to the nameservers.
  if (auto r = check(ub_ctx_set_option(ctx.get(), "local-zone:", "test. transparent"),
                     "local-zone test.");
      !r) {
    return fail(r.error());
  }
  // The same for the reverse zones libunbound answers itself (RFC 6303): loopback and
  // the documentation networks. Reverse DNS of a client (FCrDNS) must come from the
  // nameservers, which know these names in a test zone or on a real network.
  for (const char* zone :
       {"127.in-addr.arpa.", "2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.",
        "113.0.203.in-addr.arpa.",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
        "8.b.d.0.1.0.0.2.ip6.arpa."}) {
    const std::string value = std::string(zone) + " transparent";
    if (auto r = check(ub_ctx_set_option(ctx.get(), "local-zone:", value.c_str()),
                       std::string("local-zone ") + zone);
        !r) {
      return fail(r.error());
    }
  }
  std::string description;
  if (options.nameservers.empty()) {
    if (auto r = check(ub_ctx_resolvconf(ctx.get(), options.resolv_conf.c_str()),
                       "reading " + options.resolv_conf);
        !r) {
      return fail(r.error());
    }
    // /etc/hosts is a convenience; without it DNS still works.
    (void)ub_ctx_hosts(ctx.get(), options.hosts.c_str());
    description = "system resolvers (" + options.resolv_conf + ")";
  } else {
    description = "forwarding to";
    for (const auto& ns : options.nameservers) {
      const auto fwd = forwarder(ns);
      if (!fwd) {
        return fail(error::perm("", "dns nameserver \"" + ns +
                                        "\" is not an IP address, \"ip:port\" or \"[v6]:port\""));
      }
      if (auto r = check(ub_ctx_set_fwd(ctx.get(), fwd->c_str()), "nameserver " + ns); !r) {
        return fail(r.error());
      }
      description += " " + *fwd;
    }
  }
  if (ub_fd(ctx.get()) < 0) {
    return fail(error::perm("", "libunbound: no result descriptor"));
  }
  auto src = std::make_shared<source>(asio::make_strand(executor), std::move(ctx), options.timeout,
                                      options.seed);
  return std::unique_ptr<unbound_resolver>(new unbound_resolver(std::move(src), description));
}

unbound_resolver::unbound_resolver(std::shared_ptr<source> src, std::string description)
    : source_(std::move(src)), description_(std::move(description)) {}

unbound_resolver::~unbound_resolver() { source_->close(); }

resolver::executor_type unbound_resolver::get_executor() { return source_->executor(); }

void unbound_resolver::resolve_mx(std::string domain, mx_handler done) {
  resolve_mx_with(source_, std::move(domain), std::move(done));
}

void unbound_resolver::resolve_addrs(std::string host, addr_handler done) {
  resolve_addrs_with(source_, std::move(host), std::move(done));
}

void unbound_resolver::lookup(std::string name, record_type type, lookup_handler done) {
  lookup_with(source_, std::move(name), type, std::move(done));
}

}  // namespace posthorn::dns
