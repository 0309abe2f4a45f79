//! The MQTT edge: rumqttc's event loop on a thread of its own, fed from the [`Outbox`], so that
//! nothing is lost while the broker is away and the pipeline never waits for the network.
//!
//! Design:
//! - `submit` only puts the message in the outbox and wakes the thread; only the thread hands
//!   messages to rumqttc (`try_publish`, never the blocking `publish`). One producer on
//!   rumqttc's request channel is what the packet-id mapping relies on (`outbox.rs`), and
//!   nothing is handed over while disconnected, where rumqttc would hold it out of reach of the
//!   outbox's drop policy.
//! - The thread drives rumqttc's async `EventLoop` on a single-threaded runtime of its own and
//!   never drops a `poll` halfway. The synchronous `Connection::recv_timeout` does, at each
//!   timeout, and a poll dropped while it writes a publish to a congested socket loses that
//!   publish from the wire although rumqttc counts it in flight: measured with rumqttc 0.25.1,
//!   after a 2 s freeze of the broker 4 of 12 large messages were never sent and never
//!   acknowledged on a connection that stayed up. Submits, the heartbeat and a stop are served
//!   while the poll is pending.
//! - After every connection loss the events rumqttc had queued are handled first, its
//!   retransmission queue is emptied, and the outbox publishes everything unacknowledged again
//!   (`outbox.rs` says why that keeps packet ids right).
//! - rumqttc retries a lost connection at once, forever: the thread waits between attempts,
//!   doubling from `backoff_min_ms` to `backoff_max_ms`.
//! - Status on `<prefix>/<device>/status`, retained: `online` with the heartbeat at every
//!   connection and every `status_interval_s`, `offline` at a clean stop, both QoS 0 so that
//!   they take no packet id; the Last Will, QoS 1, says `offline` when the unit vanishes.
//! - With a spool (`spool/mod.rs`), a message is spooled before the outbox takes it and
//!   removed from the spool when the outbox lets it go (PUBACK or drop); at start what the
//!   spool recovered goes into the outbox first. The outbox lock is always taken before the
//!   spool's.

use super::config::{MqttConfig, MqttConfigError};
use super::outbox::{Class, Message, Outbox, OutboxStats, SubmitOutcome};
use super::topics::{is_topic_level, Topics};
use crate::backoff::Backoff;
use crate::pipeline::{Outgoing, ReadSink};
use crate::spool::record::Removal;
use crate::spool::Spool;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing as Out, Packet,
    QoS, SubscribeReasonCode, TlsConfiguration, Transport,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;

/// What the heartbeat reports besides the publisher's own counters (pipeline counters, model
/// versions…): called on the publisher's thread.
pub type StatusSource = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// Receives (topic, payload) of every message arriving on a subscribed topic (the control
/// topic), on the publisher's thread: it must not block.
pub type ControlHandler = Arc<dyn Fn(&str, &[u8]) + Send + Sync>;

/// How long a stopping publisher waits for its DISCONNECT to leave once the flush is over.
const DISCONNECT_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error(transparent)]
    Config(#[from] MqttConfigError),
    #[error("device id `{0}` cannot be part of MQTT topics: give a non-empty id without + # or /")]
    DeviceId(String),
    #[error("cannot start the MQTT runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot start the MQTT thread: {0}")]
    Thread(std::io::Error),
}

/// What the owner asks of the publisher's thread.
#[derive(Debug, Clone, Copy)]
enum Order {
    Run,
    /// Deliver what is held until `until`, then say offline and disconnect.
    Flush {
        until: Instant,
    },
    /// Stop at once without a DISCONNECT, so that the broker publishes the Last Will.
    Abandon,
}

