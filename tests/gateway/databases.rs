//! Databases for tests: a SQLite file in a temporary folder, or a fresh PostgreSQL database
//! on the server `TEST_POSTGRES_URL` names (scripts/test starts one when none is
//! given; plain `cargo test` falls back to the local default), dropped afterwards.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use drover::store::Store;

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
        let admin =
            std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
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

/// A PostgreSQL server of the test's own, on a free port, that the test may stop and start.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    port: u16,
    /// initdb and pg_ctl refuse to run as root: run them as `postgres` then.
    as_postgres: bool,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect(
                "PostgreSQL server binaries in /usr/lib/postgresql (apt-get install postgresql)",
            )
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("pg_ctl").exists())
            .max()
            .expect("no PostgreSQL version under /usr/lib/postgresql");
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = std::process::Command::new("id")
            .arg("-u")
            .output()
            .unwrap()
            .stdout
            == b"0\n";
        if as_postgres {
            run(&["chown", "postgres", dir.path().to_str().unwrap()], false);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePostgres {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = pg.data();
        pg.pg(&[
            "initdb",
            "-D",
            &data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        ]);
        pg.restart();
        pg
    }

    fn data(&self) -> String {
        format!("{}/data", self.dir.path().display())
    }

    fn pg(&self, args: &[&str]) {
        let tool = self.bin.join(args[0]);
        let mut full = vec![tool.to_str().unwrap()];
        full.extend(&args[1..]);
        run(&full, self.as_postgres);
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts (again) on the same port and data.
    pub fn restart(&self) {
        let (data, log) = (self.data(), format!("{}/log", self.dir.path().display()));
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.pg(&[
            "pg_ctl", "-D", &data, "-l", &log, "-w", "-o", &options, "start",
        ]);
    }

    pub fn stop(&self) {
        self.pg(&["pg_ctl", "-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let tool = self.bin.join("pg_ctl");
        let args = [
            tool.to_str().unwrap(),
            "-D",
            &data,
            "-m",
            "immediate",
            "-w",
            "stop",
        ];
        let mut cmd = runner(&args, self.as_postgres);
        let _ = cmd
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status();
    }
}

fn runner(args: &[&str], as_postgres: bool) -> std::process::Command {
    let mut cmd = if as_postgres {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).args(args);
        c
    } else {
        let mut c = std::process::Command::new(args[0]);
        c.args(&args[1..]);
        c
    };
    cmd.stdout(std::process::Stdio::null());
    cmd
}

fn run(args: &[&str], as_postgres: bool) {
    let out = runner(args, as_postgres).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls until the store holds at least `n` records (30 s at most); returns the last count.
/// Records arrive through the batching writer, a moment after their requests.
pub async fn wait_for_count(store: &Store, n: i64) -> i64 {
    let mut count = 0;
    for _ in 0..300 {
        count = store.count_records().await.unwrap();
        if count >= n {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    count
}
