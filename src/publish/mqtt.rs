//! The MQTT publisher as the rest of the unit sees it: [`MqttSink::start_with`] checks the
//! section, builds rumqttc's options and starts the thread (`driver.rs`); `submit` only puts a
//! message in the [`DurableOutbox`] and wakes the thread, so the pipeline never waits for the
//! network; `shutdown` flushes, says offline and reports what was left.
//!
//! With a spool (`spool/mod.rs`), what it recovered at start is sent first and every message
//! is on disk before the outbox holds it (`durable.rs`).

use super::config::{Mqtt, MqttConfig, MqttConfigError};
use super::driver::{ControlHandler, Io, Order, Plan, Shared};
use super::durable::DurableOutbox;
use super::messages::messages;
use super::outbox::{Outbox, OutboxStats, SubmitOutcome};
use super::status::{status_payload, StatusSource};
use super::topics::Topics;
use crate::backoff::Backoff;
use crate::device_id::{DeviceId, IdError};
use crate::message::{Class, Message};
use crate::outgoing::{Outgoing, ReadSink, SinkFailed};
use crate::spool::Spool;
use rumqttc::{AsyncClient, LastWill, MqttOptions, QoS, TlsConfiguration, Transport};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error(transparent)]
    Config(#[from] MqttConfigError),
    #[error("device id {0}")]
    DeviceId(#[from] IdError),
    #[error("cannot start the MQTT runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot start the MQTT thread: {0}")]
    Thread(std::io::Error),
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

/// The control plane's hold on the publisher: answers to commands, a heartbeat on demand,
/// whether the broker is reached. Usable after the publisher stopped (then nothing is sent).
#[derive(Clone)]
pub struct ControlLink {
    shared: Arc<Shared>,
    result_topic: String,
}

impl ControlLink {
    /// Publishes an answer on `<prefix>/<device>/control/result` (QoS 0), as soon as connected.
    pub fn answer(&self, payload: Vec<u8>) {
        self.shared.notice(self.result_topic.clone(), payload);
    }

    pub fn heartbeat_now(&self) {
        self.shared.ask_heartbeat();
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected()
    }
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

/// rumqttc's options for one broker; every broker gets the same session, will and limits.
fn options(mqtt: &Mqtt, client_id: &str, host: String, port: u16, will: &LastWill) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, host, port);
    options
        .set_keep_alive(Duration::from_secs(mqtt.section.keep_alive_s))
        // The broker keeps the control subscription and its queued messages while away.
        .set_clean_session(false)
        .set_inflight(mqtt.max_in_flight.get())
        // Incoming: a whole hotlist arrives as one retained message (100 000 CSV entries are
        // ≈ 5 MB); a larger packet would make rumqttc drop the connection at every retry.
        .set_max_packet_size(super::MAX_INCOMING_BYTES, 16 << 20)
        .set_last_will(will.clone());
    if let Some(tls) = &mqtt.tls {
        options.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::clone(tls))));
    }
    options
}

