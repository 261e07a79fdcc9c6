//! Helpers for unit tests.

use std::time::Instant;

/// The starting instant of a unit test. Tests of the sans-IO router read the clock only here,
/// once, and then move time by adding durations to it.
pub(crate) fn epoch() -> Instant {
    Instant::now()
}
