//! Throughput and memory of `model behaviour` on one core: synthetic events over
//! 100,000 entities with five features (two novelty, volume, count, distinct).
//!
//! Events are generated in chunks outside the timed section; only `Model::observe`
//! (and the window closes it triggers) is timed. Memory is the live heap growth
//! measured by a counting global allocator, divided by the entities modelled, and
//! also the mean bincode size of an entity's persisted row.
//!
//! `cargo run --release -p pipectl-models --example bench [events] [entities]`

use mimalloc::MiMalloc;
use pipectl_core::detect::sigma::time::format_rfc3339;
use pipectl_core::value::{Map, Value};
use pipectl_dsl::plan::{FieldPath as PlanField, PathSegment, PlanValue};
use pipectl_models::features;
use pipectl_models::model::{Model, Options};
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

/// mimalloc — the allocator of the `pipectl` binary — counting live bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to mimalloc.
        unsafe { MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to mimalloc.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded unchanged to mimalloc.
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn field(path: &str) -> PlanValue {
    PlanValue::Field(PlanField(
        path.split('.')
            .map(|k| PathSegment::Key(k.to_string()))
            .collect(),
    ))
}

fn call(name: &str, args: Vec<PlanValue>, per_ms: Option<u64>) -> PlanValue {
    PlanValue::Call {
        name: name.into(),
        args,
        named: per_ms
            .map(|ms| BTreeMap::from([("per".to_string(), PlanValue::Duration(ms))]))
            .unwrap_or_default(),
    }
}

fn obj(entries: Vec<(&str, Value)>) -> Value {
    let mut m = Map::with_capacity(entries.len());
    for (k, v) in entries {
        m.push(k, v);
    }
    Value::Object(m)
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn event(rng: &mut Rng, n: u64, t_ms: i64, entities: u64) -> Value {
    let u = rng.next() % entities;
    let dept = u % 8;
    let r = rng.next();
    // Skewed: most events use a few of the department's actions and destinations.
    let action = format!("Action{}-{}", dept, (r % 64).min(r % 7));
    let dest = format!("10.{}.{}.{}", dept, (r >> 8) % 4, (r >> 16) % 50);
    let user = format!("user{u}");
    obj(vec![
        ("@timestamp", Value::from(format_rfc3339(t_ms))),
        (
            "event",
            obj(vec![
                ("id", Value::from(format!("{n:032x}"))),
                ("action", Value::from(action)),
            ]),
        ),
        ("user", obj(vec![("name", Value::from(user.as_str()))])),
        ("destination", obj(vec![("ip", Value::from(dest))])),
        (
            "file",
            obj(vec![("size", Value::Int(((r >> 24) % 5_000_000) as i64))]),
        ),
        (
            "entity",
            obj(vec![
                ("kind", Value::Array(vec![Value::from("user")])),
                ("id", Value::Array(vec![Value::from(user)])),
            ]),
        ),
    ])
}

fn main() {
    let mut args = std::env::args().skip(1);
    let total: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let entities: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let hour = 3_600_000u64;
    let feats = features::parse(&[
        call("novelty", vec![field("event.action")], None),
        call("novelty", vec![field("destination.ip")], None),
        call("volume", vec![field("file.size")], Some(hour)),
        call("count", vec![], Some(hour)),
        call("distinct", vec![field("destination.ip")], Some(hour)),
    ])
    .expect("features");
    let opts = Options {
        model: "pattern_of_life".into(),
        pipeline: "bench".into(),
        features: feats,
        kinds: vec!["user".into()],
        peers: None,
        peer_features: None,
        half_life_ms: 14 * 86_400_000,
        threshold: 0.999,
        max_entities: 1_000_000,
        idle_after_ms: 30 * 86_400_000,
        cooldown_ms: 6 * 3_600_000,
        combine_within_ms: 6 * 3_600_000,
    };
    let live_before = LIVE.load(Ordering::Relaxed);
    let mut model = Model::new(opts);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    // Events span three days of event time, in order.
    let span_ms = 3 * 86_400_000i64;
    let chunk = 20_000u64;
    let mut timed = Duration::ZERO;
    let mut breaches = Vec::new();
    let mut n = 0u64;
    while n < total {
        let events: Vec<Value> = (n..(n + chunk).min(total))
            .map(|i| {
                event(
                    &mut rng,
                    i,
                    1_788_739_200_000 + (i as i64 * span_ms) / total as i64,
                    entities,
                )
            })
            .collect();
        let start = Instant::now();
        for e in &events {
            model.observe(e, &mut breaches);
        }
        timed += start.elapsed();
        breaches.clear();
        n += events.len() as u64;
        drop(events);
    }
    drop(breaches);
    let live = LIVE.load(Ordering::Relaxed) - live_before;
    let modelled = model.entity_count().max(1);
    let rate = total as f64 / timed.as_secs_f64();
    println!("events: {total}, entities modelled: {modelled}, features: 5");
    println!(
        "throughput: {rate:.0} events/s on one core ({:.2} µs/event)",
        1e6 / rate
    );
    println!(
        "state: {} bytes of live heap per entity (counting allocator, includes groups, org and open windows)",
        live as usize / modelled
    );
    println!(
        "state: {} bytes per entity row encoded (bincode, mean)",
        model.mean_encoded_entity_size()
    );
}
