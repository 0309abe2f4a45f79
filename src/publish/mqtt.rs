//! The MQTT edge: a rumqttc client whose connection runs on its own thread, fed from the
//! [`Outbox`] so that nothing is lost while the broker is away.
//!
//! Topics (`<prefix>` is `anpr` by default):
//! - `<prefix>/<device>/reads` — every read, QoS 1 (hits too, at once);
//! - `<prefix>/<device>/hits` — hits only, QoS 1, ahead of every queued non-hit;
//! - `<prefix>/<device>/images/<read id>/<overview|plate>` — the JPEG bytes, QoS 1, the first to
//!   be dropped when the outbox is full; the read names them with their SHA-256;
//! - `<prefix>/<device>/status` — retained: `online` with a periodic heartbeat, `offline` at a
//!   clean stop and, through the Last Will, when the unit vanishes.
//!
//! Design: the pipeline thread only pushes into the outbox and hands ready messages to rumqttc
//! with `try_publish`, which never blocks (the synchronous `publish` blocks while the broker is
//! down). The outbox lock is held across `try_publish`, so the order of requests in rumqttc's
//! channel is the order messages left the outbox — what the packet-id mapping relies on.

use super::config::MqttConfig;
use super::outbox::{Class, Message, Outbox, OutboxStats};
use crate::pipeline::{Outgoing, ReadSink};
use rumqttc::{Client, Connection, Event, LastWill, MqttOptions, Outgoing as Out, Packet, QoS, RecvTimeoutError, TlsConfiguration, Transport};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// What the heartbeat reports besides the publisher's own counters (pipeline counters, model
/// versions…): called on the publisher's thread.
pub type StatusSource = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

#[derive(Debug, Clone)]
pub struct Topics {
    pub reads: String,
    pub hits: String,
    pub status: String,
    pub control: String,
    images: String,
}

impl Topics {
    pub fn new(prefix: &str, device: &str) -> Self {
        let base = format!("{prefix}/{device}");
        Self {
            reads: format!("{base}/reads"),
            hits: format!("{base}/hits"),
            status: format!("{base}/status"),
            control: format!("{base}/control"),
            images: format!("{base}/images"),
        }
    }

    pub fn image(&self, read_id: &str, kind: &str) -> String {
        format!("{}/{read_id}/{kind}", self.images)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("{key}: {problem}")]
    Config { key: String, problem: String },
    #[error("{path}: cannot read: {source}")]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot start the MQTT thread: {0}")]
    Thread(std::io::Error),
}

struct Shared {
    outbox: Mutex<Outbox>,
    connected: AtomicBool,
    stop: AtomicBool,
    max_in_flight: usize,
}

impl Shared {
    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        // Every outbox operation is a single call that leaves it consistent, so a panic on
        // another thread cannot have left it half-changed.
        self.outbox.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands rumqttc every message it may take now. Nothing is handed over while disconnected:
    /// rumqttc would only hold it where the outbox's drop policy cannot reach it.
    fn pump(&self, client: &Client) {
        if !self.connected.load(Ordering::Relaxed) {
            return;
        }
        let mut outbox = self.outbox();
        while let Some(message) = outbox.next_to_send(self.max_in_flight) {
            if client.try_publish(message.topic.as_str(), QoS::AtLeastOnce, false, message.payload).is_err() {
                outbox.not_sent(&message.id);
                break;
            }
        }
    }
}

pub struct MqttSink {
    client: Client,
    shared: Arc<Shared>,
    topics: Topics,
    device_id: String,
    io: Option<JoinHandle<()>>,
}

/// What was left when the publisher stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    pub stats: OutboxStats,
    /// Messages the broker never acknowledged (lost at this stop until the durable spool exists).
    pub unacknowledged: Vec<String>,
}

fn status_payload(device_id: &str, state: &str, extra: serde_json::Value) -> Vec<u8> {
    let mut status = serde_json::json!({
        "device_id": device_id,
        "state": state,
        "time": crate::read_record::rfc3339_ms(SystemTime::now()),
    });
    if let (Some(map), serde_json::Value::Object(extra)) = (status.as_object_mut(), extra) {
        map.extend(extra);
    }
    status.to_string().into_bytes()
}

