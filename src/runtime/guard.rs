//! The guard: a small process that kills the commands a runner leaves behind when it dies.
//!
//! Commands are started with `posix_spawn` (a `vfork`-style clone that copies no page
//! tables), so nothing can run in the child between fork and exec: `PR_SET_PDEATHSIG`, which
//! needs such a hook, would bring back a full fork of the runner for every command, and that
//! fork's cost grows with the runner's memory, so with the size of the run. Instead, the
//! first command of a [`CommandAgent`](super::CommandAgent) forks this guard once. The runner
//! marks the process group of each command it starts (and clears it once the command is
//! reaped) in a bitmap both processes map (`MAP_SHARED`): one atomic instruction per
//! command, no system call and no wake-up of the guard, which costs nothing while the run
//! goes well. The guard sleeps on a pipe only the runner holds open; when the runner dies,
//! by any signal, the kernel closes that pipe, and the guard kills every process group
//! still marked with SIGKILL and exits. That kills what a running command started in the
//! background too, which `PR_SET_PDEATHSIG` did not.
//!
//! The guard lives in a session of its own, so a signal to the runner's process group
//! (Ctrl-C on a terminal, `kill -- -PGID`) does not take it down before it has done its job.
//! Between a command's spawn and its mark, a runner killed at that instant leaves that
//! command running; a group is cleared only after its leader is reaped, and its number can
//! only be reused once the kernel's pid counter wraps, which cannot happen in the moment
//! before the guard acts.

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Largest pid Linux can hand out on 64-bit systems (`PID_MAX_LIMIT`): the bitmap of marked
/// groups covers every possible group id, 512 KiB of address space whose pages are only
/// touched where pids fall.
const PID_LIMIT: usize = 1 << 22;

/// A running guard process, the runner's end of its pipe, and the bitmap they share.
#[derive(Debug)]
pub(crate) struct Guard {
    /// The runner's end of the pipe, never written to: its closing is the signal. Taken
    /// only by `drop`.
    pipe: Option<File>,
    pid: Pid,
    groups: SharedBits,
    /// Cleared once the guard is found to have exited (someone killed it): commands are
    /// then started with `PR_SET_PDEATHSIG` instead.
    alive: AtomicBool,
}

impl Guard {
    /// Forks the guard. Everything the child needs is allocated here, before the fork: the
    /// child of a multi-threaded process may only make async-signal-safe calls.
    pub(crate) fn start() -> std::io::Result<Guard> {
        let groups = SharedBits::new(PID_LIMIT)?;
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        // SAFETY: the child runs only `watch`, which makes raw system calls (read, kill,
        // close_range, setsid, _exit) and atomic loads on memory mapped before the fork, and
        // never returns.
        match unsafe { nix::unistd::fork() }? {
            nix::unistd::ForkResult::Child => {
                drop(write);
                watch(read, &groups)
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(read);
                Ok(Guard {
                    pipe: Some(File::from(write)),
                    pid: child,
                    groups,
                    alive: AtomicBool::new(true),
                })
            }
        }
    }

    /// Whether commands may rely on the guard (it has not been found dead).
    pub(crate) fn alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    /// Marks the process group `group`: killed if the runner dies before releasing it.
    /// False if the guard is gone (then the mark protects nothing).
    pub(crate) fn watch(&self, group: Pid) -> bool {
        self.groups.set(group.as_raw() as usize, true);
        // One non-blocking `waitpid`: a guard killed by someone else is a zombie child of
        // the runner until reaped here.
        match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => true,
            _ => {
                self.alive.store(false, Ordering::Relaxed);
                false
            }
        }
    }

    /// Releases `group`, whose leader has been reaped.
    pub(crate) fn release(&self, group: Pid) {
        self.groups.set(group.as_raw() as usize, false);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Closing the pipe is the guard's signal; it kills what is still marked (nothing,
        // after a run that reaped its commands) and exits.
        drop(self.pipe.take());
        if self.alive() {
            let _ = waitpid(self.pid, None);
        }
    }
}

/// A bitmap in memory shared with the processes forked after it was made (`MAP_SHARED`),
/// set and read with atomic operations.
#[derive(Debug)]
struct SharedBits {
    words: NonNull<AtomicU64>,
    len: usize,
}

// SAFETY: the memory is only ever accessed through atomics.
unsafe impl Send for SharedBits {}
// SAFETY: as above.
unsafe impl Sync for SharedBits {}

