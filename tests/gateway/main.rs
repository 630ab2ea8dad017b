//! Integration tests: a real Drover server and real mock nodes, each on its own port and
//! thread, driven over HTTP. One binary for all, so linking happens once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod acceptance;
mod admin;
mod admin_views;
mod bad_input;
mod capture;
mod cli;
mod cluster;
mod databases;
mod edge;
mod failover;
mod harness;
mod keys;
mod load_smoke;
mod management;
mod model_routes;
mod nats;
mod node_faults;
mod openapi;
mod ops;
mod pool_views;
mod process;
mod providers;
mod queueing;
mod records;
mod replica_process;
mod responses;
mod routing;
mod shutdown;
mod streaming;
mod users;
