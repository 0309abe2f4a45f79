//! The unit's threads, all [`Worker`]s on its one [`Shutdown`]: stopped and joined however a
//! run ends, an error included. The shutdown is triggered and the signal thread released
//! first, so no join waits for a thread that was never told to stop.

use crate::shutdown::Shutdown;
use crate::worker::Worker;
use anyhow::Context;

pub struct Threads {
    shutdown: Shutdown,
    signals: signal_hook::iterator::Handle,
    workers: Vec<Worker>,
}

impl Threads {
    /// SIGTERM and SIGINT trigger the shutdown, from a thread of their own (a signal handler
    /// may not wake other threads).
    pub fn new(shutdown: &Shutdown) -> anyhow::Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
            .context("installing the signal handlers")?;
        let handle = signals.handle();
        let trigger = shutdown.clone();
        let worker = Worker::spawn("signals", move || {
            if let Some(signal) = signals.forever().next() {
                let name = if signal == SIGINT { "SIGINT" } else { "SIGTERM" };
                tracing::info!(signal = name, "stopping");
                trigger.trigger(name);
            }
        })
        .context("starting the signal thread")?;
        Ok(Self { shutdown: shutdown.clone(), signals: handle, workers: vec![worker] })
    }

    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    pub fn push(&mut self, worker: Worker) {
        self.workers.push(worker);
    }

    /// Stops and joins every thread; a thread that died is the error.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.release();
        for worker in std::mem::take(&mut self.workers) {
            worker.join()?;
        }
        Ok(())
    }

    fn release(&self) {
        self.shutdown.trigger("the daemon stopped");
        self.signals.close();
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        // The workers are joined when the field is dropped, after this.
        self.release();
    }
}
