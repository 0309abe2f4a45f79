//! A named thread the unit owns: started fallibly (a thread that cannot start is an error the
//! caller reports, not a silent empty thread), joined when dropped, and a panic in it reported
//! as an error with its message instead of being lost.

use crate::shutdown::Shutdown;
use std::thread::JoinHandle;

pub struct Worker {
    name: String,
    handle: Option<JoinHandle<()>>,
}

/// The thread ended by panicking; its message.
#[derive(Debug, thiserror::Error)]
#[error("the {name} thread died: {message}")]
pub struct Died {
    pub name: String,
    pub message: String,
}

impl Worker {
    pub fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> std::io::Result<Self> {
        let handle = std::thread::Builder::new().name(name.into()).spawn(work)?;
        Ok(Self { name: name.into(), handle: Some(handle) })
    }

    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the thread; how it ended.
    pub fn join(mut self) -> Result<(), Died> {
        self.join_inner()
    }

    fn join_inner(&mut self) -> Result<(), Died> {
        let Some(handle) = self.handle.take() else { return Ok(()) };
        handle.join().map_err(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Died { name: self.name.clone(), message }
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Err(died) = self.join_inner() {
            tracing::error!(%died, "thread ended by a panic");
        }
    }
}

/// A worker on a shutdown of its own, for a part used alone (a test, a tool) rather than by a
/// unit, which runs its workers on its one shutdown: dropping it triggers the shutdown, then
/// joins the thread.
pub struct OwnedWorker {
    shutdown: Shutdown,
    _worker: Worker,
}

impl OwnedWorker {
    pub fn start(
        start: impl FnOnce(&Shutdown) -> std::io::Result<Worker>,
    ) -> std::io::Result<Self> {
        let shutdown = Shutdown::new();
        let worker = start(&shutdown)?;
        Ok(Self { shutdown, _worker: worker })
    }
}

impl Drop for OwnedWorker {
    fn drop(&mut self) {
        // The worker is joined when its field is dropped, after this.
        self.shutdown.trigger("its owner was dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_comes_back_as_an_error_with_its_message() {
        let worker =
            Worker::spawn("doomed", || panic!("the camera driver fell over")).expect("spawn");
        let died = worker.join().expect_err("it panicked");
        assert_eq!(died.to_string(), "the doomed thread died: the camera driver fell over");
        let fine = Worker::spawn("fine", || {}).expect("spawn");
        assert!(fine.join().is_ok());
    }

    #[test]
    fn an_owned_worker_is_stopped_and_joined_when_dropped() {
        let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = std::sync::Arc::clone(&stopped);
        let owned = OwnedWorker::start(|shutdown| {
            let shutdown = shutdown.clone();
            Worker::spawn("waits", move || {
                while !shutdown.wait(std::time::Duration::from_secs(600)) {}
                seen.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        })
        .expect("spawn");
        drop(owned);
        assert!(stopped.load(std::sync::atomic::Ordering::SeqCst), "joined after the stop");
    }
}
