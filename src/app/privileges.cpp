#include "app/privileges.hpp"

#include <spdlog/spdlog.h>

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

namespace posthorn::app {

namespace fs = std::filesystem;

namespace {

error failure(std::string message) { return error::perm("", std::move(message)); }

std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

// True when `inner` is `outer` or lies below it (both absolute, as the loader makes them).
bool is_within(const fs::path& inner, const fs::path& outer) {
  const fs::path rel = inner.lexically_normal().lexically_relative(outer.lexically_normal());
  return !rel.empty() && *rel.begin() != "..";
}

// Gives one file to uid:gid unless it is theirs already; symbolic links themselves,
// never what they point at (a link planted in the spool must not hand over /etc/shadow).
result<bool> hand_over(const fs::path& p, uid_t uid, gid_t gid) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) {
    return fail(failure("cannot stat " + p.string() + ": " + errno_text(errno)));
  }
  if (st.st_uid == uid && st.st_gid == gid) {
    return false;
  }
  if (::lchown(p.c_str(), uid, gid) != 0) {
    return fail(failure("cannot chown " + p.string() + ": " + errno_text(errno)));
  }
  return true;
}

// The folder and everything below it, not following links out of it.
result<std::size_t> hand_over_tree(const fs::path& root, uid_t uid, gid_t gid) {
  std::size_t changed = 0;
  auto top = hand_over(root, uid, gid);
  if (!top) {
    return fail(top.error());
  }
  changed += *top ? 1 : 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
       !ec && it != end; it.increment(ec)) {
    auto r = hand_over(it->path(), uid, gid);
    if (!r) {
      return fail(r.error());
    }
    changed += *r ? 1 : 0;
  }
  if (ec) {
    return fail(failure("cannot walk " + root.string() + ": " + ec.message()));
  }
  return changed;
}

// Files the server reads again on SIGHUP: after the drop they must stay readable, or the
// next reload fails. Said at start rather than discovered at the first reload.
void warn_unreadable(const config::config& cfg) {
  std::vector<std::pair<const char*, fs::path>> files = {
      {"config", cfg.source},
      {"accounts.users_file", cfg.accounts.users_file},
      {"accounts.aliases_file", cfg.accounts.aliases_file},
      {"accounts.relocated_file", cfg.accounts.relocated_file},
      {"tls.cert", cfg.tls.cert},
      {"tls.key", cfg.tls.key},
  };
  for (const auto& [what, path] : files) {
    if (!path.empty() && fs::exists(path) && ::access(path.c_str(), R_OK) != 0) {
      spdlog::warn("event=privileges warning=unreadable key={} path={} user={} note=\"a "
                   "reload (SIGHUP) will fail\"",
                   what, path.string(), cfg.user);
    }
  }
  const fs::path& root = cfg.mailbox.maildir_root;
  if (fs::exists(root) && ::access(root.c_str(), W_OK | X_OK) != 0) {
    spdlog::warn("event=privileges warning=unwritable key=mailbox.maildir_root path={} user={} "
                 "note=\"local delivery will be deferred\"",
                 root.string(), cfg.user);
  }
}

}  // namespace

result<run_as_user> lookup_user(const std::string& name) {
  // getpwnam_r: other threads may already be running (the thread pool, the committer).
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  int rc = 0;
  while ((rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found)) == ERANGE) {
    buf.resize(buf.size() * 2);
  }
  if (rc != 0) {
    return fail(failure("user: cannot look up \"" + name + "\": " + errno_text(rc)));
  }
  if (found == nullptr) {
    return fail(failure("user: no such user \"" + name + "\""));
  }
  return run_as_user{name, pw.pw_uid, pw.pw_gid};
}

result<std::optional<run_as_user>> resolve_run_as(const config::config& cfg) {
  if (cfg.user.empty()) {
    return std::nullopt;
  }
  auto found = lookup_user(cfg.user);
  if (!found) {
    return fail(found.error());
  }
  const run_as_user& who = *found;
  if (::geteuid() == 0) {
    return who.uid == 0 ? std::nullopt : std::optional<run_as_user>(who);
  }
  if (::geteuid() == who.uid) {
    return std::nullopt;  // started as that user already (a unit with User=): fine
  }
  return fail(failure("user: switching to \"" + cfg.user + "\" needs root; running as uid " +
                      std::to_string(::geteuid())));
}

result<void> drop_privileges(const config::config& cfg) {
  auto who = resolve_run_as(cfg);
  if (!who) {
    return fail(who.error());
  }
  if (!*who) {
    return {};
  }
  const run_as_user& u = **who;

  // The state (spool, generated TLS files, sockets, a mail root kept there) becomes the
  // user's: the server writes all of it from now on, as that user.
  auto changed = hand_over_tree(cfg.state_dir, u.uid, u.gid);
  if (!changed) {
    return fail(changed.error());
  }
  // A mail root elsewhere is created here, as the user's; one that exists already is the
  // administrator's to arrange (it may be shared), and is only checked below.
  const fs::path& root = cfg.mailbox.maildir_root;
  if (!is_within(root, cfg.state_dir) && !fs::exists(root)) {
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) {
      return fail(failure("cannot create " + root.string() + ": " + ec.message()));
    }
    auto r = hand_over(root, u.uid, u.gid);
    if (!r) {
      return fail(r.error());
    }
    *changed += 1;
  }

  // Groups first: once the uid is not 0, setgroups and setgid are refused. glibc applies
  // each of these to every thread of the process, not the calling one only.
  if (::initgroups(u.name.c_str(), u.gid) != 0) {
    return fail(failure("initgroups(" + u.name + "): " + errno_text(errno)));
  }
  if (::setgid(u.gid) != 0) {
    return fail(failure("setgid(" + std::to_string(u.gid) + "): " + errno_text(errno)));
  }
  if (::setuid(u.uid) != 0) {
    return fail(failure("setuid(" + std::to_string(u.uid) + "): " + errno_text(errno)));
  }
  // Real, effective and saved ids all changed (setuid as root sets the three), so root is
  // gone for good: prove it rather than trust it.
  uid_t ru = 0, eu = 0, su = 0;
  gid_t rg = 0, eg = 0, sg = 0;
  if (::getresuid(&ru, &eu, &su) != 0 || ::getresgid(&rg, &eg, &sg) != 0 || ru != u.uid ||
      eu != u.uid || su != u.uid || rg != u.gid || eg != u.gid || sg != u.gid) {
    return fail(failure("the user and group ids did not all change"));
  }
  if (::setuid(0) == 0 || ::seteuid(0) == 0) {
    return fail(failure("root could be regained after dropping privileges"));
  }
  spdlog::info("event=privileges user={} uid={} gid={} chowned={}", u.name, u.uid, u.gid,
               *changed);
  warn_unreadable(cfg);
  return {};
}

}  // namespace posthorn::app
