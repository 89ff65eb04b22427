//! Crash safety: kill -9 during a burst, restart, and every message has exactly one outcome.
//! (Filled in below.)
