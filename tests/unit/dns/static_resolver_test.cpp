// MX routing through the test double, which runs the same logic as the libunbound
// resolver: sorting and shuffling, implicit MX, null MX, NXDOMAIN, temporary
// failures, address lookups, and the callback, coroutine and blocking forms.

#include "dns/static_resolver.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <optional>
#include <set>
#include <thread>

namespace posthorn::dns {
namespace {

namespace asio = boost::asio;

mx_result mx(asio::io_context& io, resolver& r, std::string domain) {
  std::optional<mx_result> out;
  r.resolve_mx(std::move(domain), [&](mx_result res) { out = std::move(res); });
  EXPECT_FALSE(out) << "answered inside the call";
  io.restart();
  io.run();
  EXPECT_TRUE(out) << "never answered";
  return out ? *out : mx_result{};
}

addr_result addrs(asio::io_context& io, resolver& r, std::string host) {
  std::optional<addr_result> out;
  r.resolve_addrs(std::move(host), [&](addr_result res) { out = std::move(res); });
  EXPECT_FALSE(out) << "answered inside the call";
  io.restart();
  io.run();
  EXPECT_TRUE(out) << "never answered";
  return out ? *out : addr_result{};
}

std::vector<std::string> hosts(const mx_result& r) {
  std::vector<std::string> out;
  for (const auto& t : r.targets) {
    out.push_back(t.host);
  }
  return out;
}

std::vector<std::string> texts(const addr_result& r) {
  std::vector<std::string> out;
  for (const auto& a : r.addrs) {
    out.push_back(a.str());
  }
  return out;
}

class static_resolver_test : public ::testing::Test {
 protected:
  asio::io_context io_;
  static_resolver dns_{io_.get_executor(), 7};
};

TEST_F(static_resolver_test, mx_hosts_come_sorted_by_preference) {
  ASSERT_TRUE(dns_.add_mx("example.test", 20, "mx2.example.test"));
  ASSERT_TRUE(dns_.add_mx("example.test", 10, "mx1.example.test"));
  ASSERT_TRUE(dns_.add_mx("example.test", 30, "mx3.example.test."));
  const auto r = mx(io_, dns_, "example.test");
  ASSERT_EQ(r.status, dns_status::Ok) << r.detail;
  EXPECT_EQ(hosts(r),
            (std::vector<std::string>{"mx1.example.test", "mx2.example.test", "mx3.example.test"}));
  EXPECT_EQ(r.targets[1].preference, 20);
  EXPECT_FALSE(r.targets[0].implicit);
  EXPECT_EQ(dns_.queries(), (std::vector<std::string>{"example.test MX"}));
}

TEST_F(static_resolver_test, equal_preferences_come_in_random_order) {
  for (const char* h : {"a.example.test", "b.example.test", "c.example.test"}) {
    ASSERT_TRUE(dns_.add_mx("example.test", 10, h));
  }
  ASSERT_TRUE(dns_.add_mx("example.test", 50, "backup.example.test"));
  std::set<std::vector<std::string>> seen;
  for (int i = 0; i < 100; ++i) {
    const auto r = mx(io_, dns_, "example.test");
    ASSERT_EQ(r.status, dns_status::Ok);
    ASSERT_EQ(r.targets.size(), 4u);
    EXPECT_EQ(r.targets.back().host, "backup.example.test");
    seen.insert(hosts(r));
  }
  EXPECT_EQ(seen.size(), 6u);
}

TEST_F(static_resolver_test, a_seed_makes_the_shuffle_repeatable) {
  static_resolver other(io_.get_executor(), 7);
  for (const char* h : {"a.test", "b.test", "c.test", "d.test", "e.test"}) {
    ASSERT_TRUE(dns_.add_mx("example.test", 10, h));
    ASSERT_TRUE(other.add_mx("example.test", 10, h));
  }
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(hosts(mx(io_, dns_, "example.test")), hosts(mx(io_, other, "example.test")));
  }
}

TEST_F(static_resolver_test, no_mx_but_an_address_is_the_implicit_mx) {
  ASSERT_TRUE(dns_.add_address("implicit.test", "127.0.0.4"));
  const auto r = mx(io_, dns_, "Implicit.Test.");
  ASSERT_EQ(r.status, dns_status::Ok) << r.detail;
  ASSERT_EQ(r.targets.size(), 1u);
  EXPECT_EQ(r.targets[0], (mx_target{"implicit.test", 0, true}));
  const auto q = dns_.queries();
  EXPECT_EQ(q.front(), "implicit.test MX");
  EXPECT_EQ(std::set<std::string>(q.begin() + 1, q.end()),
            (std::set<std::string>{"implicit.test A", "implicit.test AAAA"}));
}

TEST_F(static_resolver_test, an_aaaa_record_alone_also_makes_an_implicit_mx) {
  ASSERT_TRUE(dns_.add_address("v6only.test", "::1"));
  const auto r = mx(io_, dns_, "v6only.test");
  ASSERT_EQ(r.status, dns_status::Ok);
  EXPECT_TRUE(r.targets.at(0).implicit);
}

TEST_F(static_resolver_test, no_mx_and_no_address_is_no_data) {
  ASSERT_TRUE(dns_.add_name("nomail.test"));
  const auto r = mx(io_, dns_, "nomail.test");
  EXPECT_EQ(r.status, dns_status::NoData);
  EXPECT_TRUE(r.targets.empty());
  EXPECT_EQ(mx_error(r, "nomail.test")->enhanced, "5.4.4");
}

TEST_F(static_resolver_test, a_null_mx_is_reported_even_with_an_address) {
  ASSERT_TRUE(dns_.add_null_mx("nullmx.test"));
  ASSERT_TRUE(dns_.add_address("nullmx.test", "127.0.0.5"));
  const auto r = mx(io_, dns_, "nullmx.test");
  EXPECT_EQ(r.status, dns_status::NullMx);
  EXPECT_TRUE(r.targets.empty());
  EXPECT_EQ(mx_error(r, "nullmx.test")->enhanced, "5.1.10");
  EXPECT_EQ(dns_.queries(), (std::vector<std::string>{"nullmx.test MX"}));  // no fallback
}

TEST_F(static_resolver_test, an_unknown_domain_is_nxdomain) {
  const auto r = mx(io_, dns_, "nope.test");
  EXPECT_EQ(r.status, dns_status::NxDomain);
  EXPECT_EQ(mx_error(r, "nope.test")->enhanced, "5.1.2");
  EXPECT_EQ(dns_.queries(), (std::vector<std::string>{"nope.test MX"}));
}

TEST_F(static_resolver_test, a_malformed_domain_is_nxdomain_without_a_query) {
  for (const char* bad : {"", "[127.0.0.1]", "a..b", "bad domain.test"}) {
    EXPECT_EQ(mx(io_, dns_, bad).status, dns_status::NxDomain) << bad;
  }
  EXPECT_TRUE(dns_.queries().empty());
}

TEST_F(static_resolver_test, servfail_on_mx_is_a_temporary_failure) {
  ASSERT_TRUE(dns_.add_address("flaky.test", "127.0.0.6"));
  ASSERT_TRUE(dns_.fail("flaky.test", record_type::Mx, dns_status::TempFail));
  const auto r = mx(io_, dns_, "flaky.test");
  EXPECT_EQ(r.status, dns_status::TempFail);
  const auto e = mx_error(r, "flaky.test");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->temporary());
  EXPECT_EQ(e->enhanced, "4.4.3");
}

