//! `$(VAR)` references in env values, command, args and subPathExpr, as upstream's
//! `third_party/forked/golang/expansion`: `$$` is a literal `$`, `$(NAME)` is the value of
//! NAME when known and stays `$(NAME)` when not, an unterminated `$(` and a `$` before
//! any other character are kept as written.

use std::collections::HashMap;

/// Expands `input` with `mapping` (None: the reference is kept as written).
pub fn expand_with(input: &str, mut mapping: impl FnMut(&str) -> Option<String>) -> String {
    let b = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < b.len() {
        if b[cursor] == b'$' && cursor + 1 < b.len() {
            out.extend_from_slice(&b[checkpoint..cursor]);
            let rest = &b[cursor + 1..];
            let advance = match rest[0] {
                b'$' => {
                    out.push(b'$');
                    1
                }
                b'(' => match rest.iter().position(|c| *c == b')') {
                    Some(end) => {
                        let name = String::from_utf8_lossy(&rest[1..end]).into_owned();
                        match mapping(&name) {
                            Some(v) => out.extend_from_slice(v.as_bytes()),
                            None => out.extend_from_slice(format!("$({name})").as_bytes()),
                        }
                        end + 1
                    }
                    None => {
                        out.extend_from_slice(b"$(");
                        1
                    }
                },
                c => {
                    out.push(b'$');
                    out.push(c);
                    1
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint < b.len() {
        out.extend_from_slice(&b[checkpoint..]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Expands with an environment given as pairs (later pairs win).
pub fn expand(input: &str, env: &[(String, String)]) -> String {
    let map: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    expand_with(input, |k| map.get(k).map(|v| v.to_string()))
}

/// A container's command and args with `$(VAR)` expanded from its resolved environment
/// (upstream's `ExpandContainerCommandAndArgs`).
pub fn expand_command_and_args(container: &api::model::Container, env: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let f = |v: &Vec<String>| v.iter().map(|s| expand(s, env)).collect();
    (f(&container.command), f(&container.args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_as_upstream() {
        let env: Vec<(String, String)> =
            [("VAR_A", "A"), ("VAR_B", "B"), ("VAR_EMPTY", "")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let cases = [
            ("$(VAR_A)", "A"),
            ("___$(VAR_B)___", "___B___"),
            ("$(VAR_A)-$(VAR_B)", "A-B"),
            ("$$(VAR_A)", "$(VAR_A)"),
            ("$$$(VAR_A)", "$A"),
            ("$(VAR_NONE)", "$(VAR_NONE)"),
            ("$(VAR_EMPTY)x", "x"),
            ("$(VAR_A", "$(VAR_A"),
            ("$VAR_A", "$VAR_A"),
            ("foo$", "foo$"),
            ("$", "$"),
            ("$$", "$"),
            ("$()", "$()"),
            ("no refs", "no refs"),
            ("$(VAR_A)$(VAR_B)$$", "AB$"),
            ("é$(VAR_A)é", "éAé"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, &env), want, "{input:?}");
        }
    }
}
