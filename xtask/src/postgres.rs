//! A PostgreSQL server for the scheduler's tests, from Debian's packages.
//!
//! `xtask test` needs one so the store tests and the two-replica test run on
//! PostgreSQL as well as SQLite. When `KILN_TEST_POSTGRES_URL` is already set
//! that server is used. Otherwise xtask initialises a throwaway cluster under
//! the temp dir (trust auth, loopback only, fsync off: it holds nothing worth
//! keeping), starts it on [`PORT`] unless it is already up, and hands the URL
//! to the tests. PostgreSQL refuses to run as root, so as root the cluster
//! belongs to the `postgres` user the Debian package creates.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::command::{exec, probe, say};

/// Env var through which the tests get the server's URL.
pub const URL_ENV: &str = "KILN_TEST_POSTGRES_URL";

/// Set for the tests run by xtask: a test that needs PostgreSQL fails rather
/// than skips when the URL is missing.
pub const REQUIRE_ENV: &str = "KILN_REQUIRE_POSTGRES";

/// Loopback port of the test cluster: off the default 5432, so a system
/// server on this machine is left alone.
pub const PORT: u16 = 55432;

/// The cluster's superuser (trust auth on loopback).
const USER: &str = "kiln";

/// The newest `/usr/lib/postgresql/<version>/bin` installed.
fn bin_dir() -> Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed under /usr/lib/postgresql (apt package postgresql)")?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Ok(bin),
        None => bail!("no PostgreSQL version under /usr/lib/postgresql"),
    }
}

fn is_root() -> bool {
    probe("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

/// Runs `program args…` as the cluster's owner: `postgres` when we are root.
fn as_owner(program: &Path, args: &[&str]) -> Result<()> {
    let program = program.to_string_lossy();
    if is_root() {
        let mut line = shell_quote(&program);
        for arg in args {
            line.push(' ');
            line.push_str(&shell_quote(arg));
        }
        exec("su", &["postgres", "-s", "/bin/sh", "-c", &line])
    } else {
        exec(&program, args)
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The URL of a running server for the tests, starting one if need be.
pub fn ensure() -> Result<String> {
    if let Ok(url) = std::env::var(URL_ENV) {
        say(format!("postgres: using {URL_ENV}={url}"));
        return Ok(url);
    }
    let url = format!("postgres://{USER}@127.0.0.1:{PORT}/postgres");
    let bin = bin_dir()?;
    // Under the temp dir, not the target dir: the target dir may sit under
    // /root, which the `postgres` user cannot enter.
    let root = std::env::temp_dir().join("kiln-test-postgres");
    let data = root.join("data");
    let ready = |bin: &Path| {
        Command::new(bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &PORT.to_string(), "-U", USER])
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if ready(&bin) {
        say(format!("postgres: running on 127.0.0.1:{PORT}"));
        return Ok(url);
    }
    std::fs::create_dir_all(&root)?;
    if is_root() {
        exec("chown", &["postgres:postgres", &root.to_string_lossy()])?;
    }
    if !data.join("PG_VERSION").exists() {
        say(format!(
            "postgres: initialising a test cluster in {}",
            data.display()
        ));
        as_owner(
            &bin.join("initdb"),
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                USER,
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        )?;
    }
    say(format!("postgres: starting on 127.0.0.1:{PORT}"));
    let options = format!(
        "-p {PORT} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off",
        root.display()
    );
    let log = root.join("server.log");
    as_owner(
        &bin.join("pg_ctl"),
        &[
            "-D",
            &data.to_string_lossy(),
            "-o",
            &options,
            "-l",
            &log.to_string_lossy(),
            "-w",
            "start",
        ],
    )?;
    if !ready(&bin) {
        bail!("PostgreSQL did not come up; see {}", log.display());
    }
    Ok(url)
}
