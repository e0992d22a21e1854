/**
 * berth's default seccomp policy as facts about system calls: which any container may make,
 * which need a capability, which only some architectures have, and which no container may
 * make. The profile builder (default-profile.ts) turns these into an OCI filter; the unit
 * tests check that every x86_64 syscall is decided here exactly once.
 *
 * The reasoning: a container's root should reach only kernel code that acts on the caller's
 * own process, on files it can open, or on state its namespaces already separate. A syscall
 * whose kernel side checks a capability is allowed when the container holds that capability
 * (the filter only spares the kernel the attack surface when it does not). Interfaces that
 * are global to the host, obsolete, or a known springboard for kernel exploits stay closed
 * whatever the capabilities; `--privileged` or `seccomp=unconfined` opens them.
 */

/** Splits a list written one group a line, with `#` comments. */
function names(text: string): readonly string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, ''))
    .join(' ')
    .split(/\s+/)
    .filter(Boolean);
}

/** Any container, whatever its capabilities. */
export const ANY_CONTAINER = names(`
  # files and directories (permissions are the kernel's to check)
  read write open openat openat2 creat close close_range lseek pread64 pwrite64 readv writev
  preadv pwritev preadv2 pwritev2 sendfile splice tee vmsplice copy_file_range
  stat fstat lstat newfstatat statx statfs fstatfs access faccessat faccessat2
  dup dup2 dup3 fcntl flock fsync fdatasync sync syncfs sync_file_range
  truncate ftruncate fallocate fadvise64 readahead cachestat
  getdents getdents64 getcwd chdir fchdir mkdir mkdirat rmdir rename renameat renameat2
  link linkat unlink unlinkat symlink symlinkat readlink readlinkat mknod mknodat
  chmod fchmod fchmodat fchmodat2 chown fchown lchown fchownat umask
  utime utimes utimensat futimesat
  setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr
  removexattr lremovexattr fremovexattr setxattrat getxattrat listxattrat removexattrat
  file_getattr file_setattr name_to_handle_at ioctl
  inotify_init inotify_init1 inotify_add_watch inotify_rm_watch fanotify_mark
  # the caller's own mount namespace, read only
  statmount listmount
  # waiting and event descriptors
  poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2
  eventfd eventfd2 signalfd signalfd4 timerfd_create timerfd_settime timerfd_gettime pipe pipe2
  # never implemented on x86_64: let the kernel answer ENOSYS, as it would without a filter
  epoll_ctl_old epoll_wait_old
  # asynchronous I/O (the older interface; io_uring is below, closed)
  io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents
  # memory of the caller
  mmap mprotect munmap brk mremap msync mincore madvise mlock mlock2 munlock mlockall munlockall
  remap_file_pages membarrier memfd_create memfd_secret pkey_mprotect pkey_alloc pkey_free
  map_shadow_stack mseal process_mrelease
  # processes and threads (clone and clone3 have their own rules)
  fork vfork execve execveat exit exit_group wait4 waitid kill tkill tgkill
  getpid gettid getppid set_tid_address set_robust_list get_robust_list
  futex futex_waitv futex_wake futex_wait futex_requeue rseq restart_syscall
  prctl seccomp pidfd_open pidfd_send_signal getcpu getrandom uname sysinfo times getrusage
  getrlimit setrlimit prlimit64 capget capset set_thread_area get_thread_area
  # tracing: since Linux 4.8 the filter is re-checked after a tracer changes a syscall, so
  # ptrace cannot bypass it; tracing another user's process still needs CAP_SYS_PTRACE
  ptrace process_vm_readv process_vm_writev uretprobe
  # signals and timers
  rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait rt_sigqueueinfo
  rt_tgsigqueueinfo rt_sigsuspend sigaltstack pause alarm getitimer setitimer nanosleep
  clock_nanosleep timer_create timer_settime timer_gettime timer_getoverrun timer_delete
  # reading the clock; adjtimex and clock_adjtime change it only with CAP_SYS_TIME (kernel check)
  time gettimeofday clock_gettime clock_getres adjtimex clock_adjtime
  # credentials, within what the container's capabilities allow
  getuid geteuid getgid getegid getgroups setgroups getresuid getresgid setuid setgid setreuid
  setregid setresuid setresgid setfsuid setfsgid getpgid setpgid getpgrp getsid setsid
  # scheduling of the caller's own processes
  sched_yield sched_setparam sched_getparam sched_setscheduler sched_getscheduler
  sched_get_priority_max sched_get_priority_min sched_rr_get_interval sched_setaffinity
  sched_getaffinity sched_setattr sched_getattr getpriority setpriority ioprio_set ioprio_get
  # sockets (socket itself has its own rule)
  socketpair connect accept accept4 bind listen shutdown sendto recvfrom sendmsg recvmsg
  sendmmsg recvmmsg getsockname getpeername setsockopt getsockopt
  # System V IPC and POSIX message queues, separated by the IPC namespace
  shmget shmat shmctl shmdt semget semop semtimedop semctl msgget msgsnd msgrcv msgctl
  mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr
  # a process restricting itself
  landlock_create_ruleset landlock_add_rule landlock_restrict_self
`);

/**
 * The spellings 32-bit ABIs (x86 and arm, which a 64-bit host also runs) use for calls of the
 * list above: 32-bit ids, 64-bit offsets, time64, multiplexers. No x86_64 number.
 */
