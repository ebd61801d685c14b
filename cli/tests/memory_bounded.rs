//! With a deliberately slow sink, resident memory stays flat however much input waits:
//! backpressure holds the source back instead of buffering the file in memory.
//!
//! The slow sink is a real `file` sink writing into a named pipe that this test reads
//! at a trickle; the input is far larger than the memory bound, so an unbounded queue
//! anywhere would show.

mod common;

use common::{pipectl, TempDir};
use std::io::{BufWriter, Read, Write};
use std::time::{Duration, Instant};

const RECORDS: usize = 250_000;

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn memory_stays_flat_behind_a_slow_sink() {
    let dir = TempDir::new("memory");
    let input = dir.path().join("big.jsonl");
    {
        let file = std::fs::File::create(&input).expect("create input");
        let mut out = BufWriter::new(file);
        for n in 0..RECORDS {
            writeln!(
                out,
                r#"{{"eventVersion":"1.09","eventID":"{n:012}","eventName":"GetObject","eventSource":"s3.amazonaws.com","readOnly":false,"userIdentity":{{"type":"AssumedRole","userName":"user{u:03}","arn":"arn:aws:sts::123456789012:assumed-role/Admin/user{u:03}"}},"requestParameters":{{"bucketName":"acme-prod-data","key":"exports/{n:08}.csv.gz"}},"padding":"{pad}"}}"#,
                u = n % 200,
                pad = "x".repeat(600)
            )
            .expect("write input");
        }
    }
    let input_mib = std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0) / (1 << 20);

    let fifo = dir.path().join("slow-sink.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let pipeline = dir.path().join("slow.pipe");
    std::fs::write(
        &pipeline,
        format!(
            r#"pipeline "slow" {{
  source file "big" {{
    path = "{input}"
  }}

  transform parse "decode" {{
    inputs = [big]
    codec  = "json"
  }}

  sink file "trickle" {{
    inputs = [decode]
    path   = "{fifo}"
  }}
}}
"#,
            input = input.display(),
            fifo = fifo.display()
        ),
    )
    .expect("write pipeline");

    let mut child = pipectl()
        .args(["--log", "warn", "run", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg(&pipeline)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("pipectl starts");
    let pid = child.id();

    // Opening the read end unblocks the sink's open of the write end.
    let mut reader = std::fs::File::open(&fifo).expect("open fifo");
    let mut buf = vec![0u8; 16 * 1024];
    let mut samples = Vec::new();
    let start = Instant::now();
    let mut consumed = 0u64;
    while start.elapsed() < Duration::from_secs(6) {
        // A trickle: 16 KiB every 20 ms (under 1 MiB/s) while the file holds hundreds.
        let n = reader.read(&mut buf).expect("read fifo");
        consumed += n as u64;
        std::thread::sleep(Duration::from_millis(20));
        if start.elapsed() > Duration::from_secs(2) {
            if let Some(kib) = rss_kib(pid) {
                samples.push(kib);
            }
        }
    }
    // Drain the rest at full speed so the run ends normally.
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => consumed += n as u64,
            Err(e) => panic!("reading the fifo failed: {e}"),
        }
    }
    let status = child.wait().expect("pipectl exits");
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    assert!(status.success(), "pipectl failed: {status:?}\n{stderr}");
    assert!(consumed > 0);

    let min = samples.iter().copied().min().unwrap_or(0);
    let max = samples.iter().copied().max().unwrap_or(0);
    assert!(samples.len() > 20, "too few samples: {samples:?}");
    // The input is ~170 MiB; a pipeline that buffered it would sit far above this.
    assert!(
        max < 96 * 1024,
        "RSS reached {max} KiB behind a slow sink (input {input_mib} MiB)"
    );
    assert!(
        max - min < 24 * 1024,
        "RSS grew from {min} to {max} KiB while the sink was slow"
    );
}
