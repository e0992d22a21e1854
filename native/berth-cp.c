/*
 * berth-cp: the file side of `docker cp`, run inside a container's view of its files.
 *
 *   berth-cp --pid PID START_TIME  <op> ...   a running container: join its mount namespace,
 *                                             chroot to its root (its volumes are mounted there)
 *   berth-cp --root DIR [--bind SRC DST ro|rw]... <op> ...
 *                                             a stopped one: a private mount namespace with its
 *                                             volumes bound on its rootfs, then chroot to it
 *   ops: stat PARENT BASE FOLLOW | archive PARENT BASE FOLLOW | extract DIR [--no-overwrite-dir-non-dir]
 *        [--chown UID:GID] [--readonly-rootfs]
 *
 * Every path inside the container is opened with openat2(RESOLVE_IN_ROOT) from inside its root:
 * a symlink, even one swapped while we work, resolves in the container and never reaches the
 * host. Entries are opened without following (O_PATH|O_NOFOLLOW, then reopened through
 * /proc/self/fd only if they are what they were), so no device node is ever opened and no
 * symlink is ever written through. Nothing of the image is run: scratch images work.
 *
 * Protocol, on stdin/stdout: frames of [type u8][length u32 BE][payload]. Numbers are big endian.
 *   out 'S' stat of the named path, 'H' entry header, 'D' file data, 'Z' done, 'E' error
 *   in  'h' entry header, 'd' file data, 'z' end (extract)
 * See src/runtime/container-files.ts for the other side.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <unistd.h>

enum err_kind { E_SYSTEM = 0, E_NOT_FOUND = 1, E_NOT_DIR = 2, E_ROOTFS_RO = 3, E_VOLUME_RO = 4, E_OVERWRITE = 5, E_INVALID = 6 };

#define MAX_PATH 4096
#define CHUNK (64 * 1024)
#define MAX_DEPTH 256

/* The host's /proc/self/fd, opened before entering the container: reopening an O_PATH fd. */
static int procfd = -1;
/* The container's root, once inside it. */
static int rootfd = -1;

/* ---- output --------------------------------------------------------------------------- */

static void write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(3); /* the daemon went away: nothing to report to */
    }
    p += n;
    len -= (size_t)n;
  }
}

static void frame(char type, const void *payload, uint32_t len) {
  unsigned char h[5] = {(unsigned char)type, (unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8), (unsigned char)len};
  write_all(1, h, 5);
  if (len > 0) write_all(1, payload, len);
}

typedef struct {
  unsigned char b[2 * MAX_PATH + 128];
  size_t n;
} buf_t;

static void put8(buf_t *b, uint8_t v) { b->b[b->n++] = v; }
static void put32(buf_t *b, uint32_t v) {
  for (int i = 3; i >= 0; i--) put8(b, (uint8_t)(v >> (i * 8)));
}
static void put64(buf_t *b, uint64_t v) {
  for (int i = 7; i >= 0; i--) put8(b, (uint8_t)(v >> (i * 8)));
}
static void putstr(buf_t *b, const char *s) {
  size_t len = strlen(s);
  if (len > MAX_PATH) len = MAX_PATH;
  put8(b, (uint8_t)(len >> 8));
  put8(b, (uint8_t)len);
  memcpy(b->b + b->n, s, len);
  b->n += len;
}

static void fail(enum err_kind kind, int err, const char *fmt, ...) {
  char msg[MAX_PATH + 256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  buf_t b = {.n = 0};
  put8(&b, (uint8_t)kind);
  put32(&b, (uint32_t)err);
  putstr(&b, msg);
  frame('E', b.b, (uint32_t)b.n);
  exit(1);
}

static enum err_kind kind_of(int err) { return err == ENOENT ? E_NOT_FOUND : err == ENOTDIR ? E_NOT_DIR : E_SYSTEM; }

/* ---- paths inside the root ------------------------------------------------------------ */

static int open_in(int dirfd, const char *path, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  return (int)syscall(SYS_openat2, dirfd, path[0] ? path : ".", &how, sizeof how);
}

/* The same file as the O_PATH fd `fd`, opened for real (it is the very inode, not a name). */
static int reopen(int fd, int flags) {
  char name[32];
  snprintf(name, sizeof name, "%d", fd);
  return openat(procfd, name, flags | O_CLOEXEC);
}

/* Where an fd is, as the container sees it (we are chrooted in its root). */
static void path_of(int fd, char *out, size_t len) {
  char name[32];
  snprintf(name, sizeof name, "%d", fd);
  ssize_t n = readlinkat(procfd, name, out, len - 1);
  out[n < 0 ? 0 : n] = 0;
}

/* ---- entering the container ----------------------------------------------------------- */

static void open_proc_self_fd(void) {
  procfd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (procfd < 0) fail(E_SYSTEM, errno, "cannot open /proc/self/fd: %s", strerror(errno));
}

static void chroot_to(int dirfd) {
  if (fchdir(dirfd) < 0 || chroot(".") < 0 || chdir("/") < 0) fail(E_SYSTEM, errno, "cannot enter the container's root: %s", strerror(errno));
  close(dirfd);
  rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) fail(E_SYSTEM, errno, "cannot open the container's root: %s", strerror(errno));
}

