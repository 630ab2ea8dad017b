//! Names of config entities as JetStream key-value keys: `node.<name>`, `route.<alias>`,
//! `setting.<section>`, `key.<id>`. KV keys allow only `[-/_=.a-zA-Z0-9]`, and a name may hold
//! other characters (`llama3:8b`), so anything else is written `=XX` (hex), which `=` itself
//! also gets.

/// What an entity is; the first part of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Node,
    Route,
    Setting,
    Key,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Route => "route",
            Kind::Setting => "setting",
            Kind::Key => "key",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "node" => Kind::Node,
            "route" => Kind::Route,
            "setting" => Kind::Setting,
            "key" => Kind::Key,
            _ => return None,
        })
    }
}

pub fn encode(kind: Kind, name: &str) -> String {
    let mut key = String::with_capacity(kind.as_str().len() + 1 + name.len());
    key.push_str(kind.as_str());
    key.push('.');
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            key.push(b as char);
        } else {
            key.push_str(&format!("={b:02X}"));
        }
    }
    key
}

pub fn decode(key: &str) -> Option<(Kind, String)> {
    let (kind, rest) = key.split_once('.')?;
    let kind = Kind::parse(kind)?;
    let mut bytes = Vec::with_capacity(rest.len());
    let raw = rest.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'=' {
            let hex = rest.get(i + 1..i + 3)?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    Some((kind, String::from_utf8(bytes).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_safe_keys() {
        for name in ["gpu-a", "llama3:8b", "a.b=c/d", "ünï", "x_y"] {
            let key = encode(Kind::Route, name);
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b)),
                "{key}"
            );
            assert_eq!(decode(&key), Some((Kind::Route, name.to_owned())));
        }
        assert_eq!(encode(Kind::Node, "llama3:8b"), "node.llama3=3A8b");
        assert_eq!(decode("bogus.x"), None);
        assert_eq!(decode("node.bad=Z"), None);
    }
}
