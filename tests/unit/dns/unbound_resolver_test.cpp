// The libunbound resolver against a real unbound serving a test zone on loopback:
// MX order, implicit MX, null MX, NXDOMAIN, no data, IDN, REFUSED and timeouts as
// temporary failures, many lookups at once, shutdown with lookups under way, and
// that the event loop is released when nothing is asked.

#include "dns/unbound_resolver.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <fstream>
#include <set>

#include "unbound_server.hpp"

namespace posthorn::dns {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// RFC 2606 / RFC 6761 names only; every one under test. (DESIGN.md §3).
constexpr const char* k_zone = R"(
  local-zone: "example.test." static
  local-data: "example.test. 300 IN MX 10 mx1.example.test."
  local-data: "example.test. 300 IN MX 10 mx2.example.test."
  local-data: "example.test. 300 IN MX 20 mx3.example.test."
  local-data: "mx1.example.test. 300 IN A 127.0.0.2"
  local-data: "mx1.example.test. 300 IN AAAA ::1"
  local-data: "mx2.example.test. 300 IN A 127.0.0.3"
  local-zone: "implicit.test." static
  local-data: "implicit.test. 300 IN A 127.0.0.4"
  local-zone: "nullmx.test." static
  local-data: "nullmx.test. 300 IN MX 0 ."
  local-data: "nullmx.test. 300 IN A 127.0.0.5"
  local-zone: "nomail.test." static
  local-data: 'nomail.test. 300 IN TXT "no mail here"'
  local-data: 'nomail.test. 300 IN TXT "v=spf1 " "-all"'
  local-zone: "2.0.192.in-addr.arpa." static
  local-data: "10.2.0.192.in-addr.arpa. 300 IN PTR mx1.example.test."
  local-zone: "xn--bcher-kva.test." static
  local-data: "xn--bcher-kva.test. 300 IN MX 5 mx.xn--bcher-kva.test."
  local-zone: "refused.test." always_refuse
)";

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

class unbound_resolver_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = test::unbound_server::start(k_zone, why_).release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    // Loud on purpose: without unbound these tests would prove nothing.
    ASSERT_NE(server_, nullptr) << "cannot run the test DNS server: " << why_;
  }

  std::unique_ptr<unbound_resolver> make(std::vector<std::string> nameservers = {},
                                         std::chrono::milliseconds timeout = 5s) {
    unbound_options options;
    options.nameservers =
        nameservers.empty() ? std::vector<std::string>{server_->address()} : nameservers;
    options.timeout = timeout;
    auto r = unbound_resolver::create(io_.get_executor(), options);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? std::move(*r) : nullptr;
  }

  // Runs the loop until it runs out of work: a resolver with nothing to do must
  // not keep it busy.
  void run() {
    io_.restart();
    io_.run_for(30s);
    EXPECT_TRUE(io_.stopped()) << "the event loop still had work after 30 s";
  }

  mx_result mx(resolver& r, std::string domain) {
    std::optional<mx_result> out;
    r.resolve_mx(std::move(domain), [&](mx_result res) { out = std::move(res); });
    run();
    EXPECT_TRUE(out) << "no answer";
    return out ? *out : mx_result{};
  }

  addr_result addrs(resolver& r, std::string host) {
    std::optional<addr_result> out;
    r.resolve_addrs(std::move(host), [&](addr_result res) { out = std::move(res); });
    run();
    EXPECT_TRUE(out) << "no answer";
    return out ? *out : addr_result{};
  }

  static inline test::unbound_server* server_ = nullptr;
  static inline std::string why_;
  asio::io_context io_;
};

TEST_F(unbound_resolver_test, mx_hosts_sorted_and_shuffled_among_equals) {
  auto dns = make();
  ASSERT_TRUE(dns);
  EXPECT_NE(dns->description().find(server_->address().substr(10)), std::string::npos)
      << dns->description();
  std::set<std::string> firsts;
  for (int i = 0; i < 30; ++i) {
    const auto r = mx(*dns, "example.test");
    ASSERT_EQ(r.status, dns_status::Ok) << r.detail;
    ASSERT_EQ(r.targets.size(), 3u);
    EXPECT_EQ(std::set<std::string>({r.targets[0].host, r.targets[1].host}),
              (std::set<std::string>{"mx1.example.test", "mx2.example.test"}));
    EXPECT_EQ(r.targets[0].preference, 10);
    EXPECT_EQ(r.targets[2], (mx_target{"mx3.example.test", 20, false}));
    firsts.insert(r.targets[0].host);
  }
  EXPECT_EQ(firsts.size(), 2u) << "equal preferences never changed places";
}

