//! Counter decay: the helpers that turn a half-life-like duration into a decay factor, and
//! the per-interval decay step.

use std::time::Duration;

/// go-libp2p-pubsub's default decay interval.
pub(crate) const DEFAULT_DECAY_INTERVAL: Duration = Duration::from_secs(1);
/// go-libp2p-pubsub's default decay-to-zero limit.
pub(crate) const DEFAULT_DECAY_TO_ZERO: f64 = 0.01;

/// The decay factor that brings a counter from 1 down to the default decay-to-zero limit
/// (`0.01`) after `decay`, when counters decay every `decay_interval`.
///
/// Same as [`score_parameter_decay_with_base`] with `base = 0.01`.
pub fn score_parameter_decay(decay: Duration, decay_interval: Duration) -> f64 {
    score_parameter_decay_with_base(decay, decay_interval, DEFAULT_DECAY_TO_ZERO)
}

/// The decay factor `f` such that `f^n == base`, where `n` is the number of whole decay
/// intervals in `decay` (at least 1): a counter of 1 reaches `base` (normally the
/// `decay_to_zero` parameter) after `decay`.
///
/// As in go, `n` counts whole intervals because decay happens once per interval. A `decay`
/// shorter than one interval (or a zero interval) gives `n = 1`, i.e. `f = base`. The result
/// is only meaningful for `base` in (0, 1); other values are passed through `powf` unchanged.
pub fn score_parameter_decay_with_base(
    decay: Duration,
    decay_interval: Duration,
    base: f64,
) -> f64 {
    let ticks = if decay_interval.is_zero() {
        1
    } else {
        (decay.as_nanos() / decay_interval.as_nanos()).max(1)
    };
    // `ticks` fits an f64 with at most a rounding error, which is irrelevant here.
    base.powf(1.0 / ticks as f64)
}

/// Multiplies `counter` by `factor` `times` times and zeroes it when it falls below
/// `decay_to_zero`. Counters are non-negative, so checking once at the end is the same as
/// checking after every step.
pub(crate) fn decay_counter(counter: &mut f64, factor: f64, times: i32, decay_to_zero: f64) {
    if *counter == 0.0 {
        return;
    }
    *counter *= factor.powi(times);
    // A NaN (only possible with unvalidated parameters) is zeroed too.
    if counter.is_nan() || *counter < decay_to_zero {
        *counter = 0.0;
    }
}
