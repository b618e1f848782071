//! A small SMTP server for tests: it listens on 127.0.0.1 port 0, speaks enough
//! ESMTP for lettre (greeting, EHLO/HELO, MAIL FROM, RCPT TO, DATA with
//! dot-unstuffing, RSET, NOOP, QUIT) and keeps what it receives — the envelope and
//! the raw message — in memory for the test to await. Real mail servers are not on
//! this machine, and a sink we control can also misbehave on purpose: answer the
//! end of DATA with scripted 4xx/5xx replies, or hold new connections before the
//! greeting so the sender's queue backs up.
//!
//! Commands out of protocol order (DATA before RCPT would be a bug in the code
//! under test) get 503, as from a real server, and are counted so a test can
//! assert there were none.

// Limits and fixed instants are named like values, unit last, as in the library.
#![allow(non_upper_case_globals)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

/// A command or data line longer than this ends the connection; SMTP allows 1000
/// bytes, base64 lines are 76.
const line_bytes_max: usize = 64 * 1024;
/// A message larger than this is refused with 552, and the sink keeps nothing.
const message_bytes_max: usize = 32 * 1024 * 1024;

/// One message as the sink received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message exactly as sent after DATA, dot-unstuffed, lines ending in CRLF.
    pub data: Vec<u8>,
}

#[derive(Default)]
struct Shared {
    received: Mutex<VecDeque<Received>>,
    arrived: Notify,
    /// Replies to the end of DATA used instead of `250`, in order.
    script: Mutex<VecDeque<String>>,
    connections: AtomicUsize,
    connected: Notify,
    /// Messages answered with a scripted reply (and so not kept).
    refused: AtomicUsize,
    out_of_order: AtomicUsize,
}

pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// While false, accepted connections wait before the greeting.
    open: watch::Sender<bool>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the SMTP sink");
        let addr = listener.local_addr().expect("sink address");
        let shared = Arc::new(Shared::default());
        let (open, gate) = watch::channel(true);
        let accept_shared = shared.clone();
        // The task ends with the test's runtime.
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accept_shared.connections.fetch_add(1, Ordering::SeqCst);
                accept_shared.connected.notify_waiters();
                tokio::spawn(session(stream, accept_shared.clone(), gate.clone()));
            }
        });
        SmtpSink { addr, shared, open }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// New connections wait before the greeting until `release`.
    pub fn hold(&self) {
        self.open.send_replace(false);
    }

    pub fn release(&self) {
        self.open.send_replace(true);
    }

    /// Answers the end of the next messages' DATA with these replies (e.g.
    /// `"451 4.3.0 try later"`), one per message, then `250` again.
    pub fn script(&self, replies: &[&str]) {
        self.shared.script.lock().unwrap().extend(replies.iter().map(|r| r.to_string()));
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    pub fn out_of_order(&self) -> usize {
        self.shared.out_of_order.load(Ordering::SeqCst)
    }

    /// Waits until at least `count` connections were accepted.
    pub async fn await_connections(&self, count: usize, timeout: Duration) {
        tokio::time::timeout(timeout, async {
            loop {
                let notified = self.shared.connected.notified();
                if self.connections() >= count {
                    return;
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the sink saw {} of {count} connections", self.connections()));
    }

    /// The oldest message not yet taken, waiting up to `timeout` for one.
    pub async fn next_message(&self, timeout: Duration) -> Received {
        tokio::time::timeout(timeout, async {
            loop {
                let notified = self.shared.arrived.notified();
                if let Some(message) = self.shared.received.lock().unwrap().pop_front() {
                    return message;
                }
                notified.await;
            }
        })
        .await
        .expect("no message reached the SMTP sink in time")
    }

    /// Messages received and not yet taken.
    pub fn waiting(&self) -> usize {
        self.shared.received.lock().unwrap().len()
    }
}

async fn session(stream: TcpStream, shared: Arc<Shared>, mut gate: watch::Receiver<bool>) {
    if gate.wait_for(|open| *open).await.is_err() {
        return;
    }
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut reply = async |text: &str| write.write_all(format!("{text}\r\n").as_bytes()).await.is_ok();
    if !reply("220 sink.test ESMTP sturmfest test sink").await {
        return;
    }
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    loop {
        let Some(line) = read_line(&mut lines).await else { return };
        let line = String::from_utf8_lossy(&line).into_owned();
        let verb = line.split([' ', ':']).next().unwrap_or("").to_ascii_uppercase();
        let answer = match verb.as_str() {
            "EHLO" => "250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 33554432".to_string(),
            "HELO" => "250 sink.test".to_string(),
            "MAIL" => match path_argument(&line, "MAIL FROM:") {
                Some(path) => {
                    mail_from = Some(path);
                    rcpt_to.clear();
                    "250 2.1.0 ok".to_string()
                }
                None => "501 5.5.4 syntax: MAIL FROM:<address>".to_string(),
            },
            "RCPT" if mail_from.is_none() => out_of_order(&shared),
            "RCPT" => match path_argument(&line, "RCPT TO:") {
                Some(path) => {
                    rcpt_to.push(path);
                    "250 2.1.5 ok".to_string()
                }
                None => "501 5.5.4 syntax: RCPT TO:<address>".to_string(),
            },
            "DATA" if rcpt_to.is_empty() => out_of_order(&shared),
            "DATA" => {
                if !reply("354 end data with <CR><LF>.<CR><LF>").await {
                    return;
                }
                let Some(data) = read_data(&mut lines).await else { return };
                let scripted = shared.script.lock().unwrap().pop_front();
                let answer = match (data, scripted) {
                    (None, _) => "552 5.3.4 message too big".to_string(),
                    (Some(_), Some(scripted)) => {
                        shared.refused.fetch_add(1, Ordering::SeqCst);
                        scripted
                    }
                    (Some(data), None) => {
                        let message = Received {
                            mail_from: mail_from.take().expect("DATA after MAIL"),
                            rcpt_to: std::mem::take(&mut rcpt_to),
                            data,
                        };
                        shared.received.lock().unwrap().push_back(message);
                        shared.arrived.notify_waiters();
                        "250 2.0.0 queued".to_string()
                    }
                };
                mail_from = None;
                rcpt_to.clear();
                answer
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                "250 2.0.0 reset".to_string()
            }
            "NOOP" => "250 2.0.0 ok".to_string(),
            "QUIT" => {
                reply("221 2.0.0 bye").await;
                return;
            }
            _ => "502 5.5.2 command not implemented".to_string(),
        };
        if !reply(&answer).await {
            return;
        }
    }
}

fn out_of_order(shared: &Shared) -> String {
    shared.out_of_order.fetch_add(1, Ordering::SeqCst);
    "503 5.5.1 bad sequence of commands".to_string()
}

/// `<address>` after a case-insensitive `prefix`, ignoring ESMTP parameters such
/// as `BODY=8BITMIME` after it.
fn path_argument(line: &str, prefix: &str) -> Option<String> {
    let head = line.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = line[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_string())
}

/// One line without its CRLF (or bare LF); `None` at end of stream or when too long.
async fn read_line(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let read = (&mut *reader).take(line_bytes_max as u64 + 2).read_until(b'\n', &mut line).await.ok()?;
    if read == 0 || !line.ends_with(b"\n") {
        return None;
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    Some(line)
}

/// The message after `354` up to the lone `.` line, with a leading dot removed
/// from every line that had one (RFC 5321 4.5.2). `Some(None)` if it was too big.
async fn read_data(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut too_big = false;
    loop {
        let line = read_line(reader).await?;
        if line == b"." {
            return Some(if too_big { None } else { Some(data) });
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + unstuffed.len() + 2 > message_bytes_max {
            too_big = true;
            data.clear();
        }
        if !too_big {
            data.extend_from_slice(unstuffed);
            data.extend_from_slice(b"\r\n");
        }
    }
}
