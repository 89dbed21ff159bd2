//! The warm pool through the Rust API: real pooled sandboxes.

use std::time::{Duration, Instant};

use e2b_native_core::{Language, Request};
use e2b_native_local::{CancellationToken, LaneStats, LocalBackend, LocalConfig, PoolConfig};

fn backend(size: usize) -> LocalBackend {
    LocalBackend::new(LocalConfig {
        helper: env!("CARGO_BIN_EXE_e2b-sandbox").into(),
        pool: PoolConfig {
            size,
            ..PoolConfig::default()
        },
        ..Default::default()
    })
    .unwrap()
}

fn lane(backend: &LocalBackend, language: Language) -> LaneStats {
    backend
        .pool_stats()
        .into_iter()
        .find(|l| l.language == language)
        .unwrap()
}

async fn full(backend: &LocalBackend, language: Language, size: usize) {
    let until = Instant::now() + Duration::from_secs(20);
    while !(lane(backend, language).ready == size && lane(backend, language).starting == 0) {
        assert!(Instant::now() < until, "the pool did not refill");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_per_sandbox_and_refilled() {
    let backend = backend(1);
    let cancel = CancellationToken::new();
    let code = "import os\n\
                print(os.path.exists('/tmp/mark'), os.getpid(), sorted(p for p in os.listdir('/proc') if p.isdigit()))\n\
                open('/tmp/mark', 'w').write('x')";
    let first = backend
        .execute(&Request::new(Language::Python, code), &cancel)
        .await
        .unwrap();
    assert_eq!(lane(&backend, Language::Python).served, 0); // the first call runs cold
    assert_eq!(first.stdout, "False 2 ['1', '2']\n");
    for served in 1..=3 {
        full(&backend, Language::Python, 1).await;
        let out = backend
            .execute(&Request::new(Language::Python, code), &cancel)
            .await
            .unwrap();
        assert_eq!(lane(&backend, Language::Python).served, served);
        // A fresh sandbox: no mark from the last call, the program is init's
        // first child, and no other process runs.
        assert_eq!(out.stdout, "False 2 ['1', '2']\n");
    }
    backend.close_pool().await;
    let after = lane(&backend, Language::Python);
    assert_eq!((after.ready, after.starting), (0, 0));
    assert_eq!(e2b_native_local::live_count(), 0);
}
