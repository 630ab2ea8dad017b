//! Node health with hysteresis. One failed request or probe only makes a node *suspect*
//! (avoided while others can serve); it takes `down_after` failures in a row to call it down,
//! and `up_after` successes in a row to bring a down node back, so a flapping node does not
//! bounce in and out of rotation on every probe.

use serde::Serialize;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Not probed yet: not routable until the first probe answers.
    Unknown,
    Up,
    /// Failed recently; used only when no up node can serve.
    Suspect,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Suspect => "suspect",
            Health::Down => "down",
        }
    }

    /// Whether the selector may send requests to a node in this state.
    pub fn routable(self) -> bool {
        matches!(self, Health::Up | Health::Suspect)
    }
}

/// A change of health, returned so the caller can log and count it.
pub type Transition = (Health, Health);

#[derive(Debug, Clone)]
pub struct HealthTracker {
    state: Health,
    failures: u32,
    successes: u32,
    down_after: u32,
    up_after: u32,
}

impl HealthTracker {
    pub fn new(down_after: u32, up_after: u32) -> Self {
        Self {
            state: Health::Unknown,
            failures: 0,
            successes: 0,
            down_after: down_after.max(1),
            up_after: up_after.max(1),
        }
    }

    /// New thresholds from now on; the current state and streaks stay.
    pub fn set_thresholds(&mut self, down_after: u32, up_after: u32) {
        self.down_after = down_after.max(1);
        self.up_after = up_after.max(1);
    }

    pub fn state(&self) -> Health {
        self.state
    }

    /// Whether the next success would change anything: a failure streak is open, or the node
    /// is not up.
    pub fn success_matters(&self) -> bool {
        self.failures > 0 || self.state != Health::Up
    }

    pub fn success(&mut self) -> Option<Transition> {
        self.failures = 0;
        self.successes = self.successes.saturating_add(1);
        let next = match self.state {
            Health::Unknown | Health::Suspect | Health::Up => Health::Up,
            Health::Down if self.successes >= self.up_after => Health::Up,
            Health::Down => Health::Down,
        };
        self.set(next)
    }

    pub fn failure(&mut self) -> Option<Transition> {
        self.successes = 0;
        self.failures = self.failures.saturating_add(1);
        let next = match self.state {
            Health::Unknown | Health::Down => Health::Down,
            Health::Up if self.failures >= self.down_after => Health::Down,
            Health::Up => Health::Suspect,
            Health::Suspect if self.failures >= self.down_after => Health::Down,
            Health::Suspect => Health::Suspect,
        };
        self.set(next)
    }

    /// The node answered, but with an error (a 5xx, an in-band error): avoid it while others
    /// can serve, without counting toward down. One failing request must not take a node,
    /// or a pool whose every node rejects one bad request, out of rotation.
    pub fn soft_failure(&mut self) -> Option<Transition> {
        self.successes = 0;
        let next = match self.state {
            Health::Up => Health::Suspect,
            other => other,
        };
        self.set(next)
    }

    fn set(&mut self, next: Health) -> Option<Transition> {
        let previous = std::mem::replace(&mut self.state, next);
        (previous != next).then_some((previous, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_probe_decides() {
        let mut up = HealthTracker::new(3, 2);
        assert_eq!(up.success(), Some((Health::Unknown, Health::Up)));
        let mut down = HealthTracker::new(3, 2);
        assert_eq!(down.failure(), Some((Health::Unknown, Health::Down)));
    }

    #[test]
    fn one_failure_makes_suspect_and_repeated_failures_down() {
        let mut h = HealthTracker::new(3, 2);
        h.success();
        assert_eq!(h.failure(), Some((Health::Up, Health::Suspect)));
        assert_eq!(h.failure(), None);
        assert_eq!(h.failure(), Some((Health::Suspect, Health::Down)));
        assert_eq!(h.failure(), None);
    }

    #[test]
    fn suspect_recovers_on_one_success_down_needs_several() {
        let mut h = HealthTracker::new(3, 2);
        h.success();
        h.failure();
        assert_eq!(h.success(), Some((Health::Suspect, Health::Up)));
        for _ in 0..3 {
            h.failure();
        }
        assert_eq!(h.state(), Health::Down);
        assert_eq!(h.success(), None);
        assert_eq!(h.success(), Some((Health::Down, Health::Up)));
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let mut h = HealthTracker::new(2, 1);
        h.success();
        h.failure();
        h.success();
        h.failure();
        assert_eq!(h.state(), Health::Suspect);
    }

    #[test]
    fn soft_failures_make_suspect_but_never_down() {
        let mut h = HealthTracker::new(2, 2);
        h.success();
        assert_eq!(h.soft_failure(), Some((Health::Up, Health::Suspect)));
        for _ in 0..5 {
            assert_eq!(h.soft_failure(), None);
        }
        assert!(h.success_matters());
        assert_eq!(h.success(), Some((Health::Suspect, Health::Up)));
        assert!(!h.success_matters());
    }

    #[test]
    fn down_after_one_goes_straight_down() {
        let mut h = HealthTracker::new(1, 1);
        h.success();
        assert_eq!(h.failure(), Some((Health::Up, Health::Down)));
    }
}
