//! The `RuntimeDefault` seccomp profile, shaped like containerd's and Docker's default
//! (moby `profiles/seccomp/default.json`): everything not allowed fails with `EPERM`;
//! an allow-list of ordinary syscalls; `personality` only with the usual personas;
//! `clone` without namespace flags and `clone3` answered `ENOSYS` (so libc falls back to
//! `clone`, whose flags can be checked) unless the container has `CAP_SYS_ADMIN`; and
//! the syscalls that need a capability allowed only when the container has it.
//! Names the kernel or libseccomp do not know are skipped by libcontainer.

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder, LinuxSeccompOperator, LinuxSyscall};

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// Allowed whatever the capabilities.
const ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir", "chmod", "chown", "chown32",
    "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create",
    "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark",
    "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr",
    "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync",
    "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat",
    "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
    "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
    "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
    "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
    "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
    "ioprio_set", "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
    "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek",
    "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
    "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget",
    "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open",
    "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
    "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64",
    "ptrace", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
    "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
    "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop",
    "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
    "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
    "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown",
    "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socket", "socketcall", "socketpair", "splice", "stat", "stat64",
    "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
    "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
    "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork",
    "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
];

/// x86 only.
const X86_ONLY: &[&str] = &["arch_prctl", "modify_ldt"];

/// Syscalls allowed only with a capability (moby's `includes.caps`).
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie", "mount", "mount_setattr",
            "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog",
            "umount", "umount2", "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["delete_module", "init_module", "finit_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_PTRACE", &["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    ("CAP_SYS_NICE", &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// `CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP`.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// Personas `personality` may set (linux, linux32, uname26 and their query).
const PERSONAS: &[u64] = &[0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

fn rule(names: &[&str], action: LinuxSeccompAction) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names.iter().map(|n| n.to_string()).collect());
    s.set_action(action);
    s
}

fn arg(index: usize, value: u64, value_two: Option<u64>, op: LinuxSeccompOperator) -> LinuxSeccompArg {
    let mut b = LinuxSeccompArgBuilder::default().index(index).value(value).op(op);
    if let Some(v) = value_two {
        b = b.value_two(v);
    }
    b.build().unwrap_or_default()
}

/// The default profile for a container with these (`CAP_`-prefixed) capabilities.
pub fn default_profile(caps: &[String]) -> LinuxSeccomp {
    let has = |c: &str| caps.iter().any(|x| x == c);
    let mut rules = vec![rule(ALLOWED, LinuxSeccompAction::ScmpActAllow)];
    if cfg!(any(target_arch = "x86_64", target_arch = "x86")) {
        rules.push(rule(X86_ONLY, LinuxSeccompAction::ScmpActAllow));
    }
    for p in PERSONAS {
        let mut r = rule(&["personality"], LinuxSeccompAction::ScmpActAllow);
        r.set_args(Some(vec![arg(0, *p, None, LinuxSeccompOperator::ScmpCmpEq)]));
        rules.push(r);
    }
    if !has("CAP_SYS_ADMIN") {
        let mut clone = rule(&["clone"], LinuxSeccompAction::ScmpActAllow);
        // s390 swaps clone's first two arguments; everywhere else flags are argument 0.
        clone.set_args(Some(vec![arg(0, CLONE_NAMESPACE_FLAGS, Some(0), LinuxSeccompOperator::ScmpCmpMaskedEq)]));
        rules.push(clone);
        let mut clone3 = rule(&["clone3"], LinuxSeccompAction::ScmpActErrno);
        clone3.set_errno_ret(Some(ENOSYS));
        rules.push(clone3);
    }
    for (cap, names) in BY_CAPABILITY {
        if has(cap) {
            rules.push(rule(names, LinuxSeccompAction::ScmpActAllow));
        }
    }
    let mut s = LinuxSeccomp::default();
    s.set_default_action(LinuxSeccompAction::ScmpActErrno);
    s.set_default_errno_ret(Some(EPERM));
    s.set_architectures(Some(architectures()));
    s.set_syscalls(Some(rules));
    s
}

fn architectures() -> Vec<Arch> {
    if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else {
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(p: &LinuxSeccomp, name: &str) -> Vec<LinuxSyscall> {
        p.syscalls().clone().unwrap_or_default().into_iter().filter(|s| s.names().iter().any(|n| n == name)).collect()
    }

    #[test]
    fn the_default_profile_denies_what_it_does_not_list() {
        let p = default_profile(&["CAP_CHOWN".into()]);
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(EPERM));
        let cases: &[(&str, bool)] = &[("read", true), ("execve", true), ("mount", false), ("unshare", false), ("reboot", false), ("kexec_load", false), ("chroot", false)];
        for (name, want) in cases {
            let allow = allowed(&p, name).iter().any(|r| r.action() == LinuxSeccompAction::ScmpActAllow);
            assert_eq!(allow, *want, "{name}");
        }
        let clone = allowed(&p, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].args().as_ref().map(|a| a[0].value()), Some(CLONE_NAMESPACE_FLAGS));
        assert_eq!(allowed(&p, "clone3")[0].errno_ret(), Some(ENOSYS));
    }

    #[test]
    fn capabilities_open_their_syscalls() {
        let p = default_profile(&["CAP_SYS_ADMIN".into(), "CAP_SYS_CHROOT".into()]);
        for name in ["mount", "unshare", "setns", "chroot"] {
            assert!(allowed(&p, name).iter().any(|r| r.action() == LinuxSeccompAction::ScmpActAllow), "{name}");
        }
        assert!(allowed(&p, "clone").iter().all(|r| r.args().is_none()), "clone unrestricted with CAP_SYS_ADMIN");
        assert!(allowed(&p, "clone3").iter().all(|r| r.action() == LinuxSeccompAction::ScmpActAllow));
    }
}
