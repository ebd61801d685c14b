//! `source syslog`: syslog messages over UDP or TCP, decoded by the syslog codec.
//!
//! UDP: one datagram is one message. TCP: messages are framed either by a newline or
//! by RFC 6587 octet counting (`<length> <message>`), told apart per message by the
//! first byte (a digit starts an octet count, `<` a message). The peer's address is
//! kept in `log.source.address`.
//!
//! A message that does not decode is still emitted, never dropped: `message` holds
//! its raw text and `pipectl.error` says why (`{component, message}`, the same shape the
//! `errors` outputs of transforms use), and it is counted as errored. So is a message
//! with more than `max_fields` fields (structured data parameters count). A message
//! longer than `max_length` is skipped and becomes such an error record too, holding
//! only its first 256 bytes; so does a stretch of a TCP stream that cannot be framed
//! (a broken octet count). Both are logged (at most one warning per peer every 10 s).
//! Runs until shutdown.

use super::{forward, Halt, Run, Throttle};
use crate::codecs::{put, syslog as codec};
use crate::io::BatchOutput;
use crate::limits::InputLimits;
use crate::lines::{decode_line, TOO_LONG_HEAD};
use crate::settings::{choice, size_limit};
use futures::future::BoxFuture;
use memchr::memchr;
use pipectl_core::component::{
    BuildContext, BuildError, Built, ComponentError, Factory, Source, SourceContext,
};
use pipectl_core::config::Attrs;
use pipectl_core::event::{Batch, Event};
use pipectl_core::metrics::ComponentCounters;
use pipectl_core::value::{Map, Value};
use pipectl_dsl::catalogue::{AttrSpec, AttrType, ComponentSpec};
use pipectl_dsl::plan::{ComponentKind, ComponentPlan};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

/// The catalogue entry of `source syslog`.
pub static SPEC: ComponentSpec = ComponentSpec {
    kind: ComponentKind::Source,
    type_name: "syslog",
    summary: "Receives syslog messages (RFC 5424 or RFC 3164) over UDP or TCP and decodes them into ECS fields.",
    attrs: &[
        AttrSpec::with_default(
            "mode",
            AttrType::Enum(&["udp", "tcp"]),
            "\"udp\"",
            "The transport. TCP accepts newline framing and RFC 6587 octet counting.",
        ),
        AttrSpec::with_default(
            "address",
            AttrType::String,
            "\"127.0.0.1:5514\"",
            "The `host:port` to listen on (port 0 picks a free port, logged at start).",
        ),
        AttrSpec::with_default(
            "max_length",
            AttrType::Size,
            "64KiB",
            "Longer messages are skipped without being held and emitted as error records holding their first 256 bytes.",
        ),
        AttrSpec::with_default(
            "format",
            AttrType::Enum(&["auto", "rfc5424", "rfc3164"]),
            "\"auto\"",
            "The syslog dialect; `auto` tells them apart per message.",
        ),
        crate::limits::MAX_FIELDS_ATTR,
    ],
    fixed_outputs: &[],
    outputs_from: None,
};

/// Builds `source syslog`.
pub const FACTORY: Factory = Factory { spec: &SPEC, build };

/// The transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// The checked settings of one `source syslog`.
#[derive(Debug, Clone)]
pub struct SyslogConfig {
    pub mode: Transport,
    pub address: String,
    pub max_length: usize,
    pub format: codec::Format,
    pub max_fields: usize,
}

impl SyslogConfig {
    pub fn from_attrs(attrs: &Attrs<'_>) -> Result<SyslogConfig, BuildError> {
        let address = attrs.string("address")?;
        let port_ok = address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(attrs.error(format!(
                "attribute `address`: `{address}` is not `host:port` (e.g. \"127.0.0.1:5514\")"
            )));
        }
        Ok(SyslogConfig {
            mode: choice(
                attrs,
                "mode",
                &[("udp", Transport::Udp), ("tcp", Transport::Tcp)],
            )?,
            address,
            max_length: size_limit(attrs, "max_length")?,
            format: choice(
                attrs,
                "format",
                &[
                    ("auto", codec::Format::Auto),
                    ("rfc5424", codec::Format::Rfc5424),
                    ("rfc3164", codec::Format::Rfc3164),
                ],
            )?,
            max_fields: crate::limits::count_or(
                attrs,
                "max_fields",
                crate::limits::DEFAULT_MAX_FIELDS,
            )?,
        })
    }
}

