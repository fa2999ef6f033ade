//! The `pod-template-hash`: a stable name for a pod template, and template equality without it.

use api::model::PodTemplateSpec;

/// The label a Deployment adds to its ReplicaSets' selector, template and labels.
pub const HASH_LABEL: &str = "pod-template-hash";

/// Letters without vowels (no words) and no look-alike digits, as Kubernetes' `SafeEncodeString`.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// FNV-1a 64 of the template's JSON (without the hash label) and the collision count,
/// folded to 32 bits and rendered in a 27-letter alphabet: at most 7 characters.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let t = without_hash_label(template);
    let mut bytes = serde_json::to_vec(&t).unwrap_or_default();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(&c.to_le_bytes());
    }
    let h = fnv1a64(&bytes);
    let mut v = (h ^ (h >> 32)) & 0xffff_ffff;
    let mut out = Vec::new();
    loop {
        out.push(ALPHABET[(v % ALPHABET.len() as u64) as usize]);
        v /= ALPHABET.len() as u64;
        if v == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The template with the `pod-template-hash` label removed.
pub fn without_hash_label(t: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = t.clone();
    t.metadata.labels.remove(HASH_LABEL);
    t
}

/// Whether two templates are the same apart from the hash label (Kubernetes' `EqualIgnoreHash`).
pub fn templates_equal(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash_label(a) == without_hash_label(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::Container;

    fn template(image: &str) -> PodTemplateSpec {
        let mut t = PodTemplateSpec::default();
        t.metadata.labels.insert("app".into(), "web".into());
        t.spec.containers.push(Container { name: "c".into(), image: Some(image.into()), ..Default::default() });
        t
    }

    #[test]
    fn hash_is_stable_short_and_ignores_the_hash_label() {
        let a = template("hello:v1");
        let h = template_hash(&a, None);
        assert!(!h.is_empty() && h.len() <= 10, "{h}");
        assert!(h.bytes().all(|c| ALPHABET.contains(&c)));
        assert_eq!(h, template_hash(&a.clone(), None));
        let mut labeled = a.clone();
        labeled.metadata.labels.insert(HASH_LABEL.into(), h.clone());
        assert_eq!(template_hash(&labeled, None), h);
        assert!(templates_equal(&a, &labeled));
        assert_ne!(template_hash(&template("hello:v2"), None), h);
        assert_ne!(template_hash(&a, Some(1)), h);
        assert!(!templates_equal(&a, &template("hello:v2")));
    }
}