struct Shared {
    outbox: Mutex<Outbox>,
    spool: Option<Mutex<Spool>>,
    connected: AtomicBool,
    order: Mutex<Order>,
    wake: Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change made under these locks is a single call that leaves the value consistent, so
    // a panic on another thread cannot have left it half-changed.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        lock(&self.outbox)
    }

    fn spool(&self) -> Option<MutexGuard<'_, Spool>> {
        self.spool.as_ref().map(lock)
    }

    /// The outbox dropped these: the spool lets them go too.
    fn forget(spool: Option<&mut Spool>, dropped: &[Message]) {
        if let Some(spool) = spool {
            for m in dropped {
                spool.remove(&m.id, Removal::Dropped);
            }
        }
    }

    fn order(&self) -> Order {
        *lock(&self.order)
    }

    fn command(&self, order: Order) {
        *lock(&self.order) = order;
        self.wake.notify_one();
    }

    /// The publisher's own part of the heartbeat: the outbox's figures, and the spool's.
    fn figures(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut figures = serde_json::Map::new();
        figures.insert(
            "outbox".into(),
            serde_json::to_value(self.outbox().stats()).unwrap_or_default(),
        );
        if let Some(spool) = self.spool().map(|s| s.stats()) {
            figures.insert("spool".into(), serde_json::to_value(spool).unwrap_or_default());
        }
        figures
    }

    fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

/// The publisher as the pipeline sees it: `submit` never waits for the network.
pub struct MqttSink {
    shared: Arc<Shared>,
    topics: Topics,
    io: Option<JoinHandle<()>>,
}

/// What was left when the publisher stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    pub stats: OutboxStats,
    /// Ids of the messages the broker never acknowledged: kept in the spool when there is one
    /// (the next start sends them), lost otherwise.
    pub unacknowledged: Vec<String>,
    /// Those messages themselves, in flight first then in sending order, for a caller that
    /// keeps them.
    pub messages: Vec<Message>,
    /// The spool's folder, where the unacknowledged messages wait for the next start; `None`
    /// without a spool.
    pub spooled: Option<PathBuf>,
    /// Unacknowledged messages the spool does not hold either (it could not write them, or
    /// there is no spool): lost at this stop.
    pub lost: Vec<String>,
}

/// What the publisher starts with besides the broker's section: where its status comes from,
/// what it does with incoming messages, and the spool behind its outbox.
pub struct Setup {
    pub status: StatusSource,
    /// An object whose fields are in every status message, the Last Will and the final
    /// `offline` included (the stated purpose).
    pub status_fields: serde_json::Value,
    /// Gets every message arriving on a subscribed topic.
    pub control: ControlHandler,
    /// Topics subscribed on every connection besides `control` (the hotlists).
    pub subscriptions: Vec<String>,
    /// The durable spool and the messages it recovered (sent first, in their order).
    pub spool: Option<(Spool, Vec<Message>)>,
}

impl Setup {
    /// No extra status fields, control messages logged, no spool.
    pub fn new(status: StatusSource) -> Self {
        let control: ControlHandler = Arc::new(|topic: &str, payload: &[u8]| {
            tracing::info!(
                topic,
                bytes = payload.len(),
                "control message received (no handler for it)"
            );
        });
        Self {
            status,
            status_fields: serde_json::Value::Null,
            control,
            subscriptions: Vec::new(),
            spool: None,
        }
    }
}

fn status_payload(
    device_id: &str,
    fields: &serde_json::Value,
    state: &str,
    extra: serde_json::Value,
    timed: bool,
) -> Vec<u8> {
    let mut status = serde_json::json!({ "device_id": device_id, "state": state });
    if let Some(map) = status.as_object_mut() {
        if timed {
            map.insert("time".into(), crate::time_format::rfc3339_ms(SystemTime::now()).into());
        }
        if let serde_json::Value::Object(fields) = fields {
            map.extend(fields.clone());
        }
        if let serde_json::Value::Object(extra) = extra {
            map.extend(extra);
        }
    }
    status.to_string().into_bytes()
}

impl MqttSink {
    /// Starts the publisher with [`Setup::new`]'s defaults.
    pub fn start(
        config: &MqttConfig,
        device_id: &str,
        status: StatusSource,
    ) -> Result<Self, MqttError> {
        Self::start_with(config, device_id, Setup::new(status))
    }

