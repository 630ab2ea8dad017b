//! The actors that own a replica's pool state. `NodeActor` (one per node) owns everything
//! about its node and reports changes; `Selector` keeps the reports, publishes the routing
//! table request handlers pick from, and runs the wait queue. Nobody else writes their state.

pub mod health;
pub mod log_writer;
pub mod messages;
pub mod node;
pub mod selector;

use std::sync::Arc;

use actix::{Actor, AsyncContext, Context};

use crate::{
    config::Config,
    routing::{NodeEntry, NodeStats, NodeTarget, Router},
    strategy,
};
use messages::NodeStatus;
pub use selector::Selector;

/// Starts one `NodeActor` per configured node and the `Selector` over them, on the current
/// actix arbiter, and returns the `Router` request handlers use. Must run inside a `System`.
pub fn start_pool(config: &Config) -> Arc<Router> {
    // The selector's address exists before the selector runs, so node actors can hold it.
    let ctx = Context::<Selector>::new();
    let selector_addr = ctx.address();
    let router = Arc::new(Router::new(
        strategy::build(config.selector.strategy),
        selector_addr.clone(),
    ));
    let nodes = config
        .nodes
        .iter()
        .enumerate()
        .map(|(id, node)| {
            let stats = Arc::new(NodeStats::default());
            let actor = node::NodeActor::new(
                id,
                node.clone(),
                config.health.clone(),
                config.timeouts.connect,
                selector_addr.clone(),
                stats.clone(),
            )
            .start();
            let status = NodeStatus::initial(node);
            NodeEntry {
                target: Arc::new(NodeTarget::new(
                    id,
                    status.name.clone(),
                    node.kind,
                    status.url.clone(),
                    actor,
                    stats,
                )),
                status: Arc::new(status),
            }
        })
        .collect();
    ctx.run(Selector::new(
        config.selector.clone(),
        nodes,
        router.clone(),
    ));
    router
}
