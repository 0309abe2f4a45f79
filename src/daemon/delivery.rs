//! Where a unit's reads go, and what comes back: the MQTT broker (the publisher and its spool,
//! the hotlists and commands arriving on its subscriptions, the control agent, and at the stop
//! the report of what the broker had not acknowledged), or standard output.

use crate::config::{Config, Output};
use crate::control::Arrival;
use crate::control_agent::{Mailbox as AgentMailbox, Restart};
use crate::hotlist::mailbox::{Kind, Mailbox};
use crate::message::Message;
use crate::outgoing::{ImageNames, ReadSink};
use crate::pipeline::sink::StdoutSink;
use crate::pipeline::Snapshots;
use crate::publish::{ControlHandler, Mqtt, MqttSink, Setup, StatusSource, Topics};
use crate::shutdown::Shutdown;
use crate::spool::Spool;
use crate::worker::Worker;
use anyhow::Context;
use std::io::StdoutLock;
use std::sync::Arc;
use std::time::Duration;

/// How long a stopping unit waits for the broker to acknowledge what it still holds.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(10);

/// Where reads go, prepared: the spool opened, nothing started.
pub enum Destination {
    Stdout,
    Mqtt(Box<Broker>),
}

/// The broker's side of a destination.
pub struct Broker {
    mqtt: Mqtt,
    topics: Topics,
    spool: Option<(Spool, Vec<Message>)>,
}

/// The destination, started: what the pipeline writes into.
pub enum Started {
    Stdout(StdoutSink<StdoutLock<'static>>),
    Mqtt { sink: Box<MqttSink>, brokers: String },
}

/// What the MQTT side starts with besides its section.
pub struct Links<'a> {
    pub status: StatusSource,
    pub hotlists: Arc<Mailbox>,
    pub snapshots: &'a Arc<Snapshots>,
    pub restart: &'a Restart,
    pub shutdown: &'a Shutdown,
}

impl Destination {
    pub fn build(config: &Config) -> anyhow::Result<Self> {
        let Output::Mqtt(mqtt) = config.output() else { return Ok(Self::Stdout) };
        let topics = Topics::new(&mqtt.section.topic_prefix, &config.device().id);
        let spool = config.spool.as_ref().map(open_spool).transpose()?;
        Ok(Self::Mqtt(Box::new(Broker { mqtt: Mqtt::clone(mqtt), topics, spool })))
    }

    /// How the records name each image: where the destination keeps it (the publisher's topic,
    /// from the same `Topics` it sends it on), or nowhere for standard output.
    pub fn image_names(&self) -> ImageNames {
        match self {
            Self::Mqtt(broker) => broker.topics.image_names().clone(),
            Self::Stdout => ImageNames::unpublished(),
        }
    }

    /// Starts the publisher and the control agent (whose thread joins the unit's), or takes
    /// standard output.
    pub fn start(self, config: &Config, links: Links) -> anyhow::Result<(Started, Option<Worker>)> {
        let Self::Mqtt(broker) = self else {
            return Ok((Started::Stdout(StdoutSink::new(std::io::stdout().lock())), None));
        };
        let Broker { mqtt, topics, spool } = *broker;
        let (agent_mailbox, agent_inbox) = crate::control_agent::mailbox();
        let mut setup = setup(config, &topics, links.status, &links.hotlists, agent_mailbox);
        setup.spool = spool;
        let sink = MqttSink::start_parsed(&mqtt, &config.device().id, setup)
            .context("starting the MQTT publisher")?;
        let agent = crate::control_agent::start(
            config,
            sink.control_link(),
            Arc::clone(links.snapshots),
            agent_inbox,
            links.shutdown,
            links.restart,
        )?;
        let brokers = mqtt.section.brokers_text();
        Ok((Started::Mqtt { sink: Box::new(sink), brokers }, Some(agent)))
    }
}

/// The spool, opened and its recovery logged.
fn open_spool(config: &crate::spool::SpoolConfig) -> anyhow::Result<(Spool, Vec<Message>)> {
    let (spool, recovered) = Spool::open(config).context("opening the spool")?;
    let found = spool.stats();
    if found.corrupt_skipped > 0 || found.truncated_bytes > 0 {
        tracing::warn!(
            corrupt_skipped = found.corrupt_skipped,
            corrupt_bytes = found.corrupt_bytes,
            truncated_bytes = found.truncated_bytes,
            recovered = recovered.len(),
            "the spool was damaged; every intact message is kept"
        );
    }
    if !recovered.is_empty() {
        tracing::info!(
            messages = recovered.len(),
            "messages from before the last stop are sent first"
        );
    }
    Ok((spool, recovered))
}

