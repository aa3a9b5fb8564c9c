#pragma once
// The control socket (<state_dir>/control.sock, mode 0600) that `posthorn queue` talks
// to: one coroutine per client on the server's io_context; everything that reads or
// writes the spool runs on the blocking pool. Protocol: admin/control_protocol.hpp.

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <memory>

#include "common/error.hpp"
#include "queue/scheduler.hpp"
#include "queue/spool.hpp"

namespace posthorn::admin {

class control_server {
 public:
  control_server(boost::asio::io_context& io, boost::asio::thread_pool& blocking,
                 queue::scheduler& scheduler, queue::spool& spool, std::filesystem::path path);
  ~control_server();  // close()
  control_server(const control_server&) = delete;
  control_server& operator=(const control_server&) = delete;

  // Binds the socket with mode 0600 from the start; a stale file from a crash is
  // replaced, a socket a live server answers on is an error.
  result<void> open();
  // Starts accepting on the io_context.
  void start();
  // Stops accepting and removes the socket file; requests under way finish.
  void close();
  const std::filesystem::path& path() const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace posthorn::admin
