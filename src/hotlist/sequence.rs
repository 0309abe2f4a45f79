//! Which delta applies when, and whether the unit is behind: the order of hotlist updates,
//! decided from version labels alone (pure).
//!
//! MQTT keeps the order of one topic only, and a retained full list arrives again at every
//! subscription, so updates reach a unit out of order: a delta before the list it applies to
//! (the messages its session kept while it was away come before the retained list), an old
//! delta after a newer full list, an old retained list after the deltas that left it behind.
//! Versions are opaque labels, so what is old is known only from what the unit held:
//! - a delta whose base is the version held is applied;
//! - one whose base or result the unit held before (and left) is an **old delta**, ignored;
//! - any other **waits** (at most [`WAITING`], the oldest dropped first): it is applied as soon
//!   as its base is reached, by a delta or a full list. While one waits, the unit is **behind**
//!   (it knows of a version it cannot reach) and says so in its heartbeat;
//! - a full list of a version the unit left *by a delta* is an **old list** (the retained list
//!   the deltas moved on from), ignored; any other valid full list replaces the list, as before,
//!   and is taken as the newest the centre has: the deltas waiting that follow it are applied,
//!   the others dropped, and the unit is no longer behind.
//!
//! A delta whose base is held but that does not apply (its entries do not match the list), and
//! one dropped unread because the mailbox was full, leave the unit behind too, until a full list.

use std::collections::VecDeque;

/// Deltas waiting for their base at once; beyond it, the oldest is dropped (the unit stays
/// behind, and a full list settles it). A 1 % delta of 100,000 entries is about 100 kB.
pub const WAITING: usize = 16;

/// Versions remembered as held before: at a delta every 5 minutes, the last 5 hours, longer
/// than a retained full list lags (hourly) behind the deltas.
pub const HISTORY: usize = 64;

/// A delta that waits for its base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting<D> {
    pub base: String,
    pub version: String,
    pub delta: D,
}

/// Why an update was not applied, though nothing is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    #[error("the delta from `{base}` to `{version}` arrived before any list; it waits for a list of version `{base}`")]
    NoList { base: String, version: String },
    #[error("the unit holds version `{held}` and the delta to `{version}` needs `{base}`: it waits until `{base}` is reached, and the unit is behind (it needs the full list of `{version}`)")]
    Waits { held: String, base: String, version: String },
    #[error("the unit holds version `{held}` and held `{old}` before: the delta from `{base}` to `{version}` is an old one, ignored")]
    OldDelta { held: String, old: String, base: String, version: String },
    #[error("the unit holds version `{held}`, reached from `{version}` by deltas: this full list of `{version}` is an old one, ignored (publish it under a new version to go back to it)")]
    OldList { held: String, version: String },
}

/// What to do with a delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Apply,
    /// Keep it until its base is held ([`Sequence::wait`]).
    Wait(Skip),
    Ignore(Skip),
}

/// How the unit left a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Delta,
    Full,
}

/// What the unit knows of the order of its updates.
#[derive(Debug, Clone)]
pub struct Sequence<D> {
    /// Versions held before, newest last, and how each was left.
    left: VecDeque<(String, By)>,
    waiting: VecDeque<Waiting<D>>,
    /// A version it could not reach other than by waiting: a delta on its base that did not
    /// apply (`Some(version)`), or one dropped unread (`None`).
    missed: Option<Option<String>>,
}

impl<D> Default for Sequence<D> {
    fn default() -> Self {
        Self { left: VecDeque::new(), waiting: VecDeque::new(), missed: None }
    }
}

impl<D> Sequence<D> {
    fn held_before(&self, version: &str) -> bool {
        self.left.iter().any(|(v, _)| v == version)
    }

    /// The step for a delta from `base` to `version`, the unit holding `held`.
    pub fn delta(&self, held: Option<&str>, base: &str, version: &str) -> Step {
        let Some(held) = held else {
            return Step::Wait(Skip::NoList { base: base.into(), version: version.into() });
        };
        if base == held {
            return Step::Apply;
        }
        let old = [version, base].into_iter().find(|v| *v == held || self.held_before(v));
        match old {
            Some(old) => Step::Ignore(Skip::OldDelta {
                held: held.into(),
                old: old.into(),
                base: base.into(),
                version: version.into(),
            }),
            None => Step::Wait(Skip::Waits {
                held: held.into(),
                base: base.into(),
                version: version.into(),
            }),
        }
    }

