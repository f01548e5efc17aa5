//! The cache's compact form of a JSON object: a byte string with the strings that repeat from
//! object to object (object keys, `apiVersion`, `kind`, `namespace`, field-manager names, images,
//! …) replaced by numbers into one process-wide table of interned strings.
//!
//! Objects of one kind repeat the same keys (`metadata`, `f:spec`, `k:{"name":"web"}`,
//! `terminationMessagePath`, label keys, …), and `managedFields` are almost nothing but keys.
//! Interned, a key costs one or two bytes per object instead of its text.
//!
//! Format (every length and number is a LEB128 varint):
//!
//! | tag | value |
//! |---|---|
//! | 0, 1, 2 | `null`, `false`, `true` |
//! | 3 | number: length, then its JSON text (exact for integers and floats) |
//! | 4 | string: length, then UTF-8 |
//! | 5 | string: interned id |
//! | 6 | array: item count, then the items |
//! | 7 | object: entry count, then per entry the key (`id * 2 + 1` for an interned key, else `len * 2` and UTF-8) and the value |
//!
//! The table only grows. To keep it bounded under churn it takes object keys that are not
//! per-object unique (keys of `ownerReferences` field sets, `k:{"uid":…}`, stay inline, as do
//! keys longer than [`MAX_INTERNED`] bytes) and string values only under the keys of
//! [`INTERNED_VALUES`]; past [`MAX_TABLE`] entries nothing new is interned.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use serde_json::{Map, Number, Value};

/// Longest string interned.
pub const MAX_INTERNED: usize = 96;
/// Most strings the table holds.
pub const MAX_TABLE: usize = 1 << 20;
/// Keys whose string values are interned (few distinct values across a cluster).
pub const INTERNED_VALUES: &[&str] = &[
    "apiVersion",
    "kind",
    "namespace",
    "manager",
    "operation",
    "fieldsType",
    "subresource",
    "type",
    "status",
    "reason",
    "protocol",
    "image",
    "imagePullPolicy",
    "restartPolicy",
    "dnsPolicy",
    "schedulerName",
    "serviceAccountName",
    "serviceAccount",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "phase",
    "qosClass",
    "nodeName",
    "hostIP",
    "operator",
    "effect",
    "key",
    "path",
    "scheme",
    "sessionAffinity",
    "ipFamilyPolicy",
    "internalTrafficPolicy",
];

#[derive(Default)]
struct Table {
    ids: HashMap<Arc<str>, u32>,
    strings: Vec<Arc<str>>,
}

fn table() -> &'static RwLock<Table> {
    static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
    TABLE.get_or_init(|| RwLock::new(Table::default()))
}

/// How many strings are interned and their bytes (text only), for measurements.
pub fn table_stats() -> (usize, usize) {
    let t = table().read().unwrap_or_else(PoisonError::into_inner);
    (t.strings.len(), t.strings.iter().map(|s| s.len()).sum())
}

fn internable_key(key: &str) -> bool {
    key.len() <= MAX_INTERNED && !key.contains("\"uid\"")
}

struct Encoder<'t> {
    out: Vec<u8>,
    /// Lookups done under the read lock; misses collected for one write.
    table: &'t RwLock<Table>,
    cache: HashMap<String, u32>,
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

impl Encoder<'_> {
    fn intern(&mut self, s: &str) -> Option<u32> {
        if let Some(id) = self.cache.get(s) {
            return Some(*id);
        }
        let found = self
            .table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .ids
            .get(s)
            .copied();
        let id = match found {
            Some(id) => id,
            None => {
                let mut t = self.table.write().unwrap_or_else(PoisonError::into_inner);
                if let Some(id) = t.ids.get(s) {
                    *id
                } else {
                    if t.strings.len() >= MAX_TABLE {
                        return None;
                    }
                    let id = t.strings.len() as u32;
                    let a: Arc<str> = s.into();
                    t.strings.push(a.clone());
                    t.ids.insert(a, id);
                    id
                }
            }
        };
        self.cache.insert(s.to_owned(), id);
        Some(id)
    }

    fn value(&mut self, v: &Value, intern_strings: bool) {
        match v {
            Value::Null => self.out.push(0),
            Value::Bool(false) => self.out.push(1),
            Value::Bool(true) => self.out.push(2),
            Value::Number(n) => {
                let text = n.to_string();
                self.out.push(3);
                varint(&mut self.out, text.len() as u64);
                self.out.extend_from_slice(text.as_bytes());
            }
            Value::String(s) => {
                if intern_strings
                    && s.len() <= MAX_INTERNED
                    && let Some(id) = self.intern(s)
                {
                    self.out.push(5);
                    varint(&mut self.out, u64::from(id));
                } else {
                    self.out.push(4);
                    varint(&mut self.out, s.len() as u64);
                    self.out.extend_from_slice(s.as_bytes());
                }
            }
            Value::Array(items) => {
                self.out.push(6);
                varint(&mut self.out, items.len() as u64);
                for i in items {
                    self.value(i, intern_strings);
                }
            }
            Value::Object(map) => {
                self.out.push(7);
                varint(&mut self.out, map.len() as u64);
                for (k, child) in map {
                    match internable_key(k).then(|| self.intern(k)).flatten() {
                        Some(id) => varint(&mut self.out, u64::from(id) * 2 + 1),
                        None => {
                            varint(&mut self.out, k.len() as u64 * 2);
                            self.out.extend_from_slice(k.as_bytes());
                        }
                    }
                    // Arrays of strings under such a key (e.g. `finalizers`) stay inline.
                    let intern_child = child.is_string() && INTERNED_VALUES.contains(&k.as_str());
                    self.value(child, intern_child);
                }
            }
        }
    }
}

