//! A TCP relay between a client and a broker that a test opens and shuts: how a test makes
//! "everything arrived" a sound check (the client reaches the broker only while the test's
//! subscriber is subscribed there) and how it pulls the cable at a chosen moment.

use std::io::ErrorKind;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A TCP relay from `port` to a broker: open, it relays; shut, it cuts every connection at once
/// (no DISCONNECT, as when a cable is pulled) and refuses new ones.
pub struct Gate {
    pub port: u16,
    open: Arc<Mutex<bool>>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Gate {
    pub fn start(port: u16, upstream: u16, open: bool) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("gate port");
        listener.set_nonblocking(true).expect("nonblocking");
        let gate = Gate {
            port,
            open: Arc::new(Mutex::new(open)),
            streams: Arc::default(),
            stop: Arc::default(),
        };
        let (open, streams, stop) =
            (Arc::clone(&gate.open), Arc::clone(&gate.streams), Arc::clone(&gate.stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    Err(e) => panic!("gate accept: {e}"),
                };
                // Decided under the lock `shut` takes, so no connection slips through a shutting.
                let open = open.lock().expect("lock");
                if !*open {
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                client.set_nonblocking(false).expect("blocking");
                let mut streams = streams.lock().expect("lock");
                for (mut from, mut to) in [
                    (client.try_clone().expect("clone"), server.try_clone().expect("clone")),
                    (server.try_clone().expect("clone"), client.try_clone().expect("clone")),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
                streams.extend([client, server]);
            }
        });
        gate
    }

    pub fn open(&self) {
        *self.open.lock().expect("lock") = true;
    }

    pub fn shut(&self) {
        let mut open = self.open.lock().expect("lock");
        *open = false;
        for stream in self.streams.lock().expect("lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.shut();
    }
}
