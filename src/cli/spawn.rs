//! Running one program and waiting for it, for `tracksd user --reload`
//! (`systemctl reload tracksd.service`).
//!
//! `posix_spawnp` and `waitpid` through the libc crate rather than
//! `std::process::Command`, which this binary uses nowhere else: Command's
//! machinery (pipes, fork/exec fallbacks, environment handling) measured 43 KB of
//! the release binary for this one call; this is about 6 KB.

use std::ffi::CString;
use std::io;

/// Runs `argv[0]` (looked up in `$PATH`) with `argv`, stdin, stdout and stderr
/// inherited, in this process's environment, and waits for it: `Ok(code)` when
/// it exited, `Err` when it could not be started or died of a signal.
pub(crate) fn run(argv: &[&str]) -> io::Result<i32> {
    let invalid = |_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in an argument");
    let args: Vec<CString> = argv
        .iter()
        .map(|a| CString::new(*a).map_err(invalid))
        .collect::<Result<_, _>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            use std::os::unix::ffi::OsStrExt;
            let mut pair = k.as_bytes().to_vec();
            pair.push(b'=');
            pair.extend_from_slice(v.as_bytes());
            CString::new(pair).ok()
        })
        .collect();
    let mut arg_ptrs: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
    arg_ptrs.push(std::ptr::null_mut());
    let mut env_ptrs: Vec<*mut libc::c_char> = env.iter().map(|e| e.as_ptr().cast_mut()).collect();
    env_ptrs.push(std::ptr::null_mut());
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is a NUL-terminated string kept alive by `args` and
    // `env` for the call; both arrays end with a null pointer; no file actions or
    // attributes (null), so the child inherits our descriptors as they are.
    let rc = unsafe {
        libc::posix_spawnp(
            &mut pid,
            arg_ptrs[0],
            std::ptr::null(),
            std::ptr::null(),
            arg_ptrs.as_ptr(),
            env_ptrs.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    let mut status = 0;
    loop {
        // SAFETY: waits for the child just spawned, writing into a local int.
        if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    if libc::WIFEXITED(status) {
        Ok(libc::WEXITSTATUS(status))
    } else {
        Err(io::Error::other(format!(
            "killed by signal {}",
            libc::WTERMSIG(status)
        )))
    }
}