    /// Starts the publisher. Never waits for the broker: an unreachable broker is retried with
    /// backoff while messages wait in the outbox (and the spool).
    pub fn start_with(
        config: &MqttConfig,
        device_id: &str,
        setup: Setup,
    ) -> Result<Self, MqttError> {
        let Setup { status, status_fields: fields, control, subscriptions, spool } = setup;
        config.check()?;
        if !is_topic_level(device_id) {
            return Err(MqttError::DeviceId(device_id.to_string()));
        }
        let topics = Topics::new(&config.topic_prefix, device_id);
        let client_id =
            config.client_id.clone().unwrap_or_else(|| format!("anpr-edge-{device_id}"));
        let mut options = MqttOptions::new(client_id, config.host.clone(), config.port());
        let will = status_payload(
            device_id,
            &fields,
            "offline",
            serde_json::json!({"reason": "connection lost"}),
            false,
        );
        options
            .set_keep_alive(Duration::from_secs(config.keep_alive_s))
            // The broker keeps the control subscription and its queued messages while away.
            .set_clean_session(false)
            .set_inflight(config.max_in_flight)
            // Incoming: a whole hotlist arrives as one retained message (100 000 CSV entries are
            // ≈ 5 MB); a larger packet would make rumqttc drop the connection at every retry.
            .set_max_packet_size(super::MAX_INCOMING_BYTES, 16 << 20)
            .set_last_will(LastWill::new(topics.status.clone(), will, QoS::AtLeastOnce, true));
        if let Some(files) = &config.tls {
            options.set_transport(Transport::Tls(TlsConfiguration::Rustls(
                super::tls::client_config(files)?,
            )));
        }
        let max_in_flight = usize::from(config.max_in_flight);
        // Room for every message in flight plus the status and the subscription: a full
        // channel only means "try again at the next wake-up".
        let (client, eventloop) = AsyncClient::new(options, max_in_flight * 2 + 16);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(MqttError::Runtime)?;
        let mut outbox = Outbox::new(config.outbox_messages, config.outbox_bytes);
        let spool = spool.map(|(mut spool, recovered)| {
            for message in recovered {
                let outcome = outbox.push(message);
                Shared::forget(Some(&mut spool), &outcome.dropped);
            }
            Mutex::new(spool)
        });
        let shared = Arc::new(Shared {
            outbox: Mutex::new(outbox),
            spool,
            connected: AtomicBool::new(false),
            order: Mutex::new(Order::Run),
            wake: Notify::new(),
        });
        let io = Io {
            client,
            shared: Arc::clone(&shared),
            topics: topics.clone(),
            device_id: device_id.to_string(),
            status_fields: fields,
            status,
            subscriptions: std::iter::once(topics.control.clone()).chain(subscriptions).collect(),
            control,
            backoff: Backoff::new(config.backoff_min_ms, config.backoff_max_ms),
            status_every: Duration::from_secs(config.status_interval_s),
            max_in_flight,
            started: Instant::now(),
            next_status: Instant::now(),
            next_spool_tick: Instant::now(),
            closing: None,
            failures: 0,
        };
        let io = std::thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || runtime.block_on(io.run(eventloop)))
            .map_err(MqttError::Thread)?;
        Ok(Self { shared, topics, io: Some(io) })
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    pub fn stats(&self) -> OutboxStats {
        self.shared.outbox().stats()
    }

    /// The outbox's and the spool's figures as the heartbeat carries them (`{"outbox": …,
    /// "spool": …}`), for another reader of the unit's health: the metrics endpoint.
    pub fn figures_source(&self) -> StatusSource {
        let shared = Arc::clone(&self.shared);
        Arc::new(move || serde_json::Value::Object(shared.figures()))
    }

    /// The spool's figures (its oldest message's age among them), when there is a spool.
    pub fn spool_stats(&self) -> Option<crate::spool::SpoolStats> {
        self.shared.spool().map(|s| s.stats())
    }

    /// When the oldest message the spool holds was spooled (for the privacy report of what the
    /// unit stores); `None` without a spool or when it is empty.
    pub fn spool_oldest(&self) -> Option<SystemTime> {
        self.shared.spool().and_then(|s| s.oldest())
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected()
    }

    /// Adds a message to the outbox and wakes the publisher's thread. Never blocks on the
    /// network; what the outbox dropped to make room is logged and returned.
    pub fn submit(&self, message: Message) -> SubmitOutcome {
        if !rumqttc::valid_topic(&message.topic) {
            // rumqttc would refuse it at every attempt and it would block the queue behind it.
            tracing::error!(id = %message.id, topic = %message.topic, "not a topic one can publish to; message refused");
            return SubmitOutcome { held: false, dropped: vec![message] };
        }
        let mut outbox = self.shared.outbox();
        let mut spool = self.shared.spool();
        let mut spooled = true;
        if let Some(spool) = spool.as_deref_mut() {
            if let Err(error) = spool.put(&message) {
                spooled = false;
                if message.class == Class::Image {
                    tracing::warn!(%error, id = %message.id, "image not spooled: dropped (images go first when the disk is full)");
                } else {
                    tracing::error!(%error, id = %message.id, "message not spooled: held in RAM only until the broker has it");
                }
            }
        }
        // An image the disk cannot keep is not worth RAM that reads may need.
        let outcome = if !spooled && message.class == Class::Image {
            outbox.refuse(message)
        } else {
            outbox.push(message)
        };
        Shared::forget(spool.as_deref_mut(), &outcome.dropped);
        drop((spool, outbox));
        for m in &outcome.dropped {
            tracing::warn!(id = %m.id, class = ?m.class, "outbox full: message dropped");
        }
        self.shared.wake.notify_one();
        outcome
    }

