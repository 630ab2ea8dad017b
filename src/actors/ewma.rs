//! Exponentially weighted moving average of durations: recent samples count most, so a node
//! that slows down is noticed within a few requests, while one outlier does not swing routing.

use std::time::Duration;

/// Weight of the newest sample.
const ALPHA: f64 = 0.3;

#[derive(Debug, Clone, Copy, Default)]
pub struct Ewma {
    seconds: Option<f64>,
}

impl Ewma {
    pub fn observe(&mut self, sample: Duration) {
        let s = sample.as_secs_f64();
        self.seconds = Some(match self.seconds {
            None => s,
            Some(prev) => ALPHA * s + (1.0 - ALPHA) * prev,
        });
    }

    pub fn get(&self) -> Option<Duration> {
        self.seconds.map(Duration::from_secs_f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_is_the_value_then_it_moves_toward_new_samples() {
        let mut e = Ewma::default();
        assert_eq!(e.get(), None);
        e.observe(Duration::from_millis(100));
        assert_eq!(e.get(), Some(Duration::from_millis(100)));
        e.observe(Duration::from_millis(200));
        let v = e.get().unwrap().as_secs_f64();
        assert!((v - 0.13).abs() < 1e-9, "{v}");
    }
}
