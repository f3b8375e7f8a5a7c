//! Pushes raw venue frames into the real pipeline in-process: a venue's
//! protocol (parse, sync, chunking) runs on the caller's thread in place of
//! a feed thread, and its REST snapshot requests are answered by the caller.
//! The venue whose adapter offers one builds it (`VenueAdapter::injector`).

use crate::feed::session::RecordedRequests;
use crate::feed::{Protocol, RestReply};
use crate::pipeline::channel::DepthProbe;

/// An in-process frame injector (benches, soak tests).
pub struct Injector {
    feed: Box<dyn Protocol>,
    requests: RecordedRequests,
    backlog: DepthProbe,
}

impl Injector {
    /// `feed` with an offline REST client whose recorded requests are
    /// `requests`; `backlog` reads the length of the ring `feed` sends into
    /// (for [`Injector::backlog`]).
    pub fn new(feed: Box<dyn Protocol>, requests: RecordedRequests, backlog: DepthProbe) -> Self {
        Injector {
            feed,
            requests,
            backlog,
        }
    }

    /// One frame, stamped as received now.
    #[inline]
    pub fn frame(&mut self, bytes: &[u8]) {
        self.feed.on_frame(bytes, crate::core::now_ns());
    }

    /// Answers the depth-snapshot requests made so far with `body(symbol)`;
    /// returns how many were answered.
    pub fn answer_snapshots(&mut self, mut body: impl FnMut(&str) -> Option<Vec<u8>>) -> usize {
        let reqs: Vec<(String, usize)> = self.requests.lock().drain(..).collect();
        let mut n = 0;
        for (url, tag) in reqs {
            let sym = url
                .split("symbol=")
                .nth(1)
                .and_then(|r| r.split('&').next())
                .unwrap_or("");
            if let Some(b) = body(sym) {
                self.feed.on_rest(RestReply { tag, result: Ok(b) });
                n += 1;
            }
        }
        n
    }

    /// Events waiting in the injector's ring of the feed-to-book queue (for
    /// pacing).
    pub fn backlog(&self) -> usize {
        (self.backlog)()
    }

    /// The periodic work a feed does between frames (pending resyncs).
    pub fn tick(&mut self) {
        self.feed.on_tick(&mut Vec::new());
    }
}
