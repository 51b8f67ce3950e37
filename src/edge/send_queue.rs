//! What a connection may hold in the kernel's send queue, and what becomes of
//! it: the send buffer and stall timeout every connection gets from the
//! listener, the unsent bytes the backlog bound counts (`peers.rs`), and the
//! abort that drops them when the edge gives a connection up (without these, a
//! client that never reads left orphan sockets holding its responses outside
//! every fd, thread and connection limit).

use super::sockets::{Shut, own_connection, set_option, shut_fd, sock_addr};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// What one connection may hold in the kernel's send queue: `SO_SNDBUF` as
/// asked (Linux doubles it for its bookkeeping, so the queue holds about this
/// many bytes of data). Explicit, it also stops autotuning, which grows a
/// queue to `tcp_wmem`'s 4 MiB for a peer that never reads.
pub(crate) const SEND_BUFFER: usize = 64 * 1024;

/// Bounds what each connection of `listener` may hold in the kernel: a send
/// buffer of `send_buffer` bytes, and `TCP_USER_TIMEOUT` = `stalled`: data the
/// peer has not acknowledged, or cannot take (a zero window), for that long gets
/// the connection reset, its data dropped, even after we closed it (an orphan
/// in FIN-WAIT-1 would otherwise keep it for minutes). Set on the listener,
/// both are copied into every accepted socket (see the test), so the loop never
/// sets anything per connection.
pub(crate) fn limit_kernel_memory(
    listener: &TcpListener,
    send_buffer: usize,
    stalled: Duration,
) -> io::Result<()> {
    let sndbuf = send_buffer.min(i32::MAX as usize) as libc::c_int;
    let ms = stalled.as_millis().min(u32::MAX as u128) as libc::c_uint;
    let fd = listener.as_raw_fd();
    set_option(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &sndbuf)?;
    set_option(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, &ms)
}

/// Bytes written to `fd` that its peer has not acknowledged yet (`TIOCOUTQ`),
/// if `fd` is still the connection from `peer`.
pub(crate) fn unsent_bytes(fd: RawFd, peer: SocketAddr) -> Option<usize> {
    if sock_addr(fd, true)? != peer {
        return None;
    }
    outq(fd)
}

/// Bytes in `fd`'s send queue not acknowledged yet (`TIOCOUTQ`).
pub(super) fn outq(fd: RawFd) -> Option<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: ioctl writes one c_int into a local we own.
    if unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued) } != 0 {
        return None;
    }
    Some(queued.max(0) as usize)
}

/// Makes the last close of `fd`'s socket an abort (`SO_LINGER` on, 0 s: an RST,
/// its send queue dropped) if data is still unsent; returns whether. A socket
/// whose queue is empty keeps its FIN: an RST can destroy a response the peer
/// has received but not read yet. Only for a peer that stopped reading (a write
/// timed out, a cut): what it has not taken is not worth keeping in the kernel.
pub(crate) fn abort_if_unsent(fd: RawFd) -> bool {
    if outq(fd).unwrap_or(0) == 0 {
        return false;
    }
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    set_option(fd, libc::SOL_SOCKET, libc::SO_LINGER, &linger).is_ok()
}

/// Cuts the connections of `peers` to local `port`: each is aborted if it
/// has data unsent ([`abort_if_unsent`]), then shut down both ways so its
/// tiny_http thread ends and closes it. Returns how many. Workers only.
pub(crate) fn cut_connections(peers: &[SocketAddr], port: u16) -> usize {
    let mut cut = 0;
    for peer in peers {
        if let Some(own) = own_connection(*peer, port) {
            abort_if_unsent(own.as_raw_fd());
            shut_fd(own.as_raw_fd(), Shut::Both);
            cut += 1;
        }
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int_option(fd: RawFd, level: libc::c_int, option: libc::c_int) -> libc::c_int {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into the local we own.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                level,
                option,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        v
    }

    #[test]
    fn the_kernel_memory_bounds_reach_accepted_sockets_and_a_cut_with_data_unsent_is_a_reset() {
        use std::io::{Read, Write};
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        limit_kernel_memory(&l, SEND_BUFFER, Duration::from_millis(3000)).unwrap();
        let port = l.local_addr().unwrap().port();
        let client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut server_side, peer) = l.accept().unwrap();
        let fd = server_side.as_raw_fd();
        // Linux doubles the asked size for its bookkeeping.
        assert_eq!(
            int_option(fd, libc::SOL_SOCKET, libc::SO_SNDBUF),
            2 * SEND_BUFFER as i32
        );
        assert_eq!(
            int_option(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT),
            3000
        );
        // A peer that does not read: the send queue stays within the buffer.
        server_side.set_nonblocking(true).unwrap();
        let mut sent = 0;
        while let Ok(n) = server_side.write(&[0u8; 65536]) {
            sent += n;
        }
        assert!(unsent_bytes(fd, peer).unwrap() > 0);
        let unsent = unsent_bytes(fd, peer).unwrap();
        // Twice the buffer, and the kernel lets one write's last segment past it.
        assert!(unsent <= 3 * SEND_BUFFER, "{sent} sent, {unsent} unsent");
        assert_eq!(cut_connections(&[peer], port), 1);
        drop(server_side);
        // The peer sees a reset, not a FIN after part of the data.
        let mut client = client;
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let end = loop {
            match client.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(_) => continue,
                Err(e) => break Err(e.kind()),
            }
        };
        assert_eq!(end, Err(io::ErrorKind::ConnectionReset));

        // With nothing unsent, a cut stays a FIN: the peer reads EOF.
        let mut client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut server_side, peer) = l.accept().unwrap();
        server_side.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        client.read_exact(&mut got).unwrap();
        assert_eq!(cut_connections(&[peer], port), 1);
        drop(server_side);
        assert_eq!(client.read(&mut buf).unwrap(), 0);
    }
}
