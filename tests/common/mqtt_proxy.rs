//! A loopback relay between an MQTT client and a broker that reads the MQTT packets it carries,
//! records each one (connection, direction, kind, packet id) and, on the test's command, holds,
//! delays or cuts them per direction: how a test chooses an interleaving of the client's and
//! the broker's packets instead of hoping the machine's load produces it.
//!
//! - `hold(dir, from, until)`: from the first packet of `dir` that `from` accepts, every packet
//!   of that direction is held, in order; the first held packet that `until` accepts is
//!   appended, and everything held leaves in **one write**, so the receiver reads it as one
//!   chunk. `release(dir)` lets it go on command.
//! - `delay(dir, d)`: each chunk waits `d` before it is forwarded.
//! - `cut()`: every connection is closed at once (no DISCONNECT: a pulled cable), held packets
//!   are lost (a hold not yet begun stays); `refuse(true)` turns new connections away until
//!   `refuse(false)`.
//!
//! Included alone by `benches/chaos.rs`.
#![allow(dead_code)] // each includer uses its own subset

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which way a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ToBroker,
    ToClient,
}

/// One MQTT packet seen by the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// 1 for the first connection accepted, 2 for the next, …
    pub conn: usize,
    pub dir: Dir,
    /// The MQTT control packet type (3 PUBLISH, 5 PUBREC, 6 PUBREL, 7 PUBCOMP, …).
    pub kind: u8,
    /// 0 for the packets that carry none (and QoS 0 publishes).
    pub pkid: u16,
    /// Whether it waited in a hold.
    pub held: bool,
}

pub const CONNECT: u8 = 1;
pub const PUBLISH: u8 = 3;
pub const PUBACK: u8 = 4;
pub const PUBREC: u8 = 5;
pub const PUBREL: u8 = 6;
pub const PUBCOMP: u8 = 7;
pub const SUBSCRIBE: u8 = 8;

type From = Box<dyn FnMut(&Packet) -> bool + Send>;
/// Given the packet just held and every packet held so far (itself last).
type Until = Box<dyn FnMut(&Packet, &[Packet]) -> bool + Send>;

struct Hold {
    from: From,
    until: Until,
    /// Once `from` accepted a packet: the connection, the bytes and the packets held.
    active: Option<(usize, Vec<u8>, Vec<Packet>)>,
}

#[derive(Default)]
struct State {
    refuse: bool,
    connections: usize,
    /// Per direction (ToBroker, ToClient): the hold, the delay, the stream of each connection.
    holds: [Option<Hold>; 2],
    delays: [Duration; 2],
    /// The stream each connection writes to in each direction, locked while a write is under
    /// way so that a release cannot overtake packets the relay is writing.
    writers: Vec<(usize, Dir, Arc<Mutex<TcpStream>>)>,
    /// Every socket, to cut them without waiting for a write blocked on a frozen peer.
    sockets: Vec<TcpStream>,
    trace: Vec<Packet>,
}

pub struct MqttProxy {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

fn slot(dir: Dir) -> usize {
    match dir {
        Dir::ToBroker => 0,
        Dir::ToClient => 1,
    }
}

/// The length of the first whole packet in `buf`, with its kind and packet id; `None` until
/// the whole packet is there.
fn first_packet(buf: &[u8]) -> Option<(usize, u8, u16)> {
    let first = *buf.first()?;
    let (mut remaining, mut shift, mut at) = (0usize, 0, 1);
    loop {
        let byte = *buf.get(at)?;
        remaining |= usize::from(byte & 0x7f) << shift;
        at += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let end = at + remaining;
    let body = buf.get(at..end)?;
    let kind = first >> 4;
    let id_at = match kind {
        PUBLISH if (first >> 1) & 3 == 0 => None,
        PUBLISH => Some(2 + usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]))),
        4..=11 => Some(0),
        _ => None,
    };
    let pkid = id_at
        .and_then(|i| Some(u16::from_be_bytes([*body.get(i)?, *body.get(i + 1)?])))
        .unwrap_or(0);
    Some((end, kind, pkid))
}