/* A running container: its mount namespace (its volumes are there) and its root. */
static void enter_running(const char *pid, const char *start_time) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%s", pid);
  int piddir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (piddir < 0) fail(E_SYSTEM, errno, "container process %s is gone", pid);
  /* The process must be the container's init we were told of (pid reuse), field 22 of stat. */
  int sfd = openat(piddir, "stat", O_RDONLY | O_CLOEXEC);
  char stat[1024] = {0};
  ssize_t n = sfd < 0 ? -1 : read(sfd, stat, sizeof stat - 1);
  if (sfd >= 0) close(sfd);
  char *p = n > 0 ? strrchr(stat, ')') : NULL;
  for (int field = 2; p && field < 22; field++) p = strchr(p + 1, ' ');
  if (!p || strncmp(p + 1, start_time, strlen(start_time)) != 0 || (p[1 + strlen(start_time)] != ' ')) {
    fail(E_SYSTEM, ESRCH, "container process %s is not the one started", pid);
  }
  int ns = openat(piddir, "ns/mnt", O_RDONLY | O_CLOEXEC);
  int root = openat(piddir, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (ns < 0 || root < 0) fail(E_SYSTEM, errno, "cannot reach the container's files: %s", strerror(errno));
  close(piddir);
  open_proc_self_fd();
  if (setns(ns, CLONE_NEWNS) < 0) fail(E_SYSTEM, errno, "cannot join the container's mount namespace: %s", strerror(errno));
  close(ns);
  chroot_to(root);
}

/* mkdir -p of `path` inside `root`, each level resolved in it. */
static void make_dirs(int root, const char *path) {
  char cur[MAX_PATH] = "";
  const char *p = path;
  while (*p) {
    while (*p == '/') p++;
    const char *e = strchrnul(p, '/');
    if (e == p) break;
    char parent[MAX_PATH];
    snprintf(parent, sizeof parent, "%s", cur);
    size_t l = strlen(cur);
    snprintf(cur + l, sizeof cur - l, "/%.*s", (int)(e - p), p);
    int pfd = open_in(root, parent, O_PATH | O_DIRECTORY);
    if (pfd < 0) fail(E_SYSTEM, errno, "cannot prepare mount point %s: %s", path, strerror(errno));
    char name[MAX_PATH];
    snprintf(name, sizeof name, "%.*s", (int)(e - p), p);
    if (mkdirat(pfd, name, 0755) < 0 && errno != EEXIST) fail(E_SYSTEM, errno, "cannot make mount point %s: %s", path, strerror(errno));
    close(pfd);
    p = e;
  }
}

