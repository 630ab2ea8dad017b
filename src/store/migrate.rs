//! Running migrations. diesel_migrations is synchronous: SQLite migrates on a plain
//! connection, PostgreSQL through diesel-async's harness, whose `block_in_place` needs a
//! multi-thread runtime (actix's is current-thread). Both run on a thread of their own.

use diesel::{connection::SimpleConnection, Connection, SqliteConnection};
use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{Location, StoreError, SQLITE_SETUP};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Applies pending migrations; returns the versions applied.
pub(super) async fn run(location: &Location) -> Result<Vec<String>, StoreError> {
    let location = location.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("drover-migrate".into())
        .spawn(move || {
            let _ = tx.send(run_blocking(&location));
        })
        .map_err(|e| StoreError::Migrate(e.to_string()))?;
    rx.await
        .map_err(|_| StoreError::Migrate("the migration thread died".into()))?
}

fn run_blocking(location: &Location) -> Result<Vec<String>, StoreError> {
    let versions = |applied: Vec<diesel::migration::MigrationVersion<'_>>| {
        applied.iter().map(ToString::to_string).collect()
    };
    match location {
        Location::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Connect(format!("{}: {e}", dir.display())))?;
            }
            let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                .map_err(|e| StoreError::Connect(format!("{}: {e}", path.display())))?;
            conn.batch_execute(SQLITE_SETUP)?;
            let applied = conn
                .run_pending_migrations(SQLITE)
                .map_err(|e| StoreError::Migrate(e.to_string()))?;
            Ok(versions(applied))
        }
        Location::Postgres(url) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .map_err(|e| StoreError::Migrate(e.to_string()))?;
            runtime.block_on(async {
                let conn = AsyncPgConnection::establish(url)
                    .await
                    .map_err(|e| StoreError::Connect(e.to_string()))?;
                let mut harness = AsyncMigrationHarness::new(conn);
                let applied = harness
                    .run_pending_migrations(POSTGRES)
                    .map_err(|e| StoreError::Migrate(e.to_string()))?;
                Ok(versions(applied))
            })
        }
    }
}
