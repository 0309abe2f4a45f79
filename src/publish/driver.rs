//! The publisher's thread: drives rumqttc's event loop and does all of the publisher's I/O and
//! timing. Every decision it acts on is made elsewhere: what to send, drop or send again by the
//! [`DurableOutbox`], the status by `status.rs`, the waits by `backoff.rs`.
//!
//! - Only this thread hands messages to rumqttc (`try_publish`, never the blocking `publish`).
//!   One producer on rumqttc's request channel is what the packet-id mapping relies on
//!   (`outbox.rs`), and nothing is handed over while disconnected, where rumqttc would hold it
//!   out of reach of the outbox's drop policy.
//! - It drives the async `EventLoop` on a single-threaded runtime and never drops a `poll`
//!   halfway. The synchronous `Connection::recv_timeout` does, at each timeout, and a poll
//!   dropped while it writes a publish to a congested socket loses that publish from the wire
//!   although rumqttc counts it in flight: measured with rumqttc 0.25.1, after a 2 s freeze of
//!   the broker 4 of 12 large messages were never sent and never acknowledged on a connection
//!   that stayed up. Submits, the heartbeat and a stop are served while the poll is pending.
//! - After every connection loss the events rumqttc had queued are handled first, its
//!   retransmission queue is emptied and at QoS 2 given a PUBREL for every id, as at the start
//!   (`lost_connection.rs`), and the outbox publishes everything unacknowledged again
//!   (`outbox.rs` says why that keeps packet ids right).
//! - rumqttc retries a lost connection at once, forever: the thread waits between attempts
//!   (`backoff.rs`: jittered, so a fleet that lost the broker together does not come back in
//!   lockstep). With several brokers (`mqtt.hosts`) each failed attempt moves to the next one,
//!   with the same session settings, outbox, spool and subscriptions; what the lost node had
//!   not acknowledged is published again on the new one, under the same ids.
//! - Status on `<prefix>/<device>/status`, retained: `online` with the heartbeat at every
//!   connection and every `status_interval_s`, `offline` at a clean stop, both QoS 0 so that
//!   they take no packet id; the Last Will, QoS 1, says `offline` when the unit vanishes.

