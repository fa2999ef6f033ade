//! `shoal set image KIND/NAME CONTAINER=IMAGE…`: edits the pod template's images.

use anyhow::{anyhow, bail, Result};
use api::model::KindInfo;
use serde_json::Value;

use super::display_kind;
use super::rollout::parse_target;
use super::Client;

#[derive(clap::Subcommand)]
pub enum SetCommand {
    /// Change container images: `shoal set image deployment/web web=hello:v2` (`*=IMAGE` for all).
    Image {
        /// KIND/NAME (or KIND NAME) followed by CONTAINER=IMAGE pairs
        #[arg(required = true, num_args = 2..)]
        args: Vec<String>,
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
    },
}

pub fn run(client: &Client, command: &SetCommand) -> Result<()> {
    let SetCommand::Image { args, namespace } = command;
    let split = args.iter().position(|a| a.contains('=')).ok_or_else(|| anyhow!("expected CONTAINER=IMAGE pairs"))?;
    let (target, pairs) = args.split_at(split);
    let (info, name) = parse_target(target)?;
    let images = pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((c, i)) if !c.is_empty() && !i.is_empty() => Ok((c.to_string(), i.to_string())),
            _ => Err(anyhow!("expected CONTAINER=IMAGE, got {p:?}")),
        })
        .collect::<Result<Vec<_>>>()?;
    set_images(client, info, info.namespaced.then_some(namespace.as_str()), &name, &images)?;
    println!("{}/{name} image updated", display_kind(info));
    Ok(())
}

/// Where an object keeps its pod spec.
fn pod_spec_mut(obj: &mut Value) -> Option<&mut Value> {
    let pointer = match obj.get("kind").and_then(Value::as_str) {
        Some("Pod") => "/spec",
        Some("CronJob") => "/spec/jobTemplate/spec/template/spec",
        _ => "/spec/template/spec",
    };
    obj.pointer_mut(pointer)
}

/// Sets the images in `obj`'s pod spec; errors when a named container does not exist.
pub fn edit_images(obj: &mut Value, images: &[(String, String)]) -> Result<()> {
    let spec = pod_spec_mut(obj).ok_or_else(|| anyhow!("the object has no pod template"))?;
    for (container, image) in images {
        let mut found = false;
        for list in ["initContainers", "containers"] {
            for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
                if container == "*" || c.get("name").and_then(Value::as_str) == Some(container) {
                    c["image"] = Value::String(image.clone());
                    found = true;
                }
            }
        }
        if !found {
            bail!("unable to find container named {container:?}");
        }
    }
    Ok(())
}

/// GET, edit the images, PUT with the read resourceVersion; retries on 409.
pub fn set_images(client: &Client, info: &'static KindInfo, ns: Option<&str>, name: &str, images: &[(String, String)]) -> Result<()> {
    let api = client.dynamic(info, ns);
    for _ in 0..20 {
        let mut obj = api.get(name)?;
        let before = obj.clone();
        edit_images(&mut obj, images)?;
        if obj == before {
            return Ok(());
        }
        match api.replace(name, &obj) {
            Ok(_) => return Ok(()),
            Err(e) if e.is_conflict() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    bail!("setting images of {}: gave up after repeated conflicts", api.item_path(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_are_set_by_container_name() {
        let mut d = json!({"kind": "Deployment", "spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "hello:v1"}, {"name": "side", "image": "s:1"}]}}}});
        edit_images(&mut d, &[("web".into(), "hello:v2".into())]).unwrap();
        assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "hello:v2");
        assert_eq!(d["spec"]["template"]["spec"]["containers"][1]["image"], "s:1");
        assert!(edit_images(&mut d, &[("nope".into(), "x".into())]).is_err());
        edit_images(&mut d, &[("*".into(), "all:1".into())]).unwrap();
        assert_eq!(d["spec"]["template"]["spec"]["containers"][1]["image"], "all:1");
    }
}
