#pragma once
// `user = "name"`: a server started as root binds its ports below 1024, creates its
// state, then runs as that user for good (docs/operations.md, "Running under systemd").

#include <optional>
#include <string>
#include <sys/types.h>

#include "common/error.hpp"
#include "config/config.hpp"

namespace posthorn::app {

// The account the server is to run as.
struct run_as_user {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The account of that name; an error ("user: no such user ...") when there is none.
result<run_as_user> lookup_user(const std::string& name);

// Checked at start, before anything is bound: nullopt when there is nothing to drop (no
// `user`, or the process already runs as it); an error, a config error to the caller
// (exit 2), when the user does not exist or the process is neither root nor that user.
result<std::optional<run_as_user>> resolve_run_as(const config::config& cfg);

// Called once every socket is bound (listeners, submit and control sockets, metrics)
// and the state exists: hands state_dir's tree (spool, tls, a mail root inside it, the
// sockets) and a mail root it has to create elsewhere to the user, then sets the
// supplementary groups, the group and the user, checks that root cannot be regained,
// and logs event=privileges. Nothing to do without `user`, or when not root.
result<void> drop_privileges(const config::config& cfg);

}  // namespace posthorn::app
