//! A work queue with per-key serialisation: a key is never handed to two workers at once, and a
//! key added while it is being processed is handed out again once the worker is done.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Default)]
struct State {
    order: VecDeque<String>,
    queued: HashSet<String>,
    active: HashSet<String>,
    again: HashSet<String>,
    closed: bool,
}

/// The queue.
#[derive(Default)]
pub struct Queue {
    state: Mutex<State>,
    notify: Notify,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a key (no-op when already waiting).
    pub fn add(&self, key: &str) {
        let mut s = self.lock();
        if s.active.contains(key) {
            s.again.insert(key.to_owned());
            return;
        }
        if s.queued.insert(key.to_owned()) {
            s.order.push_back(key.to_owned());
            drop(s);
            self.notify.notify_one();
        }
    }

    /// The next key, or `None` once closed.
    pub async fn next(&self) -> Option<String> {
        loop {
            let notified = self.notify.notified();
            {
                let mut s = self.lock();
                if s.closed {
                    return None;
                }
                if let Some(k) = s.order.pop_front() {
                    s.queued.remove(&k);
                    s.active.insert(k.clone());
                    if !s.order.is_empty() {
                        self.notify.notify_one();
                    }
                    return Some(k);
                }
            }
            notified.await;
        }
    }

    /// Marks a key processed.
    pub fn done(&self, key: &str) {
        let again = {
            let mut s = self.lock();
            s.active.remove(key);
            s.again.remove(key)
        };
        if again {
            self.add(key);
        }
    }

    /// Wakes every waiter with `None`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
    }

    /// Keys waiting.
    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    /// Nothing waiting and nothing being processed.
    pub fn idle(&self) -> bool {
        let s = self.lock();
        s.order.is_empty() && s.active.is_empty()
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_never_active_twice_and_readds_run_after() {
        let q = Queue::default();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await.as_deref(), Some("a"));
        q.add("a"); // while active
        assert_eq!(q.next().await.as_deref(), Some("b"));
        assert!(q.is_empty());
        q.done("a");
        assert_eq!(q.next().await.as_deref(), Some("a"));
        q.close();
        assert_eq!(q.next().await, None);
    }
}
