//! Typed errors of score parameter and threshold validation.

use crate::types::TopicHash;

/// A peer-score parameter or threshold was invalid. Every variant names the offending field
/// by its Rust field name (the spec's name is given in that field's documentation).
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum ScoreParamsError {
    /// A field of [`PeerScoreParams`](super::PeerScoreParams) (or of a
    /// [`TopicScoreParams`](super::TopicScoreParams) validated on its own) is invalid.
    #[error("invalid peer score parameter `{field}`: {reason}")]
    InvalidField {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A field of the [`TopicScoreParams`](super::TopicScoreParams) of `topic` is invalid.
    #[error("invalid score parameter `{field}` for topic {topic}: {reason}")]
    InvalidTopicField {
        /// The topic whose parameters are invalid.
        topic: TopicHash,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A field of [`PeerScoreThresholds`](super::PeerScoreThresholds) is invalid.
    #[error("invalid peer score threshold `{field}`: {reason}")]
    InvalidThreshold {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl ScoreParamsError {
    /// The name of the offending field.
    pub fn field(&self) -> &'static str {
        match self {
            ScoreParamsError::InvalidField { field, .. }
            | ScoreParamsError::InvalidTopicField { field, .. }
            | ScoreParamsError::InvalidThreshold { field, .. } => field,
        }
    }

    /// Attaches `topic` to an error returned by [`TopicScoreParams::validate`](
    /// super::TopicScoreParams::validate).
    pub(crate) fn in_topic(self, topic: &TopicHash) -> Self {
        match self {
            ScoreParamsError::InvalidField { field, reason } => {
                ScoreParamsError::InvalidTopicField {
                    topic: topic.clone(),
                    field,
                    reason,
                }
            }
            other => other,
        }
    }
}

/// A failed check: the field and why. Converted into a [`ScoreParamsError`] variant by the
/// caller, which knows which struct the field belongs to.
pub(crate) type Check = Result<(), (&'static str, String)>;

/// The largest magnitude of any score parameter (weight, cap, threshold). Every term is a
/// weight times a value of at most a cap, a threshold squared or a peer's event count
/// squared (at most 2^64 events, so 3.4e38), and the topic terms are weighted once more:
/// with every factor within 1e50 the largest term stays below 1e220 and no sum of them can
/// overflow to infinity (an infinite reward plus an infinite penalty is NaN).
pub(crate) const MAX_MAGNITUDE: f64 = 1e50;

/// `value` must be a finite number of magnitude at most [`MAX_MAGNITUDE`].
pub(crate) fn finite(field: &'static str, value: f64) -> Check {
    if value.is_finite() && value.abs() <= MAX_MAGNITUDE {
        Ok(())
    } else {
        Err((
            field,
            format!("must be a finite number of magnitude at most {MAX_MAGNITUDE:e}, got {value}"),
        ))
    }
}

/// `value` must be finite and `>= 0`.
pub(crate) fn non_negative(field: &'static str, value: f64) -> Check {
    finite(field, value)?;
    if value >= 0.0 {
        Ok(())
    } else {
        Err((field, format!("must be >= 0, got {value}")))
    }
}

/// `value` must be finite and `<= 0`.
pub(crate) fn non_positive(field: &'static str, value: f64) -> Check {
    finite(field, value)?;
    if value <= 0.0 {
        Ok(())
    } else {
        Err((field, format!("must be <= 0, got {value}")))
    }
}

/// `value` must be finite and `> 0`.
pub(crate) fn positive(field: &'static str, value: f64) -> Check {
    finite(field, value)?;
    if value > 0.0 {
        Ok(())
    } else {
        Err((field, format!("must be > 0, got {value}")))
    }
}

/// `value` must lie in the open interval (0, 1).
pub(crate) fn unit_open(field: &'static str, value: f64) -> Check {
    finite(field, value)?;
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err((
            field,
            format!("must be in the open interval (0, 1), got {value}"),
        ))
    }
}
