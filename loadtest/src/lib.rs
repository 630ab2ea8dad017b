//! Drover's load-testing kit: a programmable mock LLM upstream ([`mock`]) for the gateway's
//! integration tests and benchmarks, and an open-loop load generator ([`load`]).

pub mod load;
pub mod mock;
