//! Volumes and env against a fake ObjectLookup, on real directories and (as root) real
//! tmpfs and bind mounts, each cleaned up by `release`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::Mutex;

use api::model::*;

use super::*;

#[derive(Default)]
struct Fake {
    config_maps: Mutex<BTreeMap<String, ConfigMap>>,
    secrets: Mutex<BTreeMap<String, Secret>>,
    pvcs: Mutex<BTreeMap<String, PersistentVolumeClaim>>,
    pvs: Mutex<BTreeMap<String, PersistentVolume>>,
    services: Mutex<Vec<Service>>,
}

#[async_trait]
impl ObjectLookup for Fake {
    async fn config_map(&self, ns: &str, name: &str) -> Result<Option<ConfigMap>, client::Error> {
        Ok(self.config_maps.lock().unwrap().get(&format!("{ns}/{name}")).cloned())
    }
    async fn secret(&self, ns: &str, name: &str) -> Result<Option<Secret>, client::Error> {
        Ok(self.secrets.lock().unwrap().get(&format!("{ns}/{name}")).cloned())
    }
    async fn pvc(&self, ns: &str, name: &str) -> Result<Option<PersistentVolumeClaim>, client::Error> {
        Ok(self.pvcs.lock().unwrap().get(&format!("{ns}/{name}")).cloned())
    }
    async fn pv(&self, name: &str) -> Result<Option<PersistentVolume>, client::Error> {
        Ok(self.pvs.lock().unwrap().get(name).cloned())
    }
    async fn services(&self, ns: &str) -> Result<Vec<Service>, client::Error> {
        Ok(self.services.lock().unwrap().iter().filter(|s| s.metadata.namespace.as_deref() == Some(ns)).cloned().collect())
    }
}

impl Fake {
    fn cm(&self, name: &str, data: &[(&str, &str)]) {
        let mut c = ConfigMap::default();
        c.metadata.name = name.into();
        c.metadata.namespace = Some("ns".into());
        c.data = data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.config_maps.lock().unwrap().insert(format!("ns/{name}"), c);
    }
    fn secret(&self, name: &str, data: &[(&str, &[u8])]) {
        let mut s = Secret::default();
        s.metadata.name = name.into();
        s.metadata.namespace = Some("ns".into());
        s.data = data.iter().map(|(k, v)| (k.to_string(), Bytes(v.to_vec()))).collect();
        self.secrets.lock().unwrap().insert(format!("ns/{name}"), s);
    }
}

fn pod(volumes: Vec<Volume>) -> Pod {
    let mut p = Pod::default();
    p.metadata.name = "web".into();
    p.metadata.namespace = Some("ns".into());
    p.metadata.uid = "uid-1".into();
    p.metadata.labels.insert("app".into(), "web".into());
    p.spec.node_name = Some("n1".into());
    p.spec.volumes = volumes;
    p
}

fn vol(name: &str) -> Volume {
    Volume { name: name.into(), ..Default::default() }
}

fn key(k: &str, p: &str, mode: Option<i32>) -> KeyToPath {
    KeyToPath { key: k.into(), path: p.into(), mode, user: None }
}