TEST_F(static_resolver_test, a_temporary_failure_of_the_implicit_mx_lookup_defers) {
  ASSERT_TRUE(dns_.add_name("half.test"));
  ASSERT_TRUE(dns_.fail("half.test", record_type::A, dns_status::TempFail));
  EXPECT_EQ(mx(io_, dns_, "half.test").status, dns_status::TempFail);
  // With an AAAA record, the failed A lookup does not stop the implicit MX.
  ASSERT_TRUE(dns_.add_address("half.test", "::1"));
  const auto r = mx(io_, dns_, "half.test");
  ASSERT_EQ(r.status, dns_status::Ok);
  EXPECT_TRUE(r.targets.at(0).implicit);
}

TEST_F(static_resolver_test, programmed_nxdomain_beats_records) {
  ASSERT_TRUE(dns_.add_mx("gone.test", 10, "mx.gone.test"));
  ASSERT_TRUE(dns_.fail("gone.test", dns_status::NxDomain));
  EXPECT_EQ(mx(io_, dns_, "gone.test").status, dns_status::NxDomain);
  EXPECT_FALSE(dns_.fail("gone.test", dns_status::Ok));
  EXPECT_FALSE(dns_.fail("gone.test", record_type::Mx, dns_status::NullMx));
}

TEST_F(static_resolver_test, malformed_mx_records_are_skipped_and_alone_defer) {
  ASSERT_TRUE(dns_.add_rdata("broken.test", record_type::Mx, std::string("\0\x0a\x03mx", 5)));
  EXPECT_EQ(mx(io_, dns_, "broken.test").status, dns_status::TempFail);
  ASSERT_TRUE(dns_.add_mx("broken.test", 20, "mx.broken.test"));
  const auto r = mx(io_, dns_, "broken.test");
  ASSERT_EQ(r.status, dns_status::Ok);
  EXPECT_EQ(hosts(r), (std::vector<std::string>{"mx.broken.test"}));
}