fn read_file(path: &std::path::Path) -> Result<Vec<u8>, MqttError> {
    std::fs::read(path).map_err(|source| MqttError::Read { path: path.to_path_buf(), source })
}

impl MqttSink {
    /// Starts the client. Never waits for the broker: an unreachable broker is retried with
    /// backoff while reads accumulate in the outbox.
    pub fn start(config: &MqttConfig, device_id: &str, status: StatusSource) -> Result<Self, MqttError> {
        config.validate().map_err(|(key, problem)| MqttError::Config { key, problem })?;
        let topics = Topics::new(&config.topic_prefix, device_id);
        let client_id = config.client_id.clone().unwrap_or_else(|| format!("anpr-edge-{device_id}"));
        let mut options = MqttOptions::new(client_id, config.host.clone(), config.port());
        options
            .set_keep_alive(Duration::from_secs(config.keep_alive_s))
            .set_clean_session(false)
            .set_inflight(config.max_in_flight)
            .set_request_channel_capacity(usize::from(config.max_in_flight) * 2 + 16)
            .set_max_packet_size(1 << 20, 16 << 20)
            .set_last_will(LastWill::new(
                topics.status.clone(),
                status_payload(device_id, "offline", serde_json::json!({"reason": "connection lost"})),
                QoS::AtLeastOnce,
                true,
            ));
        if let Some(tls) = &config.tls {
            // rustls needs a process-wide crypto provider; installing it twice is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
            options.set_transport(Transport::Tls(TlsConfiguration::Simple {
                ca: read_file(&tls.ca_file)?,
                alpn: None,
                client_auth: Some((read_file(&tls.client_cert_file)?, read_file(&tls.client_key_file)?)),
            }));
        }
        let (client, connection) = Client::new(options, usize::from(config.max_in_flight) * 2 + 16);
        let shared = Arc::new(Shared {
            outbox: Mutex::new(Outbox::new(config.outbox_messages, config.outbox_bytes)),
            connected: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            max_in_flight: usize::from(config.max_in_flight),
        });
        let io = {
            let (client, shared, topics, device_id, config) = (client.clone(), Arc::clone(&shared), topics.clone(), device_id.to_string(), config.clone());
            std::thread::Builder::new()
                .name("mqtt".into())
                .spawn(move || io_loop(connection, client, shared, topics, device_id, config, status))
                .map_err(MqttError::Thread)?
        };
        Ok(Self { client, shared, topics, device_id: device_id.to_string(), io: Some(io) })
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    pub fn stats(&self) -> OutboxStats {
        self.shared.outbox().stats()
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Adds a message to the outbox and sends what can be sent. Never blocks on the network.
    pub fn submit(&self, message: Message) {
        let dropped = self.shared.outbox().push(message);
        for m in dropped {
            tracing::warn!(id = %m.id, class = ?m.class, "outbox full: message dropped");
        }
        self.shared.pump(&self.client);
    }

    /// Stops: waits up to `flush` for the broker to acknowledge what is held, then publishes the
    /// offline status and disconnects.
    pub fn shutdown(mut self, flush: Duration) -> ShutdownReport {
        let deadline = Instant::now() + flush;
        while Instant::now() < deadline && !self.shared.outbox().is_empty() {
            self.shared.pump(&self.client);
            std::thread::sleep(Duration::from_millis(20));
        }
        let offline = status_payload(&self.device_id, "offline", serde_json::json!({"reason": "stopped"}));
        let _ = self.client.try_publish(self.topics.status.as_str(), QoS::AtMostOnce, true, offline);
        // Give the offline status a moment to leave before the disconnect request.
        std::thread::sleep(Duration::from_millis(100));
        let _ = self.client.try_disconnect();
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(io) = self.io.take() {
            if io.join().is_err() {
                tracing::error!("the MQTT thread panicked");
            }
        }
        let mut outbox = self.shared.outbox();
        let stats = outbox.stats();
        let unacknowledged = outbox.drain().into_iter().map(|m| m.id).collect();
        ShutdownReport { stats, unacknowledged }
    }
}

impl ReadSink for MqttSink {
    fn deliver(&mut self, read: Outgoing) {
        let record = &read.record;
        let payload = match serde_json::to_vec(record) {
            Ok(p) => p,
            Err(error) => {
                tracing::error!(read_id = %record.read_id, %error, "read not serialisable; not sent");
                return;
            }
        };
        if record.hit {
            self.submit(Message { id: format!("{}/hit", record.read_id), topic: self.topics.hits.clone(), payload: payload.clone(), class: Class::Hit });
        }
        let class = if record.hit { Class::Hit } else { Class::Read };
        self.submit(Message { id: record.read_id.clone(), topic: self.topics.reads.clone(), payload, class });
        for image in read.images {
            self.submit(Message { id: format!("{}/{}", record.read_id, image.kind), topic: image.topic, payload: image.jpeg, class: Class::Image });
        }
    }

    fn image_topic(&self, read_id: &str, kind: &str) -> String {
        self.topics.image(read_id, kind)
    }
}

fn io_loop(mut connection: Connection, client: Client, shared: Arc<Shared>, topics: Topics, device_id: String, config: MqttConfig, status: StatusSource) {
    let mut backoff = crate::backoff::Backoff::new(config.backoff_min_ms, config.backoff_max_ms);
    let status_every = Duration::from_secs(config.status_interval_s);
    let started = Instant::now();
    let mut last_status = Instant::now();
    let mut failures: u64 = 0;
    let heartbeat = |state: &str| {
        let mut extra = status();
        let outbox = shared.outbox().stats();
        if let serde_json::Value::Object(map) = &mut extra {
            map.insert("uptime_s".into(), started.elapsed().as_secs().into());
            map.insert("outbox".into(), serde_json::to_value(outbox).unwrap_or_default());
        }
        status_payload(&device_id, state, extra)
    };
    while !shared.stop.load(Ordering::Relaxed) {
        match connection.recv_timeout(Duration::from_millis(200)) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                tracing::info!(session_present = ack.session_present, "connected to the broker");
                shared.connected.store(true, Ordering::Relaxed);
                backoff.reset();
                failures = 0;
                if !ack.session_present {
                    shared.outbox().on_session_lost();
                }
                // Subscriptions are lost with the session: subscribe on every connection.
                let _ = client.try_subscribe(topics.control.as_str(), QoS::AtLeastOnce);
                let _ = client.try_publish(topics.status.as_str(), QoS::AtMostOnce, true, heartbeat("online"));
                last_status = Instant::now();
                shared.pump(&client);
            }
            Ok(Ok(Event::Incoming(Packet::PubAck(ack)))) => {
                shared.outbox().on_puback(ack.pkid);
                shared.pump(&client);
            }
            Ok(Ok(Event::Outgoing(Out::Publish(pkid)))) => shared.outbox().on_outgoing_publish(pkid),
            Ok(Ok(Event::Incoming(Packet::Publish(publish)))) => {
                tracing::info!(topic = %publish.topic, bytes = publish.payload.len(), "control message received (no handler yet)");
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                shared.connected.store(false, Ordering::Relaxed);
                failures += 1;
                // One line per outage and then one every 10 attempts, not one per retry.
                let wait = backoff.next_wait();
                if failures == 1 || failures % 10 == 0 {
                    let held = shared.outbox().stats();
                    tracing::warn!(%error, attempt = failures, retry_in_ms = wait.as_millis() as u64, held = held.pending + held.in_flight, "broker unreachable; reads are kept");
                }
                std::thread::sleep(wait);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if shared.connected.load(Ordering::Relaxed) && last_status.elapsed() >= status_every {
            let _ = client.try_publish(topics.status.as_str(), QoS::AtMostOnce, true, heartbeat("online"));
            last_status = Instant::now();
        }
    }
}
