//! The content store against real archives: both archive formats, every compression, the
//! metadata a layer carries, whiteouts seen through a real overlay mount, and refusals.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use images::write::{write_archive, ImageSpec, Layer};

use super::store::{ImageStore, StoreError};
use super::unpack::UnpackError;

enum E<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a [u8], u32),
    Owned(&'a str, &'a [u8], u64, u64),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str, u32, u32),
    Fifo(&'a str),
    /// A file with xattrs in a PAX header.
    Xattr(&'a str, &'a str, &'a [u8]),
}

fn header(path: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    // Raw name bytes: set_path refuses `..`, which the refusal tests need.
    h.as_ustar_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn layer_tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            E::Dir(p, m) => b.append(&cks(header(p, tar::EntryType::Directory, 0, *m)), &[][..]).unwrap(),
            E::File(p, d, m) => b.append(&cks(header(p, tar::EntryType::Regular, d.len() as u64, *m)), *d).unwrap(),
            E::Owned(p, d, uid, gid) => {
                let mut h = header(p, tar::EntryType::Regular, d.len() as u64, 0o4755);
                h.set_uid(*uid);
                h.set_gid(*gid);
                b.append(&cks(h), *d).unwrap()
            }
            E::Symlink(p, t) => {
                let mut h = header(p, tar::EntryType::Symlink, 0, 0o777);
                h.set_link_name(t).unwrap();
                b.append(&cks(h), &[][..]).unwrap()
            }
            E::Hardlink(p, t) => {
                let mut h = header(p, tar::EntryType::Link, 0, 0o644);
                h.as_ustar_mut().unwrap().linkname[..t.len()].copy_from_slice(t.as_bytes());
                b.append(&cks(h), &[][..]).unwrap()
            }
            E::Char(p, maj, min) => {
                let mut h = header(p, tar::EntryType::Char, 0, 0o666);
                h.set_device_major(*maj).unwrap();
                h.set_device_minor(*min).unwrap();
                b.append(&cks(h), &[][..]).unwrap()
            }
            E::Fifo(p) => b.append(&cks(header(p, tar::EntryType::Fifo, 0, 0o600)), &[][..]).unwrap(),
            E::Xattr(p, k, v) => {
                let rec = |key: &str, val: &[u8]| {
                    let body_len = key.len() + val.len() + 3;
                    let mut n = body_len + body_len.to_string().len();
                    if n.to_string().len() != body_len.to_string().len() {
                        n += 1;
                    }
                    let mut r = format!("{n} {key}=").into_bytes();
                    r.extend_from_slice(val);
                    r.push(b'\n');
                    r
                };
                let pax = rec(&format!("SCHILY.xattr.{k}"), v);
                b.append(&cks(header("PaxHeaders/x", tar::EntryType::XHeader, pax.len() as u64, 0o644)), pax.as_slice()).unwrap();
                b.append(&cks(header(p, tar::EntryType::Regular, 1, 0o644)), &b"x"[..]).unwrap()
            }
        }
    }
    b.into_inner().unwrap()
}

fn cks(mut h: tar::Header) -> tar::Header {
    h.set_cksum();
    h
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b).unwrap();
    gz.finish().unwrap()
}

fn archive(name: &str, layers: Vec<Layer>) -> Vec<u8> {
    let spec = ImageSpec { names: vec![name.into()], config: serde_json::json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]}), layers };
    let mut out = Vec::new();
    write_archive(&[spec], &mut out).unwrap();
    out
}

fn compressed(tar: Vec<u8>, how: &str) -> Layer {
    let diff_id = images::sha256_digest(&tar);
    let blob = match how {
        "gzip" => gzip(&tar),
        "zstd" => zstd::encode_all(tar.as_slice(), 3).unwrap(),
        _ => tar,
    };
    Layer { blob, diff_id }
}