/// Encodes a JSON value.
pub fn encode(v: &Value) -> Box<[u8]> {
    let mut e = Encoder {
        out: Vec::with_capacity(256),
        table: table(),
        cache: HashMap::new(),
    };
    e.value(v, false);
    e.out.into_boxed_slice()
}

struct Decoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    strings: &'a [Arc<str>],
}

impl Decoder<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.bytes[self.pos];
        self.pos += 1;
        b
    }

    fn varint(&mut self) -> u64 {
        let mut n = 0u64;
        let mut shift = 0;
        loop {
            let b = self.byte();
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return n;
            }
            shift += 7;
        }
    }

    fn text(&mut self, len: usize) -> &str {
        let s = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        std::str::from_utf8(s).expect("the encoder wrote UTF-8")
    }

    fn value(&mut self) -> Value {
        match self.byte() {
            0 => Value::Null,
            1 => Value::Bool(false),
            2 => Value::Bool(true),
            3 => {
                let len = self.varint() as usize;
                let text = self.text(len);
                Value::Number(
                    text.parse::<Number>()
                        .expect("the encoder wrote a JSON number"),
                )
            }
            4 => {
                let len = self.varint() as usize;
                Value::String(self.text(len).to_owned())
            }
            5 => {
                let id = self.varint() as usize;
                Value::String(self.strings[id].to_string())
            }
            6 => {
                let n = self.varint() as usize;
                Value::Array((0..n).map(|_| self.value()).collect())
            }
            7 => {
                let n = self.varint() as usize;
                let mut map = Map::new();
                for _ in 0..n {
                    let k = self.varint();
                    let key = if k & 1 == 1 {
                        self.strings[(k >> 1) as usize].to_string()
                    } else {
                        self.text((k >> 1) as usize).to_owned()
                    };
                    let v = self.value();
                    map.insert(key, v);
                }
                Value::Object(map)
            }
            tag => unreachable!("the encoder writes no tag {tag}"),
        }
    }
}

/// Decodes what [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> Value {
    let t = table().read().unwrap_or_else(PoisonError::into_inner);
    let mut d = Decoder {
        bytes,
        pos: 0,
        strings: &t.strings,
    };
    d.value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_every_json_value() {
        let v = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web"},
                "managedFields": [{"manager": "tether", "operation": "Apply", "fieldsV1":
                    {"f:spec": {"f:replicas": {}}, "k:{\"uid\":\"0b6c\"}": {}}}]},
            "spec": {"replicas": 3, "ratio": 0.25, "big": u64::MAX, "neg": -7, "on": true,
                     "off": false, "none": null, "list": ["a", 1, [], {}],
                     "text": "ü ✓ \"quoted\"", "long": "x".repeat(300)}});
        let bytes = encode(&v);
        assert_eq!(decode(&bytes), v);
        assert!(bytes.len() < v.to_string().len());
        // Object key order is kept.
        let keys: Vec<String> = decode(&bytes)["spec"]
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect();
        let want: Vec<String> = v["spec"]
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, want);
    }

    #[test]
    fn unique_keys_and_values_are_not_interned() {
        let before = table_stats().0;
        let v = json!({"metadata": {"name": "pod-unique-name-4f7d9",
            "managedFields": [{"fieldsV1": {"k:{\"uid\":\"unique-uid-4f7d9\"}": {}}}]}});
        assert_eq!(decode(&encode(&v)), v);
        let t = table().read().unwrap_or_else(PoisonError::into_inner);
        assert!(!t.ids.contains_key("pod-unique-name-4f7d9"));
        assert!(!t.ids.contains_key("k:{\"uid\":\"unique-uid-4f7d9\"}"));
        assert!(t.strings.len() >= before);
    }
}