impl SharedBits {
    /// `bits` bits, all clear.
    fn new(bits: usize) -> std::io::Result<SharedBits> {
        let len = bits.div_ceil(64);
        // SAFETY: a fresh anonymous mapping, zero-filled by the kernel; checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len * 8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let words = NonNull::new(ptr.cast::<AtomicU64>()).expect("mmap gave a non-null address");
        Ok(SharedBits { words, len })
    }

    fn words(&self) -> &[AtomicU64] {
        // SAFETY: `len` words mapped by `new`, alive until `drop`.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr(), self.len) }
    }

    /// Sets or clears bit `bit`; a bit past the end (no pid can be there) is ignored.
    fn set(&self, bit: usize, on: bool) {
        let Some(word) = self.words().get(bit / 64) else {
            return;
        };
        let mask = 1u64 << (bit % 64);
        if on {
            word.fetch_or(mask, Ordering::SeqCst);
        } else {
            word.fetch_and(!mask, Ordering::SeqCst);
        }
    }
}

impl Drop for SharedBits {
    fn drop(&mut self) {
        // SAFETY: the mapping made by `new`; no reference to it outlives `self`.
        unsafe {
            libc::munmap(self.words.as_ptr().cast(), self.len * 8);
        }
    }
}

/// The guard's whole life: sleep until the runner's end of the pipe closes, then kill
/// every group marked in `groups`.
fn watch(read: OwnedFd, groups: &SharedBits) -> ! {
    let fd = read.as_raw_fd();
    // SAFETY: raw async-signal-safe system calls on plain integers, and atomic loads of
    // memory mapped before the fork; see `Guard::start`.
    unsafe {
        libc::setsid();
        // Hold none of the runner's files (its stdout, sockets, database): only the pipe.
        libc::dup2(fd, 0);
        close_from_1();
        let mut buf = [0u8; 64];
        loop {
            let n = libc::read(0, buf.as_mut_ptr().cast(), buf.len());
            if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            // Nothing is ever written: only the end of the file comes (or an error).
            if n <= 0 {
                break;
            }
        }
        for (word, bits) in groups.words().iter().enumerate() {
            let mut bits = bits.load(Ordering::SeqCst);
            while bits != 0 {
                let group = word * 64 + bits.trailing_zeros() as usize;
                if group != 0 {
                    libc::kill(-(group as libc::pid_t), libc::SIGKILL);
                }
                bits &= bits - 1;
            }
        }
        libc::_exit(0)
    }
}

/// Closes every file descriptor but 0 (async-signal-safe).
unsafe fn close_from_1() {
    // SAFETY: closing descriptors is async-signal-safe; the guard uses none but 0.
    unsafe {
        #[cfg(target_os = "linux")]
        if libc::syscall(libc::SYS_close_range, 1u32, u32::MAX, 0u32) == 0 {
            return;
        }
        for fd in 1..1024 {
            libc::close(fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    fn sleeper() -> std::process::Child {
        Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap()
    }

    fn alive(child: &mut std::process::Child) -> bool {
        // Signal 0 reaches a zombie too: reap first, then ask.
        child.try_wait().unwrap().is_none()
    }

    #[test]
    fn a_closed_pipe_kills_the_registered_groups_and_only_those() {
        let guard = Guard::start().unwrap();
        let (mut watched, mut released) = (sleeper(), sleeper());
        let pid = |c: &std::process::Child| Pid::from_raw(c.id() as i32);
        assert!(guard.watch(pid(&watched)));
        assert!(guard.watch(pid(&released)));
        guard.release(pid(&released));
        assert!(guard.alive());
        // What a runner's death does: the pipe closes.
        drop(guard);
        let status = watched.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        assert!(alive(&mut released), "a released group was killed");
        released.kill().unwrap();
        released.wait().unwrap();
    }

    /// A guard someone killed is noticed at the next command, which then is not counted
    /// as guarded (the caller falls back to `PR_SET_PDEATHSIG`).
    #[test]
    fn a_killed_guard_is_noticed() {
        let guard = Guard::start().unwrap();
        let mut child = sleeper();
        assert!(guard.watch(Pid::from_raw(child.id() as i32)));
        nix::sys::signal::kill(guard.pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while guard.alive() && std::time::Instant::now() < deadline {
            guard.watch(Pid::from_raw(child.id() as i32));
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!guard.alive());
        assert!(!guard.watch(Pid::from_raw(child.id() as i32)));
        // Dropping a dead guard neither hangs nor kills anything.
        drop(guard);
        assert!(alive(&mut child));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