#[test]
fn imports_resolve_under_every_spelling_of_the_name() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let a = archive("busybox", vec![Layer::plain(layer_tar(&[E::File("bin/busybox", b"elf", 0o755)]))]);
    let imported = store.import_archive(a.as_slice()).unwrap();
    assert_eq!(imported[0].names, ["docker.io/library/busybox:latest"]);
    let img = store.resolve("busybox").expect("busybox resolves");
    assert_eq!(store.resolve("busybox:latest").unwrap().id, img.id);
    assert_eq!(store.resolve("docker.io/library/busybox:latest").unwrap().id, img.id);
    let digest = img.repo_digest.split_once('@').unwrap().1.to_string();
    assert_eq!(img.repo_digest, format!("docker.io/library/busybox@{digest}"));
    assert!(store.resolve(&format!("busybox@{digest}")).is_some());
    assert!(store.resolve(&img.id).is_some(), "by image id");
    assert!(store.resolve("busybox:1.0").is_none());
    assert_eq!(img.config.cmd, ["sh"]);
    assert_eq!(img.config.env, ["PATH=/bin"]);
    assert!(img.size_bytes > 0);
    assert!(img.layers[0].join("bin/busybox").is_file());
    assert!(img.layers[0].file_name().unwrap().len() == 16, "short layer directory names");
    // Reopened, the store still knows it; importing again changes nothing.
    drop(store);
    let store = ImageStore::open(root.path()).unwrap();
    assert_eq!(store.list().len(), 1);
    store.import_archive(a.as_slice()).unwrap();
    assert_eq!(store.list().len(), 1);
}

#[test]
fn plain_gzip_and_zstd_layers_unpack_the_same() {
    for how in ["plain", "gzip", "zstd"] {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open(root.path()).unwrap();
        let tar = layer_tar(&[E::Dir("etc", 0o755), E::File("etc/motd", b"hello", 0o644)]);
        let img = &store.import_archive(archive("x:1", vec![compressed(tar, how)]).as_slice()).unwrap()[0];
        assert_eq!(fs::read(img.layers[0].join("etc/motd")).unwrap(), b"hello", "{how}");
    }
}

#[test]
fn a_docker_save_archive_imports() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let l = layer_tar(&[E::File("hello", b"v1", 0o755)]);
    let config = format!(r#"{{"architecture":"amd64","os":"linux","config":{{"Entrypoint":["/hello"]}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#, images::sha256_digest(&l));
    let cfg_name = format!("{}.json", &images::sha256_digest(config.as_bytes())[7..]);
    let manifest = format!(r#"[{{"Config":"{cfg_name}","RepoTags":["hello:v1"],"Layers":["0123/layer.tar"]}}]"#);
    let mut b = tar::Builder::new(Vec::new());
    for (p, d) in [(cfg_name.as_str(), config.as_bytes()), ("0123/layer.tar", &l), ("manifest.json", manifest.as_bytes())] {
        b.append(&cks(header(p, tar::EntryType::Regular, d.len() as u64, 0o644)), d).unwrap();
    }
    store.import_archive(b.into_inner().unwrap().as_slice()).unwrap();
    let img = store.resolve("hello:v1").unwrap();
    assert_eq!(img.config.entrypoint, ["/hello"]);
    assert_eq!(fs::read(img.layers[0].join("hello")).unwrap(), b"v1");
}

#[test]
fn layers_keep_owners_modes_links_devices_and_xattrs() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let tar = layer_tar(&[
        E::Dir("bin", 0o755),
        E::Owned("bin/su", b"elf", 1000, 2000),
        E::Symlink("bin/sh", "su"),
        E::Hardlink("bin/su2", "bin/su"),
        E::Char("dev/null", 1, 3),
        E::Fifo("run/fifo"),
        E::Xattr("etc/x", "user.shoal", b"yes"),
        E::Dir("tmp", 0o1777),
    ]);
    let img = &store.import_archive(archive("meta:1", vec![Layer::plain(tar)]).as_slice()).unwrap()[0];
    let l = &img.layers[0];
    let su = fs::symlink_metadata(l.join("bin/su")).unwrap();
    assert_eq!((su.uid(), su.gid(), su.mode() & 0o7777), (1000, 2000, 0o4755), "setuid kept after chown");
    assert_eq!(fs::read_link(l.join("bin/sh")).unwrap(), Path::new("su"));
    assert_eq!(fs::symlink_metadata(l.join("bin/su2")).unwrap().ino(), su.ino());
    let null = fs::symlink_metadata(l.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    assert!(fs::symlink_metadata(l.join("run/fifo")).unwrap().file_type().is_fifo());
    assert_eq!(fs::metadata(l.join("tmp")).unwrap().permissions().mode() & 0o7777, 0o1777);
    assert_eq!(getxattr(&l.join("etc/x"), "user.shoal").as_deref(), Some(&b"yes"[..]));
}

fn getxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    let n = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: valid strings and a buffer of the given length.
    let len = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (len >= 0).then(|| {
        buf.truncate(len as usize);
        buf
    })
}

