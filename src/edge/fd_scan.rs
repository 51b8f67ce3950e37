//! Our open descriptors, listed through a handle on /proc/self/fd opened at start.
//!
//! At the fd limit (a flood reaching the unit's `LimitNOFILE`) nothing can be
//! opened, /proc/self/fd included: a scan that then saw no connection would miss
//! the stuck ones whose recycle is the way out (tests/thread_limit.rs). So the
//! directory is opened once, before any client comes, and each scan rewinds it
//! and reads it again: procfs lists the descriptor table as it is at each read.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

/// The handle; a mutex because a rewind and its reads must not interleave
/// between two workers scanning at once.
static DIR: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// Opens the handle (once per process image; it is close-on-exec).
pub(crate) fn open() -> std::io::Result<()> {
    // SAFETY: open(2) on a NUL-terminated path; the result is owned below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/fd".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    *DIR.lock().unwrap_or_else(|p| p.into_inner()) = Some(owned);
    Ok(())
}

/// This process's open descriptors, read through the handle (or, before
/// [`open`], by opening the directory).
pub(crate) fn open_fds() -> Vec<RawFd> {
    let dir = DIR.lock().unwrap_or_else(|p| p.into_inner());
    let Some(dir) = dir.as_ref() else {
        return std::fs::read_dir("/proc/self/fd").map_or(Vec::new(), |d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        });
    };
    let fd = dir.as_raw_fd();
    let mut fds = Vec::new();
    // u64s: linux_dirent64 records are 8-byte aligned.
    let mut buf = [0u64; 2048];
    // SAFETY: lseek on a descriptor we own.
    if unsafe { libc::lseek(fd, 0, libc::SEEK_SET) } != 0 {
        return fds;
    }
    loop {
        // SAFETY: getdents64 writes at most `len` bytes into the live buffer.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd,
                buf.as_mut_ptr(),
                std::mem::size_of_val(&buf),
            )
        };
        if n <= 0 {
            return fds;
        }
        // SAFETY: the kernel filled the first `n` bytes; viewing u64s as bytes is sound.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
        fds.extend(entries(bytes));
    }
}

/// The numeric names in a getdents64 buffer: records of d_ino (8 bytes),
/// d_off (8), d_reclen (2), d_type (1), then the NUL-terminated name.
fn entries(bytes: &[u8]) -> impl Iterator<Item = RawFd> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at + 19 <= bytes.len() {
            let len = u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
            let record = bytes.get(at..at + len.max(19))?;
            at += len.max(19);
            let name = &record[19..];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if let Some(fd) = std::str::from_utf8(name).ok().and_then(|s| s.parse().ok()) {
                return Some(fd);
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_sees_descriptors_opened_after_it_and_not_those_closed() {
        open().unwrap();
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let raw = file.as_raw_fd();
        assert!(open_fds().contains(&raw));
        drop(file);
        assert!(!open_fds().contains(&raw));
        assert!(open_fds().contains(&0) || open_fds().len() > 1);
    }
}
