//! The functions of the expression language, one variant per entry of
//! [`pipectl_dsl::functions::FUNCTIONS`], with arguments compiled.

use super::{equal, ExprError, Node, NULL};
use crate::path::FieldPath;
use crate::value::{Str, Value};
use std::borrow::Cow;
use std::net::IpAddr;

#[derive(Debug, Clone)]
pub(super) enum Function {
    Exists(FieldPath),
    IsNull(Box<Node>),
    Lower(Box<Node>),
    Upper(Box<Node>),
    Len(Box<Node>),
    StartsWith(Box<Node>, Box<Node>),
    EndsWith(Box<Node>, Box<Node>),
    Contains(Box<Node>, Box<Node>),
    CidrMatch(Box<Node>, CidrArg),
    ToString(Box<Node>),
    ToInt(Box<Node>),
}

/// The block of `cidr_match`: parsed once when it is a literal.
#[derive(Debug, Clone)]
pub(super) enum CidrArg {
    Fixed(Cidr),
    Dynamic(Box<Node>),
}

impl Function {
    pub(super) fn compile(name: &str, args: Vec<Node>) -> Result<Function, ExprError> {
        let spec = pipectl_dsl::functions::function(name)
            .ok_or_else(|| ExprError::UnknownFunction(name.to_string()))?;
        if args.len() < spec.min_args || args.len() > spec.max_args {
            return Err(ExprError::Arity {
                name: name.to_string(),
                expected: if spec.min_args == spec.max_args {
                    spec.min_args.to_string()
                } else {
                    format!("{} to {}", spec.min_args, spec.max_args)
                },
                got: args.len(),
            });
        }
        let mut args = args.into_iter().map(Box::new);
        let mut next = || {
            args.next().ok_or_else(|| ExprError::Arity {
                name: name.to_string(),
                expected: spec.min_args.to_string(),
                got: 0,
            })
        };
        Ok(match spec.name {
            "exists" => match *next()? {
                Node::Field(path) => Function::Exists(path),
                _ => {
                    return Err(ExprError::Argument {
                        function: "exists",
                        message: "the argument must be a field path".into(),
                    })
                }
            },
            "is_null" => Function::IsNull(next()?),
            "lower" => Function::Lower(next()?),
            "upper" => Function::Upper(next()?),
            "len" => Function::Len(next()?),
            "starts_with" => Function::StartsWith(next()?, next()?),
            "ends_with" => Function::EndsWith(next()?, next()?),
            "contains" => Function::Contains(next()?, next()?),
            "cidr_match" => {
                let ip = next()?;
                let block = match *next()? {
                    Node::Const(Value::String(text)) => {
                        CidrArg::Fixed(Cidr::parse(&text).ok_or_else(|| ExprError::Argument {
                            function: "cidr_match",
                            message: format!("`{text}` is not a CIDR block such as 10.0.0.0/8"),
                        })?)
                    }
                    other => CidrArg::Dynamic(Box::new(other)),
                };
                Function::CidrMatch(ip, block)
            }
            "to_string" => Function::ToString(next()?),
            "to_int" => Function::ToInt(next()?),
            _ => return Err(ExprError::UnknownFunction(name.to_string())),
        })
    }

