//! A real clustered MQTT broker on loopback, each node of which can be frozen, killed and
//! started again on its port:
//! - Aedes (the tests' default): one Redis and Aedes nodes (`tests/cluster/`, installed by
//!   `scripts/cluster.sh`) sharing messages and sessions through it;
//! - rmqtt: `rmqttd` nodes with the `rmqtt-cluster-raft` plugin (Raft for the routes, gRPC
//!   between the nodes), the binary named by `$RMQTTD` (`scripts/cluster.sh --rmqtt` builds
//!   it: ≈13 minutes on 2 cores, so the bench only).
//!
//! Included alone by `benches/fleet.rs`.
#![allow(dead_code)] // each includer uses its own subset

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Aedes,
    Rmqtt,
}

pub struct Cluster {
    engine: Engine,
    dir: tempfile::TempDir,
    /// Aedes only.
    redis: Option<Child>,
    redis_port: u16,
    pub ports: Vec<u16>,
    nodes: Vec<Option<Child>>,
}

// Its own, so that a bench can include this file alone.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn cluster_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cluster")
}

fn wait_listening(port: u16, what: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}: {}", log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The rmqttd binary of `$RMQTTD`.
fn rmqttd() -> PathBuf {
    let binary = PathBuf::from(std::env::var("RMQTTD").unwrap_or_default());
    assert!(binary.is_file(), "RMQTTD names no rmqttd binary: run scripts/cluster.sh --rmqtt");
    binary
}

impl Cluster {
    /// Aedes nodes over Redis.
    pub fn start(nodes: usize) -> Self {
        Self::start_engine(nodes, Engine::Aedes)
    }