/* A stopped container: its rootfs, with its volumes and binds bound on it in a namespace of our own. */
static void enter_stopped(const char *dir, char **binds, int nbinds) {
  open_proc_self_fd();
  if (unshare(CLONE_NEWNS) < 0) fail(E_SYSTEM, errno, "cannot make a mount namespace: %s", strerror(errno));
  /* Nothing done here may reach the host's mounts. */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail(E_SYSTEM, errno, "cannot make mounts private: %s", strerror(errno));
  /* Opened in the new namespace: a bind must join mounts of the namespace it is made in. */
  int root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) fail(E_SYSTEM, errno, "cannot open the container's rootfs: %s", strerror(errno));
  for (int i = 0; i < nbinds; i++) {
    const char *src = binds[3 * i], *dst = binds[3 * i + 1];
    int ro = strcmp(binds[3 * i + 2], "ro") == 0;
    int sfd = open(src, O_PATH | O_CLOEXEC);
    if (sfd < 0) continue; /* a bind source gone since: the rootfs shows through, as after a failed start */
    struct stat st;
    fstat(sfd, &st);
    int dfd = open_in(root, dst, O_PATH);
    if (dfd < 0 && errno == ENOENT) {
      if (S_ISDIR(st.st_mode)) {
        make_dirs(root, dst);
      } else {
        char parent[MAX_PATH];
        snprintf(parent, sizeof parent, "%s", dst);
        char *slash = strrchr(parent, '/');
        if (slash) *slash = 0;
        make_dirs(root, parent);
        int pfd = open_in(root, parent, O_PATH | O_DIRECTORY);
        int f = pfd < 0 ? -1 : openat(pfd, slash ? slash + 1 : dst, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f >= 0) close(f);
        if (pfd >= 0) close(pfd);
      }
      dfd = open_in(root, dst, O_PATH);
    }
    if (dfd < 0) fail(E_SYSTEM, errno, "cannot reach mount point %s: %s", dst, strerror(errno));
    char from[64], to[64];
    snprintf(from, sizeof from, "/proc/self/fd/%d", sfd);
    snprintf(to, sizeof to, "/proc/self/fd/%d", dfd);
    if (mount(from, to, NULL, MS_BIND | MS_REC, NULL) < 0) fail(E_SYSTEM, errno, "cannot mount %s: %s", dst, strerror(errno));
    close(dfd);
    if (ro) {
      /* The new mount's root, found again through the same path. */
      int mfd = open_in(root, dst, O_PATH);
      snprintf(to, sizeof to, "/proc/self/fd/%d", mfd);
      if (mfd < 0 || mount(NULL, to, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) fail(E_SYSTEM, errno, "cannot make %s read-only: %s", dst, strerror(errno));
      close(mfd);
    }
    close(sfd);
  }
  chroot_to(root);
}

/* ---- stat ----------------------------------------------------------------------------- */

/* The named path, not followed unless `follow` (a trailing `/` or `/.` was given). */
static int open_target(const char *parent, const char *base, int follow, int *pfd_out) {
  int pfd = open_in(rootfd, parent, O_PATH | O_DIRECTORY);
  if (pfd < 0) fail(kind_of(errno), errno, "%s", strerror(errno));
  int fd;
  if (base[0] == 0 || follow) {
    char full[2 * MAX_PATH];
    snprintf(full, sizeof full, "%s/%s", parent, base);
    fd = open_in(rootfd, full, O_PATH);
  } else {
    fd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) fail(kind_of(errno), errno, "%s", strerror(errno));
  if (pfd_out) *pfd_out = pfd;
  else close(pfd);
  return fd;
}

/* 'S': mode, size, mtime, and for a symlink where it leads (resolved in the root, or as written). */
static void send_stat(int fd, int pfd, const char *parent, const char *base, int follow) {
  struct stat st;
  if (fstat(fd, &st) < 0) fail(E_SYSTEM, errno, "%s", strerror(errno));
  char resolved[MAX_PATH] = "", raw[MAX_PATH] = "", parent_path[MAX_PATH] = "";
  if (S_ISLNK(st.st_mode)) {
    ssize_t n = readlinkat(fd, "", raw, sizeof raw - 1);
    raw[n < 0 ? 0 : n] = 0;
    char full[2 * MAX_PATH];
    snprintf(full, sizeof full, "%s/%s", parent, base);
    int t = open_in(rootfd, full, O_PATH);
    if (t >= 0) {
      path_of(t, resolved, sizeof resolved);
      close(t);
    }
    path_of(pfd, parent_path, sizeof parent_path);
  }
  (void)follow;
  buf_t b = {.n = 0};
  put32(&b, st.st_mode);
  put64(&b, (uint64_t)st.st_size);
  put64(&b, (uint64_t)st.st_mtim.tv_sec);
  put32(&b, (uint32_t)st.st_mtim.tv_nsec);
  putstr(&b, resolved);
  putstr(&b, raw);
  putstr(&b, parent_path);
  frame('S', b.b, (uint32_t)b.n);
}

/* ---- archive -------------------------------------------------------------------------- */

#ifndef MQUEUE_MAGIC
#define MQUEUE_MAGIC 0x19800202
#endif

