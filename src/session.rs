//! The binding of sessions (`createSession()`): a session's calls in, its
//! executions out as E2B's wire JSON (`index.js` makes them E2B's objects).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use e2b_native_core::options::Options;
use e2b_native_core::session::{Entry, EventSink, Session};
use e2b_native_core::CancellationToken;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

use crate::{coded, lock};

/// A JavaScript callback receiving each event of a run as a JSON line.
type EventCallback = ThreadsafeFunction<String, (), String, Status, false, true>;

#[napi(object)]
pub struct NativeEntry {
    pub name: String,
    pub path: String,
    /// `file`, `dir`, `symlink` or `other`.
    pub kind: String,
    pub size: f64,
}

#[napi]
pub struct NativeSession {
    session: Arc<Session>,
    runs: Arc<Mutex<HashMap<u32, CancellationToken>>>,
}

impl NativeSession {
    pub(crate) fn new(session: Arc<Session>) -> Self {
        NativeSession {
            session,
            runs: Arc::default(),
        }
    }
}

#[napi]
impl NativeSession {
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.session.id().into()
    }

    #[napi(getter)]
    pub fn isolation(&self) -> String {
        self.session.isolation().into()
    }

    #[napi(getter)]
    pub fn backend(&self) -> String {
        self.session.backend().into()
    }

    /// Registers run `id` so that `cancel(id)` works before its future runs.
    #[napi]
    pub fn begin(&self, id: u32) {
        lock(&self.runs).insert(id, CancellationToken::new());
    }

    /// Interrupts run `id`; it then rejects with ABORT_ERR.
    #[napi]
    pub fn cancel(&self, id: u32) {
        if let Some(token) = lock(&self.runs).get(&id) {
            token.cancel();
        }
    }

    /// Runs `code` (options as JSON); resolves to the execution as JSON.
    #[napi]
    pub async fn run_code(
        &self,
        code: String,
        options: String,
        id: u32,
        on_event: Option<EventCallback>,
    ) -> Result<String> {
        let token = lock(&self.runs).entry(id).or_default().clone();
        let ran = async {
            let options = Options::parse(&options)?;
            let sink = on_event.map(to_sink);
            self.session.run(code, &options, sink, &token).await
        };
        let result = ran.await;
        lock(&self.runs).remove(&id);
        let execution = result.map_err(coded)?;
        Ok(serde_json::to_string(&execution).expect("executions serialize"))
    }

    #[napi]
    pub async fn write_file(&self, path: String, content: Buffer) -> Result<NativeEntry> {
        let written = self.session.write_file(&path, content.to_vec()).await;
        written.map(to_entry).map_err(coded)
    }

    #[napi]
    pub async fn read_file(&self, path: String) -> Result<Buffer> {
        let content = self.session.read_file(&path).await.map_err(coded)?;
        Ok(content.into())
    }

    #[napi]
    pub async fn list(&self, dir: String) -> Result<Vec<NativeEntry>> {
        let entries = self.session.list(&dir).await.map_err(coded)?;
        Ok(entries.into_iter().map(to_entry).collect())
    }

    #[napi]
    pub async fn restart(&self) -> Result<()> {
        self.session.restart().await.map_err(coded)
    }

    /// Ends the session; resolves once its sandbox is gone.
    #[napi]
    pub async fn close(&self) {
        self.session.close().await;
    }
}

fn to_entry(entry: Entry) -> NativeEntry {
    NativeEntry {
        name: entry.name,
        path: entry.path,
        kind: entry.kind.into(),
        size: entry.size as f64,
    }
}

fn to_sink(callback: EventCallback) -> EventSink {
    let callback = Arc::new(callback);
    EventSink(Arc::new(move |event| {
        let callback = callback.clone();
        let line = serde_json::to_string(&event).expect("events serialize");
        Box::pin(async move {
            // Resolves once JavaScript has run the callback: backpressure.
            let _ = callback.call_async(line).await;
        })
    }))
}
