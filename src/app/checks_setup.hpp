#pragma once
// The check modules of the server (smtp/server/checks.hpp), built from the config in
// their fixed order: screen (connect-time lists, rate limits, greylisting), mail
// authentication (SPF, DKIM, ARC, DMARC), milters, DKIM signing, and last the spam
// verdict. Each module adds itself in make_checks(); a module whose config cannot be
// used (a key file that does not load) fails the start or the reload.

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>

#include "common/error.hpp"
#include "config/config.hpp"
#include "dns/resolver.hpp"
#include "smtp/server/checks.hpp"

namespace posthorn::app {

struct check_setup {
  boost::asio::io_context& io;
  boost::asio::thread_pool& blocking;
  dns::resolver* resolver = nullptr;
};

result<std::shared_ptr<const smtp::check_list>> make_checks(const config::config& cfg,
                                                            const check_setup& s);

}  // namespace posthorn::app
