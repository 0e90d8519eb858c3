//! AFL target: the configuration file, loaded as `serve --config` loads it (from a file in
//! the temporary directory). Crashes on a panic or an error that is not one line.
use std::path::PathBuf;

use postern_config::{Config, Defaults, Overrides};

fn main() {
    let path = std::env::temp_dir().join(format!("postern-fuzz-config-{}.toml", std::process::id()));
    let defaults = Defaults { hostname: "gw.example.net".into() };
    afl::fuzz!(|data: &[u8]| {
        std::fs::write(&path, data).expect("temporary file");
        if let Err(e) = Config::load(Some(PathBuf::as_path(&path)), &Overrides::default(), &defaults) {
            let shown = e.to_string();
            assert!(!shown.contains('\n') && !shown.contains('\r'), "{shown:?}");
        }
    });
}