/* Pseudo file systems in a running container's namespace: shown as empty directories. */
static int is_pseudo(int fd) {
  struct statfs s;
  if (fstatfs(fd, &s) < 0) return 0;
  switch ((unsigned long)s.f_type) {
    case PROC_SUPER_MAGIC: case SYSFS_MAGIC: case CGROUP_SUPER_MAGIC: case CGROUP2_SUPER_MAGIC:
    case DEVPTS_SUPER_MAGIC: case MQUEUE_MAGIC: case DEBUGFS_MAGIC: case SECURITYFS_MAGIC:
    case TRACEFS_MAGIC: case BPF_FS_MAGIC: case PSTOREFS_MAGIC:
      return 1;
    default:
      return 0;
  }
}

static void send_header(const char *rel, int fd, const struct stat *st) {
  char link[MAX_PATH] = "";
  if (S_ISLNK(st->st_mode)) {
    ssize_t n = readlinkat(fd, "", link, sizeof link - 1);
    link[n < 0 ? 0 : n] = 0;
  }
  buf_t b = {.n = 0};
  put32(&b, st->st_mode);
  put32(&b, st->st_uid);
  put32(&b, st->st_gid);
  put64(&b, (uint64_t)st->st_mtim.tv_sec);
  put32(&b, (uint32_t)st->st_mtim.tv_nsec);
  put64(&b, S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0);
  put32(&b, major(st->st_rdev));
  put32(&b, minor(st->st_rdev));
  put64(&b, st->st_dev);
  put64(&b, st->st_ino);
  put32(&b, (uint32_t)st->st_nlink);
  putstr(&b, rel);
  putstr(&b, link);
  frame('H', b.b, (uint32_t)b.n);
}