    /// Why a valid full list of `version` is not taken, the unit holding `held`; `None`: take it.
    pub fn full(&self, held: Option<&str>, version: &str) -> Option<Skip> {
        let held = held.filter(|h| *h != version)?;
        let left_by_delta = self.left.iter().any(|(v, by)| v == version && *by == By::Delta);
        left_by_delta.then(|| Skip::OldList { held: held.into(), version: version.into() })
    }

    /// Keeps a delta that [`Sequence::delta`] said waits; the oldest waiting one is dropped
    /// and returned when [`WAITING`] are.
    pub fn wait(&mut self, base: String, version: String, delta: D) -> Option<Waiting<D>> {
        self.waiting.push_back(Waiting { base, version, delta });
        (self.waiting.len() > WAITING).then(|| self.waiting.pop_front()).flatten()
    }

    /// The list in force went from `from` to `to`.
    pub fn moved(&mut self, from: Option<&str>, to: &str, by: By) {
        if let Some(from) = from.filter(|f| *f != to) {
            self.left.retain(|(v, _)| v != from);
            self.left.push_back((from.to_string(), by));
            if self.left.len() > HISTORY {
                self.left.pop_front();
            }
        }
    }

    /// A waiting delta that applies to `held` now.
    pub fn ready(&mut self, held: &str) -> Option<Waiting<D>> {
        let at = self.waiting.iter().position(|w| w.base == held)?;
        self.waiting.remove(at)
    }

    /// After the updates that follow one another are applied: drops the waiting deltas that
    /// are old now, and after a full list every one left (the list is the newest the centre
    /// has) and what was missed. Returns what it dropped.
    pub fn settle(&mut self, held: &str, after_full: bool) -> Vec<Waiting<D>> {
        if after_full {
            self.missed = None;
            return self.waiting.drain(..).collect();
        }
        let (old, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|w| {
                [w.base.as_str(), w.version.as_str()]
                    .iter()
                    .any(|v| *v == held || self.held_before(v))
            });
        self.waiting = keep.into();
        old
    }

    /// A delta to `version` (`None`: unread) that the unit could not apply and will not wait for.
    pub fn missed(&mut self, version: Option<String>) {
        self.missed = Some(version);
    }

    /// Whether the unit knows of a version it cannot reach.
    pub fn behind(&self) -> bool {
        !self.waiting.is_empty() || self.missed.is_some()
    }