fn facts() -> NodeFacts {
    let mut f = NodeFacts { node_name: "n1".into(), host_ip: "10.0.0.1".into(), pod_ip: "10.1.0.7".into(), ..Default::default() };
    f.allocatable.insert("cpu".into(), Quantity::new("4"));
    f.allocatable.insert("memory".into(), Quantity::new("8Gi"));
    f
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The pod directory, released (unmounted, removed) when the test ends, even on failure.
struct PodDir(tempfile::TempDir);
impl PodDir {
    fn new() -> Self {
        PodDir(tempfile::tempdir().unwrap())
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
}
impl Drop for PodDir {
    fn drop(&mut self) {
        let _ = release(self.0.path());
    }
}

fn config_map_volume(name: &str, cm: &str, items: Vec<KeyToPath>, default_mode: Option<i32>, optional: Option<bool>) -> Volume {
    Volume { config_map: Some(ConfigMapVolumeSource { name: Some(cm.into()), items, default_mode, optional, default_user: None }), ..vol(name) }
}

#[tokio::test]
async fn config_map_volumes_items_modes_and_optional() {
    let f = Fake::default();
    f.cm("cfg", &[("a", "1"), ("b", "2")]);
    {
        let mut m = f.config_maps.lock().unwrap();
        m.get_mut("ns/cfg").unwrap().binary_data.insert("bin".into(), Bytes(vec![0, 159, 255]));
    }
    struct Case {
        name: &'static str,
        volume: Volume,
        want: Result<Vec<(&'static str, &'static [u8], u32)>, &'static str>,
    }
    let cases = [
        Case { name: "all keys, default mode", volume: config_map_volume("v", "cfg", vec![], None, None), want: Ok(vec![("a", b"1", 0o644), ("b", b"2", 0o644), ("bin", &[0, 159, 255], 0o644)]) },
        Case { name: "defaultMode", volume: config_map_volume("v", "cfg", vec![], Some(0o400), None), want: Ok(vec![("a", b"1", 0o400)]) },
        Case {
            name: "items with paths and modes",
            volume: config_map_volume("v", "cfg", vec![key("a", "x/y/a.txt", Some(0o600)), key("b", "b.txt", None)], Some(0o440), None),
            want: Ok(vec![("x/y/a.txt", b"1", 0o600), ("b.txt", b"2", 0o440)]),
        },
        Case { name: "missing key", volume: config_map_volume("v", "cfg", vec![key("nope", "n", None)], None, None), want: Err("configmap references non-existent config key: nope") },
        Case { name: "missing key, optional", volume: config_map_volume("v", "cfg", vec![key("nope", "n", None), key("a", "a", None)], None, Some(true)), want: Ok(vec![("a", b"1", 0o644)]) },
        Case { name: "missing object", volume: config_map_volume("v", "gone", vec![], None, None), want: Err("configmap \"gone\" not found") },
        Case { name: "missing object, optional", volume: config_map_volume("v", "gone", vec![], None, Some(true)), want: Ok(vec![]) },
        Case { name: "item path escaping", volume: config_map_volume("v", "cfg", vec![key("a", "../a", None)], None, None), want: Err("invalid path: must not contain '..': ../a") },
    ];
    for c in cases {
        let dir = PodDir::new();
        let res = prepare(&pod(vec![c.volume]), dir.path(), &facts(), &f).await;
        match (res, c.want) {
            (Ok(vols), Ok(files)) => {
                let root = &vols.volumes["v"].0;
                assert_eq!(root, &dir.path().join("volumes/kubernetes.io~configmap/v"), "{}", c.name);
                for (p, data, mode) in files {
                    assert_eq!(std::fs::read(root.join(p)).unwrap(), data, "{}: {p}", c.name);
                    assert_eq!(mode_of(&root.join(p)), mode, "{}: {p}", c.name);
                }
                if c.name == "missing object, optional" {
                    let visible: Vec<_> = std::fs::read_dir(root).unwrap().flatten().filter(|e| !e.file_name().to_string_lossy().starts_with("..")).collect();
                    assert!(visible.is_empty(), "{}", c.name);
                }
            }
            (Err(e), Err(want)) => {
                assert_eq!(e.message, want, "{}", c.name);
                assert_eq!(e.to_string(), format!("MountVolume.SetUp failed for volume \"v\" : {want}"));
            }
            (got, want) => panic!("{}: got {got:?}, want {want:?}", c.name),
        }
    }
}

#[tokio::test]
async fn config_map_update_in_place_swaps_content_atomically() {
    let f = Fake::default();
    f.cm("cfg", &[("k", "v1"), ("old", "x")]);
    let dir = PodDir::new();
    let p = pod(vec![config_map_volume("v", "cfg", vec![], None, None)]);
    let vols = prepare(&p, dir.path(), &facts(), &f).await.unwrap();
    let root = vols.volumes["v"].0.clone();
    assert_eq!(std::fs::read_to_string(root.join("k")).unwrap(), "v1");
    let before = std::fs::read_link(root.join("..data")).unwrap();
    assert!(refresh(&p, dir.path(), &facts(), &f).await.unwrap().is_empty(), "nothing changed");

    f.cm("cfg", &[("k", "v2"), ("new", "y")]);
    assert_eq!(refresh(&p, dir.path(), &facts(), &f).await.unwrap(), ["v"]);
    assert_eq!(std::fs::read_to_string(root.join("k")).unwrap(), "v2");
    assert_eq!(std::fs::read_to_string(root.join("new")).unwrap(), "y");
    assert!(std::fs::symlink_metadata(root.join("old")).is_err());
    assert_ne!(std::fs::read_link(root.join("..data")).unwrap(), before);
    assert_eq!(std::fs::read_link(root.join("k")).unwrap(), Path::new("..data/k"));
    // prepare again is the same as refresh: idempotent.
    prepare(&p, dir.path(), &facts(), &f).await.unwrap();
    assert_eq!(std::fs::read_to_string(root.join("k")).unwrap(), "v2");
}

fn secret_volume(name: &str, secret: &str, items: Vec<KeyToPath>, optional: Option<bool>) -> Volume {
    Volume { secret: Some(SecretVolumeSource { secret_name: Some(secret.into()), items, default_mode: None, optional, default_user: None }), ..vol(name) }
}

#[tokio::test]
async fn secret_volumes_are_on_tmpfs_with_binary_data() {
    let f = Fake::default();
    f.secret("s", &[("token", &[1, 2, 3, 0, 255])]);
    let dir = PodDir::new();
    let p = pod(vec![secret_volume("sec", "s", vec![key("token", "t/tok", Some(0o400))], None)]);
    let vols = prepare(&p, dir.path(), &facts(), &f).await.unwrap();
    let root = vols.volumes["sec"].0.clone();
    assert!(teardown::is_mounted(&root), "a secret volume is a tmpfs");
    assert_eq!(std::fs::read(root.join("t/tok")).unwrap(), [1, 2, 3, 0, 255]);
    assert_eq!(mode_of(&root.join("t/tok")), 0o400);

    let missing = prepare(&pod(vec![secret_volume("m", "nope", vec![], None)]), dir.path(), &facts(), &f).await.unwrap_err();
    assert_eq!(missing.message, "secret \"nope\" not found");
    let bad_key = prepare(&pod(vec![secret_volume("m2", "s", vec![key("x", "x", None)], None)]), dir.path(), &facts(), &f).await.unwrap_err();
    assert_eq!(bad_key.message, "references non-existent secret key: x");
    prepare(&pod(vec![secret_volume("m3", "nope", vec![], Some(true))]), dir.path(), &facts(), &f).await.unwrap();

    release(dir.path()).unwrap();
    assert!(!teardown::is_mounted(&root));
    assert!(!dir.path().join("volumes").exists());
}

fn dapi(path: &str, field: Option<&str>, res: Option<(&str, &str, Option<&str>)>) -> DownwardApiVolumeFile {
    DownwardApiVolumeFile {
        path: path.into(),
        field_ref: field.map(|f| ObjectFieldSelector { field_path: f.into(), api_version: None }),
        resource_field_ref: res.map(|(c, r, d)| ResourceFieldSelector { container_name: Some(c.into()), resource: r.into(), divisor: d.map(Quantity::new) }),
        mode: None,
        user: None,
    }
}

#[tokio::test]
async fn downward_api_and_projected_volumes() {
    let f = Fake::default();
    f.cm("cfg", &[("a", "1")]);
    f.secret("s", &[("b", b"2")]);
    let dir = PodDir::new();
    let items = vec![
        dapi("name", Some("metadata.name"), None),
        dapi("labels", Some("metadata.labels"), None),
        dapi("uid", Some("metadata.uid"), None),
        dapi("mem", None, Some(("app", "limits.memory", Some("1Mi")))),
        dapi("cpu", None, Some(("app", "limits.cpu", Some("1m")))),
    ];
    let mut p = pod(vec![
        Volume { downward_api: Some(DownwardApiVolumeSource { items: items.clone(), default_mode: Some(0o444), default_user: None }), ..vol("info") },
        Volume {
            projected: Some(ProjectedVolumeSource {
                default_mode: Some(0o440),
                default_user: None,
                sources: vec![
                    VolumeProjection { config_map: Some(ConfigMapProjection { name: "cfg".into(), items: vec![], optional: None }), ..Default::default() },
                    VolumeProjection { secret: Some(SecretProjection { name: "s".into(), items: vec![key("b", "sec/b", None)], optional: None }), ..Default::default() },
                    VolumeProjection { secret: Some(SecretProjection { name: "gone".into(), items: vec![], optional: Some(true) }), ..Default::default() },
                    VolumeProjection { downward_api: Some(DownwardApiProjection { items: vec![dapi("ns", Some("metadata.namespace"), None)] }), ..Default::default() },
                ],
            }),
            ..vol("all")
        },
    ]);
    let mut c = Container { name: "app".into(), ..Default::default() };
    let mut r = ResourceRequirements::default();
    r.limits.insert("memory".into(), Quantity::new("64Mi"));
    c.resources = Some(r);
    p.spec.containers.push(c);
    let vols = prepare(&p, dir.path(), &facts(), &f).await.unwrap();
    let info = &vols.volumes["info"].0;
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    assert_eq!(read(info, "name"), "web");
    assert_eq!(read(info, "labels"), "app=\"web\"");
    assert_eq!(read(info, "uid"), "uid-1");
    assert_eq!(read(info, "mem"), "64");
    assert_eq!(read(info, "cpu"), "4000", "no cpu limit: node allocatable");
    assert_eq!(mode_of(&info.join("name")), 0o444);
    let all = &vols.volumes["all"].0;
    assert!(teardown::is_mounted(all), "a projected volume is a tmpfs");
    assert_eq!(read(all, "a"), "1");
    assert_eq!(read(all, "sec/b"), "2");
    assert_eq!(read(all, "ns"), "ns");
    assert_eq!(mode_of(&all.join("a")), 0o440);

    // A label change reaches the file on refresh.
    p.metadata.labels.insert("tier".into(), "front".into());
    assert_eq!(refresh(&p, dir.path(), &facts(), &f).await.unwrap(), ["info"]);
    assert_eq!(read(info, "labels"), "app=\"web\"\ntier=\"front\"");

    // Service-account tokens wait for the security issue.
    let tok = pod(vec![Volume {
        projected: Some(ProjectedVolumeSource {
            sources: vec![VolumeProjection { service_account_token: Some(ServiceAccountTokenProjection { path: "token".into(), ..Default::default() }), ..Default::default() }],
            ..Default::default()
        }),
        ..vol("tok")
    }]);
    let e = prepare(&tok, dir.path(), &facts(), &f).await.unwrap_err();
    assert!(e.message.contains("serviceAccountToken"), "{e}");
    assert!(!dir.path().join("volumes/kubernetes.io~projected/tok").exists() || !teardown::is_mounted(&dir.path().join("volumes/kubernetes.io~projected/tok")));
}

#[tokio::test]
async fn memory_empty_dir_is_a_sized_tmpfs_and_release_leaves_nothing() {
    let f = Fake::default();
    let dir = PodDir::new();
    let mem = Volume { empty_dir: Some(EmptyDirVolumeSource { medium: Some("Memory".into()), size_limit: Some(Quantity::new("8Mi")), ..Default::default() }), ..vol("mem") };
    let disk = Volume { empty_dir: Some(EmptyDirVolumeSource { size_limit: Some(Quantity::new("1Gi")), ..Default::default() }), ..vol("disk") };
    let p = pod(vec![mem, disk]);
    let vols = prepare(&p, dir.path(), &facts(), &f).await.unwrap();
    let m = vols.volumes["mem"].0.clone();
    assert_eq!(m, dir.path().join("volumes/kubernetes.io~empty-dir/mem"));
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info.lines().find(|l| l.split(' ').nth(4) == Some(m.to_str().unwrap())).expect("tmpfs mounted");
    assert!(line.contains(" tmpfs ") && line.contains("size=8192k"), "{line}");
    assert_eq!(mode_of(&vols.volumes["disk"].0), 0o777);
    assert_eq!(vols.size_limits["disk"], 1 << 30);
    // Prepared twice: still one mount.
    prepare(&p, dir.path(), &facts(), &f).await.unwrap();
    assert_eq!(teardown::mount_points().unwrap().iter().filter(|p| **p == m).count(), 1);
    release(dir.path()).unwrap();
    assert!(!teardown::is_mounted(&m));
    assert!(!dir.path().join("volumes").exists());
    release(dir.path()).unwrap();
}

#[tokio::test]
async fn host_path_volumes_check_types() {
    let f = Fake::default();
    let dir = PodDir::new();
    let host = tempfile::tempdir().unwrap();
    let hp = |name: &str, path: &Path, t: &str| Volume {
        host_path: Some(HostPathVolumeSource { path: path.to_string_lossy().into_owned(), type_: Some(t.into()) }),
        ..vol(name)
    };
    let made = host.path().join("made");
    let vols = prepare(&pod(vec![hp("h", &made, "DirectoryOrCreate")]), dir.path(), &facts(), &f).await.unwrap();
    assert_eq!(vols.volumes["h"].0, made);
    assert!(made.is_dir());
    let e = prepare(&pod(vec![hp("h", &host.path().join("none"), "File")]), dir.path(), &facts(), &f).await.unwrap_err();
    assert_eq!(e.message, format!("hostPath type check failed: {}/none does not exist", host.path().display()));
}

fn bound_claim(f: &Fake, claim: &str, pv: &str, local: &Path, by_local_path: bool, phase: &str) {
    let mut c = PersistentVolumeClaim::default();
    c.metadata.name = claim.into();
    c.metadata.namespace = Some("ns".into());
    c.metadata.uid = format!("uid-{claim}");
    c.spec.volume_name = Some(pv.into());
    c.status = Some(PersistentVolumeClaimStatus { phase: Some(phase.into()), ..Default::default() });
    f.pvcs.lock().unwrap().insert(format!("ns/{claim}"), c);
    let mut v = PersistentVolume::default();
    v.metadata.name = pv.into();
    if by_local_path {
        v.metadata.annotations.insert(claim::ANN_PROVISIONED_BY.into(), LOCAL_PATH_PROVISIONER.into());
    }
    v.spec.local = Some(LocalVolumeSource { path: local.to_string_lossy().into_owned(), fs_type: None });
    v.spec.claim_ref = Some(ObjectReference { name: Some(claim.into()), namespace: Some("ns".into()), uid: Some(format!("uid-{claim}")), ..Default::default() });
    f.pvs.lock().unwrap().insert(pv.into(), v);
}

#[tokio::test]
async fn claims_must_be_bound_and_local_path_directories_are_made() {
    let f = Fake::default();
    let dir = PodDir::new();
    let base = tempfile::tempdir().unwrap();
    let mut nf = facts();
    nf.local_path_base = Some(base.path().to_path_buf());
    let claim_vol = |claim: &str, ro: bool| Volume {
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: claim.into(), read_only: Some(ro) }),
        ..vol("data")
    };
    bound_claim(&f, "c1", "pv-1", &base.path().join("pv-1"), true, "Bound");
    bound_claim(&f, "pending", "pv-2", &base.path().join("pv-2"), true, "Pending");
    bound_claim(&f, "elsewhere", "pv-3", Path::new("/tmp/not-base/pv-3"), true, "Bound");
    let cases: &[(&str, bool, Result<(), String>)] = &[
        ("c1", true, Ok(())),
        ("pending", false, Err("error processing PVC ns/pending: PVC is not bound".into())),
        ("missing", false, Err("error processing PVC ns/missing: persistentvolumeclaim \"missing\" not found".into())),
        ("elsewhere", false, Err(format!("local-path volume pv-3: /tmp/not-base/pv-3 is not in this node's local-path directory {}", base.path().display()))),
    ];
    for (claim, ro, want) in cases {
        let res = prepare(&pod(vec![claim_vol(claim, *ro)]), dir.path(), &nf, &f).await;
        match (res, want) {
            (Ok(v), Ok(())) => {
                assert_eq!(v.volumes["data"].0, base.path().join("pv-1"));
                assert!(base.path().join("pv-1").is_dir());
                assert_eq!(v.read_only.contains("data"), *ro);
                assert_eq!(v.claims["data"], "pv-1");
            }
            (Err(e), Err(w)) => assert_eq!(&e.message, w, "{claim}"),
            (got, want) => panic!("{claim}: got {got:?} want {want:?}"),
        }
    }
    let mut c = Container { name: "c".into(), ..Default::default() };
    c.volume_mounts.push(VolumeMount { name: "data".into(), mount_path: "/data".into(), ..Default::default() });
    let vols = prepare(&pod(vec![claim_vol("c1", true)]), dir.path(), &nf, &f).await.unwrap();
    assert!(container_mounts(&c, &vols, &[]).unwrap()[0].read_only, "a read-only claim makes every mount read-only");

    // The claim's volume is deleted: the sweep removes its data, never one still in use.
    std::fs::write(base.path().join("pv-1/file"), b"x").unwrap();
    let in_use: std::collections::BTreeSet<String> = ["pv-1".to_string()].into();
    f.pvs.lock().unwrap().remove("pv-1");
    assert!(sweep_local_path(base.path(), &in_use, &f).await.unwrap().is_empty());
    assert_eq!(sweep_local_path(base.path(), &Default::default(), &f).await.unwrap(), ["pv-1"]);
    assert!(!base.path().join("pv-1").exists());
}

