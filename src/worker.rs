//! A named thread the unit owns: started fallibly (a thread that cannot start is an error the
//! caller reports, not a silent empty thread), joined when dropped, and a panic in it reported
//! as an error with its message instead of being lost.

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
}