fn build(plan: &ComponentPlan, ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
    let config = SyslogConfig::from_attrs(&Attrs::new(plan, ctx))?;
    Ok(Built::Source(Box::new(SyslogSource { config })))
}

/// A built `source syslog`.
pub struct SyslogSource {
    config: SyslogConfig,
}

impl Source for SyslogSource {
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            let run = Run::from_context(ctx);
            let address = self.config.address.clone();
            let cannot = |e: std::io::Error| run.error(format!("cannot listen on {address}: {e}"));
            match self.config.mode {
                Transport::Udp => {
                    let socket = UdpSocket::bind(&address).await.map_err(cannot)?;
                    serve_udp(socket, self.config, run).await
                }
                Transport::Tcp => {
                    let listener = TcpListener::bind(&address).await.map_err(cannot)?;
                    serve_tcp(listener, self.config, run).await
                }
            }
        })
    }
}

/// Events per batch sent downstream.
const BATCH: usize = 1000;
const MAX_CONNECTIONS: usize = 256;
const CHUNK: usize = 64 * 1024;

/// Turns raw messages into events, counting and reporting what does not decode.
#[derive(Clone)]
struct Decoder {
    name: Arc<str>,
    format: codec::Format,
    max_length: usize,
    max_fields: usize,
    counters: Arc<ComponentCounters>,
}

impl Decoder {
    fn event(&self, raw: &[u8], peer: SocketAddr) -> Event {
        let raw = trim_end(raw);
        let (text, _) = decode_line(raw);
        let peer_text = Value::from(peer.to_string());
        let limits = InputLimits {
            max_event_size: self.max_length,
            max_fields: self.max_fields,
            ..InputLimits::default()
        };
        let decoded = codec::decode(&text, self.format).and_then(|map| {
            let map = Value::Object(map);
            match limits.check_value(&map) {
                Ok(()) => Ok(map),
                Err(e) => Err(crate::codecs::CodecError::new("syslog", e.to_string())),
            }
        });
        match decoded {
            Ok(Value::Object(mut map)) => {
                put(&mut map, &["log", "source", "address"], peer_text);
                Event::new(Value::Object(map), Arc::clone(&self.name))
            }
            Ok(_) => self.error_event(&text, "syslog: not an object", peer),
            Err(e) => self.error_event(&text, &e.to_string(), peer),
        }
    }

    /// The error record of a message: `message` holds its text, `pipectl.error` says
    /// why, `log.source.address` who sent it. Counted as errored.
    fn error_event(&self, text: &str, reason: &str, peer: SocketAddr) -> Event {
        self.counters.add_errored(1);
        let mut map = Map::with_capacity(3);
        map.push("message", Value::from(text));
        put(
            &mut map,
            &["pipectl", "error", "component"],
            Value::from(&*self.name),
        );
        put(
            &mut map,
            &["pipectl", "error", "message"],
            Value::from(reason),
        );
        put(
            &mut map,
            &["log", "source", "address"],
            Value::from(peer.to_string()),
        );
        Event::new(Value::Object(map), Arc::clone(&self.name))
    }

    /// The error record of a message over `max_length`, holding its first bytes.
    fn too_long(
        &self,
        peer: SocketAddr,
        length: usize,
        head: &[u8],
        throttle: &mut Throttle,
    ) -> Event {
        if let Some(suppressed) = throttle.allow() {
            tracing::warn!(
                source = %self.name,
                %peer,
                length,
                max_length = self.max_length,
                suppressed,
                "skipped a syslog message longer than max_length"
            );
        }
        let head = head
            .get(..TOO_LONG_HEAD.min(head.len()))
            .unwrap_or_default();
        let reason = format!(
            "syslog: a message of at least {length} bytes is longer than max_length ({} bytes): skipped; `message` holds its first {} bytes",
            self.max_length,
            head.len()
        );
        self.error_event(&decode_line(head).0, &reason, peer)
    }

    /// The error record of bytes that could not be framed.
    fn malformed(&self, peer: SocketAddr, reason: &str, throttle: &mut Throttle) -> Event {
        if let Some(suppressed) = throttle.allow() {
            tracing::warn!(source = %self.name, %peer, suppressed, "syslog framing error: {reason}");
        }
        self.error_event(
            "",
            &format!("syslog framing: {reason}; skipped to the next line"),
            peer,
        )
    }
}

