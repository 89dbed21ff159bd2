//! The remote sandboxes this process has open, so that they can be deleted,
//! best effort and within a short bound, when Node exits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::api::Api;

static LIVE: Mutex<Option<HashMap<String, Api>>> = Mutex::new(None);

fn with_live<T>(f: impl FnOnce(&mut HashMap<String, Api>) -> T) -> T {
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    f(live.get_or_insert_with(HashMap::new))
}

pub(crate) fn add(sandbox_id: &str, api: &Api) {
    with_live(|live| live.insert(sandbox_id.to_string(), api.clone()));
}

pub(crate) fn remove(sandbox_id: &str) {
    with_live(|live| live.remove(sandbox_id));
}

/// Deletes every remote sandbox still open, waiting at most `bound`; for
/// `process.on('exit')`, where nothing asynchronous runs any more. Sandboxes
/// not deleted in time die at their TTL.
pub fn kill_all_blocking(bound: Duration) -> usize {
    let all: Vec<(String, Api)> = with_live(|live| live.drain().collect());
    if all.is_empty() {
        return 0;
    }
    let count = all.len();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(futures_util::future::join_all(all.iter().map(
                |(id, api)| async move {
                    let _ = api.kill(id).await;
                },
            )));
        }
        let _ = done_tx.send(());
    });
    let _ = done_rx.recv_timeout(bound);
    count
}
