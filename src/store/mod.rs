//! Persistence with diesel-async over two backends: an embedded SQLite file (one replica, the
//! default) or PostgreSQL (a fleet). diesel-async has no connection type for both, so the
//! pool is an enum and `db_run!` expands the same query body for each arm; SQL that differs
//! gets arms of its own. Migrations live in `migrations/<backend>/` under the same version
//! names and run at start and with `drover migrate`.

pub mod contents;
pub mod history;
pub mod keys;
mod migrate;
pub mod nodes;
pub mod records;
pub mod routes;
pub mod schema;
pub mod stats;
pub mod users;

use std::path::PathBuf;

use diesel::SqliteConnection;
use diesel_async::{
    pooled_connection::{deadpool::Pool, AsyncDieselConnectionManager, ManagerConfig},
    sync_connection_wrapper::SyncConnectionWrapper,
    AsyncConnection, AsyncPgConnection, SimpleAsyncConnection,
};
use futures_util::FutureExt;

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database URL {0:?}: expected sqlite://PATH or postgres://…")]
    Url(String),
    #[error("cannot open the database: {0}")]
    Connect(String),
    #[error("migrations failed: {0}")]
    Migrate(String),
    #[error("database pool: {0}")]
    Pool(String),
    #[error("query failed: {0}")]
    Query(#[from] diesel::result::Error),
}

impl StoreError {
    /// A metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Url(_) => "url",
            StoreError::Connect(_) => "connect",
            StoreError::Migrate(_) => "migrate",
            StoreError::Pool(_) => "pool",
            StoreError::Query(_) => "query",
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for StoreError {
    fn from(e: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        StoreError::Pool(e.to_string())
    }
}

#[derive(Clone)]
pub(crate) enum DbPool {
    Postgres(Pool<AsyncPgConnection>),
    Sqlite(Pool<SqliteConn>),
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: DbPool,
}

/// Where a database URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    pub fn parse(url: &str) -> Result<Location, StoreError> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StoreError::Url(url.to_owned()));
            }
            return Ok(Location::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_owned()));
        }
        Err(StoreError::Url(url.to_owned()))
    }
}

/// Settings every SQLite connection gets: WAL so readers never wait for the log writer, a
/// busy timeout instead of instant "database is locked" errors, and foreign keys on.
/// The busy timeout comes first: switching to WAL needs a lock that another connection (a
/// replica just stopping, `drover migrate`) may still hold.
const SQLITE_SETUP: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                            PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

/// Runs the same body on whichever connection the store has: `$conn` is `&mut` the
/// backend's connection inside the body, which must evaluate to a `Result<_, StoreError>`.
macro_rules! db_run {
    ($store:expr, |$conn:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::DbPool::Postgres(pool) => {
                let mut pooled = pool.get().await?;
                let $conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
                $body
            }
            $crate::store::DbPool::Sqlite(pool) => {
                let mut pooled = pool.get().await?;
                let $conn: &mut $crate::store::SqliteConn = &mut pooled;
                $body
            }
        }
    };
}
pub(crate) use db_run;

impl Store {
    /// Opens the database at `url`, creating a SQLite file (and its folder) when missing, and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let location = Location::parse(url)?;
        migrate::run(&location).await?;
        Self::connect(&location)
    }

    fn connect(location: &Location) -> Result<Store, StoreError> {
        let pool = match location {
            Location::Postgres(url) => {
                let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url.clone());
                DbPool::Postgres(
                    Pool::builder(manager)
                        .max_size(8)
                        .build()
                        .map_err(|e| StoreError::Pool(e.to_string()))?,
                )
            }
            Location::Sqlite(path) => {
                let mut config = ManagerConfig::<SqliteConn>::default();
                config.custom_setup = Box::new(|url| {
                    let url = url.to_owned();
                    async move {
                        let mut conn = SqliteConn::establish(&url).await?;
                        conn.batch_execute(SQLITE_SETUP)
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    }
                    .boxed()
                });
                let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(
                    path.to_string_lossy(),
                    config,
                );
                DbPool::Sqlite(
                    Pool::builder(manager)
                        .max_size(4)
                        .build()
                        .map_err(|e| StoreError::Pool(e.to_string()))?,
                )
            }
        };
        Ok(Store { pool })
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            DbPool::Postgres(_) => Backend::Postgres,
            DbPool::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Runs pending migrations only (`drover migrate`); returns the versions applied.
pub async fn migrate_only(url: &str) -> Result<Vec<String>, StoreError> {
    migrate::run(&Location::parse(url)?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(
            Location::parse("sqlite://drover.db").unwrap(),
            Location::Sqlite("drover.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:/var/lib/d.db").unwrap(),
            Location::Sqlite("/var/lib/d.db".into())
        );
        assert!(matches!(
            Location::parse("postgres://u@h/db").unwrap(),
            Location::Postgres(_)
        ));
        assert!(Location::parse("mysql://x").is_err());
        assert!(Location::parse("sqlite://").is_err());
    }
}