/// Drops the line ending and NUL padding some senders add.
fn trim_end(raw: &[u8]) -> &[u8] {
    let end = raw
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | b'\0'))
        .map_or(0, |p| p + 1);
    raw.get(..end).unwrap_or_default()
}

async fn serve_udp<O: BatchOutput>(
    socket: UdpSocket,
    config: SyslogConfig,
    run: Run<O>,
) -> Result<(), ComponentError> {
    let Run {
        name,
        mut out,
        mut shutdown,
        counters,
    } = run;
    if let Ok(addr) = socket.local_addr() {
        tracing::info!(source = %name, address = %addr, "syslog source listening on UDP");
    }
    let decoder = Decoder {
        name,
        format: config.format,
        max_length: config.max_length,
        max_fields: config.max_fields,
        counters: Arc::clone(&counters),
    };
    let mut throttle = Throttle::new();
    // One byte more than allowed reveals a datagram that was cut to fit.
    let mut buf = vec![0u8; config.max_length + 1];
    let result: Result<(), Halt> = async {
        loop {
            let mut batch: Batch = Vec::new();
            let first = tokio::select! {
                biased;
                _ = shutdown.wait() => return Err(Halt::Shutdown),
                received = socket.recv_from(&mut buf) => received,
            };
            let mut received = Some(first);
            // Take whatever else is already queued, without waiting, into one batch.
            while let Some(result) = received.take() {
                match result {
                    Ok((n, peer)) => {
                        counters.add_bytes_in(n as u64);
                        if n > config.max_length {
                            let head = buf.get(..n.min(buf.len())).unwrap_or_default();
                            batch.push(decoder.too_long(peer, n, head, &mut throttle));
                        } else {
                            batch.push(decoder.event(buf.get(..n).unwrap_or_default(), peer));
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "syslog UDP receive failed"),
                }
                if batch.len() < BATCH {
                    match socket.try_recv_from(&mut buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        other => received = Some(other),
                    }
                }
            }
            out.send_batch(batch).await?;
        }
    }
    .await;
    result.or_else(Halt::into_result)
}

async fn serve_tcp<O: BatchOutput + 'static>(
    listener: TcpListener,
    config: SyslogConfig,
    run: Run<O>,
) -> Result<(), ComponentError> {
    let Run {
        name,
        out,
        mut shutdown,
        counters,
    } = run;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(source = %name, address = %addr, "syslog source listening on TCP");
    }
    let decoder = Decoder {
        name,
        format: config.format,
        max_length: config.max_length,
        max_fields: config.max_fields,
        counters,
    };
    let (batches, to_forward) = mpsc::channel::<Batch>(4);
    let accept = async move {
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let (drain, draining) = watch::channel(false);
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(conn) => conn,
                        Err(e) => {
                            tracing::warn!(error = %e, "syslog source cannot accept a connection");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
                        tracing::warn!(%peer, "syslog source at its connection limit; closing a new connection");
                        continue;
                    };
                    let decoder = decoder.clone();
                    let batches = batches.clone();
                    let draining = draining.clone();
                    connections.spawn(async move {
                        read_connection(stream, peer, decoder, batches, draining).await;
                        drop(permit);
                    });
                }
            }
        }
        drop(listener);
        drop(batches);
        let _ = drain.send(true);
        while connections.join_next().await.is_some() {}
    };
    tokio::join!(forward(out, to_forward), accept);
    Ok(())
}

/// Reads one TCP connection until the peer closes it or shutdown is requested.
async fn read_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    decoder: Decoder,
    batches: mpsc::Sender<Batch>,
    mut draining: watch::Receiver<bool>,
) {
    let mut framer = Framer::new(decoder.max_length);
    let mut throttle = Throttle::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let read = tokio::select! {
            biased;
            _ = async { let _ = draining.wait_for(|d| *d).await; } => break,
            read = stream.read(&mut buf) => read,
        };
        let n = match read {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "syslog connection failed");
                break;
            }
        };
        decoder.counters.add_bytes_in(n as u64);
        framer.push(buf.get(..n).unwrap_or_default());
        let mut batch = Vec::new();
        while let Some(frame) = framer.next_frame() {
            take_frame(frame, peer, &decoder, &mut throttle, &mut batch);
            if batch.len() >= BATCH && batches.send(std::mem::take(&mut batch)).await.is_err() {
                return;
            }
        }
        if !batch.is_empty() && batches.send(batch).await.is_err() {
            return;
        }
    }
    let mut batch = Vec::new();
    if let Some(frame) = framer.finish() {
        take_frame(frame, peer, &decoder, &mut throttle, &mut batch);
    }
    if !batch.is_empty() {
        let _ = batches.send(batch).await;
    }
}

