//! The request path's side of group commit: handing the catalogue's next write
//! over, and answering the changes it made durable (or refusing them).

use super::{Io, Requests};
use crate::app::App;
use crate::router;

impl<Q> Requests<Q> {
    /// Hands the catalogue's next write over, if one is due.
    pub(super) fn start_write(&mut self, app: &mut App, io: &mut impl Io<Rq = Q>) {
        if let Some(write) = app.tracks.next_write() {
            io.commit(write);
        }
    }

    /// A catalogue write ended: its changes' responses go out (or 503 for every
    /// change not made), and requests parked behind them are routed.
    pub(crate) fn durable<I: Io<Rq = Q>>(
        &mut self,
        (app, io): (&mut App, &mut I),
        version: u64,
        result: std::io::Result<()>,
    ) {
        let released = match app.tracks.written(version, result) {
            Ok(()) => self.held.release(version),
            Err(reason) => {
                let refused = self.held.take_all();
                eprintln!(
                    "tracksd: writing the catalogue failed ({reason}): {} changes refused",
                    refused.len()
                );
                refused
                    .into_iter()
                    .map(|(peer, (p, _))| {
                        let unavailable = crate::tracks::StoreError::Unavailable(String::new());
                        (peer, (p, router::store_error(unavailable)))
                    })
                    .collect()
            }
        };
        for (peer, (p, response)) in released {
            self.reply((app, io), p, response);
            self.unpark((app, io), peer);
        }
        self.start_write(app, io);
    }
}