TEST_F(static_resolver_test, u_labels_are_asked_as_a_labels) {
  ASSERT_TRUE(dns_.add_mx("xn--bcher-kva.test", 10, "mx.xn--bcher-kva.test"));
  const auto r = mx(io_, dns_, "BÜCHER.test");
  ASSERT_EQ(r.status, dns_status::Ok) << r.detail;
  EXPECT_EQ(hosts(r), (std::vector<std::string>{"mx.xn--bcher-kva.test"}));
  EXPECT_EQ(dns_.queries(), (std::vector<std::string>{"xn--bcher-kva.test MX"}));
  // The table takes U-labels too.
  ASSERT_TRUE(dns_.add_address("mx.bücher.test", "127.0.0.7"));
  EXPECT_EQ(texts(addrs(io_, dns_, "mx.xn--bcher-kva.test")),
            (std::vector<std::string>{"127.0.0.7"}));
}

TEST_F(static_resolver_test, addresses_list_a_then_aaaa) {
  ASSERT_TRUE(dns_.add_address("mx1.example.test", "::1"));
  ASSERT_TRUE(dns_.add_address("mx1.example.test", "127.0.0.2"));
  ASSERT_TRUE(dns_.add_address("mx1.example.test", "127.0.0.3"));
  const auto r = addrs(io_, dns_, "mx1.example.test");
  ASSERT_EQ(r.status, dns_status::Ok);
  EXPECT_EQ(texts(r), (std::vector<std::string>{"127.0.0.2", "127.0.0.3", "::1"}));
}

TEST_F(static_resolver_test, address_failures) {
  EXPECT_EQ(addrs(io_, dns_, "nope.test").status, dns_status::NxDomain);
  ASSERT_TRUE(dns_.add_name("empty.test"));
  EXPECT_EQ(addrs(io_, dns_, "empty.test").status, dns_status::NoData);
  ASSERT_TRUE(dns_.fail("down.test", dns_status::TempFail));
  EXPECT_EQ(addrs(io_, dns_, "down.test").status, dns_status::TempFail);
  ASSERT_TRUE(dns_.add_address("half.test", "127.0.0.9"));
  ASSERT_TRUE(dns_.fail("half.test", record_type::Aaaa, dns_status::TempFail));
  const auto partial = addrs(io_, dns_, "half.test");
  EXPECT_EQ(partial.status, dns_status::Ok);
  EXPECT_EQ(texts(partial), (std::vector<std::string>{"127.0.0.9"}));
  EXPECT_FALSE(partial.detail.empty());
}

TEST_F(static_resolver_test, ip_addresses_are_answered_without_dns) {
  EXPECT_EQ(texts(addrs(io_, dns_, "127.0.0.1")), (std::vector<std::string>{"127.0.0.1"}));
  EXPECT_EQ(texts(addrs(io_, dns_, "[IPv6:::1]")), (std::vector<std::string>{"::1"}));
  EXPECT_EQ(texts(addrs(io_, dns_, "[192.0.2.1]")), (std::vector<std::string>{"192.0.2.1"}));
  EXPECT_TRUE(dns_.queries().empty());
}

TEST_F(static_resolver_test, the_table_refuses_invalid_entries) {
  EXPECT_FALSE(dns_.add_mx("a..b", 10, "mx.test"));
  EXPECT_FALSE(dns_.add_mx("ok.test", 10, "bad host"));
  EXPECT_FALSE(dns_.add_address("ok.test", "999.1.1.1"));
  EXPECT_FALSE(dns_.add_address("", "127.0.0.1"));
  EXPECT_EQ(mx(io_, dns_, "ok.test").status, dns_status::NxDomain);
}

TEST_F(static_resolver_test, clear_forgets_everything) {
  ASSERT_TRUE(dns_.add_mx("example.test", 10, "mx.example.test"));
  EXPECT_EQ(mx(io_, dns_, "example.test").status, dns_status::Ok);
  dns_.clear();
  EXPECT_TRUE(dns_.queries().empty());
  EXPECT_EQ(mx(io_, dns_, "example.test").status, dns_status::NxDomain);
}

