//! Stage threads: named, optionally pinned to a core (skipped with a warning
//! when the machine lacks it), and the mark a stage puts on its timed work
//! (views for the ops API, answers to its queries) so that work can be told
//! apart from the per-message work that must not allocate
//! (`tests/no_alloc_engine.rs`).

use std::cell::Cell;
use std::thread::JoinHandle;

thread_local! {
    static TIMED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` as this thread's timed work: publishing a view for the ops API
/// or answering a query, at most every few tens of milliseconds whatever
/// the message rate (not per message).
#[inline]
pub fn timed_work<R>(f: impl FnOnce() -> R) -> R {
    let outer = TIMED.with(|t| t.replace(true));
    let r = f();
    TIMED.with(|t| t.set(outer));
    r
}

/// Whether this thread is inside [`timed_work`] now. Allocation-free (a
/// global allocator may call it).
#[inline]
pub fn in_timed_work() -> bool {
    TIMED.try_with(Cell::get).unwrap_or(false)
}

/// Pins the current thread to `core` if the machine has it; returns whether it did.
pub fn pin_current(stage: &str, core: Option<usize>) -> bool {
    let Some(core) = core else { return false };
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    match ids.into_iter().find(|c| c.id == core) {
        Some(id) => {
            let ok = core_affinity::set_for_current(id);
            if !ok {
                tracing::warn!(stage, core, "could not pin thread to core");
            }
            ok
        }
        None => {
            tracing::warn!(
                stage,
                core,
                available = std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1),
                "core not present on this machine; thread left unpinned"
            );
            false
        }
    }
}

/// Spawns a named stage thread, pinned as configured.
pub fn spawn_stage<F>(name: &str, core: Option<usize>, f: F) -> std::io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let stage = name.to_string();
    std::thread::Builder::new()
        .name(format!("qt-{name}"))
        .spawn(move || {
            pin_current(&stage, core);
            f()
        })
}