    /// Stops accepting, gives the broker up to `flush` to acknowledge what is held, publishes
    /// the offline status and disconnects. Returns what was never acknowledged.
    pub fn shutdown(mut self, flush: Duration) -> ShutdownReport {
        self.stop(Order::Flush { until: Instant::now() + flush });
        let mut outbox = self.shared.outbox();
        let stats = outbox.stats();
        let messages = outbox.drain();
        let spool = self.shared.spool();
        let lost = messages
            .iter()
            .filter(|m| !spool.as_ref().is_some_and(|s| s.holds(&m.id)))
            .map(|m| m.id.clone())
            .collect();
        let spooled = spool.map(|mut spool| {
            spool.sync();
            spool.dir().to_path_buf()
        });
        ShutdownReport {
            stats,
            unacknowledged: messages.iter().map(|m| m.id.clone()).collect(),
            messages,
            spooled,
            lost,
        }
    }

    fn stop(&mut self, order: Order) {
        if let Some(io) = self.io.take() {
            self.shared.command(order);
            if io.join().is_err() {
                tracing::error!("the MQTT thread panicked");
            }
        }
    }
}

impl Drop for MqttSink {
    /// Without [`MqttSink::shutdown`] the unit is gone as far as the broker can tell: the
    /// connection closes without a DISCONNECT and the broker publishes the Last Will.
    fn drop(&mut self) {
        self.stop(Order::Abandon);
    }
}

impl ReadSink for MqttSink {
    fn deliver(&mut self, read: Outgoing) {
        let read_id = read.record.read_id.clone();
        match messages(read, &self.topics) {
            Ok(messages) => {
                for message in messages {
                    self.submit(message);
                }
            }
            Err(error) => tracing::error!(%read_id, %error, "read not serialisable; not sent"),
        }
    }

    fn image_topic(&self, read_id: &str, kind: &str) -> String {
        self.topics.image(read_id, kind)
    }
}

/// The messages of one read. A hit goes on the hits topic as well as on reads, as
/// [`Class::Hit`] (ahead of every queued non-hit, dropped last), and its images as
/// [`Class::HitImage`] (before every read, but dropped before any read), so the control room
/// gets the alert with its evidence first.
fn messages(read: Outgoing, topics: &Topics) -> Result<Vec<Message>, serde_json::Error> {
    let record = &read.record;
    let payload = serde_json::to_vec(record)?;
    let mut out = Vec::with_capacity(2 + read.images.len());
    if record.hit {
        out.push(Message {
            id: format!("{}/hit", record.read_id),
            topic: topics.hits.clone(),
            payload: payload.clone(),
            class: Class::Hit,
        });
    }
    let (read_class, image_class) =
        if record.hit { (Class::Hit, Class::HitImage) } else { (Class::Read, Class::Image) };
    out.push(Message {
        id: record.read_id.clone(),
        topic: topics.reads.clone(),
        payload,
        class: read_class,
    });
    for image in read.images {
        out.push(Message {
            id: format!("{}/{}", record.read_id, image.kind),
            topic: image.topic,
            payload: image.jpeg,
            class: image_class,
        });
    }
    Ok(out)
}

enum Step {
    Event(Result<Event, ConnectionError>),
    Finish,
}

