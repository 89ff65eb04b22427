//! Time, swappable in tests: quiet hours depend on what time it is for the recipient.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// The current time.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;

    /// When the job queue (which runs on the system clock) should run something due at `at`
    /// on this clock, in milliseconds: as far from the system's now as `at` is from this
    /// clock's. A test's fixed clock then still waits real seconds for a flow's "2s";
    /// `flows simulate`'s virtual clock runs the queue itself and maps `at` to itself.
    fn queue_ms(&self, at: DateTime<Utc>) -> i64 {
        Utc::now().timestamp_millis() + (at - self.now()).num_milliseconds()
    }
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that says what it is told (tests).
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    /// A clock stopped at `t`.
    pub fn at(t: DateTime<Utc>) -> FixedClock {
        FixedClock(Mutex::new(t))
    }
    /// Moves the clock to `t`.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = t;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}
