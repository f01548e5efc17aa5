//! Go values as Helm templates see them.
//!
//! Helm hands templates `map[string]interface{}` trees decoded from YAML/JSON (numbers are `float64`),
//! plus `int64` from `--set`. Functions return typed Go values (`int`, `int64`, `[]string`, ...). The
//! [`Value`] enum keeps the Go type where it is observable (`typeOf`, `%T`, comparison rules, printing).
//!
//! Maps are reference types in Go: Sprig's `set`, `unset` and `merge` mutate their argument and the
//! change is visible to every holder of the map. [`Map`] is therefore an `Rc<RefCell<..>>`. Slices are
//! never mutated in place by any template function, so lists are an immutable `Rc<[Value]>`.
//!
//! Values are per-execution (not `Send`); parsed templates ([`crate::Templates`]) are `Send + Sync` and can
//! be executed concurrently from many threads, each with its own data.

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// A Go map with string keys, shared by reference. Keys iterate in byte order, as Go's
/// templates, `fmt` and `encoding/json` order them.
pub type MapRef = Rc<MapData>;

/// A Go map value: the map's storage, plus the named Go type of this value when it is not
/// `map[string]interface {}` (Helm's `.Values` is a `chartutil.Values`, which `typeOf` shows and Sprig's
/// `dig` rejects). The type belongs to the value, not to the map: passing `.Values` to a
/// `map[string]interface {}` parameter (`merge`, `set`, ...) gives a [`MapData::retyped`] view of the same
/// storage, so mutations stay shared while the type name is Go's.
#[derive(Debug, Default)]
pub struct MapData {
    map: Rc<RefCell<BTreeMap<String, Value>>>,
    named: Cell<Option<&'static str>>,
    methods: RefCell<Option<Rc<dyn Object>>>,
}

impl MapData {
    pub fn new(m: BTreeMap<String, Value>) -> MapData {
        MapData {
            map: Rc::new(RefCell::new(m)),
            named: Cell::new(None),
            methods: RefCell::new(None),
        }
    }
    /// Whether both are views of one Go map.
    pub fn same_map(&self, other: &MapData) -> bool {
        Rc::ptr_eq(&self.map, &other.map)
    }
    /// The same map (shared storage) as a value of another Go type, without methods: Go's conversion
    /// of a named map type to `map[string]interface {}` when it is passed to such a parameter.
    pub fn retyped(&self, name: Option<&'static str>) -> MapRef {
        Rc::new(MapData {
            map: self.map.clone(),
            named: Cell::new(name),
            methods: RefCell::new(None),
        })
    }
    pub fn borrow(&self) -> Ref<'_, BTreeMap<String, Value>> {
        self.map.borrow()
    }
    pub fn borrow_mut(&self) -> RefMut<'_, BTreeMap<String, Value>> {
        self.map.borrow_mut()
    }
    /// The Go type name if this map has a named type (e.g. `chartutil.Values`).
    pub fn type_name(&self) -> Option<&'static str> {
        self.named.get()
    }
    /// Gives the map a named Go type.
    pub fn set_type_name(&self, name: Option<&'static str>) {
        self.named.set(name);
    }
    /// Methods of a named map type (Helm's `engine.files` has `Get`, `Glob`, ...): an [`Object`] whose
    /// `call` is consulted before key lookup, as Go resolves methods before map keys.
    pub fn set_methods(&self, methods: Option<Rc<dyn Object>>) {
        *self.methods.borrow_mut() = methods;
    }
    /// The methods set by [`MapData::set_methods`].
    pub fn methods(&self) -> Option<Rc<dyn Object>> {
        self.methods.borrow().clone()
    }
}

/// The Go element type of a slice, observable through `typeOf` and `%T`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// `[]interface {}`
    Any,
    /// `[]string`
    String,
    /// `[]int`
    Int,
    /// Helm's `chartutil.VersionSet` (`[]string` with a `Has` method).
    VersionSet,
}