    pub(super) fn eval<'a>(&'a self, event: &'a Value) -> Cow<'a, Value> {
        let owned = |v: Value| Cow::Owned(v);
        let boolean = |b: bool| Cow::Owned(Value::Bool(b));
        match self {
            Function::Exists(path) => boolean(event.get_path(path).is_some()),
            Function::IsNull(arg) => boolean(arg.eval(event).is_null()),
            Function::Lower(arg) => match &*arg.eval(event) {
                Value::String(s) => owned(Value::String(Str::from(s.to_lowercase()))),
                _ => Cow::Borrowed(&NULL),
            },
            Function::Upper(arg) => match &*arg.eval(event) {
                Value::String(s) => owned(Value::String(Str::from(s.to_uppercase()))),
                _ => Cow::Borrowed(&NULL),
            },
            Function::Len(arg) => match &*arg.eval(event) {
                Value::String(s) => owned(Value::Int(s.chars().count() as i64)),
                Value::Array(a) => owned(Value::Int(a.len() as i64)),
                Value::Object(m) => owned(Value::Int(m.len() as i64)),
                _ => Cow::Borrowed(&NULL),
            },
            Function::StartsWith(text, prefix) => {
                boolean(match (&*text.eval(event), &*prefix.eval(event)) {
                    (Value::String(t), Value::String(p)) => t.starts_with(p.as_str()),
                    _ => false,
                })
            }
            Function::EndsWith(text, suffix) => {
                boolean(match (&*text.eval(event), &*suffix.eval(event)) {
                    (Value::String(t), Value::String(s)) => t.ends_with(s.as_str()),
                    _ => false,
                })
            }
            Function::Contains(haystack, needle) => {
                boolean(match (&*haystack.eval(event), &*needle.eval(event)) {
                    (Value::String(t), Value::String(n)) => t.contains(n.as_str()),
                    (Value::Array(items), n) => items.iter().any(|item| equal(item, n)),
                    _ => false,
                })
            }
            Function::CidrMatch(ip, block) => {
                let ip = match &*ip.eval(event) {
                    Value::String(s) => s.trim().parse::<IpAddr>().ok(),
                    _ => None,
                };
                let Some(ip) = ip else {
                    return boolean(false);
                };
                boolean(match block {
                    CidrArg::Fixed(cidr) => cidr.contains(ip),
                    CidrArg::Dynamic(node) => match &*node.eval(event) {
                        Value::String(s) => Cidr::parse(s).is_some_and(|c| c.contains(ip)),
                        _ => false,
                    },
                })
            }
            Function::ToString(arg) => {
                let value = arg.eval(event);
                match value {
                    Cow::Borrowed(Value::String(_)) => value,
                    Cow::Owned(Value::String(s)) => owned(Value::String(s)),
                    other => owned(Value::String(Str::from(crate::json::to_string(&other)))),
                }
            }
            Function::ToInt(arg) => match to_int(&arg.eval(event)) {
                Some(i) => owned(Value::Int(i)),
                None => Cow::Borrowed(&NULL),
            },
        }
    }
}

/// `to_int`: integers as they are, finite floats truncated toward zero, text parsed
/// (as an integer, or as a number then truncated); anything else is not an integer.
fn to_int(value: &Value) -> Option<i64> {
    fn truncate(f: f64) -> Option<i64> {
        // `as` saturates; refuse values outside i64 instead of clamping them.
        (f.is_finite() && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
    }
    match value {
        Value::Int(i) => Some(*i),
        Value::Float(f) => truncate(*f),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(truncate))
        }
        _ => None,
    }
}

/// An IPv4 or IPv6 network. A bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cidr {
    V4 { net: u32, mask: u32 },
    V6 { net: u128, mask: u128 },
}

impl Cidr {
    pub(super) fn parse(text: &str) -> Option<Cidr> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u32>().ok()?)),
            None => (text, None),
        };
        match addr.parse::<IpAddr>().ok()? {
            IpAddr::V4(ip) => {
                let bits = prefix.unwrap_or(32);
                if bits > 32 {
                    return None;
                }
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                Some(Cidr::V4 {
                    net: u32::from(ip) & mask,
                    mask,
                })
            }
            IpAddr::V6(ip) => {
                let bits = prefix.unwrap_or(128);
                if bits > 128 {
                    return None;
                }
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                Some(Cidr::V6 {
                    net: u128::from(ip) & mask,
                    mask,
                })
            }
        }
    }

    /// Whether `ip` lies in the block; IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`)
    /// match IPv4 blocks and vice versa.
    pub(super) fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Cidr::V4 { net, mask }, IpAddr::V4(v4)) => u32::from(v4) & mask == *net,
            (Cidr::V4 { net, mask }, IpAddr::V6(v6)) => v6
                .to_ipv4_mapped()
                .is_some_and(|v4| u32::from(v4) & mask == *net),
            (Cidr::V6 { net, mask }, IpAddr::V6(v6)) => u128::from(v6) & mask == *net,
            (Cidr::V6 { net, mask }, IpAddr::V4(v4)) => {
                u128::from(v4.to_ipv6_mapped()) & mask == *net
            }
        }
    }
}