export const ANY_CONTAINER_32BIT = names(`
  _llseek _newselect fadvise64_64 fcntl64 fstat64 fstatat64 fstatfs64 lstat64 stat64 statfs64
  ftruncate64 truncate64 sendfile64 mmap2 ipc socketcall recv send waitpid ugetrlimit
  sigprocmask sigreturn
  chown32 fchown32 lchown32 getuid32 geteuid32 getgid32 getegid32 getgroups32 setgroups32
  getresuid32 getresgid32 setresuid32 setresgid32 setreuid32 setregid32 setuid32 setgid32
  setfsuid32 setfsgid32
  clock_gettime64 clock_getres_time64 clock_nanosleep_time64 clock_adjtime64 futex_time64
  io_pgetevents_time64 mq_timedsend_time64 mq_timedreceive_time64 ppoll_time64 pselect6_time64
  recvmmsg_time64 rt_sigtimedwait_time64 sched_rr_get_interval_time64 semtimedop_time64
  timer_gettime64 timer_settime64 timerfd_gettime64 timerfd_settime64 utimensat_time64
`);

/**
 * Allowed only when the container holds the capability. A syscall listed under several
 * capabilities is allowed with any one of them (the kernel accepts either).
 */
export const NEEDS_CAPABILITY: readonly (readonly [capability: string, syscalls: readonly string[]])[] = [
  ['CAP_SYS_ADMIN', names(`
    # mounts and the new mount API
    mount umount2 umount pivot_root open_tree open_tree_attr move_mount fsopen fsconfig fsmount
    fspick mount_setattr quotactl quotactl_fd
    # namespaces: unshare and setns outright, clone and clone3 with any flags
    unshare setns clone clone3
    # host-wide or administrative interfaces
    sethostname setdomainname fanotify_init lookup_dcookie lsm_get_self_attr lsm_set_self_attr
    lsm_list_modules bpf perf_event_open syslog
  `)],
  ['CAP_BPF', ['bpf']],
  ['CAP_PERFMON', ['perf_event_open']],
  ['CAP_SYSLOG', ['syslog']],
  ['CAP_SYS_BOOT', ['reboot']],
  ['CAP_SYS_CHROOT', ['chroot']],
  ['CAP_SYS_MODULE', ['init_module', 'finit_module', 'delete_module']],
  ['CAP_SYS_PACCT', ['acct']],
  ['CAP_SYS_PTRACE', ['kcmp', 'pidfd_getfd', 'process_madvise']],
  ['CAP_SYS_RAWIO', ['iopl', 'ioperm']],
  ['CAP_SYS_TIME', ['settimeofday', 'clock_settime', 'stime', 'clock_settime64']],
  ['CAP_SYS_TTY_CONFIG', ['vhangup']],
  ['CAP_SYS_NICE', ['mbind', 'set_mempolicy', 'get_mempolicy', 'set_mempolicy_home_node']],
  ['CAP_DAC_READ_SEARCH', ['open_by_handle_at']],
];

/** Syscalls only some architectures have, keyed by the Go name of the host architecture. */
export const ARCH_ONLY: readonly (readonly [arches: readonly string[], syscalls: readonly string[]])[] = [
  [['amd64'], ['arch_prctl', 'modify_ldt']],
  [['arm64', 'arm'], ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls']],
  [['ppc64le'], ['sync_file_range2', 'swapcontext']],
  [['s390x'], ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr']],
  [['riscv64'], ['riscv_flush_icache', 'riscv_hwprobe']],
];

/**
 * Closed whatever the capabilities (the default action answers them). Listed so a reader and
 * the tests see that leaving them out was decided, not forgotten.
 */
export const NEVER: readonly (readonly [reason: string, syscalls: readonly string[]])[] = [
  ['the kernel keyring is not namespaced: keys would be shared with the host', ['keyctl', 'add_key', 'request_key']],
  ['loading another kernel', ['kexec_load', 'kexec_file_load']],
  ['host swap', ['swapon', 'swapoff']],
  ['userfaultfd stalls kernel code at chosen points, the usual lever for exploiting kernel races', ['userfaultfd']],
  ['io_uring performs its operations outside this filter and has a long record of kernel bugs', [
    'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  ]],
  ['moves pages of memory between the host\'s NUMA nodes', ['migrate_pages', 'move_pages']],
  ['obsolete, removed or never implemented', [
    'uselib', 'ustat', 'sysfs', '_sysctl', 'create_module', 'get_kernel_syms', 'query_module', 'nfsservctl',
    'getpmsg', 'putpmsg', 'afs_syscall', 'tuxcall', 'security', 'vserver',
  ]],
];

/** personality(2) values a container may set: Linux, 32-bit Linux, each with UNAME26, and the query. */
export const PERSONALITY = {
  PER_LINUX: 0x0,
  PER_LINUX32: 0x0008,
  UNAME26: 0x0020000,
  QUERY: 0xffffffff,
} as const;

/** The namespace flags of clone(2); without CAP_SYS_ADMIN a clone carrying any of them is refused. */
export const CLONE_NAMESPACE_FLAGS =
  0x00020000 /* NEWNS */ | 0x02000000 /* NEWCGROUP */ | 0x04000000 /* NEWUTS */ | 0x08000000 /* NEWIPC */ |
  0x10000000 /* NEWUSER */ | 0x20000000 /* NEWPID */ | 0x40000000; /* NEWNET */

/** Virtual-machine sockets reach the hypervisor host, outside the container's network namespace. */
export const AF_VSOCK = 40;

export const EPERM = 1;
export const ENOSYS = 38;
