//! The loop's side of group commit: handing the catalogue's next write to the
//! writer thread, and answering the changes it made durable (or refusing them).

use super::super::events::Event;
use super::HandlerLoop;
use crate::router;

impl HandlerLoop<'_> {
    /// Hands the catalogue's next write to the writer thread, if one is due.
    pub(super) fn start_write(&mut self) {
        if let Some(write) = self.app.tracks.next_write() {
            self.writer.submit(Box::new(move || {
                let result = crate::edge::panics::catch_quietly(|| write.run())
                    .unwrap_or_else(|| Err(std::io::Error::other("the write panicked")));
                Some(Event::Durable(write.version(), result))
            }));
        }
    }

    /// A write ended: its changes' responses go out (or 503 for every change
    /// not made), and requests parked behind them are routed.
    pub(super) fn on_durable(&mut self, version: u64, result: std::io::Result<()>) {
        let released = match self.app.tracks.written(version, result) {
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
            self.reply(p, response);
            self.unpark(peer);
        }
        self.start_write();
    }
}
