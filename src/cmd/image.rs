//! `shoal image import FILE…` (OCI layout archives or `docker save` tarballs, to the
//! control plane, which keeps them for every node) and `shoal image ls`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use api::image::{ImageImport, ImageRecord, Reference};

use super::Client;

#[derive(clap::Subcommand)]
pub enum ImageCommand {
    /// Import image archives (OCI image layout, or `docker save` output) into the cluster.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the images the cluster keeps.
    Ls,
}

pub fn run(client: &Client, command: &ImageCommand) -> Result<()> {
    match command {
        ImageCommand::Import { files } => {
            for f in files {
                let imported = import(client, f)?;
                for line in import_lines(&imported) {
                    println!("{line}");
                }
            }
            Ok(())
        }
        ImageCommand::Ls => {
            let list = client.block_on(client.inner().list_images())?;
            print!("{}", table(&list.items));
            Ok(())
        }
    }
}

/// Sends one archive.
pub fn import(client: &Client, file: &PathBuf) -> Result<ImageImport> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    client.block_on(client.inner().import_images(bytes)).with_context(|| format!("importing {}", file.display()))
}

/// `imported busybox:latest sha256:…`, one line per name (and per untagged manifest).
pub fn import_lines(i: &ImageImport) -> Vec<String> {
    let mut out: Vec<String> = i.images.iter().map(|r| format!("imported {} {}", familiar(&r.name), r.manifest_digest)).collect();
    out.extend(i.untagged.iter().map(|d| format!("imported (untagged) {d}")));
    out
}

fn familiar(name: &str) -> String {
    Reference::parse(name).map(|r| r.familiar()).unwrap_or_else(|_| name.to_string())
}

/// `IMAGE  DIGEST  IMAGE ID  SIZE`, as `crictl images` lays them out.
pub fn table(items: &[ImageRecord]) -> String {
    let rows: Vec<[String; 4]> = items
        .iter()
        .map(|r| [familiar(&r.name), short(&r.manifest_digest), short(&r.config_digest), human_size(r.size_bytes)])
        .collect();
    let header = ["IMAGE".to_string(), "DIGEST".into(), "IMAGE ID".into(), "SIZE".into()];
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(rows.iter()) {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

fn short(digest: &str) -> String {
    digest.strip_prefix("sha256:").unwrap_or(digest).chars().take(13).collect()
}

fn human_size(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.3}GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.3}MB", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.3}kB", f / 1e3)
    } else {
        format!("{n}B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_familiar_names_short_digests_and_sizes() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let items = vec![ImageRecord { name: "docker.io/library/busybox:latest".into(), manifest_digest: d('a'), config_digest: d('b'), size_bytes: 1_234_567, blobs: vec![] }];
        let t = table(&items);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["IMAGE", "DIGEST", "IMAGE", "ID", "SIZE"]);
        assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["busybox:latest", "aaaaaaaaaaaaa", "bbbbbbbbbbbbb", "1.235MB"]);
    }
}
