//! The request path's hands: what it does outside itself, as one trait.

use super::super::flow::{Pending, Reply};
use crate::http::{Body, Response};
use crate::passwords::PasswordCheck;
use crate::track_file::PendingWrite;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// What the request path does outside itself. Each call returns at once;
/// what takes time is done elsewhere and comes back later.
pub(crate) trait Io {
    /// A request as the HTTP layer hands it over.
    type Rq;
    /// A body the HTTP layer has in memory already (no socket read).
    fn preread(&mut self, rq: &mut Self::Rq, limit: usize) -> Body;
    /// Reads `p`'s body elsewhere, then [`super::Requests::answer`]; or gives `p`
    /// back when nothing can take it now.
    fn read_body(
        &mut self,
        p: Pending<Self::Rq>,
        limit: usize,
    ) -> Result<(), Box<Pending<Self::Rq>>>;
    /// Checks a password elsewhere, then `answer` with the verdict set; or
    /// gives `p` back when the queue is full.
    fn check_password(
        &mut self,
        check: PasswordCheck,
        p: Box<Pending<Self::Rq>>,
    ) -> Result<(), Box<Pending<Self::Rq>>>;
    /// Runs the catalogue's next write elsewhere, then [`super::Requests::durable`].
    fn commit(&mut self, write: PendingWrite);
    /// Drops a request unanswered (elsewhere, if that may block).
    fn discard(&mut self, rq: Self::Rq);
    /// Writes here; asked only when that cannot block. Whether it all went out.
    fn write_here(&mut self, rq: Self::Rq, response: Response) -> bool;
    /// Writes elsewhere, then [`super::Requests::written`].
    fn write_elsewhere(&mut self, reply: Reply<Self::Rq>);
    /// Looks up the connections' descriptors, then [`super::Requests::scanned`].
    fn scan(&mut self);
    /// Shuts `peer`'s connection down (its queued replies are dropped here).
    fn cut(&mut self, peer: SocketAddr);
    /// A request opened a new connection.
    fn new_connection(&mut self);
    /// Whether `bytes` fit `fd`'s send queue; `None` if `fd` is not `peer`'s.
    fn room_to_write(&self, fd: RawFd, peer: SocketAddr, bytes: usize) -> Option<bool>;
    /// What `fd`'s send queue still holds; `None` if `fd` is not `peer`'s.
    fn unsent(&self, fd: RawFd, peer: SocketAddr) -> Option<usize>;
}
