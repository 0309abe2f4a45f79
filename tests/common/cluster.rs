//! A real clustered MQTT broker on loopback: one Redis and Aedes nodes (`tests/cluster/`,
//! installed by `scripts/cluster.sh`) sharing messages and sessions through it. Each node can
//! be frozen, killed and started again on its port. Included alone by `benches/fleet.rs`.
#![allow(dead_code)] // each includer uses its own subset

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Cluster {
    dir: tempfile::TempDir,
    redis: Child,
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

impl Cluster {
    pub fn start(nodes: usize) -> Self {
        assert!(
            cluster_dir().join("node_modules/aedes").exists(),
            "the test cluster is not installed: run scripts/cluster.sh"
        );
        let dir = tempfile::tempdir().expect("tempdir");
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
        let ports = (0..nodes).map(|_| free_port()).collect();
        let mut cluster =
            Self { dir, redis, redis_port, ports, nodes: (0..nodes).map(|_| None).collect() };
        for node in 0..nodes {
            cluster.resume(node);
        }
        cluster
    }

    fn log_path(&self, node: usize) -> PathBuf {
        self.dir.path().join(format!("node-{node}.log"))
    }

    /// What node `node` printed: `listening <port>`, `client <id> <ms>` per connection, errors.
    pub fn log(&self, node: usize) -> String {
        std::fs::read_to_string(self.log_path(node)).unwrap_or_default()
    }

    /// Every connection node `node` took since it started: (client id, ms since the epoch).
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
        let log = std::fs::File::create(self.log_path(node)).expect("log");
        let child = Command::new("node")
            .arg(cluster_dir().join("node.mjs"))
            .args([self.ports[node].to_string(), self.redis_port.to_string()])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("node (scripts/cluster.sh installs it)");
        self.nodes[node] = Some(child);
        wait_listening(self.ports[node], "an Aedes node", || self.log(node));
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
        let _ = self.redis.kill();
        let _ = self.redis.wait();
    }
}