/* A regular file's content: exactly the size announced (a file that shrank is padded with zeros). */
static void send_content(int fd, const struct stat *st) {
  static char buf[CHUNK];
  uint64_t left = (uint64_t)st->st_size;
  int rfd = reopen(fd, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  while (left > 0) {
    size_t want = left < CHUNK ? (size_t)left : CHUNK;
    ssize_t n = rfd < 0 ? 0 : read(rfd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      memset(buf, 0, want);
      n = (ssize_t)want;
    }
    frame('D', buf, (uint32_t)n);
    left -= (uint64_t)n;
  }
  if (rfd >= 0) close(rfd);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void walk(int dirpath_fd, const char *rel, int depth) {
  if (depth > MAX_DEPTH) fail(E_SYSTEM, ELOOP, "%s: directories nested too deep", rel);
  int dfd = reopen(dirpath_fd, O_RDONLY | O_DIRECTORY);
  if (dfd < 0) return; /* unreadable or changed: its entry was sent, its content is skipped */
  DIR *d = fdopendir(dfd);
  if (!d) {
    close(dfd);
    return;
  }
  size_t cap = 64, n = 0;
  char **names = malloc(cap * sizeof *names);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (n == cap) names = realloc(names, (cap *= 2) * sizeof *names);
    names[n++] = strdup(e->d_name);
  }
  qsort(names, n, sizeof *names, by_name);
  for (size_t i = 0; i < n; i++) {
    char child[MAX_PATH];
    if (snprintf(child, sizeof child, "%s%s%s", rel, rel[0] ? "/" : "", names[i]) >= (int)sizeof child) continue;
    int fd = openat(dirfd(d), names[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || S_ISSOCK(st.st_mode)) {
      if (fd >= 0) close(fd);
      continue; /* gone meanwhile, or a socket (tar has none) */
    }
    send_header(child, fd, &st);
    if (S_ISREG(st.st_mode)) send_content(fd, &st);
    else if (S_ISDIR(st.st_mode) && !is_pseudo(fd)) walk(fd, child, depth + 1);
    close(fd);
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  closedir(d);
}

static void archive(const char *parent, const char *base, int follow) {
  int pfd;
  int fd = open_target(parent, base, follow, &pfd);
  send_stat(fd, pfd, parent, base, follow);
  close(pfd);
  struct stat st;
  fstat(fd, &st);
  send_header("", fd, &st);
  if (S_ISREG(st.st_mode)) send_content(fd, &st);
  else if (S_ISDIR(st.st_mode)) walk(fd, "", 0);
  frame('Z', NULL, 0);
}

/* ---- extract -------------------------------------------------------------------------- */

static void read_all(void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(0, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) exit(2); /* the daemon stopped sending: abandoned */
    p += n;
    len -= (size_t)n;
  }
}

typedef struct {
  unsigned char *p, *end;
} rd_t;

static uint32_t get32(rd_t *r) {
  if (r->end - r->p < 4) fail(E_INVALID, 0, "short frame");
  uint32_t v = ((uint32_t)r->p[0] << 24) | ((uint32_t)r->p[1] << 16) | ((uint32_t)r->p[2] << 8) | r->p[3];
  r->p += 4;
  return v;
}
static uint64_t get64(rd_t *r) {
  uint64_t hi = get32(r);
  return (hi << 32) | get32(r);
}
static void getstr(rd_t *r, char *out) {
  if (r->end - r->p < 2) fail(E_INVALID, 0, "short frame");
  size_t len = ((size_t)r->p[0] << 8) | r->p[1];
  r->p += 2;
  if (len >= MAX_PATH || (size_t)(r->end - r->p) < len) fail(E_INVALID, 0, "bad string in frame");
  memcpy(out, r->p, len);
  out[len] = 0;
  r->p += len;
}

static char in_type;
static unsigned char in_buf[CHUNK + MAX_PATH * 2 + 128];
static uint32_t in_len;

static void next_frame(void) {
  unsigned char h[5];
  read_all(h, 5);
  in_type = (char)h[0];
  in_len = ((uint32_t)h[1] << 24) | ((uint32_t)h[2] << 16) | ((uint32_t)h[3] << 8) | h[4];
  if (in_len > sizeof in_buf) fail(E_INVALID, 0, "frame too large");
  read_all(in_buf, in_len);
}

typedef struct dir_meta {
  char rel[MAX_PATH];
  uint32_t mode, uid, gid;
  struct timespec mtime;
  struct dir_meta *next;
} dir_meta;

static int destfd = -1;
static int no_overwrite = 0;
static long chown_uid = -1, chown_gid = -1;
static dir_meta *dirs = NULL;

/* The parent of `rel` inside the destination (symlinks resolved as if it were the root), made if missing. */
static int parent_dir(const char *rel, char *base_out) {
  char parent[MAX_PATH];
  snprintf(parent, sizeof parent, "%s", rel);
  char *slash = strrchr(parent, '/');
  const char *base = slash ? slash + 1 : rel;
  if (slash) *slash = 0;
  else parent[0] = 0;
  snprintf(base_out, MAX_PATH, "%s", base);
  int fd = open_in(destfd, parent, O_PATH | O_DIRECTORY);
  if (fd < 0 && errno == ENOENT) {
    make_dirs(destfd, parent);
    fd = open_in(destfd, parent, O_PATH | O_DIRECTORY);
  }
  if (fd < 0) fail(errno == ENOTDIR ? E_INVALID : E_SYSTEM, errno, "cannot extract %s: %s", rel, strerror(errno));
  return fd;
}

static void remove_tree(int pfd, const char *name) {
  int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    DIR *d = fdopendir(fd);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) remove_tree(dirfd(d), e->d_name);
      else unlinkat(dirfd(d), e->d_name, 0);
    }
    if (d) closedir(d);
    else close(fd);
  }
  if (unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) fail(E_SYSTEM, errno, "cannot remove %s: %s", name, strerror(errno));
}

/* Docker's rule: a directory may replace only a directory (unless allowed); anything else is replaced. */
static int clear_way(int pfd, const char *base, const char *rel, int is_dir) {
  struct stat st;
  if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) return 0;
  if (S_ISDIR(st.st_mode)) {
    if (is_dir) return 1;
    if (no_overwrite) fail(E_OVERWRITE, EEXIST, "cannot overwrite directory \"/%s\" with non-directory \"/%s\"", rel, rel);
    remove_tree(pfd, base);
    return 0;
  }
  if (is_dir && no_overwrite) fail(E_OVERWRITE, EEXIST, "cannot overwrite non-directory \"/%s\" with directory \"/%s\"", rel, rel);
  if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT) {
    /* A file bind-mounted on (a volume file, /etc/hosts): written in place instead. */
    if (errno == EBUSY && S_ISREG(st.st_mode) && !is_dir) return 2;
    fail(E_SYSTEM, errno, "cannot replace %s: %s", rel, strerror(errno));
  }
  return 0;
}

