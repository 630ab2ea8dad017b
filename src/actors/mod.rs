//! The actors that own a replica's pool state. `NodeActor` (one per node) owns everything
//! about its node and reports changes; `Selector` keeps the reports, publishes the routing
//! table request handlers pick from, and runs the wait queue. Nobody else writes their state.

pub mod health;
pub mod log_writer;
pub mod messages;
pub mod node;
pub mod selector;

use std::{sync::Arc, time::Duration};

use actix::{Actor, Addr, AsyncContext, Context};

use crate::{
    config::{Config, HealthConfig, NodeConfig},
    routing::{NodeEntry, NodeStats, NodeTarget, Router},
    strategy,
};
use messages::NodeStatus;
pub use selector::Selector;

/// Starts node actors: what that takes besides each node's own config. The selector keeps
/// one, to add nodes while running.
#[derive(Clone)]
pub struct NodeSpawner {
    /// Settings for nodes started from now on; the selector updates them when changed.
    pub(crate) health: HealthConfig,
    pub(crate) connect_timeout: Duration,
    selector: Addr<Selector>,
    observer: messages::Observer,
}

impl NodeSpawner {
    /// Starts the actor of node `config` under routing id `id`.
    pub fn spawn(&self, id: usize, config: &NodeConfig) -> NodeEntry {
        let stats = Arc::new(NodeStats::default());
        let actor = node::NodeActor::new(
            id,
            config.clone(),
            self.health.clone(),
            self.connect_timeout,
            self.selector.clone(),
            stats.clone(),
            self.observer.clone(),
        )
        .start();
        let status = NodeStatus::initial(config);
        NodeEntry {
            target: Arc::new(
                NodeTarget::new(
                    id,
                    status.name.clone(),
                    config.kind,
                    status.url.clone(),
                    actor,
                    stats,
                )
                .with_max_concurrency(config.max_concurrency)
                .with_responses(config.responses)
                .with_headers(crate::providers::node_headers(config)),
            ),
            status: Arc::new(status),
            drained: false,
        }
    }
}

/// Starts one `NodeActor` per node and the `Selector` over them, on the current actix
/// arbiter, and returns the `Router` request handlers use. Must run inside a `System`.
pub fn start_pool(config: &Config, nodes: &[NodeConfig]) -> Arc<Router> {
    // The selector's address exists before the selector runs, so node actors can hold it.
    let ctx = Context::<Selector>::new();
    let selector_addr = ctx.address();
    let router = Arc::new(Router::new(
        strategy::build(config.selector.strategy),
        config.selector.queue_timeout,
        selector_addr.clone(),
    ));
    let spawner = NodeSpawner {
        health: config.health.clone(),
        connect_timeout: config.timeouts.connect,
        selector: selector_addr,
        observer: router.observer.clone(),
    };
    let entries = nodes
        .iter()
        .enumerate()
        .map(|(id, node)| spawner.spawn(id, node))
        .collect();
    ctx.run(Selector::new(
        config.selector.clone(),
        entries,
        router.clone(),
        spawner,
    ));
    router
}
