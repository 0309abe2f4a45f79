//! The mailbox from the MQTT thread to the hotlist thread, so that a large list is never parsed
//! on the thread that sends hits: bounded, and never blocking the sender for long.
//!
//! Full lists and deltas wait differently ([`admit`], pure): only the newest full list matters
//! (the unit follows the last valid one), so a full list replaces one still waiting; a delta
//! never replaces anything, since a delta lost to a later one leaves the unit behind. At most
//! [`DELTAS`] deltas wait: when one more arrives the oldest is dropped, and the hotlist thread
//! is told, so the unit reports itself behind until a full list. Memory: one full list and
//! [`DELTAS`] deltas, each at most one MQTT message (32 MiB); a 1 % delta of 100,000 entries is
//! about 100 kB.

use crate::sync::lock;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

/// Deltas waiting at once.
pub const DELTAS: usize = 16;

/// What a topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Full,
    Delta,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub kind: Kind,
    pub payload: Vec<u8>,
}

/// Which of the `waiting` messages (their kinds, oldest first) to drop when one of `kind` comes.
fn admit(waiting: &[Kind], kind: Kind) -> Option<usize> {
    match kind {
        Kind::Full => waiting.iter().position(|k| *k == Kind::Full),
        Kind::Delta => {
            let deltas = waiting.iter().filter(|k| **k == Kind::Delta).count();
            (deltas >= DELTAS).then(|| waiting.iter().position(|k| *k == Kind::Delta)).flatten()
        }
    }
}

#[derive(Default)]
struct Inbox {
    waiting: VecDeque<Message>,
    /// Deltas dropped since the hotlist thread last took a message.
    dropped: usize,
}

/// What the hotlist thread gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// The oldest message, and how many deltas were dropped unread before it.
    Message(Message, usize),
    /// Nothing came before the deadline.
    Timeout,
    Stop,
}

#[derive(Default)]
pub struct Mailbox {
    inbox: Mutex<Inbox>,
    stopping: AtomicBool,
    wake: Condvar,
}

impl Mailbox {
    /// Never blocks for long (see the module's doc for what it drops).
    pub fn put(&self, topic: &str, kind: Kind, payload: &[u8]) {
        let mut inbox = lock(&self.inbox);
        let kinds: Vec<Kind> = inbox.waiting.iter().map(|m| m.kind).collect();
        if let Some(dropped) = admit(&kinds, kind).and_then(|at| inbox.waiting.remove(at)) {
            match dropped.kind {
                Kind::Full => tracing::info!(
                    topic = dropped.topic,
                    "a newer hotlist replaced one not yet applied"
                ),
                Kind::Delta => {
                    inbox.dropped += 1;
                    tracing::warn!(
                        topic = dropped.topic,
                        waiting = DELTAS,
                        "hotlist delta dropped unread: too many wait; the unit is behind until a full list"
                    );
                }
            }
        }
        inbox.waiting.push_back(Message {
            topic: topic.to_string(),
            kind,
            payload: payload.to_vec(),
        });
        drop(inbox);
        self.wake.notify_one();
    }

    /// The oldest message, waiting for one until `deadline`.
    pub fn next(&self, deadline: Instant) -> Next {
        let mut inbox = lock(&self.inbox);
        loop {
            if self.stopping.load(Ordering::Relaxed) {
                return Next::Stop;
            }
            if let Some(message) = inbox.waiting.pop_front() {
                return Next::Message(message, std::mem::take(&mut inbox.dropped));
            }
            let now = Instant::now();
            if now >= deadline {
                return Next::Timeout;
            }
            inbox =
                self.wake.wait_timeout(inbox, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_full_list_replaces_a_waiting_one_and_a_delta_only_the_oldest_beyond_the_bound() {
        use Kind::{Delta, Full};
        assert_eq!(admit(&[], Full), None);
        assert_eq!(admit(&[Delta, Full, Delta], Full), Some(1));
        assert_eq!(admit(&[Full, Delta], Delta), None, "a delta never replaces a delta");
        let mut waiting = vec![Full];
        waiting.extend([Delta; DELTAS]);
        assert_eq!(admit(&waiting, Delta), Some(1), "the oldest delta");
        assert_eq!(admit(&waiting[..DELTAS], Delta), None);
    }

    #[test]
    fn messages_come_out_in_order_with_the_count_of_deltas_dropped() {
        let mailbox = Mailbox::default();
        let soon = || Instant::now() + Duration::from_millis(10);
        assert_eq!(mailbox.next(soon()), Next::Timeout);
        mailbox.put("full", Kind::Full, b"old list");
        for i in 0..=DELTAS {
            mailbox.put("delta", Kind::Delta, i.to_string().as_bytes());
        }
        mailbox.put("full", Kind::Full, b"new list");
        let Next::Message(first, dropped) = mailbox.next(soon()) else { panic!("a message") };
        assert_eq!((first.payload.as_slice(), dropped), (&b"1"[..], 1), "delta 0 was dropped");
        let mut rest = Vec::new();
        while let Next::Message(m, _) = mailbox.next(soon()) {
            rest.push(String::from_utf8(m.payload).expect("text"));
        }
        assert_eq!(rest.len(), DELTAS);
        assert_eq!(rest.last().map(String::as_str), Some("new list"));
        mailbox.stop();
        assert_eq!(mailbox.next(soon()), Next::Stop);
    }
}
