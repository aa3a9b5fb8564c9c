// faultshim: an LD_PRELOAD library for the crash-point sweep and fault-injection tests
// (issue 13). It watches the file-system calls a process makes on files under one path
// prefix, and kills the process (SIGKILL, as a crash would) at the Nth of them, or makes
// chosen calls fail with a chosen errno, so a test can stop posthorn at every step of a
// message's life and check what a restart recovers. Test-only: never installed.
//
// Environment (all optional; nothing set = the shim only passes calls through):
//   FAULTSHIM_PREFIX=/abs/dir[:/abs/dir2...]
//                                 only paths under these prefixes (up to 8) count (logs,
//                                 sockets and libraries stay out); unset = nothing counts
//   FAULTSHIM_KINDS=write,fsync,rename,link,unlink,open
//                                 the kinds counted (default: all but open). write =
//                                 write/pwrite/writev/pwritev, fsync = fsync/fdatasync/
//                                 syncfs, rename = rename/renameat/renameat2, link =
//                                 link/linkat, unlink = unlink/unlinkat/remove, open =
//                                 opens that create or write
//   FAULTSHIM_CRASH_AT=N          SIGKILL the process just before the Nth counted call
//   FAULTSHIM_FAIL=kind:ERRNO     fail calls of that kind (EIO, ENOSPC, EROFS, ...) ...
//   FAULTSHIM_FAIL_AT=N           ... starting at its Nth call under the prefix (default 1)
//   FAULTSHIM_FAIL_COUNT=M        ... M times in a row (default 1; 0 = from then on)
//   FAULTSHIM_CONTROL=/file       while this file exists, each line "kind ERRNO" in it
//                                 fails every call of that kind under the prefix: a test
//                                 switches a fault on and off while the server runs
//   FAULTSHIM_LOG=/file           one line per counted call: "<n> <kind> <path>", and
//                                 "crash <n> ..." / "fail <kind> <errno> ..." lines
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum kind { K_WRITE, K_FSYNC, K_RENAME, K_LINK, K_UNLINK, K_OPEN, K_COUNT };
static const char* const k_names[K_COUNT] = {"write", "fsync", "rename", "link", "unlink", "open"};

static struct {
  int ready;
  char prefix[8][PATH_MAX];
  size_t prefix_len[8];
  int prefixes;
  unsigned counted;  // bit per kind
  long crash_at;
  int fail_kind;  // -1 = none
  int fail_errno;
  long fail_at;
  long fail_count;
  char control[PATH_MAX];
  int log_fd;
} cfg = {.fail_kind = -1, .log_fd = -1};

static long counter;              // counted calls so far (all counted kinds)
static long kind_calls[K_COUNT];  // calls of each kind under the prefix

static int errno_by_name(const char* s) {
  static const struct {
    const char* name;
    int value;
  } table[] = {{"EIO", EIO},       {"ENOSPC", ENOSPC}, {"EROFS", EROFS},   {"EDQUOT", EDQUOT},
               {"EACCES", EACCES}, {"EPERM", EPERM},   {"ENOMEM", ENOMEM}, {"EINTR", EINTR}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; ++i) {
    if (strcmp(s, table[i].name) == 0) {
      return table[i].value;
    }
  }
  return atoi(s);
}

static int kind_by_name(const char* s, size_t n) {
  for (int k = 0; k < K_COUNT; ++k) {
    if (strlen(k_names[k]) == n && strncmp(s, k_names[k], n) == 0) {
      return k;
    }
  }
  return -1;
}

