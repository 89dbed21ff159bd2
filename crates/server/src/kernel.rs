//! Code contexts: one kernel process per context, in the sandbox, keeping
//! the state of its language across executions (the kernels are
//! `e2b-native-kernels`'; the local crate starts and drives them).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use e2b_native_kernels::Language;
use e2b_native_local::session::kernel::Kernel;

use crate::state::{lock, App, Sandbox};

/// A code context: its kernel starts on first use and after it died.
pub(crate) struct Context {
    pub id: String,
    pub language: Language,
    pub cwd: String,
    /// The running kernel's pid (0: none), readable while an execution
    /// holds the kernel.
    pub pid: AtomicI32,
    /// Held for the whole of an execution: executions are serialized.
    pub kernel: tokio::sync::Mutex<Option<Kernel>>,
}

/// A sandbox's contexts, and the default one of each kernel.
#[derive(Default)]
pub(crate) struct Contexts {
    inner: Mutex<ContextsInner>,
}

#[derive(Default)]
struct ContextsInner {
    by_id: HashMap<String, Arc<Context>>,
    /// The default context of each language (typescript's is its own).
    defaults: HashMap<Language, String>,
    /// Creation order, for listing.
    order: Vec<String>,
}

impl Contexts {
    /// A new context for `language`, or (`default`) the language's default one.
    pub(crate) fn create(&self, language: Language, cwd: String, default: bool) -> Arc<Context> {
        let mut inner = lock(&self.inner);
        if default {
            if let Some(context) = inner
                .defaults
                .get(&language)
                .and_then(|id| inner.by_id.get(id))
            {
                return context.clone();
            }
        }
        let id = uuid();
        let context = Arc::new(Context {
            id: id.clone(),
            language,
            cwd,
            pid: AtomicI32::new(0),
            kernel: tokio::sync::Mutex::new(None),
        });
        inner.by_id.insert(id.clone(), context.clone());
        inner.order.push(id.clone());
        if default {
            inner.defaults.insert(language, id);
        }
        context
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Context>> {
        lock(&self.inner).by_id.get(id).cloned()
    }

    pub(crate) fn remove(&self, id: &str) -> Option<Arc<Context>> {
        let mut inner = lock(&self.inner);
        inner.order.retain(|i| i != id);
        inner.defaults.retain(|_, i| i != id);
        inner.by_id.remove(id)
    }

    pub(crate) fn all(&self) -> Vec<Arc<Context>> {
        let inner = lock(&self.inner);
        inner
            .order
            .iter()
            .filter_map(|id| inner.by_id.get(id).cloned())
            .collect()
    }
}

fn uuid() -> String {
    let hex = crate::util::hex_token(16);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Starts the context's kernel in its cwd and waits until it is ready; a
/// Python kernel without IPython says so in the log.
pub(crate) async fn start(
    app: &App,
    sandbox: &Sandbox,
    context: &Context,
) -> Result<Kernel, String> {
    let launch = app.runtimes.kernels.launch(context.language.kernel())?;
    let env = sandbox.env(&app.runtimes);
    let (mut kernel, ready) = Kernel::start(
        &sandbox.session,
        context.language,
        launch,
        env,
        &context.cwd,
    )
    .await?;
    kernel.limit_replies(app.config.max_result_bytes);
    if ready.mode == "basic" {
        let reason = ready.detail.get("reason").and_then(|r| r.as_str());
        app.log.warn(format_args!(
            "the python kernel runs in basic mode (state, text results and \
             display(), no magics, rich results or charts): {}",
            reason.unwrap_or("no reason given")
        ));
    }
    context.pid.store(kernel.pid, Ordering::Relaxed);
    Ok(kernel)
}
