//! A venue's feed thread: a current-thread tokio runtime driving that venue's
//! connections, optionally pinned to a core.

use super::session::{Protocol, RestReply, SessionConfig, run_session};
use crate::pipeline::shared::Shared;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::{mpsc, watch};

/// One connection to run: its protocol and the receiver of its REST replies.
pub struct Connection {
    pub proto: Box<dyn Protocol>,
    pub rest_rx: mpsc::Receiver<RestReply>,
    pub cfg: SessionConfig,
}

/// Spawns the feed thread for one venue's connections.
pub fn spawn_feed_thread(
    name: &str,
    core: Option<usize>,
    conns: Vec<Connection>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) -> std::io::Result<JoinHandle<()>> {
    crate::pipeline::thread::spawn_stage(name, core, move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the feed runtime");
                return;
            }
        };
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let mut tasks = Vec::new();
            for mut c in conns {
                let shared = shared.clone();
                let stop = stop.clone();
                tasks.push(tokio::task::spawn_local(async move {
                    run_session(c.proto.as_mut(), &mut c.rest_rx, c.cfg, &shared, stop).await;
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        });
    })
}
