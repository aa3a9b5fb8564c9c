// The table behind static_resolver, answering single queries like a DNS server.

#include "dns/static_resolver.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "dns/lookup.hpp"

namespace posthorn::dns {

namespace asio = boost::asio;

class static_resolver::source final : public lookup_source {
 public:
  using lookup_source::lookup_source;

  void lookup(const std::string& name, record_type type, lookup_handler done) override {
    lookup_answer answer = answer_for(name, type);
    asio::post(executor(), [answer = std::move(answer), done = std::move(done)]() mutable {
      done(std::move(answer));
    });
  }

  lookup_answer answer_for(const std::string& name, record_type type) {
    const std::string what = name + " " + std::string(to_string(type));
    std::lock_guard lock(mu_);
    log_.push_back(what);
    if (closed_) {
      return {dns_status::TempFail, {}, "resolver closed"};
    }
    const auto typed = failures_.find({name, type});
    const auto any = name_failures_.find(name);
    if (typed != failures_.end() || any != name_failures_.end()) {
      const dns_status s = typed != failures_.end() ? typed->second : any->second;
      return {s, {}, what + ": " + std::string(to_string(s)) + " (programmed)"};
    }
    if (const auto it = records_.find({name, type}); it != records_.end()) {
      return {dns_status::Ok, it->second, {}};
    }
    if (names_.contains(name)) {
      return {dns_status::NoData, {}, what + ": no records"};
    }
    return {dns_status::NxDomain, {}, what + ": NXDOMAIN"};
  }

  void add(std::string name, record_type type, std::string rdata) {
    std::lock_guard lock(mu_);
    names_.insert(name);
    records_[{std::move(name), type}].push_back(std::move(rdata));
  }

  void add_name(std::string name) {
    std::lock_guard lock(mu_);
    names_.insert(std::move(name));
  }

  void fail(std::string name, std::optional<record_type> type, dns_status status) {
    std::lock_guard lock(mu_);
    if (type) {
      failures_[{std::move(name), *type}] = status;
    } else {
      name_failures_[std::move(name)] = status;
    }
  }

  void clear() {
    std::lock_guard lock(mu_);
    names_.clear();
    records_.clear();
    failures_.clear();
    name_failures_.clear();
    log_.clear();
  }

  std::vector<std::string> queries() const {
    std::lock_guard lock(mu_);
    return log_;
  }

  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
  }

 private:
  using key = std::pair<std::string, record_type>;
  mutable std::mutex mu_;
  bool closed_ = false;
  std::set<std::string> names_;
  std::map<key, std::vector<std::string>> records_;
  std::map<key, dns_status> failures_;
  std::map<std::string, dns_status> name_failures_;
  std::vector<std::string> log_;
};

static_resolver::static_resolver(asio::any_io_executor executor, std::optional<std::uint64_t> seed)
    : source_(std::make_shared<source>(asio::make_strand(executor), seed)) {}

// Lookups under way finish with TempFail, as with unbound_resolver.
static_resolver::~static_resolver() { source_->close(); }

resolver::executor_type static_resolver::get_executor() { return source_->executor(); }

void static_resolver::resolve_mx(std::string domain, mx_handler done) {
  resolve_mx_with(source_, std::move(domain), std::move(done));
}

void static_resolver::resolve_addrs(std::string host, addr_handler done) {
  resolve_addrs_with(source_, std::move(host), std::move(done));
}

void static_resolver::lookup(std::string name, record_type type, lookup_handler done) {
  lookup_with(source_, std::move(name), type, std::move(done));
}

bool static_resolver::add_mx(std::string_view domain, std::uint16_t preference,
                             std::string_view host) {
  auto name = query_name(domain);
  std::optional<std::string> rdata;
  if (host.empty() || host == ".") {
    rdata = encode_mx_rdata(preference, "");
  } else if (const auto target = query_name(host)) {
    rdata = encode_mx_rdata(preference, *target);
  }
  if (!name || !rdata) {
    return false;
  }
  source_->add(std::move(*name), record_type::Mx, std::move(*rdata));
  return true;
}

bool static_resolver::add_null_mx(std::string_view domain) { return add_mx(domain, 0, "."); }

bool static_resolver::add_address(std::string_view host, std::string_view ip) {
  auto name = query_name(host);
  const auto a = ip_address::parse(ip);
  if (!name || !a) {
    return false;
  }
  source_->add(std::move(*name), a->v4() ? record_type::A : record_type::Aaaa,
               encode_address_rdata(*a));
  return true;
}

namespace {
// A table name: as resolve_mx takes it (U-labels converted), or else as a raw query
// name (SPF macro expansions, DNS list names).
std::optional<std::string> table_name(std::string_view name) {
  auto q = query_name(name);
  return q ? q : raw_query_name(name);
}
}  // namespace

bool static_resolver::add_txt(std::string_view name, std::string_view text) {
  return add_rdata(name, record_type::Txt, encode_txt_rdata(text));
}

bool static_resolver::add_ptr(std::string_view name, std::string_view target) {
  auto rdata = encode_ptr_rdata(target);
  return rdata && add_rdata(name, record_type::Ptr, std::move(*rdata));
}

bool static_resolver::add_rdata(std::string_view name, record_type type, std::string rdata) {
  auto qname = table_name(name);
  if (!qname) {
    return false;
  }
  source_->add(std::move(*qname), type, std::move(rdata));
  return true;
}

bool static_resolver::add_name(std::string_view name) {
  auto qname = table_name(name);
  if (!qname) {
    return false;
  }
  source_->add_name(std::move(*qname));
  return true;
}

bool static_resolver::fail(std::string_view name, record_type type, dns_status status) {
  auto qname = table_name(name);
  if (!qname || status == dns_status::Ok || status == dns_status::NullMx) {
    return false;
  }
  source_->fail(std::move(*qname), type, status);
  return true;
}

bool static_resolver::fail(std::string_view name, dns_status status) {
  auto qname = table_name(name);
  if (!qname || status == dns_status::Ok || status == dns_status::NullMx) {
    return false;
  }
  source_->fail(std::move(*qname), std::nullopt, status);
  return true;
}

void static_resolver::clear() { source_->clear(); }

std::vector<std::string> static_resolver::queries() const { return source_->queries(); }

}  // namespace posthorn::dns