TEST_F(unbound_resolver_test, raw_txt_and_ptr_lookups) {
  auto dns = make();
  ASSERT_TRUE(dns);
  std::optional<lookup_answer> txt, ptr, none;
  dns->lookup("NoMail.Test.", record_type::Txt, [&](lookup_answer a) { txt = std::move(a); });
  dns->lookup(reverse_name(*ip_address::parse("192.0.2.10")), record_type::Ptr,
              [&](lookup_answer a) { ptr = std::move(a); });
  dns->lookup("nothing.nomail.test", record_type::Txt,
              [&](lookup_answer a) { none = std::move(a); });
  run();
  ASSERT_TRUE(txt && ptr && none);
  ASSERT_EQ(txt->status, dns_status::Ok) << txt->detail;
  std::set<std::string> texts;
  for (const auto& r : txt->rdata) {
    texts.insert(parse_txt_rdata(r).value_or("?"));
  }
  EXPECT_EQ(texts, (std::set<std::string>{"no mail here", "v=spf1 -all"}));
  ASSERT_EQ(ptr->status, dns_status::Ok) << ptr->detail;
  ASSERT_EQ(ptr->rdata.size(), 1u);
  EXPECT_EQ(parse_ptr_rdata(ptr->rdata[0]), "mx1.example.test");
  EXPECT_EQ(none->status, dns_status::NxDomain);
}

TEST_F(unbound_resolver_test, addresses_a_then_aaaa) {
  auto dns = make();
  ASSERT_TRUE(dns);
  const auto r = addrs(*dns, "MX1.example.test.");
  ASSERT_EQ(r.status, dns_status::Ok) << r.detail;
  EXPECT_EQ(texts(r), (std::vector<std::string>{"127.0.0.2", "::1"}));
  EXPECT_EQ(texts(addrs(*dns, "mx2.example.test")), (std::vector<std::string>{"127.0.0.3"}));
}

TEST_F(unbound_resolver_test, no_mx_but_an_address_is_the_implicit_mx) {
  auto dns = make();
  ASSERT_TRUE(dns);
  const auto r = mx(*dns, "implicit.test");
  ASSERT_EQ(r.status, dns_status::Ok) << r.detail;
  ASSERT_EQ(r.targets.size(), 1u);
  EXPECT_EQ(r.targets[0], (mx_target{"implicit.test", 0, true}));
}

TEST_F(unbound_resolver_test, null_mx) {
  auto dns = make();
  ASSERT_TRUE(dns);
  const auto r = mx(*dns, "nullmx.test");
  EXPECT_EQ(r.status, dns_status::NullMx) << r.detail;
  EXPECT_TRUE(r.targets.empty());
}

TEST_F(unbound_resolver_test, nxdomain) {
  auto dns = make();
  ASSERT_TRUE(dns);
  for (const char* name : {"nope.example.test", "unknown.test"}) {
    const auto r = mx(*dns, name);
    EXPECT_EQ(r.status, dns_status::NxDomain) << name << ": " << r.detail;
    EXPECT_EQ(addrs(*dns, name).status, dns_status::NxDomain) << name;
  }
}

TEST_F(unbound_resolver_test, a_name_without_mx_or_address_is_no_data) {
  auto dns = make();
  ASSERT_TRUE(dns);
  EXPECT_EQ(mx(*dns, "nomail.test").status, dns_status::NoData);
  EXPECT_EQ(addrs(*dns, "nomail.test").status, dns_status::NoData);
}

TEST_F(unbound_resolver_test, u_labels_are_asked_as_a_labels) {
  auto dns = make();
  ASSERT_TRUE(dns);
  const auto r = mx(*dns, "bücher.test");
  ASSERT_EQ(r.status, dns_status::Ok) << r.detail;
  EXPECT_EQ(hosts(r), (std::vector<std::string>{"mx.xn--bcher-kva.test"}));
}

TEST_F(unbound_resolver_test, refused_is_a_temporary_failure) {
  auto dns = make({}, 3s);
  ASSERT_TRUE(dns);
  const auto r = mx(*dns, "refused.test");
  EXPECT_EQ(r.status, dns_status::TempFail) << r.detail;
  EXPECT_TRUE(mx_error(r, "refused.test")->temporary());
}

