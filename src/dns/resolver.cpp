// The coroutine and blocking forms of resolver lookups.

#include "dns/resolver.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <type_traits>
#include <utility>

namespace posthorn::dns {

namespace asio = boost::asio;

namespace {

// Hands the result to the awaiting coroutine on its own executor (the resolver
// calls back on its own) and keeps that executor busy meanwhile, as Asio's
// composed operations do.
template <class Handler, class Result>
struct resume_on_own_executor {
  Handler handler;
  decltype(asio::prefer(std::declval<asio::associated_executor_t<Handler, asio::any_io_executor>>(),
                        asio::execution::outstanding_work.tracked)) work;

  void operator()(Result res) {
    auto ex = work;
    asio::dispatch(ex, [handler = std::move(handler), res = std::move(res)]() mutable {
      std::move(handler)(std::move(res));
    });
  }
};

// The initiation of async_mx / async_addrs / async_lookup. A named type rather than lambdas inside
// a coroutine body: GCC 12 miscompiled that form (a captured string freed twice).
template <class Result>
struct lookup_initiation {
  resolver* r;

  template <class Handler>
  void operator()(Handler handler, std::string name, record_type type = record_type::A) const {
    auto work = asio::prefer(asio::get_associated_executor(handler, r->get_executor()),
                             asio::execution::outstanding_work.tracked);
    resume_on_own_executor<Handler, Result> done{std::move(handler), std::move(work)};
    if constexpr (std::is_same_v<Result, mx_result>) {
      r->resolve_mx(std::move(name), std::move(done));
    } else if constexpr (std::is_same_v<Result, addr_result>) {
      r->resolve_addrs(std::move(name), std::move(done));
    } else {
      r->lookup(std::move(name), type, std::move(done));
    }
  }
};

// A handler dropped without being called (its io_context was destroyed first)
// breaks the promise: that is a temporary failure, not an exception for the caller.
template <class Result>
Result wait_for(std::future<Result>& future) {
  try {
    return future.get();
  } catch (const std::future_error&) {
    return Result{dns_status::TempFail, {}, "resolver stopped"};
  }
}

}  // namespace

asio::awaitable<mx_result> async_mx(resolver& r, std::string domain) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(mx_result)>(
      lookup_initiation<mx_result>{&r}, asio::use_awaitable, std::move(domain));
}

asio::awaitable<addr_result> async_addrs(resolver& r, std::string host) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(addr_result)>(
      lookup_initiation<addr_result>{&r}, asio::use_awaitable, std::move(host));
}

asio::awaitable<lookup_answer> async_lookup(resolver& r, std::string name, record_type type) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(lookup_answer)>(
      lookup_initiation<lookup_answer>{&r}, asio::use_awaitable, std::move(name), type);
}

mx_result wait_mx(resolver& r, std::string domain) {
  std::promise<mx_result> promise;
  auto future = promise.get_future();
  r.resolve_mx(std::move(domain), [promise = std::move(promise)](mx_result res) mutable {
    promise.set_value(std::move(res));
  });
  return wait_for(future);
}

addr_result wait_addrs(resolver& r, std::string host) {
  std::promise<addr_result> promise;
  auto future = promise.get_future();
  r.resolve_addrs(std::move(host), [promise = std::move(promise)](addr_result res) mutable {
    promise.set_value(std::move(res));
  });
  return wait_for(future);
}

lookup_answer wait_lookup(resolver& r, std::string name, record_type type) {
  std::promise<lookup_answer> promise;
  auto future = promise.get_future();
  r.lookup(std::move(name), type, [promise = std::move(promise)](lookup_answer res) mutable {
    promise.set_value(std::move(res));
  });
  return wait_for(future);
}

}  // namespace posthorn::dns
