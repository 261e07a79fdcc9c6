//! The strict whole-run accounting of the messages feeders send to the node under test (NUT),
//! per link: a pure module (std only), so `tests/examples.rs` checks the rule itself.
//!
//! Every feeder is connected to the NUT alone, and every message it publishes is meant for the
//! NUT. For each feeder link, exactly:
//!
//! ```text
//! published for the NUT = received by the NUT from it + dropped on that link by the feeder
//!                         (+ its share of what the NUT dropped on arrival)
//! ```
//!
//! The NUT's own drops (over a per-peer budget, say) are counted in total, not per link, so
//! the sum over links must also balance exactly:
//! `sum published = sum received + sum feeder drops + NUT drops`. A message received twice,
//! a message the NUT received that no feeder published, more drops counted than messages
//! (drops counted to other destinations, or of other kinds), or a message that went missing
//! uncounted each make the run fail.

/// One feeder's link to the NUT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Link {
    /// Messages the feeder published for the NUT (for a raw feeder: written onto the stream).
    pub published: u64,
    /// Messages the NUT delivered to its application that came from this feeder.
    pub received: u64,
    /// Of `published`, messages the feeder dropped on this link and never sent (full or
    /// expired send queue, stale schedule); `None` when the feeder cannot count them.
    pub dropped: Option<u64>,
}

/// The accounting of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accounting {
    /// One entry per feeder.
    pub links: Vec<Link>,
    /// New messages the NUT delivered that no feeder link claims (not from a feeder's index
    /// range): must be 0.
    pub received_unattributed: u64,
    /// Messages the NUT delivered more than once: must be 0.
    pub received_twice: u64,
    /// Messages the NUT dropped on arrival, counted by the NUT in total (ours: over the
    /// per-peer signature or byte budgets); `None` for a NUT that counts none (libp2p-gossipsub),
    /// which then must have received everything not dropped by the feeders.
    pub nut_dropped: Option<u64>,
    /// Feeder streams to the NUT closed under them and reopened (informative: anything written
    /// into a closed stream is lost, and then shows as unaccounted).
    pub streams_reopened: Option<u64>,
}

/// The verdict of [`Accounting::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every message is accounted for, exactly.
    Ok,
    /// Some feeder cannot count its drops on the link: nothing can be checked.
    NotCheckable,
    /// The books do not balance; why.
    Violated(String),
}

impl Accounting {
    /// Sum of published over the links.
    pub fn published(&self) -> u64 {
        self.links.iter().map(|l| l.published).sum()
    }

    /// Sum of received over the links, plus the unattributed.
    pub fn received(&self) -> u64 {
        self.links.iter().map(|l| l.received).sum::<u64>() + self.received_unattributed
    }

    /// Sum of the feeders' drops on their links, if every feeder counts them.
    pub fn feeder_dropped(&self) -> Option<u64> {
        self.links.iter().map(|l| l.dropped).sum()
    }

    /// `published - received - feeder drops - NUT drops` (0 when consistent); `None` when
    /// feeder drops cannot be counted.
    pub fn unaccounted(&self) -> Option<i128> {
        let dropped = self.feeder_dropped()?;
        Some(
            i128::from(self.published())
                - i128::from(self.received())
                - i128::from(dropped)
                - i128::from(self.nut_dropped.unwrap_or(0)),
        )
    }

    /// Checks the books, strictly (see the module docs).
    pub fn check(&self) -> Verdict {
        if self.links.iter().any(|l| l.dropped.is_none()) {
            return Verdict::NotCheckable;
        }
        let mut problems = Vec::new();
        if self.received_twice > 0 {
            problems.push(format!("{} messages delivered twice", self.received_twice));
        }
        if self.received_unattributed > 0 {
            problems.push(format!(
                "{} messages received that no feeder published",
                self.received_unattributed
            ));
        }
        for (i, l) in self.links.iter().enumerate() {
            let dropped = l.dropped.unwrap_or(0);
            if l.received + dropped > l.published {
                problems.push(format!(
                    "link {i}: received {} + dropped {dropped} > published {}",
                    l.received, l.published
                ));
            }
        }
        if let Some(unaccounted) = self.unaccounted()
            && unaccounted != 0
        {
            problems.push(format!(
                "published {} != received {} + feeder drops {} + NUT drops {} (unaccounted {unaccounted})",
                self.published(),
                self.received(),
                self.feeder_dropped().unwrap_or(0),
                self.nut_dropped.unwrap_or(0),
            ));
        }
        if problems.is_empty() {
            Verdict::Ok
        } else {
            Verdict::Violated(problems.join("; "))
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        let opt = |v: Option<u64>| v.map_or("n/a".to_owned(), |v| v.to_string());
        let verdict = match self.check() {
            Verdict::Ok => "ok".to_owned(),
            Verdict::NotCheckable => {
                "not checkable (these feeders cannot count their drops per link)".to_owned()
            }
            Verdict::Violated(why) => format!("VIOLATED: {why}"),
        };
        format!(
            "{} links: published {} = received {} + feeder drops on the links {} + NUT drops {} (unaccounted {}): {verdict}; feeder streams reopened {}",
            self.links.len(),
            self.published(),
            self.received(),
            opt(self.feeder_dropped()),
            opt(self.nut_dropped),
            self.unaccounted()
                .map_or("n/a".to_owned(), |u| u.to_string()),
            opt(self.streams_reopened),
        )
    }
}
