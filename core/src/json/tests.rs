use super::*;

fn parse(text: &str) -> Value {
    match from_str(text) {
        Ok(v) => v,
        Err(e) => panic!("{text:?} should parse: {e}"),
    }
}

fn obj(entries: Vec<(&str, Value)>) -> Value {
    let mut map = Map::new();
    for (k, v) in entries {
        map.push(k, v);
    }
    Value::Object(map)
}

#[test]
fn parses_every_kind_of_value_keeping_key_order() {
    let v = parse(r#" {"z": 1, "a": [true, false, null], "m": {"x": -2.5e3, "s": "hi"}} "#);
    let expected = obj(vec![
        ("z", Value::Int(1)),
        (
            "a",
            Value::Array(vec![Value::Bool(true), Value::Bool(false), Value::Null]),
        ),
        (
            "m",
            obj(vec![("x", Value::Float(-2500.0)), ("s", Value::from("hi"))]),
        ),
    ]);
    assert_eq!(v, expected);
    let keys: Vec<&str> = v
        .as_object()
        .map(|m| m.keys().map(|k| k.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["z", "a", "m"]);
}

#[test]
fn integers_that_fit_i64_stay_integers() {
    assert_eq!(parse("0"), Value::Int(0));
    assert_eq!(parse("-0"), Value::Int(0));
    assert_eq!(parse("123456789012345678"), Value::Int(123456789012345678));
    assert_eq!(parse("9223372036854775807"), Value::Int(i64::MAX));
    assert_eq!(parse("-9223372036854775808"), Value::Int(i64::MIN));
    assert_eq!(
        parse("9223372036854775808"),
        Value::Float(9223372036854775808.0)
    );
    assert_eq!(parse("1.0"), Value::Float(1.0));
    assert_eq!(parse("1e2"), Value::Float(100.0));
    assert_eq!(parse("1E-2"), Value::Float(0.01));
}

#[test]
fn duplicate_keys_resolve_to_the_last_value_at_the_first_position() {
    let v = parse(r#"{"a": 1, "a": 2}"#);
    assert_eq!(v.as_object().and_then(|m| m.get("a")), Some(&Value::Int(2)));
    assert_eq!(
        to_string(&parse(r#"{"a":1,"b":2,"a":3,"c":{"x":1,"x":[2]},"b":4}"#)),
        r#"{"a":3,"b":4,"c":{"x":[2]}}"#
    );
    // Removing the key leaves nothing behind to resurface.
    let Value::Object(mut map) = parse(r#"{"secret":"old","secret":"new"}"#) else {
        panic!("an object");
    };
    assert_eq!(map.remove("secret"), Some(Value::from("new")));
    assert_eq!(map.get("secret"), None);
    assert!(map.is_empty());
}

#[test]
fn many_keys_and_filter_collisions_keep_every_distinct_key() {
    // 2,000 distinct keys (far more than the filter's 256 bits) and every one repeated.
    let mut text = String::from("{");
    for round in 0..2 {
        for i in 0..2000 {
            if round + i > 0 {
                text.push(',');
            }
            text.push_str(&format!("\"k{i}\":{}", i + round * 10_000));
        }
    }
    text.push('}');
    let Value::Object(map) = parse(&text) else {
        panic!("an object");
    };
    assert_eq!(map.len(), 2000);
    for (i, (k, v)) in map.iter().enumerate() {
        assert_eq!(k.as_str(), format!("k{i}"));
        assert_eq!(v, &Value::Int(i as i64 + 10_000));
    }
}

/// An object of 200,000 distinct keys (and every key again) parses in linear time.
#[test]
fn huge_objects_parse_in_linear_time() {
    let mut text = String::from("{");
    for i in 0..400_000 {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!("\"key{}\":{i}", i % 200_000));
    }
    text.push('}');
    let started = std::time::Instant::now();
    let Value::Object(map) = parse(&text) else {
        panic!("an object");
    };
    let elapsed = started.elapsed();
    assert_eq!(map.len(), 200_000);
    assert_eq!(map.get("key7"), Some(&Value::Int(200_007)));
    // A scan per key (quadratic) takes minutes here.
    assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn limits_bound_depth_and_fields() {
    let limits = Limits {
        max_depth: 3,
        max_fields: 4,
    };
    assert!(from_str_limited(r#"{"a":[{"b":1}]}"#, limits).is_ok());
    let err = from_str_limited(r#"{"a":[{"b":[1]}]}"#, limits).unwrap_err();
    assert_eq!((err.reason, err.offset), (TOO_DEEP, 11));
    assert!(from_str_limited(r#"{"a":1,"b":{"c":2,"d":3}}"#, limits).is_ok());
    let err = from_str_limited(r#"{"a":1,"b":{"c":2,"d":3},"e":[]}"#, limits).unwrap_err();
    assert_eq!(err.reason, TOO_MANY_FIELDS);
    // Array elements are not fields; a repeated key counts each time it is read.
    assert!(from_str_limited("[1,2,3,4,5,6,7,8]", limits).is_ok());
    let err = from_str_limited(r#"{"a":1,"a":1,"a":1,"a":1,"a":1}"#, limits).unwrap_err();
    assert_eq!(err.reason, TOO_MANY_FIELDS);
    // A caller's depth above the stack's bound is capped.
    let generous = Limits {
        max_depth: usize::MAX,
        max_fields: usize::MAX,
    };
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert_eq!(
        from_str_limited(&deep, generous).unwrap_err().reason,
        TOO_DEEP
    );
    assert_eq!(
        from_slice_limited(br#"{"a":{"b":{"c":{}}}}"#, limits)
            .unwrap_err()
            .reason,
        TOO_DEEP
    );
}

#[test]
fn decodes_escapes_and_surrogate_pairs() {
    assert_eq!(
        parse(r#""a\"b\\c\/d\b\f\n\r\t""#),
        Value::from("a\"b\\c/d\u{8}\u{c}\n\r\t")
    );
    assert_eq!(parse(r#""\u00e9\u4e2d""#), Value::from("é中"));
    assert_eq!(parse(r#""\ud83d\ude00 ok""#), Value::from("😀 ok"));
    assert_eq!(parse("\"raw é中😀\""), Value::from("raw é中😀"));
    assert_eq!(
        parse(r#""long prefix without escapes then \n""#),
        Value::from("long prefix without escapes then \n")
    );
}

#[test]
fn invalid_inputs_are_errors_with_offsets() {
    let cases: &[(&[u8], usize)] = &[
        (b"", 0),
        (b"{", 1),
        (b"{\"a\"", 4),
        (b"{\"a\":", 5),
        (b"{\"a\":1", 6),
        (b"[1,2", 4),
        (b"[1,]", 3),
        (b"{\"a\":1,}", 7),
        (b"\"abc", 4),
        (b"\"a\\x\"", 3),
        (b"\"\\u12\"", 3),
        (b"\"\\ud800\"", 7),
        (b"\"\\udc00\"", 7),
        (b"\"\\ud800\\u0041\"", 13),
        (b"\"a\nb\"", 2),
        (b"tru", 0),
        (b"nul", 0),
        (b"01", 1),
        (b"-", 1),
        (b"1.", 2),
        (b"1e", 2),
        (b"1 2", 2),
        (b"{} x", 3),
        (b"{1:2}", 1),
        (b"\"\xff\"", 1),
        (b"\"ok\\n\xc3\"", 5),
    ];
    for (input, offset) in cases {
        match from_slice(input) {
            Ok(v) => panic!(
                "{:?} should fail, got {v:?}",
                String::from_utf8_lossy(input)
            ),
            Err(e) => assert_eq!(
                e.offset,
                *offset,
                "{:?}: {e}",
                String::from_utf8_lossy(input)
            ),
        }
    }
}

#[test]
fn nesting_deeper_than_the_limit_is_an_error_not_a_crash() {
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(from_str(&ok).is_ok());
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    let err = from_str(&deep).err();
    assert_eq!(err.map(|e| e.reason), Some("nesting too deep"));
    let hostile = "{\"a\":".repeat(100_000);
    assert!(from_str(&hostile).is_err());
    // 10,000 levels of arrays, closed: refused at level 129, in a few microseconds.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let err = from_str(&deep).unwrap_err();
    assert_eq!((err.reason, err.offset), (TOO_DEEP, MAX_DEPTH));
}

#[test]
fn parsing_allocates_only_for_containers_and_long_strings() {
    // Two objects, one array and one string too long to store inline: four blocks.
    let text = r#"{"short":"inline text","n":[1,2.5,true],"o":{"k":"v"},"long":"a string longer than twenty-four bytes"}"#;
    let _warm_up = parse(text);
    let before = crate::test_alloc::allocations();
    let value = parse(text);
    let after = crate::test_alloc::allocations();
    assert_eq!(after - before, 4);
    let mut out = Vec::with_capacity(256);
    let before = crate::test_alloc::allocations();
    write(&value, &mut out);
    assert_eq!(
        crate::test_alloc::allocations() - before,
        0,
        "writing allocated"
    );
}

#[test]
fn writes_compact_json_with_correct_escapes() {
    let v = obj(vec![
        ("s", Value::from("q\"b\\n\n\u{1}\u{1f}é😀/")),
        ("i", Value::Int(-42)),
        ("f", Value::Float(1.5)),
        ("whole", Value::Float(2.0)),
        ("nan", Value::Float(f64::NAN)),
        ("inf", Value::Float(f64::INFINITY)),
        ("a", Value::Array(vec![Value::Null, Value::Bool(true)])),
        ("o", Value::object()),
    ]);
    assert_eq!(
        to_string(&v),
        r#"{"s":"q\"b\\n\n\u0001\u001fé😀/","i":-42,"f":1.5,"whole":2.0,"nan":null,"inf":null,"a":[null,true],"o":{}}"#
    );
}

#[test]
fn serde_conversions_round_trip() {
    let text = r#"{"a":[1,-2.5,"x",null,true],"b":{"c":"d"},"big":18446744073709551615}"#;
    let ours = parse(text);
    let theirs: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => panic!("serde_json rejects the sample: {e}"),
    };
    let ours_from_theirs = from_serde(theirs.clone());
    assert_eq!(ours_from_theirs, ours);
    // u64 beyond i64 is a float on our side.
    assert_eq!(
        ours.as_object().and_then(|m| m.get("big")),
        Some(&Value::Float(18446744073709551615.0))
    );
    let back = to_serde(&ours);
    assert_eq!(back["a"], theirs["a"]);
    assert_eq!(back["b"], theirs["b"]);
    assert_eq!(to_serde(&Value::Float(f64::NAN)), serde_json::Value::Null);
}

/// A small deterministic generator (xorshift64*), so the test needs no dependency.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn string(&mut self) -> String {
        let len = self.below(40);
        (0..len)
            .map(|_| match self.below(10) {
                0 => char::from_u32(self.below(0x20) as u32).unwrap_or('x'),
                1 => ['"', '\\', '/', '\u{7f}'][self.below(4) as usize],
                2 => char::from_u32(0x80 + self.below(0x800) as u32).unwrap_or('é'),
                3 => char::from_u32(0x1F600 + self.below(0x50) as u32).unwrap_or('😀'),
                4 => char::from_u32(0x4E00 + self.below(0x1000) as u32).unwrap_or('中'),
                _ => char::from(b'a' + self.below(26) as u8),
            })
            .collect()
    }

    fn value(&mut self, depth: usize) -> Value {
        let kinds = if depth > 4 { 6 } else { 8 };
        match self.below(kinds) {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 0),
            2 => Value::Int(self.next() as i64 >> self.below(64)),
            3 => {
                let f = f64::from_bits(self.next());
                Value::Float(if f.is_finite() { f } else { 0.5 })
            }
            4 => Value::Float((self.next() as i64 >> 20) as f64 / 1000.0),
            5 => Value::from(self.string()),
            6 => Value::Array((0..self.below(6)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let mut map = Map::new();
                for _ in 0..self.below(8) {
                    let key = self.string();
                    // Unique keys: a parsed object holds each key once.
                    map.insert(key, self.value(depth + 1));
                }
                Value::Object(map)
            }
        }
    }
}

#[test]
fn generated_values_survive_write_then_parse() {
    let mut gen = Gen(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::new();
    for _ in 0..3000 {
        let value = gen.value(0);
        out.clear();
        write(&value, &mut out);
        assert!(
            std::str::from_utf8(&out).is_ok(),
            "writer emitted invalid UTF-8"
        );
        let parsed = match from_slice(&out) {
            Ok(v) => v,
            Err(e) => panic!("{e} in {}", String::from_utf8_lossy(&out)),
        };
        assert_eq!(parsed, value, "{}", String::from_utf8_lossy(&out));
        // An independent parser agrees that the text is JSON (its float parsing is
        // not exact by default, so only validity is compared).
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&out) {
            panic!("serde_json rejects our output: {e}");
        }
    }
}

/// Objects of every size around the switch from scanning to the hash index, each
/// repeating keys at random (some spelled with escapes, which must still match), parse
/// to what a plain reference resolution gives: each key once, at its first position,
/// holding its last value.
#[test]
fn duplicates_resolve_alike_on_both_sides_of_the_index_switch() {
    let mut gen = Gen(0x2545_F491_4F6C_DD1D);
    for members in [1, 2, 30, 62, 63, 64, 65, 66, 100, 300] {
        for round in 0..20 {
            let distinct = 1 + gen.below(members as u64) as usize;
            let mut text = String::from("{");
            let mut expected: Vec<(String, i64)> = Vec::new();
            for i in 0..members {
                let key = format!("k{}", gen.below(distinct as u64));
                // Every fourth member spells its key's `k` as an escape.
                let spelled = if gen.below(4) == 0 {
                    format!("\\u006b{}", &key[1..])
                } else {
                    key.clone()
                };
                if i > 0 {
                    text.push(',');
                }
                text.push_str(&format!("\"{spelled}\":{i}"));
                let value = i as i64;
                match expected.iter_mut().find(|(k, _)| *k == key) {
                    Some(entry) => entry.1 = value,
                    None => expected.push((key, value)),
                }
            }
            text.push('}');
            let Value::Object(map) = parse(&text) else {
                panic!("an object");
            };
            let got: Vec<(String, i64)> = map
                .iter()
                .map(|(k, v)| match v {
                    Value::Int(n) => (k.to_string(), *n),
                    other => panic!("{other:?} in {text}"),
                })
                .collect();
            assert_eq!(got, expected, "{members} members, round {round}: {text}");
        }
    }
}