/// Unmounts on drop, so a failing assertion leaves no mount behind.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let c = std::ffi::CString::new(self.0.to_string_lossy().as_bytes()).unwrap();
        // SAFETY: a valid path.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn whiteouts_and_opaque_directories_give_the_merged_view_through_overlayfs() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let bottom = layer_tar(&[
        E::File("etc/keep", b"1", 0o644),
        E::File("etc/gone", b"1", 0o644),
        E::File("var/old/a", b"1", 0o644),
        E::File("var/old/b", b"1", 0o644),
    ]);
    // The opaque marker follows the directory's new entry here: it must still hide only the
    // lower layer's contents, not this layer's own.
    let top = layer_tar(&[
        E::File("etc/.wh.gone", b"", 0o644),
        E::File("var/old/new", b"2", 0o644),
        E::File("var/old/.wh..wh..opq", b"", 0o644),
        E::File("etc/added", b"2", 0o644),
    ]);
    let img = &store.import_archive(archive("layers:1", vec![Layer::plain(bottom), compressed(top, "gzip")]).as_slice()).unwrap()[0];
    let top_dir = &img.layers[1];
    let wh = fs::symlink_metadata(top_dir.join("etc/gone")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0, "whiteout is a 0/0 char device");
    assert_eq!(getxattr(&top_dir.join("var/old"), "trusted.overlay.opaque").as_deref(), Some(&b"y"[..]));

    let c = tempfile::tempdir().unwrap();
    let (target, upper, work) = (c.path().join("rootfs"), c.path().join("upper"), c.path().join("work"));
    let images = super::ClusterImages::new(std::sync::Arc::new(store), None);
    use super::ImageService;
    images.mount_rootfs(img, &target, &upper, &work).expect("overlayfs mount (needs root)");
    let _m = Mounted(target.clone());
    let names = |d: &str| {
        let mut v: Vec<String> = fs::read_dir(target.join(d)).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(names("etc"), ["added", "keep"]);
    assert_eq!(names("var/old"), ["new"]);
    // Writes land in the container's upper directory, not in a layer.
    fs::write(target.join("etc/keep"), b"changed").unwrap();
    assert_eq!(fs::read(upper.join("etc/keep")).unwrap(), b"changed");
    assert_eq!(fs::read(img.layers[0].join("etc/keep")).unwrap(), b"1");
}

#[test]
fn a_blob_whose_bytes_are_not_its_digest_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let digest = images::sha256_digest(b"right");
    let e = store.put_blob(&digest, b"wrong").unwrap_err();
    assert!(matches!(e, StoreError::DigestMismatch { .. }), "{e}");
    assert!(!store.has_blob(&digest));
    assert_eq!(fs::read_dir(store.dir().join("tmp")).unwrap().count(), 0, "no temporary file left");
    store.put_blob(&digest, b"right").unwrap();
    assert_eq!(store.read_blob(&digest).unwrap(), b"right");
}

#[test]
fn a_layer_whose_tar_is_not_its_diff_id_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let tar = layer_tar(&[E::File("a", b"1", 0o644)]);
    let lie = Layer { blob: tar, diff_id: images::sha256_digest(b"other") };
    let e = store.import_archive(archive("lie:1", vec![lie]).as_slice()).unwrap_err();
    assert!(e.to_string().contains("diff_id"), "{e}");
    assert!(store.resolve("lie:1").is_none());
}

#[test]
fn layer_entries_leaving_the_layer_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let escapes: Vec<Vec<u8>> = vec![
        layer_tar(&[E::File("../escaped", b"x", 0o644)]),
        layer_tar(&[E::File("a/../../escaped", b"x", 0o644)]),
        layer_tar(&[E::File("etc/passwd", b"root", 0o644), E::Hardlink("link", "../etc/passwd")]),
    ];
    for tar in escapes {
        let dest = tempfile::tempdir_in(outside.path()).unwrap();
        let e = super::unpack::unpack_layer(tar.as_slice(), dest.path()).unwrap_err();
        assert!(matches!(e, UnpackError::Traversal(_)), "{e}");
    }
    // A symlink pointing out of the layer is followed as if the layer were `/`.
    let dest = tempfile::tempdir_in(outside.path()).unwrap();
    let out = outside.path().display().to_string();
    let tar = layer_tar(&[E::Symlink("up", &out), E::File("up/planted", b"x", 0o644), E::Symlink("rel", "../../.."), E::File("rel/planted2", b"x", 0o644)]);
    super::unpack::unpack_layer(tar.as_slice(), dest.path()).unwrap();
    assert!(!outside.path().join("planted").exists() && !outside.path().join("planted2").exists());
    assert!(dest.path().join(out.trim_start_matches('/')).join("planted").is_file());
    assert!(dest.path().join("planted2").is_file());
}
