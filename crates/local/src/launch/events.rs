//! Reading a helper's events, for one-shot calls, the pool and sessions
//! alike: what every caller must do with them (record init, keep the
//! cgroups) happens here; the rest is handed on.

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::net::unix::OwnedReadHalf;

use crate::cgroup::Groups;
use crate::protocol::Event;
use crate::registry::Guard;

pub(crate) struct Events {
    lines: Lines<BufReader<OwnedReadHalf>>,
    /// The sandbox's cgroups, removed when dropped.
    pub(crate) cgroups: Groups,
}

impl Events {
    pub(crate) fn new(socket: OwnedReadHalf) -> Self {
        Events {
            lines: BufReader::new(socket).lines(),
            cgroups: Groups::default(),
        }
    }

    /// The next event but `Init` and `Cgroups`, which are recorded in
    /// `guard` and here; `None` once the helper closed the socket.
    /// Cancel-safe: a line is either taken whole or left.
    pub(crate) async fn next(&mut self, guard: &Guard) -> Option<Event> {
        loop {
            let line = self.lines.next_line().await.ok()??;
            match serde_json::from_str::<Event>(&line) {
                Ok(Event::Init { pid }) => guard.set_init(pid),
                Ok(Event::Cgroups { dirs }) => self.cgroups = Groups(dirs),
                Ok(event) => return Some(event),
                Err(_) => {}
            }
        }
    }
}
