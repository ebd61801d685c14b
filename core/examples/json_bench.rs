//! Throughput of the JSON parser alone on one core, for A/B comparisons of parser
//! changes without the rest of the pipeline (and its I/O) in the figure: parses every
//! line of an NDJSON file (as `parse` does, from text already known to be UTF-8) and
//! drops the values, several passes, and prints the best pass.
//!
//! Usage: json_bench RECORDS.jsonl [MAX_LINES] [PASSES]

use std::time::Instant;

/// The allocator the `pipectl` binary uses, so figures match what pipelines see.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        return Err("usage: json_bench RECORDS.jsonl [MAX_LINES] [PASSES]".into());
    };
    let number = |i: usize, default: usize| -> Result<usize, String> {
        args.get(i)
            .map_or(Ok(default), |a| a.parse().map_err(|e| format!("{a}: {e}")))
    };
    let max_lines = number(2, 200_000)?;
    let passes = number(3, 5)?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let lines: Vec<&str> = text.lines().take(max_lines).collect();
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let mut best = f64::INFINITY;
    for pass in 0..passes {
        let started = Instant::now();
        let mut members = 0usize;
        for line in &lines {
            let value = pipectl_core::json::from_str(line)
                .map_err(|e| format!("line {}: {e}", members + 1))?;
            if let pipectl_core::value::Value::Object(map) = &value {
                members += map.len();
            }
        }
        let secs = started.elapsed().as_secs_f64();
        best = best.min(secs);
        println!(
            "pass {pass}: {:.0} ns/record, {:.0} records/s ({} top-level members)",
            secs * 1e9 / lines.len() as f64,
            lines.len() as f64 / secs,
            members
        );
    }
    println!(
        "best: {:.0} ns/record, {:.0} records/s, {:.1} MB/s over {} records",
        best * 1e9 / lines.len() as f64,
        lines.len() as f64 / best,
        bytes as f64 / best / 1e6,
        lines.len()
    );
    Ok(())
}
