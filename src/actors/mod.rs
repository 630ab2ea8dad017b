//! The actors that own a replica's pool state. `NodeActor` (one per node) owns everything
//! about its node and reports changes; `Selector` owns the routing table and in-flight counts
//! and assigns each request a node. Nobody else writes their state.

pub mod ewma;
pub mod health;
pub mod lease;
pub mod messages;
pub mod node;
pub mod selector;

use actix::{Actor, Addr, AsyncContext, Context};

use crate::config::Config;
pub use lease::{Lease, NodeTarget, Outcome};
pub use selector::Selector;

/// Starts one `NodeActor` per configured node and the `Selector` that routes over them, on the
/// current actix arbiter. Must run inside an actix `System`.
pub fn start_pool(config: &Config) -> Addr<Selector> {
    // The selector's address exists before the selector runs, so node actors can hold it.
    let ctx = Context::<Selector>::new();
    let selector_addr = ctx.address();
    let nodes = config
        .nodes
        .iter()
        .enumerate()
        .map(|(id, node)| {
            let actor = node::NodeActor::new(
                id,
                node.clone(),
                config.health.clone(),
                config.timeouts.connect,
                selector_addr.clone(),
            )
            .start();
            (node.clone(), actor)
        })
        .collect();
    ctx.run(Selector::new(config.selector.clone(), nodes))
}