/// The publisher's setup: its status (with the purpose), and its subscriptions, the hotlists and
/// their deltas going to the updater's mailbox and the commands to the control agent's.
fn setup(
    config: &Config,
    topics: &Topics,
    status: StatusSource,
    hotlists: &Arc<Mailbox>,
    agent: AgentMailbox,
) -> Setup {
    let (device, fleet) = (config.hotlist.mqtt_device_topic, config.hotlist.mqtt_fleet_topic);
    let hotlist_topics: Vec<(String, Kind)> = [
        (device, &topics.hotlist, Kind::Full),
        (device, &topics.hotlist_delta, Kind::Delta),
        (fleet, &topics.fleet_hotlist, Kind::Full),
        (fleet, &topics.fleet_hotlist_delta, Kind::Delta),
    ]
    .into_iter()
    .filter(|(on, _, _)| *on)
    .map(|(_, topic, kind)| (topic.clone(), kind))
    .collect();
    let mut setup = Setup::new(status);
    setup.status_fields = serde_json::json!({ "purpose": config.privacy.purpose });
    let commands =
        [(topics.control.clone(), Arrival::Unit), (topics.fleet_control.clone(), Arrival::Fleet)];
    setup.subscriptions = hotlist_topics.iter().map(|(topic, _)| topic.clone()).collect();
    setup.control = control_handler(hotlist_topics, hotlists, commands, agent);
    if config.control.is_some() {
        setup.subscriptions.push(topics.fleet_control.clone());
    }
    setup
}

/// Where messages on the subscribed topics go: hotlists and their deltas to the updater's
/// mailbox, commands (the unit's control topic, the fleet's) to the control agent's.
fn control_handler(
    hotlist_topics: Vec<(String, Kind)>,
    hotlists: &Arc<Mailbox>,
    commands: [(String, Arrival); 2],
    agent: AgentMailbox,
) -> ControlHandler {
    let mailbox = Arc::clone(hotlists);
    Arc::new(move |topic: &str, payload: &[u8]| {
        if let Some((_, arrival)) = commands.iter().find(|(t, _)| t == topic) {
            agent.put(*arrival, payload);
        } else if let Some(kind) = hotlist_topics.iter().find(|(t, _)| t == topic).map(|t| t.1) {
            if payload.is_empty() {
                // An empty retained message is how a retained message is cleared.
                tracing::info!(
                    topic,
                    "retained hotlist cleared on the broker; the list in force stays"
                );
            } else {
                mailbox.put(topic, kind, payload);
            }
        } else {
            tracing::info!(
                topic,
                bytes = payload.len(),
                "message on a topic the unit does not use"
            );
        }
    })
}

impl Started {
    /// The publisher's figures (outbox, spool, hit acknowledgements), for the metrics.
    pub fn figures(&self) -> Option<StatusSource> {
        match self {
            Self::Mqtt { sink, .. } => Some(sink.figures_source()),
            Self::Stdout(_) => None,
        }
    }

    /// Runs `pipeline` into the destination; then, for the broker, flushes what it holds (what
    /// was made before an error still goes out) and reports what it did not acknowledge.
    pub fn run(
        self,
        pipeline: impl FnOnce(&mut dyn ReadSink) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        match self {
            Self::Stdout(mut sink) => pipeline(&mut sink),
            Self::Mqtt { mut sink, brokers } => {
                let ran = pipeline(&mut *sink);
                let report = sink.shutdown(SHUTDOWN_FLUSH);
                ran?;
                judge(&report, &brokers)
            }
        }
    }
}

/// Whether a stop lost anything the broker had not acknowledged.
fn judge(report: &crate::publish::ShutdownReport, brokers: &str) -> anyhow::Result<()> {
    if report.unacknowledged.is_empty() {
        tracing::info!(acked = report.stats.acked, "every read was acknowledged by the broker");
    } else if let (Some(dir), true) = (&report.spooled, report.lost.is_empty()) {
        // Nothing is lost, so the stop succeeded: a non-zero exit would mark the unit failed
        // in systemd at every planned stop during a broker outage.
        tracing::warn!(
            unacknowledged = report.unacknowledged.len(),
            spool = %dir.display(),
            "the broker did not acknowledge these messages before the stop; they are kept in the spool and sent at the next start"
        );
    } else {
        tracing::error!(
            unacknowledged = report.unacknowledged.len(),
            lost = report.lost.len(),
            first = report.lost.first().map(String::as_str).unwrap_or_default(),
            "the broker did not acknowledge these messages before the stop, and the spool does not hold them (no [spool], or the disk refused them): they are lost"
        );
        anyhow::bail!(
            "{} messages (reads and images) were not acknowledged by the broker ({brokers}) before the stop and are lost ({} kept in the spool)",
            report.lost.len(),
            report.unacknowledged.len() - report.lost.len()
        );
    }
    Ok(())
}
