//! The queue in front of SQLite's one writer, with a fast lane for the webhook.
//!
//! Every SQLite write waits here for its turn at the single write connection. Turns go in
//! arrival order, except that an urgent writer (the webhook's group commit, which a provider
//! is waiting on) goes before every ordinary one already waiting. Without the fast lane an
//! acknowledgement waited behind every turn, send and job update the workers had queued:
//! 3–7 ms typically and up to 47 ms at 500 texts a second (issue 21, docs/benchmarks.md).
//! The batcher is one task, so at most one urgent writer waits at a time and the ordinary
//! ones still get every other turn.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Whose turn it is at the writer.
#[derive(Debug, Default)]
pub struct WriteGate {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Someone holds the turn.
    held: bool,
    urgent: VecDeque<oneshot::Sender<WriteTurn>>,
    ordinary: VecDeque<oneshot::Sender<WriteTurn>>,
}

/// How soon a writer needs its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Someone is waiting on this write (a webhook's acknowledgement).
    Urgent,
    /// Background work: turns, sends, job updates.
    Ordinary,
}

/// The turn at the writer; the next writer's turn starts when this is dropped.
#[derive(Debug)]
pub struct WriteTurn {
    pub since: std::time::Instant,
    gate: Arc<WriteGate>,
}

impl WriteGate {
    /// Waits for the turn. A writer that stops waiting (its future dropped) gives up its
    /// place, and a turn handed to it in that moment passes on to the next writer.
    pub async fn enter(self: &Arc<Self>, priority: Priority) -> WriteTurn {
        let waiting = {
            let mut state = self.state.lock().expect("write gate lock poisoned");
            if !state.held {
                state.held = true;
                return WriteTurn { since: std::time::Instant::now(), gate: self.clone() };
            }
            let (sender, receiver) = oneshot::channel();
            match priority {
                Priority::Urgent => state.urgent.push_back(sender),
                Priority::Ordinary => state.ordinary.push_back(sender),
            }
            receiver
        };
        // The sender is only dropped by `pass_on`, after sending or when the gate is dropped,
        // and the gate lives as long as a turn (which holds it) is out.
        waiting.await.expect("the write gate outlives its waiters")
    }

    /// Hands the turn to the next writer waiting, urgent ones first, or frees it.
    fn pass_on(self: &Arc<Self>) {
        loop {
            let next = {
                let mut state = self.state.lock().expect("write gate lock poisoned");
                match state.urgent.pop_front().or_else(|| state.ordinary.pop_front()) {
                    Some(next) => next,
                    None => {
                        state.held = false;
                        return;
                    }
                }
            };
            match next.send(WriteTurn { since: std::time::Instant::now(), gate: self.clone() }) {
                Ok(()) => return,
                // That writer stopped waiting. The turn is still held: forget this copy
                // (dropping it would pass the turn on a second time) and try the next.
                Err(turn) => std::mem::forget(turn),
            }
        }
    }
}

impl Drop for WriteTurn {
    fn drop(&mut self) {
        self.gate.pass_on();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn order_of(priorities: &[Priority]) -> Vec<usize> {
        let gate = Arc::new(WriteGate::default());
        let first = gate.enter(Priority::Ordinary).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, priority) in priorities.iter().copied().enumerate() {
            let (gate, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _turn = gate.enter(priority).await;
                order.lock().unwrap().push(i);
            }));
            // Each one queued before the next arrives.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    }

    #[tokio::test]
    async fn ordinary_writers_take_turns_in_arrival_order() {
        use Priority::Ordinary;
        assert_eq!(order_of(&[Ordinary, Ordinary, Ordinary]).await, vec![0, 1, 2]);
    }

    #[tokio::test]
    async fn an_urgent_writer_goes_before_ordinary_ones_already_waiting() {
        use Priority::{Ordinary, Urgent};
        assert_eq!(order_of(&[Ordinary, Ordinary, Urgent, Ordinary, Urgent]).await, vec![2, 4, 0, 1, 3]);
    }

    #[tokio::test]
    async fn a_writer_that_stops_waiting_does_not_keep_the_turn() {
        let gate = Arc::new(WriteGate::default());
        let first = gate.enter(Priority::Ordinary).await;
        let impatient = tokio::time::timeout(Duration::from_millis(10), gate.enter(Priority::Urgent)).await;
        assert!(impatient.is_err(), "the turn was held, so the wait timed out");
        let gate2 = gate.clone();
        let next = tokio::spawn(async move { gate2.enter(Priority::Ordinary).await });
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(first);
        let turn = tokio::time::timeout(Duration::from_secs(5), next).await.expect("the turn passed on").unwrap();
        drop(turn);
        // Free again: a new writer enters at once.
        let again = tokio::time::timeout(Duration::from_millis(100), gate.enter(Priority::Ordinary)).await;
        assert!(again.is_ok());
    }
}