use super::durable::DurableOutbox;
use super::hit_acks::HitAcks;
use super::lost_connection::{close_every_id, forget_connection};
use super::qos::MaxInFlight;
use super::status::{status_payload, StatusSource};
use super::topics::Topics;
use crate::backoff::Backoff;
use crate::device_id::DeviceId;
use crate::sync::lock;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing as Out, Packet, QoS,
    SubscribeReasonCode,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Receives (topic, payload) of every message arriving on a subscribed topic (the control
/// topic, the hotlists), on the publisher's thread: it must not block.
pub type ControlHandler = Arc<dyn Fn(&str, &[u8]) + Send + Sync>;

/// Notices (answers to commands) held while disconnected; past it the oldest is dropped, since
/// the newest says most about the unit's state.
const MAX_NOTICES: usize = 64;

/// How long a stopping publisher waits for its DISCONNECT to leave once the flush is over.
const DISCONNECT_GRACE: Duration = Duration::from_secs(1);

/// What the owner asks of the publisher's thread.
#[derive(Debug, Clone, Copy)]
pub enum Order {
    Run,
    /// Deliver what is held until `until`, then say offline and disconnect.
    Flush {
        until: Instant,
    },
    /// Stop at once without a DISCONNECT, so that the broker publishes the Last Will.
    Abandon,
}

/// What the handle and the thread share: one lock for the messages, so a submit and a PUBACK
/// see the outbox and the spool change together.
pub struct Shared {
    outbox: Mutex<DurableOutbox>,
    connected: AtomicBool,
    order: Mutex<Order>,
    wake: Notify,
    /// QoS 0 messages outside the outbox (topic, payload): they take no packet id, so they
    /// cannot disturb the outbox's mapping of ids to reads.
    notices: Mutex<VecDeque<(String, Vec<u8>)>>,
    heartbeat_asked: AtomicBool,
    hit_acks: HitAcks,
}

impl Shared {
    pub fn new(outbox: DurableOutbox) -> Self {
        Self {
            outbox: Mutex::new(outbox),
            connected: AtomicBool::new(false),
            order: Mutex::new(Order::Run),
            wake: Notify::new(),
            notices: Mutex::new(VecDeque::new()),
            heartbeat_asked: AtomicBool::new(false),
            hit_acks: HitAcks::default(),
        }
    }

    /// The outbox's and the spool's figures, and the hits' capture-to-PUBACK times, as the
    /// heartbeat carries them.
    pub fn figures(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut figures = self.outbox().figures();
        figures.insert("hits".into(), self.hit_acks.to_json());
        figures
    }

    /// Queues a QoS 0 message, sent as soon as the unit is connected.
    pub fn notice(&self, topic: String, payload: Vec<u8>) {
        let mut notices = lock(&self.notices);
        if notices.len() >= MAX_NOTICES {
            if let Some((topic, _)) = notices.pop_front() {
                tracing::warn!(%topic, "notice dropped: {MAX_NOTICES} wait for the broker");
            }
        }
        notices.push_back((topic, payload));
        drop(notices);
        self.wake.notify_one();
    }

    /// Asks for a status heartbeat now (it goes at the next connection when there is none).
    pub fn ask_heartbeat(&self) {
        self.heartbeat_asked.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    pub fn outbox(&self) -> MutexGuard<'_, DurableOutbox> {
        lock(&self.outbox)
    }

    fn order(&self) -> Order {
        *lock(&self.order)
    }

    /// Tells the thread what to do and wakes it.
    pub fn command(&self, order: Order) {
        *lock(&self.order) = order;
        self.wake.notify_one();
    }

    /// Wakes the thread to hand over what the outbox now holds.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

enum Step {
    Event(Result<Event, ConnectionError>),
    Finish,
}

/// What the thread is set up with, besides the client and the shared state.
pub struct Plan {
    pub topics: Topics,
    pub device_id: DeviceId,
    /// In every status message (the stated purpose).
    pub status_fields: serde_json::Value,
    pub status: StatusSource,
    pub control: ControlHandler,
    /// The control topic and the extra ones, subscribed at every connection.
    pub subscriptions: Vec<String>,
    pub backoff: Backoff,
    /// rumqttc's options for each broker, in the configured order.
    pub brokers: Vec<MqttOptions>,
    /// The one the event loop is set up for.
    pub broker: usize,
    pub status_every: Duration,
    /// rumqttc's `inflight`: its packet ids run from 1 to it.
    pub max_in_flight: MaxInFlight,
    /// Of reads, hits and images: a message is delivered at its PUBACK (1) or PUBCOMP (2).
    pub qos: QoS,
}

/// The publisher's thread: owns the client side of rumqttc and all timing.
pub struct Io {
    client: AsyncClient,
    shared: Arc<Shared>,
    plan: Plan,
    started: Instant,
    next_status: Instant,
    /// When the outbox's periodic work (the spool's fsync schedule, compaction and age limit)
    /// is next done.
    next_tick: Instant,
    /// Set once the offline status and the DISCONNECT are handed over: when to stop waiting
    /// for the DISCONNECT to leave.
    closing: Option<Instant>,
    /// Failed attempts since the last connection.
    failures: u64,
    /// The QoS 2 exchanges of the last connection that a resumed session closes first.
    closing_exchanges: Vec<u16>,
}

impl Io {
    pub fn new(client: AsyncClient, shared: Arc<Shared>, plan: Plan) -> Self {
        let now = Instant::now();
        Self {
            client,
            shared,
            plan,
            started: now,
            next_status: now,
            next_tick: now,
            closing: None,
            failures: 0,
            closing_exchanges: Vec::new(),
        }
    }

    pub async fn run(mut self, mut eventloop: EventLoop) {
        self.closing_exchanges =
            close_every_id(&mut eventloop, self.plan.qos, self.plan.max_in_flight);
        loop {
            match self.poll(&mut eventloop).await {
                Step::Finish => return,
                Step::Event(Ok(event)) => {
                    if self.on_event(event) {
                        return;
                    }
                }
                Step::Event(Err(error)) => {
                    self.on_connection_lost(&mut eventloop, &error);
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
                () = self.shared.wake.notified() => self.on_wake(),
                () = tokio::time::sleep_until(timer) => self.on_timer(),
            }
        }
    }

    /// Waits before the next connection attempt; false when the publisher is to stop instead.
    async fn wait_to_reconnect(&mut self, error: &ConnectionError) -> bool {
        let wait = self.plan.backoff.next_wait();
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
                () = tokio::time::sleep_until(timer) => self.tick(),
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
                // Answers to commands (the one that restarts the unit among them) go first.
                self.send_notices();
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
        if self.shared.outbox().tick_every().is_some() {
            next = next.min(self.next_tick);
        }
        next
    }

    fn on_timer(&mut self) {
        if self.shared.connected() && self.closing.is_none() && Instant::now() >= self.next_status {
            self.heartbeat();
        }
        self.tick();
    }

    /// The outbox's periodic work, off the path of submits and PUBACKs.
    fn tick(&mut self) {
        if Instant::now() < self.next_tick {
            return;
        }
        let mut outbox = self.shared.outbox();
        let Some(every) = outbox.tick_every() else { return };
        self.next_tick = Instant::now() + every;
        outbox.tick();
    }

    fn on_wake(&mut self) {
        if self.shared.connected()
            && self.closing.is_none()
            && self.shared.heartbeat_asked.swap(false, Ordering::Relaxed)
        {
            self.heartbeat();
        }
        self.pump();
    }

    /// Hands rumqttc the notices, then every message it may take now.
    fn pump(&self) {
        if !self.shared.connected() || self.closing.is_some() {
            return;
        }
        self.send_notices();
        let mut outbox = self.shared.outbox();
        while let Some(message) = outbox.next_to_send(self.plan.max_in_flight.messages()) {
            let id = message.id.clone();
            if self
                .client
                .try_publish(message.topic.clone(), self.plan.qos, false, message.payload.clone())
                .is_err()
            {
                // The request channel is full: the message stays first in line.
                return;
            }
            outbox.mark_sent(&id);
        }
    }

    fn send_notices(&self) {
        let mut notices = lock(&self.shared.notices);
        while let Some((topic, payload)) = notices.front() {
            if self
                .client
                .try_publish(topic.clone(), QoS::AtMostOnce, false, payload.clone())
                .is_err()
            {
                // The request channel is full: first in line at the next wake-up.
                return;
            }
            notices.pop_front();
        }
    }

    fn heartbeat(&mut self) {
        let mut extra = (self.plan.status)();
        if let serde_json::Value::Object(map) = &mut extra {
            map.insert("uptime_s".into(), self.started.elapsed().as_secs().into());
            map.extend(self.shared.figures());
        }
        self.publish_status("online", extra);
        self.next_status = Instant::now() + self.plan.status_every;
    }

    fn publish_status(&self, state: &str, extra: serde_json::Value) {
        let payload =
            status_payload(&self.plan.device_id, &self.plan.status_fields, state, extra, true);
        if self
            .client
            .try_publish(self.plan.topics.status.clone(), QoS::AtMostOnce, true, payload)
            .is_err()
        {
            tracing::debug!(state, "status not sent: the request channel is full");
        }
    }

    /// Returns true when the publisher is done: its DISCONNECT has left.
    fn on_event(&mut self, event: Event) -> bool {
        match event {
            Event::Incoming(Packet::ConnAck(ack)) => {
                let (host, port) = self.broker_address();
                tracing::info!(
                    broker = %format!("{host}:{port}"),
                    session_present = ack.session_present,
                    after_attempts = self.failures,
                    "connected to the broker"
                );
                // rumqttc sends the PUBRELs only to a broker that kept the session.
                let closing = std::mem::take(&mut self.closing_exchanges);
                if ack.session_present {
                    self.shared.outbox().expect_completions(&closing);
                }
                self.shared.connected.store(true, Ordering::Relaxed);
                self.shared.heartbeat_asked.store(false, Ordering::Relaxed);
                self.plan.backoff.reset();
                self.failures = 0;
                // A broker that lost the session forgot the subscription: subscribe every time.
                // Each subscription takes a packet id ahead of the publishes (`outbox.rs`).
                let mut queued = 0;
                for topic in &self.plan.subscriptions {
                    match self.client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                        Ok(()) => queued += 1,
                        Err(_) => {
                            tracing::warn!(%topic, "could not subscribe: the request channel is full")
                        }
                    }
                }
                self.shared.outbox().on_subscriptions_queued(queued);
                self.heartbeat();
                self.pump();
            }
            // A QoS 1 publish is delivered at its PUBACK, a QoS 2 one at its PUBCOMP.
            Event::Incoming(Packet::PubAck(rumqttc::PubAck { pkid }))
            | Event::Incoming(Packet::PubComp(rumqttc::PubComp { pkid })) => {
                let acked = self.shared.outbox().on_puback(pkid);
                if let Some(message) = acked {
                    self.shared.hit_acks.acknowledged(&message);
                }
                self.pump();
            }
            Event::Incoming(Packet::SubAck(ack))
                if ack.return_codes.iter().any(|c| matches!(c, SubscribeReasonCode::Failure)) =>
            {
                tracing::warn!(topics = ?self.plan.subscriptions, "the broker refused a subscription");
            }
            Event::Incoming(Packet::Publish(publish)) => {
                (self.plan.control)(&publish.topic, &publish.payload)
            }
            Event::Outgoing(Out::Publish(pkid)) => self.shared.outbox().on_pkid_assigned(pkid),
            Event::Outgoing(Out::Subscribe(pkid)) => {
                self.shared.outbox().on_subscription_sent(pkid)
            }
            Event::Outgoing(Out::Disconnect) => return self.closing.is_some(),
            _ => {}
        }
        false
    }

    fn on_connection_lost(&mut self, eventloop: &mut EventLoop, error: &ConnectionError) {
        if self.shared.connected.swap(false, Ordering::Relaxed) {
            tracing::info!("connection to the broker lost");
        }
        self.failures += 1;
        let forgotten = forget_connection(eventloop, error, self.plan.qos, self.plan.max_in_flight);
        for event in forgotten.events {
            self.on_event(event);
        }
        self.closing_exchanges = forgotten.closing;
        self.shared.outbox().on_session_lost();
        self.next_broker(eventloop);
    }

    fn broker_address(&self) -> (String, u16) {
        self.plan.brokers.get(self.plan.broker).map(MqttOptions::broker_address).unwrap_or_default()
    }

    /// Sets the event loop up for the next broker, when there are several. rumqttc reads its
    /// options at every connection attempt and keeps no other trace of the address.
    fn next_broker(&mut self, eventloop: &mut EventLoop) {
        if self.plan.brokers.len() < 2 {
            return;
        }
        self.plan.broker = (self.plan.broker + 1) % self.plan.brokers.len();
        if let Some(options) = self.plan.brokers.get(self.plan.broker) {
            eventloop.mqtt_options = options.clone();
        }
        if self.failures == 1 {
            let (host, port) = self.broker_address();
            tracing::info!(next = %format!("{host}:{port}"), "moving to the next broker");
        }
    }
}
