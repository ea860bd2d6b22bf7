//! `etcdkit serve --data-dir`: a server killed (SIGKILL) in the middle of a stream of
//! concurrent writes and started again on the same directory has every write it
//! acknowledged, at the revision it acknowledged, and numbers on without a gap or a
//! revision used twice; a directory in use by a running `serve` is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{etcdkit_bin, run, spawn_serve};
use etcdkit::{Client, ClientOptions};
use tokio::process::Child;

const BOUND: Duration = Duration::from_secs(30);

/// Starts `etcdkit serve --data-dir DIR` on a free port; returns it and its URL.
async fn serve(dir: &Path) -> (Child, String) {
    let dir_arg = dir.to_str().expect("a UTF-8 temporary path");
    let (child, url, banner) =
        spawn_serve(&["--listen", "127.0.0.1:0", "--data-dir", dir_arg]).await;
    assert!(
        banner.ends_with(&format!("data in {})", dir.display())),
        "{banner}"
    );
    (child, url)
}

async fn connect(url: &str) -> Client {
    let options = ClientOptions::new(vec![url.to_owned()])
        .dial_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(5));
    tokio::time::timeout(BOUND, options.connect())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn serve_killed_mid_stream_keeps_every_acknowledged_write_and_numbers_on_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = serve(dir.path()).await;
    let c = connect(&url).await;

    // Writers put distinct keys, each once, and record what was acknowledged.
    let acked: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..8 {
        let (c, acked) = (c.clone(), Arc::clone(&acked));
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let key = format!("kill/{w}/{i:05}");
                match c.kv().put(key.clone(), key.clone()).await {
                    Ok(r) => acked
                        .lock()
                        .unwrap()
                        .push((key, r.header().revision().get())),
                    Err(_) => return,
                }
            }
        }));
    }
    // Kill it once a good number of writes went through, with more in flight.
    let deadline = tokio::time::Instant::now() + BOUND;
    while acked.lock().unwrap().len() < 300 {
        assert!(tokio::time::Instant::now() < deadline, "writes too slow");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.start_kill().unwrap();
    tokio::time::timeout(BOUND, child.wait())
        .await
        .unwrap()
        .unwrap();
    for writer in writers {
        // Each ends on its first failed put; a put cut off by the kill fails in time.
        tokio::time::timeout(BOUND, writer).await.unwrap().unwrap();
    }
    drop(c);
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.len() >= 300);

    let (_child, url) = serve(dir.path()).await;
    let c = connect(&url).await;
    let all = tokio::time::timeout(BOUND, c.kv().get("kill/").prefix())
        .await
        .unwrap()
        .unwrap();
    let store_rev = all.header().revision().get();
    eprintln!(
        "{} puts acknowledged before the kill, {} found after it",
        acked.len(),
        all.kvs().len()
    );
    for (key, rev) in &acked {
        let kv = all
            .kvs()
            .iter()
            .find(|kv| kv.key_str() == Some(key))
            .unwrap_or_else(|| panic!("acknowledged {key} at {rev} is gone"));
        assert_eq!(kv.mod_revision().get(), *rev, "{key}");
        assert_eq!(kv.value_str(), Some(key.as_str()));
        assert_eq!(kv.version(), 1);
    }
    // Every revision from 2 to the store's is one put (writes acknowledged or not, none
    // lost in between, none numbered twice).
    let mut revs: Vec<i64> = all.kvs().iter().map(|kv| kv.mod_revision().get()).collect();
    revs.sort_unstable();
    assert_eq!(revs, (2..=store_rev).collect::<Vec<_>>());
    let next = tokio::time::timeout(BOUND, c.kv().put("kill/after", "x"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.header().revision().get(), store_rev + 1);
}

#[tokio::test]
async fn serve_on_a_data_dir_in_use_fails_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, _url) = serve(dir.path()).await;
    let out = tokio::time::timeout(
        BOUND,
        run(
            &etcdkit_bin(),
            &[
                "serve".to_owned(),
                "--listen".to_owned(),
                "127.0.0.1:0".to_owned(),
                "--data-dir".to_owned(),
                dir.path().display().to_string(),
            ],
            b"",
        ),
    )
    .await
    .unwrap();
    assert_eq!(out.code, 1);
    let stderr = out.stderr_text();
    assert!(
        stderr.starts_with(&format!(
            "Error: cannot use data directory {}: it is in use by another running server",
            dir.path().display()
        )),
        "{stderr}"
    );
}