/* chown, chmod and times of what an O_PATH fd names, through /proc/self/fd: never a symlink's target. */
static void set_meta_path(int fd, uint32_t mode, uint32_t uid, uint32_t gid, const struct timespec *mtime, int chmod_too) {
  char name[32];
  snprintf(name, sizeof name, "%d", fd);
  if (fchownat(procfd, name, uid, gid, 0) < 0) fail(E_SYSTEM, errno, "chown: %s", strerror(errno));
  if (chmod_too && fchmodat(procfd, name, mode & 07777, 0) < 0) fail(E_SYSTEM, errno, "chmod: %s", strerror(errno));
  struct timespec ts[2] = {*mtime, *mtime};
  utimensat(procfd, name, ts, 0);
}

static void extract_entry(rd_t *r) {
  char kind = (char)*r->p++;
  uint32_t mode = get32(r), uid = get32(r), gid = get32(r);
  struct timespec mtime = {.tv_sec = (time_t)get64(r)};
  mtime.tv_nsec = get32(r);
  uint64_t size = get64(r);
  uint32_t dmajor = get32(r), dminor = get32(r);
  char rel[MAX_PATH], link[MAX_PATH], base[MAX_PATH];
  getstr(r, rel);
  getstr(r, link);
  if (chown_uid >= 0) {
    uid = (uint32_t)chown_uid;
    gid = (uint32_t)chown_gid;
  }
  int pfd = parent_dir(rel, base);
  if (kind == '5') {
    if (!clear_way(pfd, base, rel, 1) && mkdirat(pfd, base, 0700) < 0 && errno != EEXIST) fail(E_SYSTEM, errno, "mkdir %s: %s", rel, strerror(errno));
    dir_meta *m = calloc(1, sizeof *m);
    snprintf(m->rel, sizeof m->rel, "%s", rel);
    m->mode = mode, m->uid = uid, m->gid = gid, m->mtime = mtime, m->next = dirs;
    dirs = m;
  } else if (kind == '0') {
    int in_place = clear_way(pfd, base, rel, 0) == 2;
    /* In place: non-blocking, so a FIFO swapped in meanwhile fails instead of hanging us. */
    int fd = openat(pfd, base, in_place ? O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC : O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) fail(E_SYSTEM, errno, "create %s: %s", rel, strerror(errno));
    struct stat now;
    if (in_place && (fstat(fd, &now) < 0 || !S_ISREG(now.st_mode) || ftruncate(fd, 0) < 0)) fail(E_SYSTEM, EBUSY, "cannot replace %s", rel);
    uint64_t left = size;
    while (left > 0) {
      next_frame();
      if (in_type != 'd' || in_len > left) fail(E_INVALID, 0, "file data out of step for %s", rel);
      size_t off = 0;
      while (off < in_len) {
        ssize_t n = write(fd, in_buf + off, in_len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(E_SYSTEM, errno, "write %s: %s", rel, strerror(errno));
        off += (size_t)n;
      }
      left -= in_len;
    }
    if (fchown(fd, uid, gid) < 0) fail(E_SYSTEM, errno, "chown %s: %s", rel, strerror(errno));
    if (fchmod(fd, mode & 07777) < 0) fail(E_SYSTEM, errno, "chmod %s: %s", rel, strerror(errno));
    struct timespec ts[2] = {mtime, mtime};
    futimens(fd, ts);
    close(fd);
  } else if (kind == '2') {
    clear_way(pfd, base, rel, 0);
    if (symlinkat(link, pfd, base) < 0) fail(E_SYSTEM, errno, "symlink %s: %s", rel, strerror(errno));
    if (fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) fail(E_SYSTEM, errno, "chown %s: %s", rel, strerror(errno));
    struct timespec ts[2] = {mtime, mtime};
    utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
  } else if (kind == '1') {
    int t = open_in(destfd, link, O_PATH | O_NOFOLLOW);
    if (t < 0) fail(E_INVALID, errno, "invalid hardlink %s -> %s: %s", rel, link, strerror(errno));
    clear_way(pfd, base, rel, 0);
    if (linkat(t, "", pfd, base, AT_EMPTY_PATH) < 0) fail(E_SYSTEM, errno, "link %s: %s", rel, strerror(errno));
    close(t);
  } else if (kind == '3' || kind == '4' || kind == '6') {
    clear_way(pfd, base, rel, 0);
    mode_t type = kind == '3' ? S_IFCHR : kind == '4' ? S_IFBLK : S_IFIFO;
    if (mknodat(pfd, base, type | 0600, makedev(dmajor, dminor)) < 0) fail(E_SYSTEM, errno, "mknod %s: %s", rel, strerror(errno));
    int fd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      set_meta_path(fd, mode, uid, gid, &mtime, 1);
      close(fd);
    }
  }
  close(pfd);
}

