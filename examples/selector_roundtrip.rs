//! Measures what the actor design costs on the hot path: one `Acquire` round trip to the
//! `Selector` (ask, get a lease) plus the `Release` the lease sends when dropped.
//!
//! `cargo run --release --example selector_roundtrip` (3 mock nodes, in-process). It reports
//! the round trip from the selector's own arbiter thread and from other threads, as HTTP
//! workers call it, alone and with several callers at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use drover::{
    actors::{
        messages::{Acquire, Assignment, GetPool},
        start_pool, Selector,
    },
    config::{Config, NodeConfig, NodeKind, Priority},
};
use drover_loadtest::mock::{MockConfig, MockUpstream};

const ROUNDS: usize = 200_000;

async fn measure(selector: actix::Addr<Selector>, rounds: usize) -> Vec<Duration> {
    let model: std::sync::Arc<str> = "m:latest".into();
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let assignment = selector
            .send(Acquire { model: model.clone(), exclude: Vec::new() })
            .await
            .unwrap()
            .unwrap();
        let Assignment::Ready(lease) = assignment else { panic!("queued") };
        drop(lease);
        samples.push(start.elapsed());
    }
    samples
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{label:<44} mean {:>6.2} µs  p50 {:>6.2} µs  p99 {:>6.2} µs  p99.9 {:>7.2} µs",
        mean.as_secs_f64() * 1e6,
        pct(0.5).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        pct(0.999).as_secs_f64() * 1e6,
    );
}

fn main() {
    let mocks: Vec<MockUpstream> = ["a", "b", "c"]
        .iter()
        .map(|n| MockUpstream::start(MockConfig::named(n, &["m:latest"])).unwrap())
        .collect();
    let mut config = Config::default();
    config.nodes = mocks
        .iter()
        .map(|m| NodeConfig {
            name: m.name().to_owned(),
            kind: NodeKind::Ollama,
            url: m.url(),
            priority: Priority::Active,
            weight: 1,
            max_concurrency: None,
        })
        .collect();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let selector = start_pool(&config);
            loop {
                let pool = selector.send(GetPool).await.unwrap();
                if pool.iter().all(|n| n.status.health.routable()) {
                    break;
                }
                actix_rt::time::sleep(Duration::from_millis(20)).await;
            }
            tx.send(selector.clone()).unwrap();
            report("same thread as the selector", measure(selector.clone(), ROUNDS).await);
            std::future::pending::<()>().await;
        });
    });
    let selector = rx.recv().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    for callers in [1usize, 2, 4] {
        let threads: Vec<_> = (0..callers)
            .map(|_| {
                let selector = selector.clone();
                std::thread::spawn(move || {
                    actix_rt::System::new().block_on(measure(selector, ROUNDS / callers))
                })
            })
            .collect();
        let samples: Vec<Duration> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
        report(&format!("from {callers} other thread(s) at once"), samples);
    }
}
