//! Databases for tests: a SQLite file in a temporary folder, or a fresh PostgreSQL database
//! on the server `TEST_POSTGRES_URL` names (scripts/test starts one when none is
//! given; plain `cargo test` falls back to the local default), dropped afterwards.

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        admin: String,
        name: String,
        url: String,
    },
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/drover.db", dir.path().display());
        TestDb::Sqlite { _dir: dir, url }
    }

    pub async fn postgres() -> TestDb {
        let admin = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
        let name = format!("drover_test_{:016x}", fastrand::u64(..));
        let mut conn = AsyncPgConnection::establish(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL at {admin} is needed: {e} (run scripts/test, or set TEST_POSTGRES_URL)")
        });
        conn.batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        TestDb::Postgres { admin, name, url }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    /// Drops a PostgreSQL database (SQLite folders go with the value).
    pub async fn drop_db(self) {
        if let TestDb::Postgres { admin, name, .. } = self {
            if let Ok(mut conn) = AsyncPgConnection::establish(&admin).await {
                let _ = conn
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        }
    }
}
