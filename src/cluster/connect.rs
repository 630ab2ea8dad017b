//! Connecting to NATS with the configured credentials and TLS, reconnecting forever.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use async_nats::{ConnectOptions, Event};
use tokio::sync::watch;

use crate::{config::ClusterConfig, metrics as m};

/// Longest pause between reconnect attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// A client that connects in the background: the replica starts (and serves) whether NATS is
/// up or not, and `connected` follows the connection from then on. `connections` counts every
/// (re)connection, so the config follower can look whether the server lost its store meanwhile.
pub async fn connect(
    config: &ClusterConfig,
    replica: &str,
    connected: Arc<AtomicBool>,
    connections: Arc<watch::Sender<u64>>,
) -> anyhow::Result<async_nats::Client> {
    let mut options = ConnectOptions::new()
        .name(format!("drover {replica}"))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .ping_interval(Duration::from_secs(5))
        .reconnect_delay_callback(|attempts| {
            // 0, 100 ms, 200 ms, 400 ms … capped: quick after a blip, calm during an outage.
            let ms = 100u64.saturating_mul(1 << attempts.min(6)) / 2;
            Duration::from_millis(ms).min(MAX_RECONNECT_DELAY)
        })
        .event_callback(move |event| {
            let connected = connected.clone();
            let connections = connections.clone();
            async move {
                match event {
                    Event::Connected => {
                        connected.store(true, Ordering::SeqCst);
                        connections.send_modify(|n| *n += 1);
                        metrics::gauge!(m::CLUSTER_CONNECTED).set(1.0);
                        tracing::info!("connected to NATS");
                    }
                    Event::Disconnected => {
                        connected.store(false, Ordering::SeqCst);
                        metrics::gauge!(m::CLUSTER_CONNECTED).set(0.0);
                        tracing::warn!("disconnected from NATS; reconnecting");
                    }
                    other => tracing::debug!(event = %other, "NATS event"),
                }
            }
        });
    if !config.user.is_empty() {
        options = options.user_and_password(config.user.clone(), config.password.clone());
    }
    if !config.token.is_empty() {
        options = options.token(config.token.clone());
    }
    if let Some(creds) = &config.creds_file {
        options = options.credentials_file(creds).await?;
    }
    if config.tls.required {
        options = options.require_tls(true);
    }
    if let Some(ca) = &config.tls.ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&config.tls.cert_file, &config.tls.key_file) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    // A comma-separated list is several servers of one NATS cluster.
    Ok(options.connect(config.nats_url.as_str()).await?)
}