impl MqttProxy {
    pub fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("proxy port");
        let port = listener.local_addr().expect("proxy address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let proxy = MqttProxy { port, state: Arc::default(), stop: Arc::default() };
        let (state, stop) = (Arc::clone(&proxy.state), Arc::clone(&proxy.stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                    Err(e) => panic!("proxy accept: {e}"),
                };
                let mut st = state.lock().expect("lock");
                if st.refuse {
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                client.set_nonblocking(false).expect("blocking");
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                st.connections += 1;
                let conn = st.connections;
                for (from, to, dir) in
                    [(&client, &server, Dir::ToBroker), (&server, &client, Dir::ToClient)]
                {
                    let from = from.try_clone().expect("clone");
                    let to = Arc::new(Mutex::new(to.try_clone().expect("clone")));
                    st.writers.push((conn, dir, Arc::clone(&to)));
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || relay(conn, dir, from, &to, &state));
                }
                st.sockets.extend([client, server]);
            }
        });
        proxy
    }

    /// Holds `dir` from the first packet `from` accepts until `until` accepts a held one.
    pub fn hold(
        &self,
        dir: Dir,
        from: impl FnMut(&Packet) -> bool + Send + 'static,
        until: impl FnMut(&Packet, &[Packet]) -> bool + Send + 'static,
    ) {
        self.state.lock().expect("lock").holds[slot(dir)] =
            Some(Hold { from: Box::new(from), until: Box::new(until), active: None });
    }

    /// Lets everything held in `dir` go now, in one write, and ends the hold.
    pub fn release(&self, dir: Dir) {
        let mut st = self.state.lock().expect("lock");
        if let Some(Hold { active: Some((conn, bytes, _)), .. }) = st.holds[slot(dir)].take() {
            let writer = st.writers.iter().find(|(c, d, _)| *c == conn && *d == dir);
            if let Some(writer) = writer.map(|(_, _, w)| Arc::clone(w)) {
                let mut stream = writer.lock().expect("lock");
                drop(st);
                let _ = stream.write_all(&bytes);
            }
        }
    }

    /// Whether `dir` is holding packets now.
    pub fn holding(&self, dir: Dir) -> bool {
        matches!(
            self.state.lock().expect("lock").holds[slot(dir)],
            Some(Hold { active: Some(_), .. })
        )
    }

    pub fn delay(&self, dir: Dir, delay: Duration) {
        self.state.lock().expect("lock").delays[slot(dir)] = delay;
    }

    /// Closes every connection now; what was held is lost with the holds that held it (a hold
    /// set up but not yet begun stays, for the next connection).
    pub fn cut(&self) {
        let mut st = self.state.lock().expect("lock");
        for hold in &mut st.holds {
            if hold.as_ref().is_some_and(|h| h.active.is_some()) {
                *hold = None;
            }
        }
        st.writers.clear();
        for stream in st.sockets.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    pub fn refuse(&self, refuse: bool) {
        self.state.lock().expect("lock").refuse = refuse;
    }

    /// Every packet seen so far, in the order the relay saw them.
    pub fn trace(&self) -> Vec<Packet> {
        self.state.lock().expect("lock").trace.clone()
    }

    /// The trace, one packet a line, for a failure message.
    pub fn trace_text(&self) -> String {
        let name = |kind: u8| match kind {
            1 => "CONNECT",
            2 => "CONNACK",
            3 => "PUBLISH",
            4 => "PUBACK",
            5 => "PUBREC",
            6 => "PUBREL",
            7 => "PUBCOMP",
            8 => "SUBSCRIBE",
            9 => "SUBACK",
            12 => "PINGREQ",
            13 => "PINGRESP",
            14 => "DISCONNECT",
            _ => "OTHER",
        };
        self.trace()
            .iter()
            .map(|p| {
                let arrow =
                    if p.dir == Dir::ToBroker { "unit -> broker" } else { "broker -> unit" };
                let held = if p.held { " (held)" } else { "" };
                format!("conn {} {arrow} {} {}{held}\n", p.conn, name(p.kind), p.pkid)
            })
            .collect()
    }
}

fn relay(conn: usize, dir: Dir, mut from: TcpStream, to: &Mutex<TcpStream>, state: &Mutex<State>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let delay = state.lock().expect("lock").delays[slot(dir)];
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut st = state.lock().expect("lock");
        // What leaves now, in order: packets that pass, then a hold's packets once released.
        let mut out: Vec<u8> = Vec::new();
        while let Some((len, kind, pkid)) = first_packet(&buf) {
            let bytes: Vec<u8> = buf.drain(..len).collect();
            let mut packet = Packet { conn, dir, kind, pkid, held: false };
            let holding = match st.holds[slot(dir)].as_mut() {
                Some(hold) if hold.active.is_none() => {
                    if (hold.from)(&packet) {
                        hold.active = Some((conn, Vec::new(), Vec::new()));
                        Some(hold)
                    } else {
                        None
                    }
                }
                Some(hold) if hold.active.as_ref().is_some_and(|a| a.0 == conn) => Some(hold),
                _ => None,
            };
            let Some(hold) = holding else {
                st.trace.push(packet);
                out.extend_from_slice(&bytes);
                continue;
            };
            packet.held = true;
            let Some((_, held_bytes, held)) = hold.active.as_mut() else { continue };
            held_bytes.extend_from_slice(&bytes);
            held.push(packet);
            if (hold.until)(&packet, held) {
                out.extend_from_slice(held_bytes);
                st.holds[slot(dir)] = None;
            }
            st.trace.push(packet);
        }
        // Taken before the state is let go, so a release cannot write ahead of `out`.
        let mut stream = to.lock().expect("lock");
        drop(st);
        if !out.is_empty() && stream.write_all(&out).is_err() {
            break;
        }
    }
    let _ = to.lock().expect("lock").shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

impl Drop for MqttProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cut();
    }
}
