//! The queue in front of SQLite's one writer, with a fast lane for the webhook.
//!
//! Every SQLite write waits here for its turn at the single write connection. Turns go in
//! arrival order, except that an urgent writer (the webhook's group commit, which a provider
//! is waiting on) goes before the ordinary ones already waiting. Without the fast lane an
//! acknowledgement waited behind every turn, send and job update the workers had queued:
//! 3–7 ms typically and up to 47 ms at 500 texts a second (issue 21, docs/benchmarks.md).
//! After an urgent turn an ordinary writer that is waiting goes next, so urgent writers
//! cannot starve the rest however many there are.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
    /// The turn held (or last held) was an urgent one.
    last_urgent: bool,
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
    /// `None` only in a turn that was never handed over (see `pass_on`).
    gate: Option<Arc<WriteGate>>,
}

impl WriteGate {
    /// Waits for the turn. A writer that stops waiting (its future dropped) gives up its
    /// place, and a turn handed to it in that moment passes on to the next writer.
    pub async fn enter(self: &Arc<Self>, priority: Priority) -> WriteTurn {
        let waiting = {
            let mut state = self.lock();
            if !state.held {
                state.held = true;
                state.last_urgent = priority == Priority::Urgent;
                return WriteTurn { gate: Some(self.clone()) };
            }
            let (sender, receiver) = oneshot::channel();
            match priority {
                Priority::Urgent => state.urgent.push_back(sender),
                Priority::Ordinary => state.ordinary.push_back(sender),
            }
            receiver
        };
        // A sender is dropped unsent only with the gate, which every turn and waiter's
        // queue entry keeps alive through the turn that is out.
        waiting.await.expect("the write gate outlives its waiters")
    }

    /// No code panics while holding the lock, but a turn is given back in `Drop`, where a
    /// second panic would abort: a poisoned lock's state is used as it is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands the turn to the next writer waiting (urgent ones first, but never two urgent
    /// turns in a row while an ordinary writer waits), or frees it.
    fn pass_on(self: &Arc<Self>) {
        loop {
            let next = {
                let mut state = self.lock();
                let ordinary_first = state.last_urgent && !state.ordinary.is_empty();
                let next = if ordinary_first {
                    state.ordinary.pop_front().map(|s| (s, false))
                } else {
                    state
                        .urgent
                        .pop_front()
                        .map(|s| (s, true))
                        .or_else(|| state.ordinary.pop_front().map(|s| (s, false)))
                };
                match next {
                    Some((sender, urgent)) => {
                        state.last_urgent = urgent;
                        sender
                    }
                    None => {
                        state.held = false;
                        return;
                    }
                }
            };
            match next.send(WriteTurn { gate: Some(self.clone()) }) {
                Ok(()) => return,
                // That writer stopped waiting. The turn is still held: this copy must not
                // pass it on a second time when dropped, so it lets go of the gate first.
                Err(mut unsent) => unsent.gate = None,
            }
        }
    }
}

impl Drop for WriteTurn {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.pass_on();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Whether a writer would get the turn at once (within 20 ms).
    async fn free(gate: &Arc<WriteGate>) -> bool {
        tokio::time::timeout(Duration::from_millis(20), gate.enter(Priority::Ordinary)).await.is_ok()
    }

    /// The order in which writers arriving with `priorities` (each queued before the next
    /// arrives) get the turn, all having waited behind one that held it.
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
                tokio::task::yield_now().await;
            }));
            // Let it run until it waits in the queue (single-threaded test runtime).
            tokio::task::yield_now().await;
        }
        assert!(order.lock().unwrap().is_empty(), "nobody got the turn while it was held");
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
        assert_eq!(order_of(&[Ordinary, Ordinary, Urgent, Ordinary]).await, vec![2, 0, 1, 3]);
    }

    #[tokio::test]
    async fn urgent_writers_alternate_with_waiting_ordinary_ones() {
        use Priority::{Ordinary, Urgent};
        assert_eq!(order_of(&[Urgent, Urgent, Urgent, Ordinary, Ordinary]).await, vec![0, 3, 1, 4, 2]);
    }

    #[tokio::test]
    async fn a_held_turn_keeps_others_out_until_it_is_dropped() {
        let gate = Arc::new(WriteGate::default());
        let turn = gate.enter(Priority::Urgent).await;
        assert!(!free(&gate).await);
        drop(turn);
        assert!(free(&gate).await);
    }

    #[tokio::test]
    async fn a_writer_that_stops_waiting_does_not_keep_the_turn() {
        let gate = Arc::new(WriteGate::default());
        let first = gate.enter(Priority::Ordinary).await;
        // Queued, then gone before its turn came.
        assert!(tokio::time::timeout(Duration::from_millis(10), gate.enter(Priority::Urgent)).await.is_err());
        let gate2 = gate.clone();
        let next = tokio::spawn(async move { gate2.enter(Priority::Ordinary).await });
        tokio::task::yield_now().await;
        drop(first);
        let turn = tokio::time::timeout(Duration::from_secs(5), next).await.expect("the turn passed on").unwrap();
        // Passed on exactly once: the gone writer's turn did not free the gate as well.
        assert!(!free(&gate).await);
        drop(turn);
        assert!(free(&gate).await);
    }

    #[tokio::test]
    async fn a_turn_handed_to_a_writer_that_then_leaves_passes_on() {
        let gate = Arc::new(WriteGate::default());
        let first = gate.enter(Priority::Ordinary).await;
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter(Priority::Ordinary).await }
        });
        tokio::task::yield_now().await;
        // The turn is sent to the waiter, which is stopped before it can take it.
        drop(first);
        waiter.abort();
        let _ = waiter.await;
        assert!(free(&gate).await, "the turn in the dropped waiter's channel went back");
    }
}
