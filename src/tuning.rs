//! Settings the request path reads on every request that an operator may change while
//! Drover runs (`PUT /admin/api/settings`): timeouts, failover attempts, body limit. Held in
//! an `ArcSwap`, so a request reads the current values lock-free and a change applies from
//! the next request on.

use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::config::{Config, FailoverConfig, LimitsConfig, TimeoutConfig};

#[derive(Debug, Clone, Serialize)]
pub struct Tuning {
    pub timeouts: TimeoutConfig,
    pub failover: FailoverConfig,
    pub limits: LimitsConfig,
}

impl Tuning {
    pub fn of(config: &Config) -> Tuning {
        Tuning {
            timeouts: config.timeouts.clone(),
            failover: config.failover.clone(),
            limits: config.limits.clone(),
        }
    }
}

/// Shared by every worker and the admin API.
pub type LiveTuning = Arc<ArcSwap<Tuning>>;

pub fn live(config: &Config) -> LiveTuning {
    Arc::new(ArcSwap::from_pointee(Tuning::of(config)))
}
