//! Measures what choosing a node costs on the hot path, two ways:
//! - `pick`: what request handlers do, a lock-free read of the selector's published table,
//!   the strategy, a CAS on the node's slot counter, and the lease's release;
//! - `actor round trip`: the same pick behind a message to the `Selector` actor and back
//!   (the slow path that queued requests take), which is what an actor-per-request design costs.
//!
//! `cargo run --release --example selector_roundtrip` (3 mock nodes, in-process), from the
//! selector's own thread and from other threads, as HTTP workers call it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use drover::{
    actors::{
        messages::{Assignment, Enqueue, GetPool},
        start_pool,
    },
    config::{Config, NodeConfig, NodeKind, Priority},
    routing::Router,
};
use drover_loadtest::mock::{MockConfig, MockUpstream};

const ROUNDS: usize = 200_000;

/// The request path's pick (no queueing happens: nodes have no concurrency limit).
async fn measure_pick(router: Arc<Router>, rounds: usize) -> Vec<Duration> {
    let model: Arc<str> = "m:latest".into();
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let lease = router.acquire(&model, &[]).await.unwrap();
        drop(lease);
        samples.push(start.elapsed());
    }
    samples
}

/// The same pick done by the selector actor, behind a message round trip.
async fn measure_actor(router: Arc<Router>, rounds: usize) -> Vec<Duration> {
    let model: Arc<str> = "m:latest".into();
    let selector = router.selector();
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let assignment = selector
            .send(Enqueue {
                model: model.clone(),
                exclude: Vec::new(),
            })
            .await
            .unwrap()
            .unwrap();
        let Assignment::Ready(lease) = assignment else {
            panic!("queued")
        };
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
    let config = Config {
        nodes: mocks
            .iter()
            .map(|m| NodeConfig {
                name: m.name().to_owned(),
                kind: NodeKind::Ollama,
                url: m.url(),
                priority: Priority::Active,
                weight: 1,
                max_concurrency: None,
                api_key: None,
                models: Vec::new(),
                probe: true,
                responses: false,
            })
            .collect(),
        ..Config::default()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let router = start_pool(&config, &config.nodes);
            loop {
                let pool = router.selector().send(GetPool).await.unwrap();
                if pool.iter().all(|n| n.status.health.routable()) {
                    break;
                }
                actix_rt::time::sleep(Duration::from_millis(20)).await;
            }
            tx.send(router.clone()).unwrap();
            report(
                "pick, on the selector's thread",
                measure_pick(router.clone(), ROUNDS).await,
            );
            report(
                "actor round trip, same thread",
                measure_actor(router.clone(), ROUNDS).await,
            );
            std::future::pending::<()>().await;
        });
    });
    let router = rx.recv().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    for callers in [1usize, 2, 4] {
        for actor in [false, true] {
            let threads: Vec<_> = (0..callers)
                .map(|_| {
                    let router = router.clone();
                    std::thread::spawn(move || {
                        let rounds = ROUNDS / callers;
                        actix_rt::System::new().block_on(async move {
                            if actor {
                                measure_actor(router, rounds).await
                            } else {
                                measure_pick(router, rounds).await
                            }
                        })
                    })
                })
                .collect();
            let samples: Vec<Duration> = threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect();
            let what = if actor { "actor round trip" } else { "pick" };
            report(
                &format!("{what}, {callers} other thread(s) at once"),
                samples,
            );
        }
    }
}