/// The publisher's thread: owns the client side of rumqttc and all timing.
struct Io {
    client: AsyncClient,
    shared: Arc<Shared>,
    topics: Topics,
    device_id: String,
    status_fields: serde_json::Value,
    status: StatusSource,
    control: ControlHandler,
    /// The control topic and the extra ones, subscribed at every connection.
    subscriptions: Vec<String>,
    backoff: Backoff,
    status_every: Duration,
    max_in_flight: usize,
    started: Instant,
    next_status: Instant,
    /// When the spool's fsync schedule and age limit are next applied.
    next_spool_tick: Instant,
    /// Set once the offline status and the DISCONNECT are handed over: when to stop waiting
    /// for the DISCONNECT to leave.
    closing: Option<Instant>,
    /// Failed attempts since the last connection.
    failures: u64,
}

impl Io {
    async fn run(mut self, mut eventloop: EventLoop) {
        loop {
            match self.poll(&mut eventloop).await {
                Step::Finish => return,
                Step::Event(Ok(event)) => {
                    if self.on_event(event) {
                        return;
                    }
                }
                Step::Event(Err(error)) => {
                    self.on_connection_lost(&mut eventloop);
                    if self.closing.is_some() || !self.wait_to_reconnect(&error).await {
                        return;
                    }
                }
            }
        }
    }

    /// One poll of the event loop, raced against our own work and dropped only to finish.
    async fn poll(&mut self, eventloop: &mut EventLoop) -> Step {
        let poll = eventloop.poll();
        tokio::pin!(poll);
        loop {
            if self.should_finish() {
                return Step::Finish;
            }
            let timer = tokio::time::Instant::from_std(self.next_timer());
            tokio::select! {
                result = &mut poll => return Step::Event(result),
                () = self.shared.wake.notified() => self.pump(),
                () = tokio::time::sleep_until(timer) => self.on_timer(),
            }
        }
    }

    /// Waits before the next connection attempt; false when the publisher is to stop instead.
    async fn wait_to_reconnect(&mut self, error: &ConnectionError) -> bool {
        let wait = self.backoff.next_wait();
        // One line per outage and then one every 10 attempts, not one per retry.
        if self.failures == 1 || self.failures.is_multiple_of(10) {
            let held = self.shared.outbox().stats();
            tracing::warn!(%error, attempt = self.failures, retry_in_ms = wait.as_millis() as u64, held = held.pending + held.in_flight, "broker unreachable; reads are kept");
        }
        let retry_at = Instant::now() + wait;
        loop {
            if self.should_finish() {
                return false;
            }
            if Instant::now() >= retry_at {
                return true;
            }
            let timer = tokio::time::Instant::from_std(self.next_timer().min(retry_at));
            tokio::select! {
                () = self.shared.wake.notified() => {}
                () = tokio::time::sleep_until(timer) => self.spool_tick(),
            }
        }
    }

    /// Whether to stop now; starts the closing (offline status, DISCONNECT) when it is time.
    fn should_finish(&mut self) -> bool {
        match self.shared.order() {
            Order::Run => false,
            Order::Abandon => true,
            Order::Flush { until } => {
                if let Some(give_up) = self.closing {
                    return Instant::now() >= give_up;
                }
                if !self.shared.outbox().is_empty() && Instant::now() < until {
                    return false;
                }
                if !self.shared.connected() {
                    return true;
                }
                let outbox = serde_json::to_value(self.shared.outbox().stats()).unwrap_or_default();
                self.publish_status(
                    "offline",
                    serde_json::json!({ "reason": "stopped", "outbox": outbox }),
                );
                // The DISCONNECT follows the status on the same channel, so the broker reads the
                // status first, and discards the Last Will.
                if self.client.try_disconnect().is_err() {
                    tracing::warn!("could not ask for a clean disconnection; the broker will publish the Last Will");
                }
                self.closing = Some(Instant::now() + DISCONNECT_GRACE);
                false
            }
        }
    }

    fn next_timer(&self) -> Instant {
        let mut next = Instant::now() + Duration::from_secs(3600);
        if self.shared.connected() {
            next = next.min(self.next_status);
        }
        if let Order::Flush { until } = self.shared.order() {
            next = next.min(self.closing.unwrap_or(until));
        }
        if self.shared.spool.is_some() {
            next = next.min(self.next_spool_tick);
        }
        next
    }

    fn on_timer(&mut self) {
        if self.shared.connected() && self.closing.is_none() && Instant::now() >= self.next_status {
            self.heartbeat();
        }
        self.spool_tick();
    }