fn mount(name: &str, path: &str, sub: Option<&str>, expr: Option<&str>) -> VolumeMount {
    VolumeMount { name: name.into(), mount_path: path.into(), sub_path: sub.map(str::to_string), sub_path_expr: expr.map(str::to_string), ..Default::default() }
}

#[tokio::test]
async fn sub_paths_are_bound_from_inside_the_volume_and_escapes_refused() {
    let f = Fake::default();
    f.cm("cfg", &[("k", "v1")]);
    let dir = PodDir::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"host").unwrap();
    let p = pod(vec![
        Volume { empty_dir: Some(EmptyDirVolumeSource::default()), ..vol("scratch") },
        config_map_volume("cfg", "cfg", vec![], None, None),
    ]);
    let vols = prepare(&p, dir.path(), &facts(), &f).await.unwrap();
    let scratch = vols.volumes["scratch"].0.clone();
    std::fs::create_dir(scratch.join("in")).unwrap();
    std::fs::write(scratch.join("in/f"), b"inside").unwrap();
    std::os::unix::fs::symlink(outside.path(), scratch.join("escape")).unwrap();
    std::os::unix::fs::symlink("in", scratch.join("inner-link")).unwrap();
    let env = vec![("POD".to_string(), "web".to_string())];
    struct Case {
        m: VolumeMount,
        want: Result<&'static str, &'static str>,
    }
    let cases = [
        Case { m: mount("scratch", "/a", Some("in/f"), None), want: Ok("inside") },
        Case { m: mount("scratch", "/a", Some("inner-link/f"), None), want: Ok("inside") },
        Case { m: mount("scratch", "/a", None, Some("made/$(POD)")), want: Ok("") },
        Case { m: mount("cfg", "/etc/k", Some("k"), None), want: Ok("v1") },
        Case { m: mount("scratch", "/a", Some("escape/secret"), None), want: Err("failed to prepare subPath for volumeMount \"scratch\" of container \"c\"") },
        Case { m: mount("scratch", "/a", Some("../x"), None), want: Err("unable to provision SubPath `../x`: must not contain '..'") },
        Case { m: mount("scratch", "/a", Some("/etc"), None), want: Err("error SubPath `/etc` must not be an absolute path") },
        Case { m: mount("scratch", "/a", None, Some("$(NOPE)")), want: Err("missing value for NOPE") },
        Case { m: mount("nope", "/a", None, None), want: Err("cannot find volume \"nope\" to mount into container \"c\"") },
    ];
    for (i, c) in cases.into_iter().enumerate() {
        let cont = Container { name: "c".into(), volume_mounts: vec![c.m.clone()], ..Default::default() };
        match (container_mounts(&cont, &vols, &env), c.want) {
            (Ok(ms), Ok(content)) => {
                let src = &ms[0].source;
                assert_eq!(src, &dir.path().join(format!("volume-subpaths/{}/c/0", c.m.name)), "case {i}");
                assert!(teardown::is_mounted(src), "case {i}: bind-mounted");
                if src.is_file() {
                    assert_eq!(std::fs::read_to_string(src).unwrap(), content, "case {i}");
                } else {
                    assert!(scratch.join("made/web").is_dir(), "case {i}: subPathExpr made the directory");
                }
            }
            (Err(e), Err(want)) => assert_eq!(e.0, want, "case {i}"),
            (got, want) => panic!("case {i}: got {got:?} want {want:?}"),
        }
    }
    assert!(!outside.path().join("made").exists());

    // A hostPath that is itself a symlink (like /var/run) is a fine volume root.
    let real = outside.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::write(real.join("f"), b"host file").unwrap();
    std::os::unix::fs::symlink(&real, outside.path().join("link")).unwrap();
    let hp = Volume {
        host_path: Some(HostPathVolumeSource { path: outside.path().join("link").to_string_lossy().into_owned(), type_: Some("Directory".into()) }),
        ..vol("host")
    };
    let hvols = prepare(&pod(vec![hp]), dir.path(), &facts(), &f).await.unwrap();
    let cont = Container { name: "h".into(), volume_mounts: vec![mount("host", "/h", Some("f"), None)], ..Default::default() };
    let ms = container_mounts(&cont, &hvols, &env).unwrap();
    assert_eq!(std::fs::read_to_string(&ms[0].source).unwrap(), "host file");
    // A subPath file of a configMap does not follow updates (as upstream).
    f.cm("cfg", &[("k", "v2")]);
    refresh(&p, dir.path(), &facts(), &f).await.unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("volume-subpaths/cfg/c/0")).unwrap(), "v1");
    assert_eq!(std::fs::read_to_string(vols.volumes["cfg"].0.join("k")).unwrap(), "v2");

    release(dir.path()).unwrap();
    assert!(teardown::mounts_below(dir.path()).unwrap().is_empty());
    assert!(!dir.path().join("volume-subpaths").exists());
}

