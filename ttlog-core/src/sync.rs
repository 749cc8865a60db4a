//! The atomics the ring is built from: `std`'s in normal builds, loom's under
//! `RUSTFLAGS="--cfg loom"` so that the model checker can explore every
//! interleaving of the ring's producer and readers (see `tests/loom_ring.rs`).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering, fence};
