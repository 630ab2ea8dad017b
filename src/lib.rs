//! Drover: an LLM gateway. Clients speak the Ollama or OpenAI API; Drover routes each request
//! by model to a healthy upstream node, streams the answer back and fails over when a node
//! dies. See `docs/architecture.md` for how the parts fit.

pub mod actors;
pub mod api;
pub mod auth;
pub mod capture;
pub mod catalog;
pub mod changes;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod fleet;
pub mod headline;
pub mod inbound;
pub mod metrics;
pub mod providers;
pub mod routing;
pub mod server;
pub mod store;
pub mod strategy;
pub mod telemetry;
pub mod translate;
pub mod tuning;
pub mod wire;
