//! Finding and loading the ONNX Runtime shared library.
//!
//! The runtime is loaded at run time (`ort`'s `load-dynamic`), never downloaded at build time:
//! a roadside box gets the library from its package, a developer from the setup script.

use ort::environment::{Environment, GlobalThreadPoolOptions};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The library file name the setup script and the package install.
pub const LIBRARY_FILE: &str = "libonnxruntime.so";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found; looked in: {searched}. Run scripts/setup.sh, or point \
         --ort-lib / ORT_DYLIB_PATH at libonnxruntime.so (1.24 or newer)"
    )]
    NotFound { searched: String },
    #[error("{path}: cannot load ONNX Runtime: {detail}. Is it libonnxruntime.so 1.24 or newer for this CPU architecture?")]
    Load { path: PathBuf, detail: String },
    #[error("ONNX Runtime was already started with {loaded}; cannot restart it with {requested} in the same process")]
    AlreadyLoaded { loaded: String, requested: String },
    #[error("ONNX Runtime failed to start earlier in this process: {message}")]
    Earlier { message: String },
}

/// Places looked in, in order, when no library is named: beside the installed binary first
/// (`<prefix>/lib/anpr-edge/`), then the usual prefixes.
pub fn default_locations() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(prefix) =
        std::env::current_exe().ok().and_then(|exe| exe.parent()?.parent().map(Path::to_path_buf))
    {
        dirs.push(prefix.join("lib/anpr-edge").join(LIBRARY_FILE));
    }
    dirs.push(PathBuf::from("/usr/local/lib/anpr-edge").join(LIBRARY_FILE));
    dirs.push(PathBuf::from("/usr/lib/anpr-edge").join(LIBRARY_FILE));
    dirs
}

/// Picks the library: `explicit` (from `--ort-lib` or `ORT_DYLIB_PATH`) if given, else the first
/// default location that exists.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(RuntimeError::NotFound { searched: path.display().to_string() })
        };
    }
    let candidates = default_locations();
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| RuntimeError::NotFound {
        searched: candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
    })
}

/// How the one runtime of the process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// The library; `None` looks in [`default_locations`].
    pub library: Option<PathBuf>,
    /// Worker threads of the process-wide pool all models share.
    pub threads: usize,
    /// Whether idle workers spin before sleeping: lower latency, but burns a core that capture
    /// or encoding might need.
    pub spin: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self { library: None, threads: default_threads(), spin: false }
    }
}

/// One worker per core: the models run one after the other, never side by side.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

struct Loaded {
    options: RuntimeOptions,
    environment: Environment,
}

static LOADED: OnceLock<Result<Loaded, String>> = OnceLock::new();

/// Loads the runtime once per process and returns its environment.
///
/// Design: ONNX Runtime allows one environment per process, and detector and OCR share its
/// single thread pool, so two pools never fight over a 2-core box. A second call with the same
/// options returns the same environment; other options are an error rather than silently
/// ignored.
pub fn init(options: &RuntimeOptions) -> Result<Environment, RuntimeError> {
    let loaded = LOADED.get_or_init(|| load(options).map_err(|e| e.to_string()));
    match loaded {
        Ok(loaded) if &loaded.options == options => Ok(loaded.environment.clone()),
        Ok(loaded) => Err(RuntimeError::AlreadyLoaded {
            loaded: format!("{:?}", loaded.options),
            requested: format!("{options:?}"),
        }),
        Err(message) => Err(RuntimeError::Earlier { message: message.clone() }),
    }
}

fn load(options: &RuntimeOptions) -> Result<Loaded, RuntimeError> {
    let path = locate(options.library.as_deref())?;
    let load_error = |detail: String| RuntimeError::Load { path: path.clone(), detail };
    // The library must be loaded before any other ONNX Runtime call, thread pool options included.
    let builder = ort::init_from(&path).map_err(|e| load_error(e.to_string()))?;
    let pool = GlobalThreadPoolOptions::default()
        .with_intra_threads(options.threads.max(1))
        .and_then(|p| p.with_spin_control(options.spin))
        .map_err(|e| load_error(e.to_string()))?;
    let environment = builder
        .with_name("anpr-edge")
        // Telemetry would try to reach the network from a roadside box; keep it off.
        .with_telemetry(false)
        .with_global_thread_pool(pool)
        .build()
        .map_err(|e| load_error(e.to_string()))?;
    Ok(Loaded { options: options.clone(), environment })
}
