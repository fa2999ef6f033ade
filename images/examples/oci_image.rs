//! Writes an OCI image layout archive from directories, deterministically (what
//! `examples/images/build.sh` uses):
//!
//! `oci_image --out FILE --name NAME [--name NAME…] --layer DIR [--layer DIR…]
//!   [--env K=V…] [--entrypoint ARG…] [--cmd ARG…] [--expose PORT/PROTO…] [--workdir DIR]`
//!
//! Layers are gzip-compressed with a zero timestamp, so the same inputs give the same bytes.

use std::io::Write;
use std::path::PathBuf;

use images::write::{layer_from_dir, write_archive, ImageSpec, Layer};
use serde_json::{json, Map, Value};

fn main() {
    if let Err(e) = run() {
        eprintln!("oci_image: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut out, mut names, mut layers, mut env, mut entrypoint, mut cmd, mut expose, mut workdir) =
        (None, Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), None);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--out" => out = Some(PathBuf::from(value()?)),
            "--name" => names.push(value()?),
            "--layer" => layers.push(PathBuf::from(value()?)),
            "--env" => env.push(value()?),
            "--entrypoint" => entrypoint.push(value()?),
            "--cmd" => cmd.push(value()?),
            "--expose" => expose.push(value()?),
            "--workdir" => workdir = Some(value()?),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let out = out.ok_or("--out FILE is required")?;
    let mut config = Map::new();
    if !env.is_empty() {
        config.insert("Env".into(), json!(env));
    }
    if !entrypoint.is_empty() {
        config.insert("Entrypoint".into(), json!(entrypoint));
    }
    if !cmd.is_empty() {
        config.insert("Cmd".into(), json!(cmd));
    }
    if !expose.is_empty() {
        let ports: Map<String, Value> = expose.into_iter().map(|p| (p, json!({}))).collect();
        config.insert("ExposedPorts".into(), Value::Object(ports));
    }
    if let Some(w) = workdir {
        config.insert("WorkingDir".into(), json!(w));
    }
    let mut spec = ImageSpec { names, config: Value::Object(config), layers: Vec::new() };
    for dir in layers {
        let tar = layer_from_dir(&dir).map_err(|e| format!("layer {}: {e}", dir.display()))?;
        let diff_id = images::sha256_digest(&tar);
        let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
        gz.write_all(&tar).map_err(|e| e.to_string())?;
        let blob = gz.finish().map_err(|e| e.to_string())?;
        spec.layers.push(Layer { blob, diff_id });
    }
    let tmp = out.with_extension("tmp");
    let f = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    write_archive(&[spec], std::io::BufWriter::new(f)).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &out).map_err(|e| format!("{}: {e}", out.display()))
}