    /// The newest version the unit knows it cannot reach, when it knows its name.
    pub fn wants(&self) -> Option<&str> {
        let missed = || self.missed.as_ref().and_then(|m| m.as_deref());
        self.waiting.back().map(|w| w.version.as_str()).or_else(missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(history: &[(&str, By)]) -> Sequence<()> {
        let mut s = Sequence::default();
        for pair in history.windows(2) {
            s.moved(Some(pair[0].0), pair[1].0, pair[1].1);
        }
        s
    }

    fn waits(held: &str, base: &str, version: &str) -> Step {
        Step::Wait(Skip::Waits { held: held.into(), base: base.into(), version: version.into() })
    }

    #[test]
    fn a_delta_applies_to_its_base_waits_for_an_unknown_one_and_an_old_one_is_ignored() {
        let s = at(&[("v1", By::Full), ("v2", By::Delta), ("v3", By::Delta)]);
        assert_eq!(s.delta(Some("v3"), "v3", "v4"), Step::Apply);
        assert_eq!(s.delta(Some("v3"), "v5", "v6"), waits("v3", "v5", "v6"));
        for (base, version, old) in [("v1", "v2", "v2"), ("v2", "v3", "v3"), ("v1", "v9", "v1")] {
            let step = s.delta(Some("v3"), base, version);
            assert_eq!(
                step,
                Step::Ignore(Skip::OldDelta {
                    held: "v3".into(),
                    old: old.into(),
                    base: base.into(),
                    version: version.into()
                }),
                "{base} to {version}"
            );
        }
        let none = Sequence::<()>::default().delta(None, "v1", "v2");
        assert_eq!(none, Step::Wait(Skip::NoList { base: "v1".into(), version: "v2".into() }));
    }

    #[test]
    fn only_a_list_left_by_a_delta_is_old() {
        // v1 was left for v2 by a full list, v2 for v3 by a delta.
        let s = at(&[("v1", By::Full), ("v2", By::Full), ("v3", By::Delta)]);
        assert_eq!(
            s.full(Some("v3"), "v2"),
            Some(Skip::OldList { held: "v3".into(), version: "v2".into() }),
            "the retained list the deltas moved on from"
        );
        assert_eq!(s.full(Some("v3"), "v1"), None, "an operator going back to a list");
        assert_eq!(s.full(Some("v3"), "v3"), None, "the same version is decided by content");
        assert_eq!(s.full(Some("v3"), "v7"), None);
        assert_eq!(s.full(None, "v2"), None);
    }

    #[test]
    fn deltas_that_came_early_are_applied_in_turn_once_their_base_is_held() {
        let mut s = at(&[("v1", By::Full)]);
        // v3→v4 and v2→v3 arrive before v1→v2.
        for (base, version) in [("v3", "v4"), ("v2", "v3")] {
            assert!(matches!(s.delta(Some("v1"), base, version), Step::Wait(_)));
            assert_eq!(s.wait(base.into(), version.into(), ()), None);
        }
        assert!(s.behind());
        assert_eq!(s.wants(), Some("v3"), "the newest waiting");
        assert_eq!(s.delta(Some("v1"), "v1", "v2"), Step::Apply);
        let mut held = "v1".to_string();
        s.moved(Some(&held), "v2", By::Delta);
        held = "v2".into();
        while let Some(w) = s.ready(&held) {
            s.moved(Some(&held), &w.version, By::Delta);
            held = w.version;
        }
        assert_eq!(held, "v4");
        assert!(s.settle(&held, false).is_empty());
        assert!(!s.behind() && s.wants().is_none());
    }

    #[test]
    fn a_full_list_applies_the_deltas_that_follow_it_and_drops_the_rest() {
        let mut s = at(&[("v1", By::Full)]);
        for (base, version) in [("v5", "v6"), ("v8", "v9"), ("v3", "v4")] {
            s.wait(base.into(), version.into(), ());
        }
        s.moved(Some("v1"), "v5", By::Full);
        let next = s.ready("v5").expect("v5→v6 waited for v5");
        assert_eq!(next.version, "v6");
        s.moved(Some("v5"), "v6", By::Delta);
        assert!(s.ready("v6").is_none());
        let dropped: Vec<String> = s.settle("v6", true).into_iter().map(|w| w.version).collect();
        assert_eq!(dropped, ["v9", "v4"]);
        assert!(!s.behind());
    }

    #[test]
    fn after_a_delta_only_the_waiting_deltas_now_old_are_dropped() {
        let mut s = at(&[("v1", By::Full)]);
        s.wait("v1".into(), "v2".into(), ());
        s.wait("v7".into(), "v8".into(), ());
        s.moved(Some("v1"), "v3", By::Full);
        let dropped = s.settle("v3", false);
        assert_eq!(dropped.len(), 1, "v1→v2 is old once v1 is left");
        assert_eq!(s.wants(), Some("v8"), "v7→v8 still waits");
    }

    #[test]
    fn the_waiting_deltas_are_bounded_and_a_miss_lasts_until_a_full_list() {
        let mut s = Sequence::default();
        for i in 0..WAITING {
            assert_eq!(s.wait(format!("b{i}"), format!("v{i}"), i), None);
        }
        let dropped = s.wait("b".into(), "v".into(), WAITING).expect("the oldest dropped");
        assert_eq!(dropped.delta, 0);
        let mut s = Sequence::<()>::default();
        s.missed(None);
        assert!(s.behind() && s.wants().is_none());
        assert!(s.settle("v1", false).is_empty());
        assert!(s.behind(), "a delta does not make up for a missed one");
        s.missed(Some("v9".into()));
        assert_eq!(s.wants(), Some("v9"));
        s.settle("v9", true);
        assert!(!s.behind());
    }

    #[test]
    fn the_history_is_bounded() {
        let mut s = Sequence::<()>::default();
        for i in 0..HISTORY + 10 {
            s.moved(Some(&format!("v{i}")), &format!("v{}", i + 1), By::Delta);
        }
        assert!(s.full(Some("x"), "v0").is_none(), "forgotten");
        assert!(s.full(Some("x"), &format!("v{}", HISTORY + 9)).is_some());
    }
}