    /// The spool's fsync schedule, and its age limit: a message too old is dropped from the
    /// outbox (when still pending) and then from the spool.
    fn spool_tick(&mut self) {
        if Instant::now() < self.next_spool_tick {
            return;
        }
        let mut outbox = self.shared.outbox();
        let Some(mut spool) = self.shared.spool() else { return };
        self.next_spool_tick = Instant::now() + spool.tick_every();
        for id in spool.tick() {
            if let Some(m) = outbox.remove_pending(&id) {
                tracing::warn!(id = %m.id, class = ?m.class, "older than the spool's age limit (spool.max_age_s, or hit_max_age_s for a hit): dropped");
                spool.expire(&id);
            }
        }
    }

    /// Hands rumqttc every message it may take now.
    fn pump(&self) {
        if !self.shared.connected() || self.closing.is_some() {
            return;
        }
        let mut outbox = self.shared.outbox();
        while let Some(message) = outbox.next_to_send(self.max_in_flight) {
            let id = message.id.clone();
            if self
                .client
                .try_publish(
                    message.topic.clone(),
                    QoS::AtLeastOnce,
                    false,
                    message.payload.clone(),
                )
                .is_err()
            {
                // The request channel is full: the message stays first in line.
                return;
            }
            outbox.mark_sent(&id);
        }
    }

    fn heartbeat(&mut self) {
        let mut extra = (self.status)();
        if let serde_json::Value::Object(map) = &mut extra {
            map.insert("uptime_s".into(), self.started.elapsed().as_secs().into());
            map.extend(self.shared.figures());
        }
        self.publish_status("online", extra);
        self.next_status = Instant::now() + self.status_every;
    }

    fn publish_status(&self, state: &str, extra: serde_json::Value) {
        let payload = status_payload(&self.device_id, &self.status_fields, state, extra, true);
        if self
            .client
            .try_publish(self.topics.status.clone(), QoS::AtMostOnce, true, payload)
            .is_err()
        {
            tracing::debug!(state, "status not sent: the request channel is full");
        }
    }

    /// Returns true when the publisher is done: its DISCONNECT has left.
    fn on_event(&mut self, event: Event) -> bool {
        match event {
            Event::Incoming(Packet::ConnAck(ack)) => {
                tracing::info!(
                    session_present = ack.session_present,
                    after_attempts = self.failures,
                    "connected to the broker"
                );
                self.shared.connected.store(true, Ordering::Relaxed);
                self.backoff.reset();
                self.failures = 0;
                // A broker that lost the session forgot the subscription: subscribe every time.
                for topic in &self.subscriptions {
                    if self.client.try_subscribe(topic.clone(), QoS::AtLeastOnce).is_err() {
                        tracing::warn!(%topic, "could not subscribe: the request channel is full");
                    }
                }
                self.heartbeat();
                self.pump();
            }
            Event::Incoming(Packet::PubAck(ack)) => {
                let mut outbox = self.shared.outbox();
                if let (Some(message), Some(mut spool)) =
                    (outbox.on_puback(ack.pkid), self.shared.spool())
                {
                    spool.remove(&message.id, Removal::Acknowledged);
                }
                drop(outbox);
                self.pump();
            }
            Event::Incoming(Packet::SubAck(ack))
                if ack.return_codes.iter().any(|c| matches!(c, SubscribeReasonCode::Failure)) =>
            {
                tracing::warn!(topics = ?self.subscriptions, "the broker refused a subscription");
            }
            Event::Incoming(Packet::Publish(publish)) => {
                (self.control)(&publish.topic, &publish.payload)
            }
            Event::Outgoing(Out::Publish(pkid)) => self.shared.outbox().on_pkid_assigned(pkid),
            Event::Outgoing(Out::Disconnect) => return self.closing.is_some(),
            _ => {}
        }
        false
    }