    pub fn start_engine(nodes: usize, engine: Engine) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports: Vec<u16> = (0..nodes).map(|_| free_port()).collect();
        let (redis, redis_port) = match engine {
            Engine::Aedes => {
                let (redis, port) = Self::start_redis(&dir);
                (Some(redis), port)
            }
            Engine::Rmqtt => {
                Self::write_rmqtt_configs(&dir, &ports);
                (None, 0)
            }
        };
        let mut cluster = Self {
            engine,
            dir,
            redis,
            redis_port,
            ports,
            nodes: (0..nodes).map(|_| None).collect(),
        };
        for node in 0..nodes {
            cluster.resume(node);
        }
        cluster
    }

    /// One configuration per node: its MQTT listener, its gRPC server, and the cluster plugin
    /// naming every node's gRPC and Raft addresses (the HTTP API plugin is off: every node
    /// would take the same port). The listener takes a whole hotlist (rmqtt's default packet
    /// limit is 1 MiB) and queues up to 200,000 messages for a session that is away (its
    /// default, 1,000, drops a consumer's reads during a node change).
    fn write_rmqtt_configs(dir: &tempfile::TempDir, ports: &[u16]) {
        let grpc: Vec<u16> = ports.iter().map(|_| free_port()).collect();
        let raft: Vec<u16> = ports.iter().map(|_| free_port()).collect();
        let list = |ports: &[u16]| {
            let entries: Vec<String> = ports
                .iter()
                .enumerate()
                .map(|(i, p)| format!("\"{}@127.0.0.1:{p}\"", i + 1))
                .collect();
            entries.join(", ")
        };
        for (i, port) in ports.iter().enumerate() {
            let plugins = dir.path().join(format!("plugins-{i}"));
            std::fs::create_dir_all(&plugins).expect("plugins folder");
            std::fs::write(
                plugins.join("rmqtt-cluster-raft.toml"),
                format!(
                    "node_grpc_addrs = [{}]\nraft_peer_addrs = [{}]\n",
                    list(&grpc),
                    list(&raft)
                ),
            )
            .expect("plugin configuration");
            std::fs::write(
                dir.path().join(format!("node-{i}.toml")),
                format!(
                    "[node]\nid = {}\n[rpc]\nserver_addr = \"127.0.0.1:{}\"\n[listener.tcp.external]\naddr = \"127.0.0.1:{port}\"\nmax_packet_size = \"32M\"\nmax_mqueue_len = 200000\nmax_inflight = 64\n\
                     [plugins]\ndir = \"{}/\"\ndefault_startups = [\"rmqtt-cluster-raft\"]\ndisabled_default_startups = [\"rmqtt-http-api\"]\n",
                    i + 1,
                    grpc[i],
                    plugins.display()
                ),
            )
            .expect("node configuration");
        }
    }

    fn start_redis(dir: &tempfile::TempDir) -> (Child, u16) {
        assert!(
            cluster_dir().join("node_modules/aedes").exists(),
            "the test cluster is not installed: run scripts/cluster.sh"
        );
        let redis_port = free_port();
        let redis = Command::new("redis-server")
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no"])
            // Redis drops a pub/sub subscriber whose output buffer passes 8 MB for a minute or
            // 32 MB at once (its default), and with it every message between the nodes in that
            // window: a node busy fanning a 4 MB hotlist out to hundreds of units must not lose
            // the reads routed to it meanwhile. A real deployment sizes this with its nodes.
            .args(["--client-output-buffer-limit", "pubsub 0 0 0", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/cluster.sh installs it)");
        wait_listening(redis_port, "redis-server", String::new);
        (redis, redis_port)
    }

    fn log_path(&self, node: usize) -> PathBuf {
        self.dir.path().join(format!("node-{node}.log"))
    }

    /// What node `node` printed: `listening <port>`, `client <id> <ms>` per connection, errors.
    pub fn log(&self, node: usize) -> String {
        std::fs::read_to_string(self.log_path(node)).unwrap_or_default()
    }

    /// Every connection node `node` took since it started: (client id, ms since the epoch).
    /// Aedes nodes print them; rmqtt nodes do not (empty).
    pub fn connections(&self, node: usize) -> Vec<(String, u64)> {
        self.log(node)
            .lines()
            .filter_map(|line| {
                let mut words = line.strip_prefix("client ")?.split(' ');
                Some((words.next()?.to_string(), words.next()?.parse().ok()?))
            })
            .collect()
    }

    /// The nodes a client has connected to since each started, by its id.
    pub fn nodes_of(&self, client_id: &str) -> Vec<usize> {
        (0..self.ports.len())
            .filter(|&n| self.connections(n).iter().any(|(id, _)| id == client_id))
            .collect()
    }

    /// (Re)starts node `node` on its port.
    pub fn resume(&mut self, node: usize) {
        assert!(
            self.try_resume(node, Duration::from_secs(20)),
            "node {node} did not start: {}",
            self.log(node)
        );
    }

    /// (Re)starts node `node`, trying again while it exits at start, for up to `within`. An
    /// rmqtt node killed cannot bind its Raft port again until the kernel's TIME_WAIT of the
    /// old connections is over (about a minute): it exits with "Address already in use".
    pub fn try_resume(&mut self, node: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.spawn(node) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    /// One start of node `node`: true once it listens, false if it exited first.
    fn spawn(&mut self, node: usize) -> bool {
        let log = std::fs::File::create(self.log_path(node)).expect("log");
        let mut command = match self.engine {
            Engine::Aedes => {
                let mut command = Command::new("node");
                command
                    .arg(cluster_dir().join("node.mjs"))
                    .args([self.ports[node].to_string(), self.redis_port.to_string()]);
                command
            }
            Engine::Rmqtt => {
                let mut command = Command::new(rmqttd());
                command.arg("-f").arg(self.dir.path().join(format!("node-{node}.toml")));
                command
            }
        };
        let child = command
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("a cluster node (scripts/cluster.sh installs it)");
        self.nodes[node] = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.ports[node])).is_err() {
            let exited =
                self.nodes[node].as_mut().is_none_or(|c| c.try_wait().ok().flatten().is_some());
            if exited || Instant::now() >= deadline {
                self.kill(node);
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    fn signal(&self, node: usize, signal: &str) {
        if let Some(child) = &self.nodes[node] {
            let _ =
                Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
        }
    }

    /// Connections stay open, nothing is acknowledged.
    pub fn freeze(&self, node: usize) {
        self.signal(node, "STOP");
    }

    pub fn thaw(&self, node: usize) {
        self.signal(node, "CONT");
    }

    pub fn kill(&mut self, node: usize) {
        if let Some(mut child) = self.nodes[node].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in 0..self.nodes.len() {
            self.kill(node);
        }
        if let Some(redis) = &mut self.redis {
            let _ = redis.kill();
            let _ = redis.wait();
        }
    }
}
