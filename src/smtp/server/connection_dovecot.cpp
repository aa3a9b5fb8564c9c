#include "smtp/server/connection_dovecot.hpp"

#include "auth/dovecot_auth_client.hpp"

namespace posthorn::smtp {

boost::asio::awaitable<std::expected<std::optional<mail::address>, std::string>> dovecot_verify(
    boost::asio::any_io_executor ex, const config::config& cfg, const auth::sasl_verify& creds,
    std::string_view client_ip, bool tls) {
  auth::dovecot::request_info info;
  info.service = "smtp";
  info.remote_ip = std::string(client_ip);
  info.secured = tls;
  const auth::dovecot::check_result r = co_await auth::dovecot_check_plain(
      ex, cfg.auth.dovecot_socket, creds.authcid, creds.password, std::move(info));
  switch (r.v) {
    case auth::dovecot::verdict::TempFail:
      co_return std::unexpected(r.reason.empty() ? std::string("temporary failure") : r.reason);
    case auth::dovecot::verdict::Fail:
      co_return std::optional<mail::address>{};
    case auth::dovecot::verdict::Ok:
      break;
  }
  const std::string name = r.user.empty() ? std::string(creds.authcid) : r.user;
  if (auto a = mail::parse_address(name, false)) {
    co_return std::optional<mail::address>(std::move(*a));
  }
  // Dovecot's user names need not be addresses ("carol"): Postfix's
  // smtpd_sasl_local_domain, here the first local domain.
  const std::string domain = cfg.domains.local.empty() ? cfg.hostname : cfg.domains.local.front();
  co_return std::optional<mail::address>(mail::address{name, domain});
}

}  // namespace posthorn::smtp