TEST_F(static_resolver_test, the_coroutine_form_resumes_with_the_result) {
  ASSERT_TRUE(dns_.add_mx("example.test", 10, "mx1.example.test"));
  ASSERT_TRUE(dns_.add_address("mx1.example.test", "127.0.0.2"));
  std::optional<mx_result> m;
  std::optional<addr_result> a;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        m = co_await async_mx(dns_, "example.test");
        a = co_await async_addrs(dns_, m->targets.at(0).host);
      },
      asio::detached);
  io_.run();
  ASSERT_TRUE(m && a);
  EXPECT_EQ(hosts(*m), (std::vector<std::string>{"mx1.example.test"}));
  EXPECT_EQ(texts(*a), (std::vector<std::string>{"127.0.0.2"}));
}

TEST_F(static_resolver_test, the_blocking_form_works_from_another_thread) {
  ASSERT_TRUE(dns_.add_mx("example.test", 10, "mx1.example.test"));
  auto guard = asio::make_work_guard(io_);
  std::thread loop([&] { io_.run(); });
  const auto r = wait_mx(dns_, "example.test");
  const auto a = wait_addrs(dns_, "::1");
  guard.reset();
  loop.join();
  EXPECT_EQ(hosts(r), (std::vector<std::string>{"mx1.example.test"}));
  EXPECT_EQ(texts(a), (std::vector<std::string>{"::1"}));
}

TEST_F(static_resolver_test, handlers_run_on_the_resolvers_executor) {
  ASSERT_TRUE(dns_.add_mx("example.test", 10, "mx1.example.test"));
  bool on_executor = false;
  dns_.resolve_mx("example.test", [&](mx_result) {
    const auto* strand = dns_.get_executor().target<asio::strand<asio::any_io_executor>>();
    on_executor = strand != nullptr && strand->running_in_this_thread();
  });
  io_.run();
  EXPECT_TRUE(on_executor);
}

TEST(static_resolver, destroyed_with_lookups_under_way_they_fail_temporarily) {
  asio::io_context io;
  std::optional<mx_result> r;
  {
    static_resolver dns(io.get_executor());
    ASSERT_TRUE(dns.add_mx("example.test", 10, "mx.example.test"));
    dns.resolve_mx("example.test", [&](mx_result res) { r = std::move(res); });
  }
  io.run();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, dns_status::TempFail);
}

}  // namespace
}  // namespace posthorn::dns

namespace posthorn::dns {
namespace {

lookup_answer raw(boost::asio::io_context& io, resolver& r, std::string name, record_type t) {
  std::optional<lookup_answer> out;
  r.lookup(std::move(name), t, [&](lookup_answer res) { out = std::move(res); });
  EXPECT_FALSE(out) << "answered inside the call";
  io.restart();
  io.run();
  EXPECT_TRUE(out) << "never answered";
  return out ? *out : lookup_answer{};
}

TEST(static_resolver_lookup, txt_ptr_nodata_nxdomain_and_failures) {
  boost::asio::io_context io;
  static_resolver dns{io.get_executor(), 1};
  ASSERT_TRUE(dns.add_txt("example.test", "v=spf1 -all"));
  ASSERT_TRUE(dns.add_txt("_dmarc.example.test", "v=DMARC1; p=reject"));
  ASSERT_TRUE(dns.add_ptr("10.2.0.192.in-addr.arpa", "mail.example.test"));
  ASSERT_TRUE(dns.fail("broken.test", record_type::Txt, dns_status::TempFail));

  auto a = raw(io, dns, "Example.Test.", record_type::Txt);
  ASSERT_EQ(a.status, dns_status::Ok);
  ASSERT_EQ(a.rdata.size(), 1u);
  EXPECT_EQ(parse_txt_rdata(a.rdata[0]), "v=spf1 -all");
  a = raw(io, dns, "_dmarc.example.test", record_type::Txt);
  ASSERT_EQ(a.status, dns_status::Ok);
  EXPECT_EQ(parse_txt_rdata(a.rdata[0]), "v=DMARC1; p=reject");
  a = raw(io, dns, reverse_name(*ip_address::parse("192.0.2.10")), record_type::Ptr);
  ASSERT_EQ(a.status, dns_status::Ok);
  EXPECT_EQ(parse_ptr_rdata(a.rdata[0]), "mail.example.test");
  EXPECT_EQ(raw(io, dns, "example.test", record_type::A).status, dns_status::NoData);
  EXPECT_EQ(raw(io, dns, "nowhere.test", record_type::Txt).status, dns_status::NxDomain);
  EXPECT_EQ(raw(io, dns, "broken.test", record_type::Txt).status, dns_status::TempFail);
  EXPECT_EQ(raw(io, dns, "bad name.test", record_type::Txt).status, dns_status::NxDomain);
}

}  // namespace
}  // namespace posthorn::dns
