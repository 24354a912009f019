//! One backoff for everything that tries again: texts, webhook deliveries, message feedback, and a
//! write retried while its lease holds. Exponential: `first`, doubling each attempt, at most `max`;
//! with jitter each delay is between half and all of its step ("equal jitter"), so that the retries
//! of a burst spread out instead of arriving together.

use std::time::Duration;

/// How long to wait before the next try after `attempts` failed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub jitter: bool,
}

impl Backoff {
    /// `first`, doubling up to `max`, without jitter.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            jitter: false,
        }
    }

    /// The same, each delay drawn between half and all of its step.
    pub const fn jittered(self) -> Self {
        Self {
            jitter: true,
            ..self
        }
    }

    /// The step after `attempts` failed tries (1 or more; 0 is taken as 1): `first * 2^(attempts-1)`,
    /// at most `max`.
    pub fn step(&self, attempts: i32) -> Duration {
        let doublings = attempts.clamp(1, 40) as u32 - 1;
        let step = self
            .first
            .checked_mul(1_u32.checked_shl(doublings).unwrap_or(u32::MAX))
            .unwrap_or(self.max);
        step.min(self.max)
    }

    /// The delay after `attempts` failed tries.
    pub fn delay(&self, attempts: i32) -> Duration {
        let step = self.step(attempts);
        if !self.jitter {
            return step;
        }
        let half = step / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// `delay` as a span of time to add to a moment.
    pub fn after(&self, attempts: i32) -> chrono::Duration {
        chrono::Duration::from_std(self.delay(attempts)).unwrap_or(chrono::Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_double_from_the_first_up_to_the_most() {
        let b = Backoff::new(Duration::from_secs(5), Duration::from_secs(12 * 3600));
        let cases = [
            (0, 5),
            (1, 5),
            (2, 10),
            (5, 80),
            (14, 40_960),
            (15, 12 * 3600),
            (i32::MAX, 12 * 3600),
        ];
        for (attempts, seconds) in cases {
            assert_eq!(
                b.delay(attempts),
                Duration::from_secs(seconds),
                "{attempts}"
            );
        }
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_step() {
        let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(600)).jittered();
        for attempts in 1..=12 {
            let step = b.step(attempts);
            for _ in 0..50 {
                let d = b.delay(attempts);
                assert!(d >= step / 2 && d <= step, "{attempts}: {d:?} of {step:?}");
            }
        }
        assert_eq!(b.step(30), Duration::from_secs(600));
    }
}
