//! One shutdown token for the whole unit, in the manner of mini-redis: every thread holds a
//! clone, checks it between units of work, and waits on it instead of sleeping, so a stop
//! (SIGTERM, a dead capture, the end of a recording) reaches a thread in the middle of a
//! 10-second backoff at once rather than when the backoff is over.

use crate::sync::lock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
pub struct Shutdown(Arc<Inner>);

/// What a thread that waits on a condition variable of its own runs to be woken.
type Wake = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Inner {
    triggered: AtomicBool,
    /// Why, for the log line of whoever stops last, and when: a stop has a time budget
    /// (systemd's TimeoutStopSec) that counts from the request, not from when a busy thread
    /// first notices it.
    reason: Mutex<Option<(String, Instant)>>,
    lock: Mutex<()>,
    wake: Condvar,
    /// Run once, at the trigger.
    wakes: Mutex<Vec<Wake>>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every holder to stop; the first reason given is kept.
    pub fn trigger(&self, reason: &str) {
        lock(&self.0.reason).get_or_insert_with(|| (reason.to_string(), Instant::now()));
        {
            let _guard = lock(&self.0.lock);
            self.0.triggered.store(true, Ordering::SeqCst);
            self.0.wake.notify_all();
        }
        for wake in std::mem::take(&mut *lock(&self.0.wakes)) {
            wake();
        }
    }

    /// Runs `wake` at the trigger, or now if it came already: for a thread that waits on a
    /// condition variable of its own (a mailbox), which [`Shutdown::wait`]'s does not reach.
    pub fn on_trigger(&self, wake: impl FnOnce() + Send + 'static) {
        let mut wakes = lock(&self.0.wakes);
        if self.is_triggered() {
            drop(wakes);
            wake();
        } else {
            wakes.push(Box::new(wake));
        }
    }

    pub fn is_triggered(&self) -> bool {
        self.0.triggered.load(Ordering::SeqCst)
    }

    pub fn reason(&self) -> Option<String> {
        lock(&self.0.reason).as_ref().map(|(reason, _)| reason.clone())
    }

    /// How long ago the stop was first asked for; `None` before.
    pub fn asked_since(&self) -> Option<Duration> {
        lock(&self.0.reason).as_ref().map(|(_, at)| at.elapsed())
    }

    /// Sleeps for `wait`, or less when the shutdown comes first; true when it did.
    pub fn wait(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut guard = lock(&self.0.lock);
        loop {
            if self.is_triggered() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = match self.0.wake.wait_timeout(guard, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown").field("triggered", &self.is_triggered()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_wait_ends_when_the_shutdown_comes() {
        let shutdown = Shutdown::new();
        let waiter = shutdown.clone();
        let started = Instant::now();
        let thread = std::thread::spawn(move || waiter.wait(Duration::from_secs(600)));
        std::thread::sleep(Duration::from_millis(50));
        shutdown.trigger("test");
        shutdown.trigger("a second reason is not kept");
        assert!(thread.join().expect("join"), "the wait saw the shutdown");
        assert!(started.elapsed() < Duration::from_secs(600));
        assert_eq!(shutdown.reason().as_deref(), Some("test"));
        assert!(shutdown.wait(Duration::from_secs(600)), "and every later wait returns at once");
    }

    #[test]
    fn a_wake_runs_once_at_the_trigger_or_at_once_after_it() {
        let shutdown = Shutdown::new();
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&woken);
        shutdown.on_trigger(move || {
            count.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(woken.load(Ordering::SeqCst), 0, "not before the trigger");
        shutdown.trigger("test");
        shutdown.trigger("again");
        assert_eq!(woken.load(Ordering::SeqCst), 1, "once");
        let count = Arc::clone(&woken);
        shutdown.on_trigger(move || {
            count.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(woken.load(Ordering::SeqCst), 2, "registered late: run at once");
    }

    #[test]
    fn without_a_shutdown_a_wait_lasts_its_time() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.wait(Duration::from_millis(20)));
        assert!(!shutdown.is_triggered());
        assert_eq!(shutdown.asked_since(), None);
    }

    #[test]
    fn the_stop_is_timed_from_its_first_request() {
        let shutdown = Shutdown::new();
        shutdown.trigger("SIGTERM");
        std::thread::sleep(Duration::from_millis(30));
        shutdown.trigger("a later request does not restart the clock");
        let since = shutdown.asked_since().expect("asked");
        assert!(since >= Duration::from_millis(30), "{since:?}");
    }
}
