//! A real Mosquitto on a free loopback port, for the tests, with the faults they inflict:
//! stop (SIGTERM), kill (SIGKILL), freeze (SIGSTOP) and thaw (SIGCONT), and start again on the
//! same port and configuration (`resume`).

use super::keys::openssl;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    /// Plain TCP, anonymous: for the test subscribers (and units configured insecure_dev).
    pub port: u16,
    /// Mutual TLS, when started with certificates.
    pub tls_port: Option<u16>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// Certificates for mutual TLS, made with the openssl command: a CA, the broker's certificate
/// for 127.0.0.1/localhost, and a client certificate whose CN is the unit's name.
pub struct Certificates {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Certificates {
    pub fn make(dir: &Path, client_name: &str) -> Self {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=test-ca",
            ],
        );
        // Extensions make them X.509 v3 certificates: rustls refuses v1 ones.
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )
        .expect("ext");
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
        Self::issue(dir, "server", "localhost", "server.ext");
        Self::issue(dir, "client", client_name, "client.ext");
        Self {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        }
    }

    /// A certificate for `cn` signed by the CA in `dir`, as `name`.pem and `name`.key, with the
    /// extensions of `ext` (`server.ext` or `client.ext`, written by [`Certificates::make`]).
    pub fn issue(dir: &Path, name: &str, cn: &str, ext: &str) -> (PathBuf, PathBuf) {
        let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={cn}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                ext,
            ],
        );
        (dir.join(pem), dir.join(key))
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Broker {
    /// Plain TCP on loopback, anonymous, with or without persistence.
    pub fn start(persistence: bool) -> Self {
        Self::start_with(persistence, None)
    }

    pub fn start_with(persistence: bool, tls: Option<&Certificates>) -> Self {
        Self::start_on(free_port(), persistence, tls)
    }

    pub fn start_on(port: u16, persistence: bool, tls: Option<&Certificates>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conf = format!("user root\nallow_anonymous true\nmax_queued_messages 100000\nlistener {port} 127.0.0.1\n");
        if persistence {
            conf.push_str(&format!(
                "persistence true\npersistence_location {}/\nautosave_interval 1\n",
                dir.path().display()
            ));
        } else {
            conf.push_str("persistence false\n");
        }
        let tls_port = tls.map(|c| {
            let tls_port = free_port();
            conf.push_str(&format!(
                "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\nuse_identity_as_username true\n",
                c.ca.display(),
                c.server_cert.display(),
                c.server_key.display()
            ));
            tls_port
        });
        std::fs::write(dir.path().join("mosquitto.conf"), conf).expect("write mosquitto.conf");
        let mut broker = Broker { port, tls_port, dir, child: None };
        broker.resume();
        broker
    }

    /// (Re)starts the broker process on the same port and configuration.
    pub fn resume(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("mosquitto.log")).expect("log");
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mosquitto (scripts/setup.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in std::iter::once(self.port).chain(self.tls_port) {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "mosquitto did not listen on {port}: {}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let _ =
                Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
        }
    }

    /// Freezes the broker: connections stay open, nothing is acknowledged.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a frozen broker go on where it stopped (SIGCONT).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    /// Kills the broker at once (SIGKILL; a frozen broker dies too).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the broker cleanly (SIGTERM), saving persistent sessions.
    pub fn stop(&mut self) {
        self.signal("TERM");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}
