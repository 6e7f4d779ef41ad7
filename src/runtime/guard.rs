//! The guard: a small process that kills the commands a runner leaves behind when it dies.
//!
//! Commands are started with `posix_spawn` (a `vfork`-style clone that copies no page
//! tables), so nothing can run in the child between fork and exec: `PR_SET_PDEATHSIG`, which
//! needs such a hook, would bring back a full fork of the runner for every command, and that
//! fork's cost grows with the runner's memory, so with the size of the run. Instead, the
//! first command of a [`CommandAgent`](super::CommandAgent) forks this guard once. The runner
//! tells it the process group of each command it starts (and of each it has reaped) over a
//! pipe only the runner can write to; when the runner dies, by any signal, the kernel closes
//! that pipe, and the guard kills every process group still registered with SIGKILL and
//! exits. That kills what a running command started in the background too, which
//! `PR_SET_PDEATHSIG` did not.
//!
//! The guard lives in a session of its own, so a signal to the runner's process group
//! (Ctrl-C on a terminal, `kill -- -PGID`) does not take it down before it has done its job.
//! Between a command's spawn and its registration, one `write` of 4 bytes, a runner killed
//! at that instant leaves that command running; a group is released only after its leader
//! is reaped, and its number can only be reused once the kernel's pid counter wraps, which
//! cannot happen in the moment before the guard acts.

use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// Largest pid Linux can hand out on 64-bit systems (`PID_MAX_LIMIT`): the guard's bitmap
/// of registered groups covers every possible group id without allocating after the fork.
const PID_LIMIT: usize = 1 << 22;

/// A running guard process and the runner's end of its pipe.
#[derive(Debug)]
pub(crate) struct Guard {
    /// The runner's end of the pipe; taken only by `drop`.
    pipe: Option<File>,
    pid: Pid,
    /// Cleared when a write fails (the guard was killed): commands are then started with
    /// `PR_SET_PDEATHSIG` instead.
    alive: AtomicBool,
}

impl Guard {
    /// Forks the guard. Everything the child needs is allocated here, before the fork: the
    /// child of a multi-threaded process may only make async-signal-safe calls.
    pub(crate) fn start() -> std::io::Result<Guard> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let mut groups = vec![0u64; PID_LIMIT / 64];
        // SAFETY: the child runs only `watch`, which makes raw system calls (read, kill,
        // close_range, setsid, _exit) on memory allocated before the fork, and never returns.
        match unsafe { nix::unistd::fork() }? {
            nix::unistd::ForkResult::Child => {
                drop(write);
                watch(read, &mut groups)
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(read);
                Ok(Guard {
                    pipe: Some(File::from(write)),
                    pid: child,
                    alive: AtomicBool::new(true),
                })
            }
        }
    }

    /// Whether commands may rely on the guard (it has not been found dead).
    pub(crate) fn alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    /// Registers the process group `group`: killed if the runner dies before releasing it.
    /// False if the guard is gone.
    pub(crate) fn watch(&self, group: Pid) -> bool {
        self.send(group.as_raw())
    }

    /// Releases `group`, whose leader has been reaped.
    pub(crate) fn release(&self, group: Pid) {
        self.send(-group.as_raw());
    }

    fn send(&self, message: i32) -> bool {
        // One 4-byte write is atomic on a pipe, so messages from concurrent attempts never
        // interleave.
        let sent = self
            .pipe
            .as_ref()
            .is_some_and(|mut pipe| pipe.write_all(&message.to_le_bytes()).is_ok());
        if !sent {
            self.alive.store(false, Ordering::Relaxed);
        }
        sent
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Closing the pipe is the guard's signal; it kills what is still registered (nothing,
        // after a run that reaped its commands) and exits.
        drop(self.pipe.take());
        let _ = waitpid(self.pid, None);
    }
}

/// The guard's whole life: read registrations until the runner's end of the pipe closes,
/// then kill what is registered.
fn watch(read: OwnedFd, groups: &mut [u64]) -> ! {
    let fd = read.as_raw_fd();
    // SAFETY: raw async-signal-safe system calls on plain integers and on memory allocated
    // before the fork; see `Guard::start`.
    unsafe {
        libc::setsid();
        // Hold none of the runner's files (its stdout, sockets, database): only the pipe.
        libc::dup2(fd, 0);
        close_from_1();
        let mut buf = [0u8; 4096];
        let mut have = 0usize;
        loop {
            let n = libc::read(0, buf[have..].as_mut_ptr().cast(), buf.len() - have);
            if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if n <= 0 {
                break;
            }
            have += n as usize;
            let whole = have - have % 4;
            for message in buf[..whole].chunks_exact(4) {
                let message = i32::from_le_bytes([message[0], message[1], message[2], message[3]]);
                let group = message.unsigned_abs() as usize;
                if group == 0 || group >= PID_LIMIT {
                    continue;
                }
                let bit = 1u64 << (group % 64);
                if message > 0 {
                    groups[group / 64] |= bit;
                } else {
                    groups[group / 64] &= !bit;
                }
            }
            buf.copy_within(whole..have, 0);
            have -= whole;
        }
        for (word, bits) in groups.iter().enumerate() {
            let mut bits = *bits;
            while bits != 0 {
                let group = word * 64 + bits.trailing_zeros() as usize;
                libc::kill(-(group as libc::pid_t), libc::SIGKILL);
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
}