/* Directories last, deepest first: their times must not move when their content is written. */
static void finish_dirs(void) {
  for (dir_meta *m = dirs; m; m = m->next) {
    int fd = open_in(destfd, m->rel, O_PATH | O_NOFOLLOW);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) set_meta_path(fd, m->mode, m->uid, m->gid, &m->mtime, 1);
    if (fd >= 0) close(fd);
  }
}

static unsigned long long mount_id(int fd) {
  struct statx sx;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) < 0) return 0;
  return sx.stx_mnt_id;
}

static void extract(const char *dir, int readonly_rootfs) {
  destfd = open_in(rootfd, dir, O_PATH);
  if (destfd < 0) fail(kind_of(errno), errno, "%s", strerror(errno));
  struct stat st;
  if (fstat(destfd, &st) < 0 || !S_ISDIR(st.st_mode)) fail(E_NOT_DIR, ENOTDIR, "extraction point is not a directory");
  int on_root = mount_id(destfd) == mount_id(rootfd);
  struct statvfs vfs;
  int ro = fstatvfs(destfd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
  if (on_root && (ro || readonly_rootfs)) fail(E_ROOTFS_RO, EROFS, "container rootfs is marked read-only");
  if (ro) fail(E_VOLUME_RO, EROFS, "mounted volume is marked read-only");
  frame('K', NULL, 0);
  for (;;) {
    next_frame();
    if (in_type == 'z') break;
    if (in_type != 'h' || in_len < 1) fail(E_INVALID, 0, "unexpected frame");
    rd_t r = {in_buf, in_buf + in_len};
    extract_entry(&r);
  }
  finish_dirs();
  frame('Z', NULL, 0);
}

/* ---- main ----------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  int i = 1;
  if (i + 2 < argc && strcmp(argv[i], "--pid") == 0) {
    enter_running(argv[i + 1], argv[i + 2]);
    i += 3;
  } else if (i + 1 < argc && strcmp(argv[i], "--root") == 0) {
    const char *root = argv[i + 1];
    i += 2;
    int first = i, n = 0;
    while (i + 3 < argc && strcmp(argv[i], "--bind") == 0) {
      /* shift the triple down so binds[] is contiguous */
      argv[first + 3 * n] = argv[i + 1];
      argv[first + 3 * n + 1] = argv[i + 2];
      argv[first + 3 * n + 2] = argv[i + 3];
      n++;
      i += 4;
    }
    enter_stopped(root, argv + first, n);
  } else {
    fail(E_INVALID, 0, "usage: berth-cp --pid PID START | --root DIR [--bind SRC DST ro|rw]... OP ARGS");
  }
  if (i >= argc) fail(E_INVALID, 0, "no operation");
  const char *op = argv[i++];
  if (strcmp(op, "stat") == 0 || strcmp(op, "archive") == 0) {
    if (i + 3 > argc) fail(E_INVALID, 0, "%s needs PARENT BASE FOLLOW", op);
    const char *parent = argv[i], *base = argv[i + 1];
    int follow = strcmp(argv[i + 2], "1") == 0;
    if (strcmp(op, "stat") == 0) {
      int pfd;
      int fd = open_target(parent, base, follow, &pfd);
      send_stat(fd, pfd, parent, base, follow);
      frame('Z', NULL, 0);
    } else {
      archive(parent, base, follow);
    }
    return 0;
  }
  if (strcmp(op, "extract") == 0 && i < argc) {
    const char *dir = argv[i++];
    int readonly_rootfs = 0;
    for (; i < argc; i++) {
      if (strcmp(argv[i], "--no-overwrite-dir-non-dir") == 0) no_overwrite = 1;
      else if (strcmp(argv[i], "--readonly-rootfs") == 0) readonly_rootfs = 1;
      else if (strcmp(argv[i], "--chown") == 0 && i + 1 < argc) {
        if (sscanf(argv[++i], "%ld:%ld", &chown_uid, &chown_gid) != 2) fail(E_INVALID, 0, "bad --chown");
      } else fail(E_INVALID, 0, "unknown option %s", argv[i]);
    }
    extract(dir, readonly_rootfs);
    return 0;
  }
  fail(E_INVALID, 0, "unknown operation %s", op);
  return 1;
}