fn take_frame(
    frame: Frame<'_>,
    peer: SocketAddr,
    decoder: &Decoder,
    throttle: &mut Throttle,
    batch: &mut Batch,
) {
    match frame {
        Frame::Message(bytes) => {
            // Keep-alive blank lines are not messages.
            if !trim_end(bytes).is_empty() {
                batch.push(decoder.event(bytes, peer));
            }
        }
        Frame::TooLong { length, head } => {
            batch.push(decoder.too_long(peer, length, head, throttle))
        }
        Frame::Malformed(reason) => batch.push(decoder.malformed(peer, reason, throttle)),
    }
}

/// One framed piece of a TCP stream.
#[derive(Debug, PartialEq, Eq)]
enum Frame<'a> {
    Message(&'a [u8]),
    /// A message over the limit (its length, or the bytes seen so far), skipped; the
    /// first of its bytes at hand (up to [`TOO_LONG_HEAD`]).
    TooLong {
        length: usize,
        head: &'a [u8],
    },
    /// Bytes that cannot be framed (a broken octet count), skipped to the next newline.
    Malformed(&'static str),
}

/// Splits a TCP stream into messages by newline or octet counting, holding at most
/// about `max` bytes of an unfinished message.
struct Framer {
    max: usize,
    data: Vec<u8>,
    /// Where unread data starts in `data`.
    start: usize,
    /// Bytes of an oversized octet-counted message still to skip.
    skip: usize,
    /// Inside an oversized newline-framed message: skip to the next newline.
    skip_line: bool,
}

/// An octet count has at most this many digits (enough for any sane length).
const MAX_COUNT_DIGITS: usize = 9;

impl Framer {
    fn new(max: usize) -> Framer {
        Framer {
            max,
            data: Vec::new(),
            start: 0,
            skip: 0,
            skip_line: false,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.extend_from_slice(bytes);
    }

    fn next_frame(&mut self) -> Option<Frame<'_>> {
        loop {
            let rest = self.data.get(self.start..).unwrap_or_default();
            if self.skip > 0 {
                let n = self.skip.min(rest.len());
                self.skip -= n;
                self.start += n;
                if self.skip > 0 {
                    return None;
                }
                continue;
            }
            if self.skip_line {
                match memchr(b'\n', rest) {
                    Some(nl) => {
                        self.start += nl + 1;
                        self.skip_line = false;
                        continue;
                    }
                    None => {
                        self.start += rest.len();
                        return None;
                    }
                }
            }
            let first = *rest.first()?;
            if first.is_ascii_digit() {
                return self.octet_counted();
            }
            return match memchr(b'\n', rest) {
                Some(nl) if nl > self.max => {
                    let from = self.start;
                    self.start += nl + 1;
                    Some(Frame::TooLong {
                        length: nl,
                        head: self.head(from, nl),
                    })
                }
                Some(nl) => {
                    let from = self.start;
                    self.start += nl + 1;
                    self.data.get(from..from + nl).map(Frame::Message)
                }
                None if rest.len() > self.max => {
                    let seen = rest.len();
                    let from = self.start;
                    self.start += seen;
                    self.skip_line = true;
                    Some(Frame::TooLong {
                        length: seen,
                        head: self.head(from, seen),
                    })
                }
                None => None,
            };
        }
    }

    /// Up to [`TOO_LONG_HEAD`] bytes of the `len` bytes at `from`.
    fn head(&self, from: usize, len: usize) -> &[u8] {
        self.data
            .get(from..from + len.min(TOO_LONG_HEAD))
            .unwrap_or_default()
    }

    /// `LEN SP MSG` at the start of the unread data.
    fn octet_counted(&mut self) -> Option<Frame<'_>> {
        let rest = self.data.get(self.start..).unwrap_or_default();
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > MAX_COUNT_DIGITS {
            self.skip_line = true;
            return Some(Frame::Malformed("octet count too long"));
        }
        let &after = rest.get(digits)?;
        if after != b' ' {
            self.skip_line = true;
            return Some(Frame::Malformed("octet count not followed by a space"));
        }
        let len: usize = std::str::from_utf8(rest.get(..digits).unwrap_or_default())
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let header = digits + 1;
        if len > self.max {
            let from = self.start + header;
            let at_hand = rest.len() - header;
            self.start += header;
            self.skip = len;
            return Some(Frame::TooLong {
                length: len,
                head: self.head(from, at_hand.min(len)),
            });
        }
        if rest.len() < header + len {
            return None;
        }
        let from = self.start + header;
        self.start = from + len;
        self.data.get(from..from + len).map(Frame::Message)
    }

    /// The end of the stream: a last newline-framed message without its newline is
    /// still a message; a cut octet-counted one is malformed.
    fn finish(&mut self) -> Option<Frame<'_>> {
        if self.skip > 0 || self.skip_line {
            return None;
        }
        let rest = self.data.get(self.start..).unwrap_or_default();
        let first = *rest.first()?;
        let from = self.start;
        self.start = self.data.len();
        if first.is_ascii_digit() {
            return Some(Frame::Malformed(
                "the stream ended inside an octet-counted message",
            ));
        }
        self.data.get(from..).map(Frame::Message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipectl_core::shutdown::shutdown_pair;
    use tokio::io::AsyncWriteExt;

    fn frames(max: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut framer = Framer::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            framer.push(chunk);
            while let Some(frame) = framer.next_frame() {
                out.push(render(frame));
            }
        }
        if let Some(frame) = framer.finish() {
            out.push(render(frame));
        }
        out
    }

    fn render(frame: Frame<'_>) -> String {
        match frame {
            Frame::Message(m) => String::from_utf8_lossy(m).to_string(),
            Frame::TooLong { length, head } => {
                format!("too long: {length} {}", String::from_utf8_lossy(head))
            }
            Frame::Malformed(r) => format!("malformed: {r}"),
        }
    }

    #[test]
    fn newline_and_octet_counted_frames_mix() {
        assert_eq!(
            frames(100, &[b"<1>a\n8 <2>b\nc\nd", b"ef\n3 <3", b">\n<4>last"]),
            ["<1>a", "<2>b\nc\nd", "ef", "<3>", "", "<4>last"]
        );
    }

    #[test]
    fn oversized_frames_are_skipped() {
        assert_eq!(
            frames(4, &[b"<1>abcdef\n<2>x\n", b"8 <3>abcde<4>y\n"]),
            [
                "too long: 9 <1>abcdef",
                "<2>x",
                "too long: 8 <3>abcde",
                "<4>y"
            ]
        );
        // A newline-framed message that never ends is not buffered.
        assert_eq!(
            frames(5, &[b"<1>abcdef", b"ghij", b"kl\n<2>ok\n"]),
            ["too long: 9 <1>abcdef", "<2>ok"]
        );
    }

    #[test]
    fn broken_octet_counts_are_malformed() {
        assert_eq!(
            frames(100, &[b"12x <1>a\n<2>b\n"]),
            ["malformed: octet count not followed by a space", "<2>b"]
        );
        assert_eq!(
            frames(100, &[b"1234567890 x\n<2>b\n"]),
            ["malformed: octet count too long", "<2>b"]
        );
        assert_eq!(
            frames(100, &[b"10 <1>ab"]),
            ["malformed: the stream ended inside an octet-counted message"]
        );
    }

    #[test]
    fn messages_with_too_many_fields_are_kept_with_the_reason() {
        let mut d = decoder();
        d.max_fields = 30;
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let params: String = (0..40).map(|i| format!(" p{i}=\"v\"")).collect();
        let event = d.event(format!("<13>1 - h a - - [x@1{params}] hi").as_bytes(), peer);
        let text = pipectl_core::json::to_string(&event.value);
        assert!(
            text.contains(r#""pipectl":{"error":{"component":"sys","message":"syslog: the record has more than max_fields (30) fields"}}"#),
            "{text}"
        );
        let event = d.event(b"<13>1 - h a - - [x@1 p=\"v\"] hi", peer);
        let text = pipectl_core::json::to_string(&event.value);
        assert!(!text.contains("pipectl"), "{text}");
        assert_eq!(d.counters.snapshot().events_errored, 1);
    }

    fn decoder() -> Decoder {
        Decoder {
            name: Arc::from("sys"),
            format: codec::Format::Auto,
            max_length: 1024,
            max_fields: 10_000,
            counters: Arc::new(ComponentCounters::default()),
        }
    }

    #[test]
    fn undecodable_messages_are_kept_with_the_reason() {
        let d = decoder();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let event = d.event(b"not syslog at all\n", peer);
        let text = pipectl_core::json::to_string(&event.value);
        assert!(text.starts_with(r#"{"message":"not syslog at all","pipectl":{"error":{"component":"sys","message":"syslog: expected a timestamp"#), "{text}");
        assert!(
            text.ends_with(r#""log":{"source":{"address":"127.0.0.1:9"}}}"#),
            "{text}"
        );
        assert_eq!(d.counters.snapshot().events_errored, 1);
        let event = d.event(b"<13>1 - host app - - - hello\r\n", peer);
        let text = pipectl_core::json::to_string(&event.value);
        assert!(text.contains(r#""message":"hello""#), "{text}");
        assert_eq!(d.counters.snapshot().events_errored, 1);
    }

    fn config(max_length: usize) -> SyslogConfig {
        SyslogConfig {
            mode: Transport::Udp,
            address: "127.0.0.1:0".into(),
            max_length,
            format: codec::Format::Auto,
            max_fields: 10_000,
        }
    }

    #[tokio::test]
    async fn udp_datagrams_become_events() {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel::<Batch>(8);
        let (trigger, shutdown) = shutdown_pair();
        let counters = Arc::new(ComponentCounters::default());
        let run = Run {
            name: Arc::from("sys"),
            out: tx,
            shutdown,
            counters: Arc::clone(&counters),
        };
        let task = tokio::spawn(serve_udp(socket, config(64), run));
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client
            .send_to(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed", addr)
            .await
            .unwrap();
        client.send_to(&[b'x'; 100], addr).await.unwrap();
        client
            .send_to(b"<13>1 2024-01-01T00:00:00Z h app - - - second\n", addr)
            .await
            .unwrap();
        let mut messages = Vec::new();
        let mut reasons = Vec::new();
        while messages.len() < 3 {
            let batch = rx.recv().await.unwrap();
            for event in batch {
                let map = event.value.as_object().unwrap();
                let message = map
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                messages.push(message);
                if let Some(Value::Object(p)) = map.get("pipectl") {
                    reasons.push(pipectl_core::json::to_string(
                        &p.get("error").cloned().unwrap(),
                    ));
                }
            }
        }
        // The datagram over max_length is a dead letter holding what was received of it.
        let cut = "x".repeat(65);
        assert_eq!(messages, ["'su root' failed", cut.as_str(), "second"]);
        assert_eq!(
            reasons,
            [
                r#"{"component":"sys","message":"syslog: a message of at least 65 bytes is longer than max_length (64 bytes): skipped; `message` holds its first 65 bytes"}"#
            ]
        );
        trigger.trigger();
        task.await.unwrap().unwrap();
        assert_eq!(counters.snapshot().events_errored, 1);
    }

    #[tokio::test]
    async fn tcp_connections_are_framed_and_decoded() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel::<Batch>(8);
        let (trigger, shutdown) = shutdown_pair();
        let run = Run {
            name: Arc::from("sys"),
            out: tx,
            shutdown,
            counters: Arc::new(ComponentCounters::default()),
        };
        let mut cfg = config(1024);
        cfg.mode = Transport::Tcp;
        let task = tokio::spawn(serve_tcp(listener, cfg, run));
        let mut client = TcpStream::connect(addr).await.unwrap();
        let framed = "<13>1 - h app - - - counted\nwith newline";
        let payload = format!(
            "<34>Oct 11 22:14:15 host sshd[7]: first\n{} {framed}<13>Oct 11 22:14:16 host x: last",
            framed.len()
        );
        client.write_all(payload.as_bytes()).await.unwrap();
        client.shutdown().await.unwrap();
        drop(client);
        let mut messages = Vec::new();
        while messages.len() < 3 {
            for event in rx.recv().await.unwrap() {
                let text = pipectl_core::json::to_string(&event.value);
                messages.push(text);
            }
        }
        assert!(
            messages[0].contains(r#""process":{"name":"sshd","pid":7}"#),
            "{}",
            messages[0]
        );
        assert!(
            messages[1].contains(r#""message":"counted\nwith newline""#),
            "{}",
            messages[1]
        );
        assert!(
            messages[2].contains(r#""message":"last""#),
            "{}",
            messages[2]
        );
        trigger.trigger();
        task.await.unwrap().unwrap();
        assert!(
            rx.recv().await.is_none(),
            "the output closes after shutdown"
        );
    }
}