/// Which of `count` brokers a unit tries first: fixed by its client id (FNV-1a), so a fleet
/// sharing one configuration spreads over the nodes instead of all starting on the first, and
/// one unit comes back to the same node after a restart.
fn first_broker(client_id: &str, count: usize) -> usize {
    let hash = client_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % count.max(1) as u64) as usize
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

    /// Checks the section and the id, then starts the publisher ([`MqttSink::start_parsed`]).
    pub fn start_with(
        config: &MqttConfig,
        device_id: &str,
        setup: Setup,
    ) -> Result<Self, MqttError> {
        Self::start_parsed(&config.check()?, &device_id.parse()?, setup)
    }

    /// Starts the publisher on a section already parsed (the unit's, whose TLS files were read
    /// with the rest of its configuration). Never waits for the broker: an unreachable broker
    /// is retried with backoff while messages wait in the outbox (and the spool).
    pub fn start_parsed(
        mqtt: &Mqtt,
        device_id: &DeviceId,
        setup: Setup,
    ) -> Result<Self, MqttError> {
        let Setup { status, status_fields: fields, control, subscriptions, spool } = setup;
        let config = &mqtt.section;
        let topics = Topics::new(&config.topic_prefix, device_id);
        let client_id =
            config.client_id.clone().unwrap_or_else(|| format!("anpr-edge-{device_id}"));
        let will = status_payload(
            device_id,
            &fields,
            "offline",
            serde_json::json!({"reason": "connection lost"}),
            false,
        );
        let will = LastWill::new(topics.status.clone(), will, QoS::AtLeastOnce, true);
        let brokers: Vec<MqttOptions> = config
            .brokers()
            .into_iter()
            .map(|(host, port)| options(mqtt, &client_id, host, port, &will))
            .collect();
        let first = first_broker(&client_id, brokers.len());
        // Room for every message in flight plus the status and the subscription: a full
        // channel only means "try again at the next wake-up".
        let capacity = mqtt.max_in_flight.messages() * 2 + 16;
        let (client, eventloop) = AsyncClient::new(brokers[first].clone(), capacity);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(MqttError::Runtime)?;
        let outbox = Outbox::new(config.outbox_messages, config.outbox_bytes);
        let shared = Arc::new(Shared::new(DurableOutbox::new(outbox, spool)));
        let plan = Plan {
            topics: topics.clone(),
            device_id: device_id.clone(),
            status_fields: fields,
            status,
            subscriptions: std::iter::once(topics.control.clone()).chain(subscriptions).collect(),
            control,
            backoff: if config.backoff_jitter {
                Backoff::new(config.backoff_min_ms, config.backoff_max_ms)
            } else {
                Backoff::without_jitter(config.backoff_min_ms, config.backoff_max_ms)
            },
            brokers,
            broker: first,
            status_every: Duration::from_secs(config.status_interval_s),
            max_in_flight: mqtt.max_in_flight,
            qos: mqtt.qos.into(),
        };
        let io = Io::new(client, Arc::clone(&shared), plan);
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
    /// "spool": …, "hits": {"ack_seconds": …}}`), for another reader of the unit's health: the metrics endpoint.
    pub fn figures_source(&self) -> StatusSource {
        let shared = Arc::clone(&self.shared);
        Arc::new(move || serde_json::Value::Object(shared.figures()))
    }

    /// The spool's figures (its oldest message's age among them), when there is a spool.
    pub fn spool_stats(&self) -> Option<crate::spool::SpoolStats> {
        self.shared.outbox().spool_stats()
    }

    /// When the oldest message the spool holds was spooled (for the privacy report of what the
    /// unit stores); `None` without a spool or when it is empty.
    pub fn spool_oldest(&self) -> Option<SystemTime> {
        self.shared.outbox().spool_oldest()
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected()
    }

    /// What the control plane needs of the publisher, for a thread of its own.
    pub fn control_link(&self) -> ControlLink {
        ControlLink {
            shared: Arc::clone(&self.shared),
            result_topic: self.topics.control_result.clone(),
        }
    }

    /// Adds a message to the outbox and wakes the publisher's thread. Never blocks on the
    /// network; what the outbox dropped to make room is logged and returned.
    pub fn submit(&self, message: Message) -> SubmitOutcome {
        if !rumqttc::valid_topic(&message.topic) {
            // rumqttc would refuse it at every attempt and it would block the queue behind it.
            tracing::error!(id = %message.id, topic = %message.topic, "not a topic one can publish to; message refused");
            return SubmitOutcome { held: false, dropped: vec![message] };
        }
        let outcome = self.shared.outbox().push(message);
        self.shared.wake();
        outcome
    }

    /// Stops accepting, gives the broker up to `flush` to acknowledge what is held, publishes
    /// the offline status and disconnects. Returns what was never acknowledged.
    pub fn shutdown(mut self, flush: Duration) -> ShutdownReport {
        self.stop(Order::Flush { until: Instant::now() + flush });
        let closed = self.shared.outbox().close();
        ShutdownReport {
            stats: closed.stats,
            unacknowledged: closed.messages.iter().map(|m| m.id.clone()).collect(),
            messages: closed.messages,
            spooled: closed.spooled,
            lost: closed.lost,
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
    /// Never fails: what the broker does not take now waits in the outbox (and the spool).
    fn deliver(&mut self, read: Outgoing) -> Result<(), SinkFailed> {
        let read_id = read.record.read_id.clone();
        match messages(read, &self.topics) {
            Ok(messages) => {
                for message in messages {
                    self.submit(message);
                }
            }
            Err(error) => tracing::error!(%read_id, %error, "read not serialisable; not sent"),
        }
        Ok(())
    }

    /// As an image: the first thing the outbox drops under pressure, never a read.
    fn snapshot(&mut self, id: &str, jpeg: Vec<u8>) -> Option<String> {
        let topic = self.topics.snapshot.clone();
        let message = Message {
            id: format!("snapshot-{id}"),
            topic: topic.clone(),
            payload: jpeg,
            class: Class::Image,
        };
        self.submit(message).held.then_some(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_sharing_one_configuration_starts_spread_over_the_brokers() {
        let mut per_broker = [0u32; 3];
        for unit in 0..3000 {
            per_broker[first_broker(&format!("anpr-edge-cam-{unit:05}"), 3)] += 1;
        }
        assert!(per_broker.iter().all(|&n| (800..=1200).contains(&n)), "{per_broker:?}");
        assert_eq!(first_broker("anpr-edge-x", 1), 0);
        assert_eq!(first_broker("anpr-edge-x", 3), first_broker("anpr-edge-x", 3));
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