__attribute__((constructor)) static void faultshim_init(void) {
  const char* v = getenv("FAULTSHIM_PREFIX");
  while (v != NULL && *v != '\0' && cfg.prefixes < 8) {
    size_t n = strcspn(v, ":");
    if (v[0] == '/' && n < PATH_MAX) {
      char* p = cfg.prefix[cfg.prefixes];
      memcpy(p, v, n);
      p[n] = '\0';
      while (n > 1 && p[n - 1] == '/') {
        p[--n] = '\0';
      }
      cfg.prefix_len[cfg.prefixes++] = n;
    }
    v += n;
    if (*v == ':') {
      ++v;
    }
  }
  cfg.counted = ((1u << K_COUNT) - 1) & ~(1u << K_OPEN);
  if ((v = getenv("FAULTSHIM_KINDS")) != NULL && v[0] != '\0') {
    cfg.counted = 0;
    while (*v != '\0') {
      size_t n = strcspn(v, ",");
      int k = kind_by_name(v, n);
      if (k >= 0) {
        cfg.counted |= 1u << k;
      }
      v += n;
      if (*v == ',') {
        ++v;
      }
    }
  }
  if ((v = getenv("FAULTSHIM_CRASH_AT")) != NULL) {
    cfg.crash_at = atol(v);
  }
  if ((v = getenv("FAULTSHIM_FAIL")) != NULL) {
    const char* colon = strchr(v, ':');
    if (colon != NULL) {
      cfg.fail_kind = kind_by_name(v, (size_t)(colon - v));
      cfg.fail_errno = errno_by_name(colon + 1);
    }
  }
  cfg.fail_at = (v = getenv("FAULTSHIM_FAIL_AT")) != NULL ? atol(v) : 1;
  cfg.fail_count = (v = getenv("FAULTSHIM_FAIL_COUNT")) != NULL ? atol(v) : 1;
  if ((v = getenv("FAULTSHIM_CONTROL")) != NULL) {
    snprintf(cfg.control, sizeof cfg.control, "%s", v);
  }
  if ((v = getenv("FAULTSHIM_LOG")) != NULL) {
    cfg.log_fd =
        (int)syscall(SYS_openat, AT_FDCWD, v, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
  cfg.ready = 1;
}

// Logging and control-file reads go straight to the kernel, past our own wrappers.
static void log_line(const char* fmt, ...) {
  if (cfg.log_fd < 0) {
    return;
  }
  char buf[PATH_MAX + 128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) {
    syscall(SYS_write, cfg.log_fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
  }
}

static int under_prefix(const char* path) {
  if (path == NULL) {
    return 0;
  }
  for (int i = 0; i < cfg.prefixes; ++i) {
    size_t n = cfg.prefix_len[i];
    if (strncmp(path, cfg.prefix[i], n) == 0 && (path[n] == '/' || path[n] == '\0')) {
      return 1;
    }
  }
  return 0;
}

static int fd_path(int fd, char* out, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = syscall(SYS_readlinkat, AT_FDCWD, link, out, size - 1);
  if (n <= 0) {
    return -1;
  }
  out[n] = '\0';
  return 0;
}

// The absolute form of `path` as seen from `dirfd` (AT_FDCWD = the working folder).
static void abs_path(int dirfd, const char* path, char* out, size_t size) {
  if (path == NULL) {
    out[0] = '\0';
    return;
  }
  if (path[0] == '/') {
    snprintf(out, size, "%s", path);
    return;
  }
  char base[PATH_MAX];
  if (dirfd == AT_FDCWD) {
    if (syscall(SYS_getcwd, base, sizeof base) < 0) {
      base[0] = '\0';
    }
  } else if (fd_path(dirfd, base, sizeof base) != 0) {
    base[0] = '\0';
  }
  if (strlen(base) + strlen(path) + 2 > size) {
    out[0] = '\0';  // too long to be one of ours
    return;
  }
  snprintf(out, size, "%s/%s", base, path);
}

// A fault the control file switches on for `k` now: its errno, or 0.
static int control_fault(int k) {
  if (cfg.control[0] == '\0') {
    return 0;
  }
  int fd = (int)syscall(SYS_openat, AT_FDCWD, cfg.control, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  char buf[512];
  ssize_t n = syscall(SYS_read, fd, buf, sizeof buf - 1);
  syscall(SYS_close, fd);
  if (n <= 0) {
    return 0;
  }
  buf[n] = '\0';
  for (char* line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n")) {
    char* sp = strchr(line, ' ');
    if (sp != NULL && kind_by_name(line, (size_t)(sp - line)) == k) {
      return errno_by_name(sp + 1);
    }
  }
  return 0;
}

// Called before each watched call with its path (NULL = not under the prefix). Returns
// the errno to fail it with, or 0 to go ahead; may not return at all (the crash).
static int check(int k, const char* path) {
  if (!cfg.ready || !under_prefix(path)) {
    return 0;
  }
  long nth_of_kind = __atomic_add_fetch(&kind_calls[k], 1, __ATOMIC_SEQ_CST);
  if (cfg.counted & (1u << k)) {
    long n = __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
    log_line("%ld %s %s\n", n, k_names[k], path);
    if (cfg.crash_at > 0 && n == cfg.crash_at) {
      log_line("crash %ld %s %s\n", n, k_names[k], path);
      syscall(SYS_kill, syscall(SYS_getpid), SIGKILL);
    }
  }
  int err = 0;
  if (k == cfg.fail_kind && nth_of_kind >= cfg.fail_at &&
      (cfg.fail_count == 0 || nth_of_kind < cfg.fail_at + cfg.fail_count)) {
    err = cfg.fail_errno;
  }
  if (err == 0) {
    err = control_fault(k);
  }
  if (err != 0) {
    log_line("fail %s %d %s\n", k_names[k], err, path);
  }
  return err;
}

static int check_fd(int k, int fd) {
  if (!cfg.ready || cfg.prefixes == 0) {
    return 0;
  }
  char path[PATH_MAX];
  if (fd_path(fd, path, sizeof path) != 0) {
    return 0;
  }
  return check(k, path);
}

static int check_at(int k, int dirfd, const char* name) {
  if (!cfg.ready || cfg.prefixes == 0) {
    return 0;
  }
  char path[PATH_MAX];
  abs_path(dirfd, name, path, sizeof path);
  return check(k, path);
}

#define NEXT(name)                                            \
  static __typeof__(name)* real_##name;                       \
  if (real_##name == NULL) {                                  \
    real_##name = (__typeof__(name)*)dlsym(RTLD_NEXT, #name); \
  }

#define FAIL_IF(expr) \
  do {                \
    int e_ = (expr);  \
    if (e_ != 0) {    \
      errno = e_;     \
      return -1;      \
    }                 \
  } while (0)

ssize_t write(int fd, const void* buf, size_t n) {
  NEXT(write);
  FAIL_IF(check_fd(K_WRITE, fd));
  return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  NEXT(pwrite);
  FAIL_IF(check_fd(K_WRITE, fd));
  return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off64_t off) {
  NEXT(pwrite64);
  FAIL_IF(check_fd(K_WRITE, fd));
  return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  NEXT(writev);
  FAIL_IF(check_fd(K_WRITE, fd));
  return real_writev(fd, iov, count);
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t off) {
  NEXT(pwritev);
  FAIL_IF(check_fd(K_WRITE, fd));
  return real_pwritev(fd, iov, count, off);
}

int fsync(int fd) {
  NEXT(fsync);
  FAIL_IF(check_fd(K_FSYNC, fd));
  return real_fsync(fd);
}

int fdatasync(int fd) {
  NEXT(fdatasync);
  FAIL_IF(check_fd(K_FSYNC, fd));
  return real_fdatasync(fd);
}

int syncfs(int fd) {
  NEXT(syncfs);
  FAIL_IF(check_fd(K_FSYNC, fd));
  return real_syncfs(fd);
}

int rename(const char* from, const char* to) {
  NEXT(rename);
  FAIL_IF(check_at(K_RENAME, AT_FDCWD, to));
  return real_rename(from, to);
}

int renameat(int fromfd, const char* from, int tofd, const char* to) {
  NEXT(renameat);
  FAIL_IF(check_at(K_RENAME, tofd, to));
  return real_renameat(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char* from, int tofd, const char* to, unsigned flags) {
  NEXT(renameat2);
  FAIL_IF(check_at(K_RENAME, tofd, to));
  return real_renameat2(fromfd, from, tofd, to, flags);
}

int link(const char* from, const char* to) {
  NEXT(link);
  FAIL_IF(check_at(K_LINK, AT_FDCWD, to));
  return real_link(from, to);
}

int linkat(int fromfd, const char* from, int tofd, const char* to, int flags) {
  NEXT(linkat);
  FAIL_IF(check_at(K_LINK, tofd, to));
  return real_linkat(fromfd, from, tofd, to, flags);
}

int unlink(const char* path) {
  NEXT(unlink);
  FAIL_IF(check_at(K_UNLINK, AT_FDCWD, path));
  return real_unlink(path);
}

int unlinkat(int dirfd, const char* path, int flags) {
  NEXT(unlinkat);
  FAIL_IF(check_at(K_UNLINK, dirfd, path));
  return real_unlinkat(dirfd, path, flags);
}

int remove(const char* path) {
  NEXT(remove);
  FAIL_IF(check_at(K_UNLINK, AT_FDCWD, path));
  return real_remove(path);
}

// Opens count only when they may create or write a file.
static int writes(int flags) { return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0; }

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & (O_CREAT | __O_TMPFILE)) != 0 ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char* path, int flags, ...) {
  NEXT(open);
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  if (writes(flags)) {
    FAIL_IF(check_at(K_OPEN, AT_FDCWD, path));
  }
  return real_open(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  NEXT(open64);
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  if (writes(flags)) {
    FAIL_IF(check_at(K_OPEN, AT_FDCWD, path));
  }
  return real_open64(path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
  NEXT(openat);
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  if (writes(flags)) {
    FAIL_IF(check_at(K_OPEN, dirfd, path));
  }
  return real_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
  NEXT(openat64);
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  if (writes(flags)) {
    FAIL_IF(check_at(K_OPEN, dirfd, path));
  }
  return real_openat64(dirfd, path, flags, mode);
}
