//! A real MQTT subscriber for the tests: collects what arrives, resubscribing after every
//! reconnection (a restarted broker without persistence has forgotten it).

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// (topic, payload, retained) of each message, in arrival order.
type Received = Arc<Mutex<Vec<(String, Vec<u8>, bool)>>>;

pub struct Subscriber {
    received: Received,
    stop: Arc<AtomicBool>,
    connected: Arc<AtomicBool>,
    /// Subscriptions acknowledged so far: a test waits for one more after restarting a broker.
    subscriptions: Arc<AtomicUsize>,
}

impl Subscriber {
    pub fn start(port: u16, filter: &str) -> Self {
        Self::start_with(port, filter, false, QoS::AtLeastOnce)
    }

    /// With `persistent`, a session the broker keeps across its restarts (what it queued for
    /// the subscriber while it was away arrives after), subscribed at `qos`.
    pub fn start_with(port: u16, filter: &str, persistent: bool, qos: QoS) -> Self {
        // Unique per subscriber: a second client with the same id would take the first one's
        // connection over.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let id =
            format!("test-sub-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(5)).set_max_packet_size(16 << 20, 1 << 20);
        options.set_clean_session(!persistent);
        let (client, mut connection) = Client::new(options, 64);
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let connected = Arc::new(AtomicBool::new(false));
        let subscriptions = Arc::new(AtomicUsize::new(0));
        let (r, s, c, n, filter) = (
            Arc::clone(&received),
            Arc::clone(&stop),
            Arc::clone(&connected),
            Arc::clone(&subscriptions),
            filter.to_string(),
        );
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match connection.recv_timeout(Duration::from_millis(100)) {
                    Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                        let _ = client.try_subscribe(filter.as_str(), qos);
                    }
                    Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                        c.store(true, Ordering::Relaxed);
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                        r.lock().expect("lock").push((
                            p.topic.clone(),
                            p.payload.to_vec(),
                            p.retain,
                        ));
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => {
                        c.store(false, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    Err(rumqttc::RecvTimeoutError::Timeout) => {}
                    Err(rumqttc::RecvTimeoutError::Disconnected) => break,
                }
            }
        });
        let subscriber = Self { received, stop, connected, subscriptions };
        subscriber.wait_subscribed(Duration::from_secs(10));
        subscriber
    }

    pub fn wait_subscribed(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.connected.load(Ordering::Relaxed) {
            assert!(Instant::now() < deadline, "the test subscriber could not subscribe");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn subscriptions(&self) -> usize {
        self.subscriptions.load(Ordering::Relaxed)
    }

    /// Waits until a subscription after the first `before` is acknowledged.
    pub fn wait_subscribed_after(&self, before: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.subscriptions() <= before {
            assert!(Instant::now() < deadline, "the test subscriber could not subscribe again");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn is_subscribed(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// (topic, payload, retained) of everything received so far.
    pub fn received(&self) -> Vec<(String, Vec<u8>, bool)> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits until `done` holds for what was received, or `within` passes.
    pub fn wait_until(
        &self,
        within: Duration,
        done: impl Fn(&[(String, Vec<u8>, bool)]) -> bool,
    ) -> Vec<(String, Vec<u8>, bool)> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if done(&received) || Instant::now() >= deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
