//! Failed admin logins, counted per username and per client address, so that passwords
//! cannot be guessed at speed: after `FREE_FAILURES` failures within `WINDOW`, each further
//! attempt is refused (429 with `Retry-After`) until a delay has passed, a delay that doubles
//! with each lockout up to `MAX_DELAY`. A successful login clears its username's and its
//! address's counts. Per username catches guesses spread over many addresses, per address
//! one client trying many usernames.
//!
//! An attempt is counted when it starts, before its password is checked (which takes a
//! while, by design of the hash): attempts sent in parallel cannot all slip under the limit.
//! Counts live in the replica's memory; each replica of a fleet counts on its own.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Failures allowed within `WINDOW` before a lockout.
pub const FREE_FAILURES: u32 = 5;
/// Failures older than this (since the last one) are forgotten.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The first lockout's length; each next one doubles it.
pub const FIRST_DELAY: Duration = Duration::from_secs(2);
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Usernames and addresses tracked at most: beyond, stale ones are dropped, and while every
/// one is recent, new ones go untracked (their other subject, address or username, still is).
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    User(String),
    Addr(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
    lockouts: u32,
    locked_until: Option<Instant>,
}

impl Record {
    fn stale(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last) > WINDOW
            && self.locked_until.is_none_or(|until| until <= now)
    }
}

#[derive(Debug, Default)]
pub struct LoginGuard {
    records: Mutex<HashMap<Subject, Record>>,
}

impl LoginGuard {
    /// An attempt starting: refused with how long to wait while its username or address is
    /// locked out; otherwise counted as a failure until `succeeded` says otherwise.
    pub fn attempt(
        &self,
        username: &str,
        addr: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        let subjects = subjects(username, addr);
        let Ok(mut records) = self.records.lock() else {
            return Ok(());
        };
        let wait = subjects
            .iter()
            .filter_map(|s| records.get(s)?.locked_until)
            .filter_map(|until| until.checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        if records.len() >= MAX_TRACKED {
            records.retain(|_, r| !r.stale(now));
        }
        for subject in subjects {
            let room = records.len() < MAX_TRACKED;
            let fresh = Record {
                failures: 0,
                last: now,
                lockouts: 0,
                locked_until: None,
            };
            let record = match records.get_mut(&subject) {
                Some(r) if r.stale(now) => {
                    *r = fresh;
                    r
                }
                Some(r) => r,
                None if room => records.entry(subject).or_insert(fresh),
                None => continue,
            };
            record.failures = record.failures.saturating_add(1);
            record.last = now;
            if record.failures >= FREE_FAILURES {
                record.lockouts = record.lockouts.saturating_add(1);
                record.locked_until = Some(now + delay(record.lockouts));
            }
        }
        Ok(())
    }

    /// The attempt's password was right: its username and address start again from nothing.
    pub fn succeeded(&self, username: &str, addr: Option<IpAddr>) {
        if let Ok(mut records) = self.records.lock() {
            for subject in subjects(username, addr) {
                records.remove(&subject);
            }
        }
    }
}

fn subjects(username: &str, addr: Option<IpAddr>) -> Vec<Subject> {
    std::iter::once(Subject::User(username.to_owned()))
        .chain(addr.map(Subject::Addr))
        .collect()
}

/// The `n`th lockout's length (from 1).
fn delay(n: u32) -> Duration {
    let doublings = n.saturating_sub(1).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    fn fail_times(guard: &LoginGuard, user: &str, addr: Option<IpAddr>, n: u32, now: Instant) {
        for _ in 0..n {
            assert_eq!(guard.attempt(user, addr, now), Ok(()));
        }
    }

    #[test]
    fn five_failures_lock_out_for_a_growing_delay() {
        let guard = LoginGuard::default();
        let t0 = Instant::now();
        fail_times(&guard, "ada", ADDR, FREE_FAILURES, t0);
        assert_eq!(guard.attempt("ada", ADDR, t0), Err(FIRST_DELAY));
        let t1 = t0 + FIRST_DELAY;
        assert_eq!(guard.attempt("ada", ADDR, t1), Ok(()), "the delay passed");
        assert_eq!(guard.attempt("ada", ADDR, t1), Err(FIRST_DELAY * 2));
        assert_eq!(delay(40), MAX_DELAY);
    }

    #[test]
    fn usernames_and_addresses_are_locked_apart() {
        let guard = LoginGuard::default();
        let now = Instant::now();
        let other = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 9)));
        fail_times(&guard, "ada", ADDR, FREE_FAILURES, now);
        assert!(guard.attempt("ada", other, now).is_err(), "the username");
        assert!(guard.attempt("bob", ADDR, now).is_err(), "the address");
        assert_eq!(guard.attempt("bob", other, now), Ok(()));
    }

    #[test]
    fn a_success_and_a_quiet_window_reset_the_count() {
        let guard = LoginGuard::default();
        let now = Instant::now();
        fail_times(&guard, "ada", ADDR, FREE_FAILURES - 1, now);
        guard.succeeded("ada", ADDR);
        fail_times(&guard, "ada", ADDR, FREE_FAILURES - 1, now);
        let later = now + WINDOW + Duration::from_secs(1);
        fail_times(&guard, "ada", ADDR, FREE_FAILURES - 1, later);
    }
}