fn env_var(name: &str, value: Option<&str>, from: Option<EnvVarSource>) -> EnvVar {
    EnvVar { name: name.into(), value: value.map(str::to_string), value_from: from.map(Box::new) }
}

fn cm_key(name: &str, key: &str, optional: bool) -> EnvVarSource {
    EnvVarSource { config_map_key_ref: Some(KeySelector { name: name.into(), key: key.into(), optional: Some(optional) }), ..Default::default() }
}

fn secret_key(name: &str, key: &str, optional: bool) -> EnvVarSource {
    EnvVarSource { secret_key_ref: Some(KeySelector { name: name.into(), key: key.into(), optional: Some(optional) }), ..Default::default() }
}

fn field(path: &str) -> EnvVarSource {
    EnvVarSource { field_ref: Some(ObjectFieldSelector { field_path: path.into(), api_version: None }), ..Default::default() }
}

fn service(ns: &str, name: &str, ip: &str, ports: &[(Option<&str>, i32, Option<&str>)]) -> Service {
    let mut s = Service::default();
    s.metadata.name = name.into();
    s.metadata.namespace = Some(ns.into());
    s.spec.cluster_ip = Some(ip.into());
    s.spec.ports = ports
        .iter()
        .map(|(n, p, proto)| ServicePort { name: n.map(str::to_string), port: *p, protocol: proto.map(str::to_string), ..Default::default() })
        .collect();
    s
}

