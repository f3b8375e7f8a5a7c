//! The desk's parking: private events and REST trades that arrive before
//! their order (or instrument) is known are kept, bounded
//! ([`super::MAX_PARKED`], the oldest evicted and counted), and applied as
//! soon as their order is known. Never dropped silently.

use super::{Desk, Parked};
use std::collections::VecDeque;

impl Desk {
    /// Parks a frame whose symbol is not in the table.
    pub fn park_frame(&mut self, frame: &[u8]) {
        self.park(Parked::Frame(frame.to_vec()));
    }

    pub(super) fn park(&mut self, p: Parked) {
        if self.parked.len() >= super::MAX_PARKED {
            self.parked.pop_front();
            self.m.parked("evicted", self.parked.len());
        }
        self.parked.push_back(p);
        self.m.parked("parked", self.parked.len());
    }

    /// Frames parked for unknown symbols (the caller retries them when the
    /// table can know them; the table is fixed for a run today).
    pub fn parked_len(&self) -> usize {
        self.parked.len()
    }

    /// Applies what was parked and can be applied now.
    pub(super) fn retry_parked(&mut self) {
        if self.parked.is_empty() {
            return;
        }
        let mut keep = VecDeque::with_capacity(self.parked.len());
        let mut applied = Vec::new();
        for p in self.parked.drain(..) {
            let ready = match &p {
                Parked::Events { client_id, .. } => self.orders.contains_key(client_id),
                Parked::Trade { venue_order_id, .. } => {
                    self.by_venue_id.contains_key(venue_order_id)
                }
                Parked::Frame(_) => false,
            };
            if ready {
                applied.push(p);
            } else {
                keep.push_back(p);
            }
        }
        self.parked = keep;
        for p in applied {
            self.m.parked("applied", self.parked.len());
            match p {
                Parked::Events { client_id, events } => self.apply(&client_id, &events),
                Parked::Trade {
                    venue_order_id,
                    event,
                    ..
                } => {
                    if let Some(cid) = self.by_venue_id.get(&venue_order_id).cloned() {
                        self.apply(&cid, &[event]);
                    }
                }
                Parked::Frame(_) => {}
            }
        }
    }
}