TEST_F(unbound_resolver_test, a_silent_nameserver_times_out_as_a_temporary_failure) {
  test::silent_server silent;
  ASSERT_NE(silent.port(), 0);
  auto dns = make({silent.address()}, 300ms);
  ASSERT_TRUE(dns);
  const auto start = std::chrono::steady_clock::now();
  const auto r = mx(*dns, "example.test");
  EXPECT_EQ(r.status, dns_status::TempFail) << r.detail;
  EXPECT_NE(r.detail.find("no answer within 300 ms"), std::string::npos) << r.detail;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(addrs(*dns, "mx1.example.test").status, dns_status::TempFail);
}

TEST_F(unbound_resolver_test, many_lookups_at_once) {
  auto dns = make();
  ASSERT_TRUE(dns);
  constexpr int k_each = 25;
  int mx_ok = 0;
  int addr_ok = 0;
  int nx = 0;
  for (int i = 0; i < k_each; ++i) {
    dns->resolve_mx("example.test", [&](mx_result r) {
      mx_ok += r.status == dns_status::Ok && r.targets.size() == 3;
    });
    dns->resolve_addrs("mx1.example.test", [&](addr_result r) {
      addr_ok += r.status == dns_status::Ok && r.addrs.size() == 2;
    });
    dns->resolve_mx("n" + std::to_string(i) + ".example.test",
                    [&](mx_result r) { nx += r.status == dns_status::NxDomain; });
  }
  run();
  EXPECT_EQ(mx_ok, k_each);
  EXPECT_EQ(addr_ok, k_each);
  EXPECT_EQ(nx, k_each);
}

TEST_F(unbound_resolver_test, the_coroutine_form) {
  auto dns = make();
  ASSERT_TRUE(dns);
  std::optional<addr_result> a;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        const mx_result m = co_await async_mx(*dns, "example.test");
        a = co_await async_addrs(*dns, m.targets.back().host);
      },
      asio::detached);
  run();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, dns_status::NxDomain) << "mx3 has no address record";
}

TEST_F(unbound_resolver_test, destroyed_with_lookups_under_way_they_fail_temporarily) {
  test::silent_server silent;
  auto dns = make({silent.address()}, 20s);
  ASSERT_TRUE(dns);
  std::optional<mx_result> r;
  dns->resolve_mx("example.test", [&](mx_result res) { r = std::move(res); });
  io_.run_for(200ms);
  EXPECT_FALSE(r);
  dns.reset();  // the loop is not running
  run();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, dns_status::TempFail);
  EXPECT_NE(r->detail.find("closed"), std::string::npos) << r->detail;
}

TEST_F(unbound_resolver_test, ip_addresses_need_no_dns) {
  test::silent_server silent;
  auto dns = make({silent.address()}, 20s);
  ASSERT_TRUE(dns);
  EXPECT_EQ(texts(addrs(*dns, "[127.0.0.1]")), (std::vector<std::string>{"127.0.0.1"}));
}

TEST(unbound_resolver, refuses_malformed_nameservers) {
  asio::io_context io;
  for (const char* bad : {"localhost", "127.0.0.1:0", "127.0.0.1:99999", "[::1", "::1:53x", ""}) {
    unbound_options options;
    options.nameservers = {bad};
    const auto r = unbound_resolver::create(io.get_executor(), options);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
    }
  }
}

TEST(unbound_resolver, accepts_the_nameserver_forms_of_the_config) {
  asio::io_context io;
  unbound_options options;
  options.nameservers = {"127.0.0.1", "127.0.0.1:5353", "[::1]:5353", "::1", "[::1]"};
  const auto r = unbound_resolver::create(io.get_executor(), options);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)->description(),
            "forwarding to 127.0.0.1@53 127.0.0.1@5353 ::1@5353 ::1@53 ::1@53");
}

TEST(unbound_resolver, without_nameservers_reads_the_system_configuration) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("posthorn-dns-resolv-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "resolv.conf") << "nameserver 127.0.0.1\n";
    std::ofstream(dir / "hosts") << "127.0.0.1 localhost\n";
  }
  asio::io_context io;
  unbound_options options;
  options.resolv_conf = (dir / "resolv.conf").string();
  options.hosts = (dir / "hosts").string();
  const auto r = unbound_resolver::create(io.get_executor(), options);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_NE((*r)->description().find("resolv.conf"), std::string::npos);
  options.resolv_conf = (dir / "missing").string();
  EXPECT_FALSE(unbound_resolver::create(io.get_executor(), options));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace posthorn::dns
