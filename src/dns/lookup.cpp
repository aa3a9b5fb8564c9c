// MX and address resolution on top of single queries (RFC 5321 §5.1, RFC 7505).

#include "dns/lookup.hpp"

#include <boost/asio/post.hpp>
#include <utility>

namespace posthorn::dns {

namespace asio = boost::asio;

namespace {

std::uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

// The A and AAAA lookups of one name run side by side; the second answer to
// arrive finishes. Both answers arrive on the source's executor, so no locking.
struct address_pair {
  std::string name;
  std::optional<lookup_answer> a;
  std::optional<lookup_answer> aaaa;
  std::move_only_function<void(lookup_answer&, lookup_answer&)> finish;

  void set(record_type type, lookup_answer answer) {
    (type == record_type::A ? a : aaaa) = std::move(answer);
    if (a && aaaa) {
      finish(*a, *aaaa);
    }
  }
};

void lookup_addresses(const std::shared_ptr<lookup_source>& src, std::string name,
                      std::move_only_function<void(lookup_answer&, lookup_answer&)> finish) {
  auto pair = std::make_shared<address_pair>();
  pair->name = std::move(name);
  pair->finish = std::move(finish);
  for (const auto type : {record_type::A, record_type::Aaaa}) {
    src->lookup(pair->name, type,
                [pair, type](lookup_answer answer) { pair->set(type, std::move(answer)); });
  }
}

void append_addresses(record_type type, const lookup_answer& answer, std::vector<ip_address>& out) {
  if (answer.status != dns_status::Ok) {
    return;
  }
  for (const auto& rdata : answer.rdata) {
    if (auto a = parse_address_rdata(type, rdata)) {
      out.push_back(*a);
    }
  }
}

// Without addresses, the more hopeful of the two answers decides: a temporary
// failure may still turn into addresses, NXDOMAIN beats "no data".
dns_status combined_status(const lookup_answer& a, const lookup_answer& aaaa) {
  if (a.status == dns_status::TempFail || aaaa.status == dns_status::TempFail) {
    return dns_status::TempFail;
  }
  if (a.status == dns_status::NxDomain || aaaa.status == dns_status::NxDomain) {
    return dns_status::NxDomain;
  }
  return dns_status::NoData;
}

std::string combined_detail(const lookup_answer& a, const lookup_answer& aaaa) {
  std::string out = a.detail;
  if (!aaaa.detail.empty() && aaaa.detail != a.detail) {
    out += out.empty() ? "" : "; ";
    out += aaaa.detail;
  }
  return out;
}

addr_result address_result(const lookup_answer& a, const lookup_answer& aaaa) {
  addr_result out;
  append_addresses(record_type::A, a, out.addrs);
  append_addresses(record_type::Aaaa, aaaa, out.addrs);
  if (!out.addrs.empty()) {
    out.status = dns_status::Ok;
    // A partial answer is still an answer; the failure is kept for the log.
    if (a.status == dns_status::TempFail || aaaa.status == dns_status::TempFail) {
      out.detail = combined_detail(a, aaaa);
    }
    return out;
  }
  if (a.status == dns_status::Ok || aaaa.status == dns_status::Ok) {
    out.status = dns_status::TempFail;  // records came back, none could be read
    out.detail = "malformed A/AAAA answer";
    return out;
  }
  out.status = combined_status(a, aaaa);
  out.detail = combined_detail(a, aaaa);
  if (out.detail.empty()) {
    out.detail = "no A or AAAA record";
  }
  return out;
}

// RFC 5321 §5.1: no MX, so the domain itself is the implicit MX when it has an
// address.
void implicit_mx(const std::shared_ptr<lookup_source>& src, std::string name, mx_handler done) {
  lookup_addresses(src, name,
                   [name, done = std::move(done)](lookup_answer& a, lookup_answer& aaaa) mutable {
                     const addr_result addrs = address_result(a, aaaa);
                     mx_result out;
                     if (addrs.status == dns_status::Ok) {
                       out.status = dns_status::Ok;
                       out.targets.push_back(mx_target{name, 0, true});
                       out.detail = "no MX: implicit MX " + name + " (RFC 5321 section 5.1)";
                     } else {
                       out.status = addrs.status;
                       out.detail = name + ": no MX; " + addrs.detail;
                     }
                     done(std::move(out));
                   });
}

void on_mx_answer(const std::shared_ptr<lookup_source>& src, std::string name, lookup_answer answer,
                  mx_handler done) {
  mx_result out;
  switch (answer.status) {
    case dns_status::NoData:
      implicit_mx(src, std::move(name), std::move(done));
      return;
    case dns_status::Ok: {
      std::vector<mx_record> records;
      for (const auto& rdata : answer.rdata) {
        if (auto r = parse_mx_rdata(rdata)) {
          records.push_back(std::move(*r));
        }
      }
      if (records.empty()) {
        out.status = dns_status::TempFail;
        out.detail = name + ": malformed MX answer";
      } else {
        out = order_mx(name, std::move(records), src->rng());
      }
      break;
    }
    case dns_status::NxDomain:
    case dns_status::TempFail:
    case dns_status::NullMx:
      out.status =
          answer.status == dns_status::NxDomain ? dns_status::NxDomain : dns_status::TempFail;
      out.detail = std::move(answer.detail);
      break;
  }
  done(std::move(out));
}

}  // namespace

lookup_source::lookup_source(asio::any_io_executor executor, std::optional<std::uint64_t> seed)
    : executor_(std::move(executor)), rng_(seed ? *seed : random_seed()) {}

void resolve_mx_with(std::shared_ptr<lookup_source> src, std::string domain, mx_handler done) {
  const asio::any_io_executor ex = src->executor();
  auto name = query_name(domain);
  if (!name) {
    asio::post(ex, [domain = std::move(domain), done = std::move(done)]() mutable {
      done(mx_result{dns_status::NxDomain, {}, "\"" + domain + "\" is not a valid domain name"});
    });
    return;
  }
  asio::post(ex, [src = std::move(src), name = std::move(*name), done = std::move(done)]() mutable {
    auto* source = src.get();
    const std::string query = name;
    source->lookup(query, record_type::Mx,
                   [src = std::move(src), name = std::move(name),
                    done = std::move(done)](lookup_answer answer) mutable {
                     on_mx_answer(src, std::move(name), std::move(answer), std::move(done));
                   });
  });
}

void lookup_with(std::shared_ptr<lookup_source> src, std::string name, record_type type,
                 lookup_handler done) {
  const asio::any_io_executor ex = src->executor();
  auto checked = raw_query_name(name);
  if (!checked) {
    asio::post(ex, [name = std::move(name), done = std::move(done)]() mutable {
      done(lookup_answer{dns_status::NxDomain, {}, "\"" + name + "\" is not a valid domain name"});
    });
    return;
  }
  asio::post(ex, [src = std::move(src), name = std::move(*checked), type,
                  done = std::move(done)]() mutable {
    auto* source = src.get();
    source->lookup(name, type,
                   [src = std::move(src), done = std::move(done)](lookup_answer a) mutable {
                     done(std::move(a));
                   });
  });
}

void resolve_addrs_with(std::shared_ptr<lookup_source> src, std::string host, addr_handler done) {
  const asio::any_io_executor ex = src->executor();
  if (const auto literal = address_literal(host)) {
    asio::post(ex, [a = *literal, done = std::move(done)]() mutable {
      done(addr_result{dns_status::Ok, {a}, {}});
    });
    return;
  }
  auto name = query_name(host);
  if (!name) {
    asio::post(ex, [host = std::move(host), done = std::move(done)]() mutable {
      done(addr_result{dns_status::NxDomain, {}, "\"" + host + "\" is not a valid host name"});
    });
    return;
  }
  asio::post(ex, [src = std::move(src), name = std::move(*name), done = std::move(done)]() mutable {
    lookup_addresses(src, std::move(name),
                     [done = std::move(done)](lookup_answer& a, lookup_answer& aaaa) mutable {
                       done(address_result(a, aaaa));
                     });
  });
}

}  // namespace posthorn::dns