/// Opaque Go objects with fields and methods (`.Files`, `.Capabilities`, ...), supplied by the caller.
pub trait Object: fmt::Debug {
    /// The Go type name, e.g. `chart.Metadata` or `*chartutil.Capabilities`.
    fn type_name(&self) -> String;
    /// A field or zero-argument method.
    fn field(&self, name: &str) -> Option<Value>;
    /// What a template action prints (`{{ .x }}`): Go takes the address of addressable values, so a
    /// `String()` method with a pointer receiver applies there but not when the value is passed to a
    /// function. Defaults to [`Object::display`].
    fn print_action(&self) -> Option<String> {
        self.display()
    }
    /// A method called with arguments; `None` when there is no such method.
    fn call(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    /// The `String()` method of a Go `fmt.Stringer`, used when printing.
    fn display(&self) -> Option<String> {
        None
    }
    /// What `encoding/json` sees (a Go struct's JSON form, e.g. `chart.Metadata` with its json tags),
    /// used by `toJson`/`toYaml`; `None` falls back to [`Object::display`].
    fn marshal(&self) -> Option<Value> {
        None
    }
    /// The concrete object, for functions that take a specific Go type (e.g. `time.Time`).
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// A Go value.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// A nil `interface{}` (also Go's "no value").
    #[default]
    Nil,
    Bool(bool),
    /// Go `int`.
    Int(i64),
    /// Go `int64`.
    I64(i64),
    /// Go `uint64` (semver parts).
    U64(u64),
    Float(f64),
    String(Rc<str>),
    /// `[]byte`.
    Bytes(Rc<[u8]>),
    List(ListKind, Rc<[Value]>),
    Map(MapRef),
    Object(Rc<dyn Object>),
}

impl Value {
    pub fn str(s: impl Into<Rc<str>>) -> Value {
        Value::String(s.into())
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(ListKind::Any, items.into())
    }

    pub fn string_list(items: Vec<String>) -> Value {
        Value::List(
            ListKind::String,
            items.into_iter().map(Value::str).collect::<Vec<_>>().into(),
        )
    }

    pub fn map(m: BTreeMap<String, Value>) -> Value {
        Value::Map(Rc::new(MapData::new(m)))
    }

    pub fn empty_map() -> Value {
        Value::map(BTreeMap::new())
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Go template truthiness (`if`, `with`, `and`, `or`, `not`).
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::I64(i) => *i != 0,
            Value::U64(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::List(_, l) => !l.is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
            Value::Object(_) => true,
        }
    }

    /// Go's `%T` / reflect type string.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::I64(_) => "int64".into(),
            Value::U64(_) => "uint64".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::Bytes(_) => "[]uint8".into(),
            Value::List(k, _) => match k {
                ListKind::Any => "[]interface {}".into(),
                ListKind::String => "[]string".into(),
                ListKind::Int => "[]int".into(),
                ListKind::VersionSet => "chartutil.VersionSet".into(),
            },
            Value::Map(m) => m.type_name().unwrap_or("map[string]interface {}").into(),
            Value::Object(o) => o.type_name(),
        }
    }

    /// Go's reflect kind name (`kindOf`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::I64(_) => "int64",
            Value::U64(_) => "uint64",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::Bytes(_) | Value::List(..) => "slice",
            Value::Map(_) => "map",
            Value::Object(_) => "ptr",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Deep copy: maps are copied, so mutations of the copy are not seen by the original.
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::List(k, l) => Value::List(
                *k,
                l.iter().map(Value::deep_copy).collect::<Vec<_>>().into(),
            ),
            Value::Map(m) => {
                let c = Rc::new(MapData::new(
                    m.borrow()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.deep_copy()))
                        .collect(),
                ));
                c.set_type_name(m.type_name());
                Value::Map(c)
            }
            v => v.clone(),
        }
    }

    /// Converts JSON into the values Helm would see (numbers as float64).
    pub fn from_json(j: &serde_json::Value) -> Value {
        match j {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::str(s.as_str()),
            serde_json::Value::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Parses a YAML document into values as Helm loads values files (sigs.k8s.io/yaml: numbers float64,
    /// maps with string keys). An empty document is an empty map.
    pub fn from_yaml_str(src: &str) -> Result<Value, String> {
        crate::yaml::parse_values(src)
    }

    /// Helm's `.Values`: the same map, typed `chartutil.Values`.
    pub fn into_chart_values(self) -> Value {
        if let Value::Map(m) = &self {
            m.set_type_name(Some("chartutil.Values"));
        }
        self
    }

    /// Identity of reference types (Go map pointer equality), used for cycle guards.
    pub fn map_ptr(&self) -> Option<*const ()> {
        match self {
            Value::Map(m) => Some(Rc::as_ptr(&m.map) as *const ()),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::str(s)
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