    fn on_connection_lost(&mut self, eventloop: &mut EventLoop) {
        if self.shared.connected.swap(false, Ordering::Relaxed) {
            tracing::info!("connection to the broker lost");
        }
        self.failures += 1;
        // Events rumqttc queued before the failure would be handed out after the next ConnAck,
        // among the new connection's: they belong to this one.
        let queued: Vec<Event> = eventloop.state.events.drain(..).collect();
        for event in queued {
            self.on_event(event);
        }
        // What rumqttc saved to retransmit is all in the outbox, which sends it again; nothing
        // may come before the outbox's messages in the next connection (outbox.rs).
        eventloop.pending.clear();
        eventloop.state.collision = None;
        self.shared.outbox().on_session_lost();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::OutgoingImage;
    use crate::read_record::ReadRecord;

    fn outgoing(hit: bool) -> Outgoing {
        let record: ReadRecord = serde_json::from_value(serde_json::json!({
            "schema": crate::read_record::SCHEMA, "read_id": "r1", "device_id": "box", "camera_id": "cam0",
            "site": {"name": "s"}, "purpose": "test", "captured_at": "2026-12-01T07:00:00.000Z", "first_seen": "2026-12-01T07:00:00.000Z",
            "last_seen": "2026-12-01T07:00:00.000Z",
            "plate": {"text": "AB12", "pseudonym": null, "ocr_text": "AB12", "confidence": 0.9, "char_confidences": [0.9], "format": null, "region": null},
            "bbox": {"x1": 0.0, "y1": 0.0, "x2": 1.0, "y2": 1.0}, "frame": 0, "frames": 1, "agreeing_frames": 1, "direction": null,
            "disposition": if hit { "hit" } else { "non_hit" }, "hit": hit, "hotlist": null, "position": null, "clock_synchronised": true, "images": {"overview": null, "plate": null}
        }))
        .expect("record");
        let images = ["overview", "plate"].map(|kind| OutgoingImage {
            kind,
            topic: format!("anpr/box/images/r1/{kind}"),
            jpeg: vec![0xff, 0xd8],
        });
        Outgoing { record, images: images.to_vec() }
    }

    #[test]
    fn a_hit_travels_as_a_hit_on_the_hits_topic_with_its_images() {
        let topics = Topics::new("anpr", "box");
        let sent: Vec<(String, Class)> = messages(outgoing(true), &topics)
            .expect("json")
            .into_iter()
            .map(|m| (m.topic, m.class))
            .collect();
        assert_eq!(
            sent,
            [
                ("anpr/box/hits".to_string(), Class::Hit),
                ("anpr/box/reads".to_string(), Class::Hit),
                ("anpr/box/images/r1/overview".to_string(), Class::HitImage),
                ("anpr/box/images/r1/plate".to_string(), Class::HitImage),
            ]
        );
        let sent: Vec<(String, Class)> = messages(outgoing(false), &topics)
            .expect("json")
            .into_iter()
            .map(|m| (m.topic, m.class))
            .collect();
        assert_eq!(
            sent,
            [
                ("anpr/box/reads".to_string(), Class::Read),
                ("anpr/box/images/r1/overview".to_string(), Class::Image),
                ("anpr/box/images/r1/plate".to_string(), Class::Image),
            ]
        );
        // And in the outbox a hit and its images overtake a non-hit queued before them.
        let mut outbox = Outbox::new(100, 1 << 20);
        for m in messages(outgoing(false), &topics)
            .expect("json")
            .into_iter()
            .chain(messages(outgoing(true), &topics).expect("json"))
        {
            outbox.push(Message { id: format!("{}#{}", m.topic, m.class as u8), ..m });
        }
        let mut order = Vec::new();
        while let Some(m) = outbox.next_to_send(100) {
            let (id, class) = (m.id.clone(), m.class);
            order.push(class);
            assert!(outbox.mark_sent(&id));
        }
        assert_eq!(
            order,
            [
                Class::Hit,
                Class::Hit,
                Class::HitImage,
                Class::HitImage,
                Class::Read,
                Class::Image,
                Class::Image
            ]
        );
    }

    #[test]
    fn the_figures_source_sees_what_the_outbox_holds() {
        // A port nothing listens on: the message stays held.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config: MqttConfig =
            toml::from_str(&format!("host = \"127.0.0.1\"\nport = {port}\ninsecure_dev = true\n"))
                .expect("config");
        let sink =
            MqttSink::start(&config, "box", Arc::new(|| serde_json::json!({}))).expect("start");
        let figures = sink.figures_source();
        assert_eq!(figures()["outbox"]["pending"], 0);
        sink.submit(Message {
            id: "r1".into(),
            topic: "anpr/box/reads".into(),
            payload: b"{}".to_vec(),
            class: Class::Read,
        });
        assert_eq!(figures()["outbox"]["pending"], 1, "{}", figures());
        assert!(figures().get("spool").is_none(), "no spool, no spool figures");
    }
}