#[tokio::test]
async fn env_resolution_as_kubelet() {
    let f = Fake::default();
    f.cm("cfg", &[("A", "a"), ("B", "b"), ("1bad", "x"), ("with space", "y")]);
    f.secret("sec", &[("PASS", b"pw")]);
    let mut p = pod(vec![]);
    let mut c = Container { name: "c".into(), ..Default::default() };
    let mut r = ResourceRequirements::default();
    r.limits.insert("memory".into(), Quantity::new("32Mi"));
    c.resources = Some(r);
    c.env_from = vec![
        EnvFromSource { config_map_ref: Some(ConfigMapEnvSource { name: "cfg".into(), optional: None }), prefix: Some("CM_".into()), secret_ref: None },
        EnvFromSource { secret_ref: Some(SecretEnvSource { name: "sec".into(), optional: None }), prefix: None, config_map_ref: None },
        EnvFromSource { config_map_ref: Some(ConfigMapEnvSource { name: "gone".into(), optional: Some(true) }), prefix: None, secret_ref: None },
    ];
    c.env = vec![
        env_var("PLAIN", Some("x"), None),
        env_var("CM_A", Some("over"), None),
        env_var("REF", Some("$(PLAIN)-$(CM_B)-$(NOPE)-$$(PLAIN)"), None),
        env_var("FROM_CM", None, Some(cm_key("cfg", "A", false))),
        env_var("OPT", None, Some(cm_key("cfg", "missing", true))),
        env_var("PW", None, Some(secret_key("sec", "PASS", false))),
        env_var("NAME", None, Some(field("metadata.name"))),
        env_var("IPS", None, Some(field("status.podIPs"))),
        env_var("MEM", None, Some(EnvVarSource { resource_field_ref: Some(ResourceFieldSelector { resource: "limits.memory".into(), divisor: Some(Quantity::new("1Mi")), container_name: None }), ..Default::default() })),
        env_var("SVC", Some("$(MY_SVC_SERVICE_HOST)"), None),
    ];
    f.services.lock().unwrap().extend([
        service("default", "kubernetes", "10.96.0.1", &[(Some("https"), 443, Some("TCP"))]),
        service("default", "other", "10.96.0.9", &[(None, 80, None)]),
        service("ns", "my-svc", "10.96.0.5", &[(Some("http"), 80, None), (Some("dns-udp"), 53, Some("UDP"))]),
        service("ns", "headless", "None", &[(None, 80, None)]),
    ]);
    p.spec.containers.push(c.clone());
    let got = resolve_env(&p, &c, &facts(), &f).await.unwrap();
    let map: BTreeMap<&str, &str> = got.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let want = [
        ("CM_A", "over"),
        ("CM_B", "b"),
        ("CM_1bad", "x"),
        ("PASS", "pw"),
        ("PLAIN", "x"),
        ("REF", "x-b-$(NOPE)-$(PLAIN)"),
        ("FROM_CM", "a"),
        ("PW", "pw"),
        ("NAME", "web"),
        ("IPS", "10.1.0.7"),
        ("MEM", "32"),
        ("SVC", "10.96.0.5"),
        ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
        ("KUBERNETES_SERVICE_PORT", "443"),
        ("KUBERNETES_SERVICE_PORT_HTTPS", "443"),
        ("KUBERNETES_PORT", "tcp://10.96.0.1:443"),
        ("KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"),
        ("KUBERNETES_PORT_443_TCP_PROTO", "tcp"),
        ("KUBERNETES_PORT_443_TCP_PORT", "443"),
        ("KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"),
        ("MY_SVC_SERVICE_HOST", "10.96.0.5"),
        ("MY_SVC_SERVICE_PORT", "80"),
        ("MY_SVC_SERVICE_PORT_DNS_UDP", "53"),
        ("MY_SVC_PORT", "tcp://10.96.0.5:80"),
        ("MY_SVC_PORT_53_UDP", "udp://10.96.0.5:53"),
        ("MY_SVC_PORT_53_UDP_PROTO", "udp"),
    ];
    for (k, v) in want {
        assert_eq!(map.get(k).copied(), Some(v), "{k}");
    }
    for absent in ["OPT", "OTHER_SERVICE_HOST", "HEADLESS_SERVICE_HOST", "CM_with space"] {
        assert!(!map.contains_key(absent), "{absent} must not be set");
    }
    assert_eq!(map.len(), got.vars.len(), "no duplicates");
    // envFrom first, env in order, service variables last.
    assert!(got.vars[0].0.starts_with("CM_"), "{:?}", got.vars[0]);
    assert!(got.vars.iter().position(|(k, _)| k == "PLAIN") < got.vars.iter().position(|(k, _)| k == "MY_SVC_SERVICE_HOST"));
    assert_eq!(
        got.warnings,
        [EnvWarning {
            reason: "InvalidEnvironmentVariableNames".into(),
            message: "Keys [CM_with space] from the EnvFrom configMap ns/cfg were skipped since they are considered invalid environment variable names.".into()
        }]
    );

    // enableServiceLinks: false keeps only the master service.
    p.spec.enable_service_links = Some(false);
    let got = resolve_env(&p, &c, &facts(), &f).await.unwrap();
    assert!(got.vars.iter().any(|(k, _)| k == "KUBERNETES_SERVICE_HOST"));
    assert!(!got.vars.iter().any(|(k, _)| k == "MY_SVC_SERVICE_HOST"));

    // Errors as kubelet words them.
    let cases = [
        (env_var("X", None, Some(cm_key("cfg", "nope", false))), "couldn't find key nope in ConfigMap ns/cfg"),
        (env_var("X", None, Some(cm_key("gone", "k", false))), "configmap \"gone\" not found"),
        (env_var("X", None, Some(secret_key("sec", "nope", false))), "couldn't find key nope in Secret ns/sec"),
        (env_var("X", None, Some(secret_key("gone", "k", false))), "secret \"gone\" not found"),
        (env_var("X", None, Some(field("spec.nope"))), "unsupported fieldPath: spec.nope"),
    ];
    for (e, want) in cases {
        let c = Container { name: "c".into(), env: vec![e], ..Default::default() };
        assert_eq!(resolve_env(&p, &c, &facts(), &f).await.unwrap_err().0, want);
    }
    // Optional missing objects are skipped.
    let c = Container { name: "c".into(), env: vec![env_var("X", None, Some(secret_key("gone", "k", true)))], ..Default::default() };
    assert!(!resolve_env(&p, &c, &facts(), &f).await.unwrap().vars.iter().any(|(k, _)| k == "X"));

    // Command and args expand from the resolved env.
    let c = Container { name: "c".into(), command: vec!["echo".into(), "$(A)".into()], args: vec!["$$(A)".into(), "$(B)".into()], ..Default::default() };
    let env = vec![("A".to_string(), "1".to_string())];
    assert_eq!(expand_command_and_args(&c, &env), (vec!["echo".to_string(), "1".to_string()], vec!["$(A)".to_string(), "$(B)".to_string()]));
}
