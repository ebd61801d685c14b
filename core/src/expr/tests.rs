use super::*;
use pipectl_dsl::functions::FUNCTIONS;
use pipectl_dsl::plan::{FieldPath as PlanPath, PathSegment as PlanSegment};

fn field(path: &str) -> Expr {
    Expr::Field(PlanPath(
        path.split('.')
            .map(|k| PlanSegment::Key(k.to_string()))
            .collect(),
    ))
}

fn s(text: &str) -> Expr {
    Expr::Literal(Literal::String(text.to_string()))
}

fn i(n: i64) -> Expr {
    Expr::Literal(Literal::Int(n))
}

fn cmp(op: CmpOp, lhs: Expr, rhs: Expr) -> Expr {
    Expr::Cmp {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
    }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Call {
        name: name.to_string(),
        args,
    }
}

fn compile(expr: &Expr) -> CompiledExpr {
    match CompiledExpr::compile(expr) {
        Ok(c) => c,
        Err(e) => panic!("{expr:?} should compile: {e}"),
    }
}

fn event() -> Value {
    match crate::json::from_str(
        r#"{"event":{"action":"ConsoleLogin","outcome":"failure","duration":1500},
            "user":{"name":"Alice"},"source":{"ip":"10.1.2.3","ip6":"2001:db8::7"},
            "file":{"size":2048,"ratio":0.5},"tags":["vpn","admin"],"flag":true,
            "nothing":null,"empty":""}"#,
    ) {
        Ok(v) => v,
        Err(e) => panic!("sample event: {e}"),
    }
}

fn holds(expr: Expr) -> bool {
    compile(&expr).matches(&event())
}

#[test]
fn compares_fields_with_literals() {
    assert!(holds(cmp(
        CmpOp::Eq,
        field("event.action"),
        s("ConsoleLogin")
    )));
    assert!(!holds(cmp(
        CmpOp::Eq,
        field("event.action"),
        s("consolelogin")
    )));
    assert!(holds(cmp(CmpOp::Ne, field("event.action"), s("Other"))));
    assert!(holds(cmp(CmpOp::Gt, field("file.size"), i(1024))));
    assert!(holds(cmp(CmpOp::Le, field("file.size"), i(2048))));
    assert!(!holds(cmp(CmpOp::Lt, field("file.size"), i(2048))));
    // Mixed int and float compare by value.
    assert!(holds(cmp(
        CmpOp::Eq,
        field("file.size"),
        Expr::Literal(Literal::Float(2048.0))
    )));
    assert!(holds(cmp(CmpOp::Lt, field("file.ratio"), i(1))));
    // Strings order lexicographically, booleans false < true.
    assert!(holds(cmp(CmpOp::Lt, field("user.name"), s("Bob"))));
    assert!(holds(cmp(
        CmpOp::Gt,
        field("flag"),
        Expr::Literal(Literal::Bool(false))
    )));
}

#[test]
fn mismatched_types_and_missing_fields() {
    // == across types is false, != true, ordering false.
    assert!(!holds(cmp(CmpOp::Eq, field("file.size"), s("2048"))));
    assert!(holds(cmp(CmpOp::Ne, field("file.size"), s("2048"))));
    assert!(!holds(cmp(CmpOp::Lt, field("file.size"), s("9"))));
    assert!(!holds(cmp(CmpOp::Ge, field("file.size"), s("9"))));
    // A missing field is null.
    let null = Expr::Literal(Literal::Null);
    assert!(holds(cmp(CmpOp::Eq, field("no.such"), null.clone())));
    assert!(holds(cmp(CmpOp::Eq, field("nothing"), null)));
    assert!(!holds(cmp(CmpOp::Gt, field("no.such"), i(0))));
    assert!(!holds(field("no.such")));
    assert_eq!(compile(&field("no.such")).evaluate(&event()), Value::Null);
}

#[test]
fn durations_and_sizes_are_integers() {
    assert!(holds(cmp(
        CmpOp::Gt,
        field("event.duration"),
        Expr::Literal(Literal::Duration(1000))
    )));
    assert!(holds(cmp(
        CmpOp::Eq,
        field("file.size"),
        Expr::Literal(Literal::Size(2048))
    )));
}

#[test]
fn logic_short_circuits() {
    let t = cmp(CmpOp::Eq, field("flag"), Expr::Literal(Literal::Bool(true)));
    let f = Expr::Not(Box::new(t.clone()));
    assert!(holds(Expr::Or(Box::new(t.clone()), Box::new(f.clone()))));
    assert!(!holds(Expr::And(Box::new(f.clone()), Box::new(t.clone()))));
    assert!(holds(Expr::And(Box::new(t.clone()), Box::new(t.clone()))));
    assert!(!holds(Expr::Or(Box::new(f.clone()), Box::new(f))));
    assert_eq!(
        compile(&Expr::And(Box::new(t.clone()), Box::new(t))).evaluate(&event()),
        Value::Bool(true)
    );
}

#[test]
fn membership_in_lists_and_array_fields() {
    let in_list = |lhs: Expr, items: Vec<Expr>| Expr::In {
        lhs: Box::new(lhs),
        rhs: Box::new(Expr::List(items)),
    };
    assert!(holds(in_list(
        field("event.outcome"),
        vec![s("failure"), s("unknown")]
    )));
    assert!(!holds(in_list(field("event.outcome"), vec![s("success")])));
    assert!(holds(in_list(field("file.size"), vec![i(1), i(2048)])));
    // A list with a field in it is evaluated per event.
    assert!(holds(in_list(s("Alice"), vec![s("x"), field("user.name")])));
    let in_field = Expr::In {
        lhs: Box::new(s("admin")),
        rhs: Box::new(field("tags")),
    };
    assert!(holds(in_field));
    let in_scalar = Expr::In {
        lhs: Box::new(s("admin")),
        rhs: Box::new(field("user.name")),
    };
    assert!(!holds(in_scalar));
}

#[test]
fn regex_matches_search_strings_only() {
    let m = |lhs: Expr, pattern: &str| Expr::Match {
        lhs: Box::new(lhs),
        pattern: pattern.to_string(),
    };
    assert!(holds(m(field("event.action"), "Login$")));
    assert!(holds(m(field("event.action"), "sole")));
    assert!(!holds(m(field("event.action"), "^Login")));
    assert!(!holds(m(field("file.size"), "2048")));
    assert!(!holds(m(field("no.such"), ".*")));
    let bad = CompiledExpr::compile(&m(field("a"), "("));
    assert!(matches!(bad, Err(ExprError::Regex { .. })));
}

#[test]
fn functions_behave_as_documented() {
    let eval = |e: Expr| compile(&e).evaluate(&event());
    assert_eq!(
        eval(call("exists", vec![field("nothing")])),
        Value::Bool(true)
    );
    assert_eq!(
        eval(call("exists", vec![field("no.such")])),
        Value::Bool(false)
    );
    assert_eq!(
        eval(call("is_null", vec![field("nothing")])),
        Value::Bool(true)
    );
    assert_eq!(
        eval(call("is_null", vec![field("no.such")])),
        Value::Bool(true)
    );
    assert_eq!(
        eval(call("is_null", vec![field("flag")])),
        Value::Bool(false)
    );
    assert_eq!(
        eval(call("lower", vec![field("user.name")])),
        Value::from("alice")
    );
    assert_eq!(
        eval(call("upper", vec![field("user.name")])),
        Value::from("ALICE")
    );
    assert_eq!(eval(call("lower", vec![field("file.size")])), Value::Null);
    assert_eq!(eval(call("len", vec![s("héllo")])), Value::Int(5));
    assert_eq!(eval(call("len", vec![field("tags")])), Value::Int(2));
    assert_eq!(eval(call("len", vec![field("user")])), Value::Int(1));
    assert_eq!(eval(call("len", vec![field("flag")])), Value::Null);
    assert_eq!(
        eval(call(
            "starts_with",
            vec![field("event.action"), s("Console")]
        )),
        Value::Bool(true)
    );
    assert_eq!(
        eval(call("ends_with", vec![field("event.action"), s("Login")])),
        Value::Bool(true)
    );
    assert_eq!(
        eval(call("ends_with", vec![field("file.size"), s("48")])),
        Value::Bool(false)
    );
    assert_eq!(
        eval(call("contains", vec![field("event.action"), s("oleLo")])),
        Value::Bool(true)
    );
    assert_eq!(
        eval(call("contains", vec![field("tags"), s("vpn")])),
        Value::Bool(true)
    );
    assert_eq!(
        eval(call("contains", vec![field("tags"), s("root")])),
        Value::Bool(false)
    );
    assert_eq!(
        eval(call("to_string", vec![field("file.size")])),
        Value::from("2048")
    );
    assert_eq!(
        eval(call("to_string", vec![field("user.name")])),
        Value::from("Alice")
    );
    assert_eq!(
        eval(call("to_string", vec![field("tags")])),
        Value::from(r#"["vpn","admin"]"#)
    );
    assert_eq!(
        eval(call("to_string", vec![field("no.such")])),
        Value::from("null")
    );
    assert_eq!(eval(call("to_int", vec![s(" 42 ")])), Value::Int(42));
    assert_eq!(eval(call("to_int", vec![s("4.9")])), Value::Int(4));
    assert_eq!(
        eval(call("to_int", vec![field("file.ratio")])),
        Value::Int(0)
    );
    assert_eq!(eval(call("to_int", vec![s("forty")])), Value::Null);
    assert_eq!(eval(call("to_int", vec![field("flag")])), Value::Null);
    assert_eq!(
        eval(call("to_int", vec![Expr::Literal(Literal::Float(1e30))])),
        Value::Null
    );
}

#[test]
fn cidr_match_handles_ipv4_and_ipv6() {
    let cidr = |ip: Expr, block: &str| holds(call("cidr_match", vec![ip, s(block)]));
    assert!(cidr(field("source.ip"), "10.0.0.0/8"));
    assert!(cidr(field("source.ip"), "10.1.2.3"));
    assert!(cidr(field("source.ip"), "0.0.0.0/0"));
    assert!(!cidr(field("source.ip"), "192.168.0.0/16"));
    assert!(!cidr(field("source.ip"), "10.1.2.4/32"));
    assert!(cidr(field("source.ip6"), "2001:db8::/32"));
    assert!(!cidr(field("source.ip6"), "2001:db9::/32"));
    assert!(!cidr(field("source.ip6"), "10.0.0.0/8"));
    assert!(cidr(s("::ffff:10.9.9.9"), "10.0.0.0/8"));
    assert!(cidr(s("10.9.9.9"), "::ffff:10.0.0.0/104"));
    assert!(!cidr(s("not an ip"), "10.0.0.0/8"));
    assert!(!cidr(field("file.size"), "10.0.0.0/8"));
    // A block held in a field is parsed per event; a bad one never matches.
    let dynamic = |block: &str| {
        let mut ev = event();
        let _ = ev.insert_path(
            &crate::path::FieldPath::parse("net.block").unwrap_or_else(|e| panic!("{e}")),
            Value::from(block),
        );
        compile(&call(
            "cidr_match",
            vec![field("source.ip"), field("net.block")],
        ))
        .matches(&ev)
    };
    assert!(dynamic("10.1.0.0/16"));
    assert!(!dynamic("10.1.0.0/99"));
    for bad in ["10.0.0.0/33", "::/129", "10.0.0/8", "x"] {
        let compiled = CompiledExpr::compile(&call("cidr_match", vec![field("source.ip"), s(bad)]));
        assert!(
            matches!(compiled, Err(ExprError::Argument { .. })),
            "{bad} should be refused"
        );
    }
}

#[test]
fn unknown_functions_and_wrong_arity_are_errors() {
    assert_eq!(
        CompiledExpr::compile(&call("nope", vec![])).err(),
        Some(ExprError::UnknownFunction("nope".into()))
    );
    assert!(matches!(
        CompiledExpr::compile(&call("lower", vec![])),
        Err(ExprError::Arity { got: 0, .. })
    ));
    assert!(matches!(
        CompiledExpr::compile(&call("lower", vec![s("a"), s("b")])),
        Err(ExprError::Arity { got: 2, .. })
    ));
    assert!(matches!(
        CompiledExpr::compile(&call("exists", vec![s("a")])),
        Err(ExprError::Argument { .. })
    ));
}

/// Every function the language declares must have an implementation here.
#[test]
fn every_declared_function_is_implemented() {
    for spec in FUNCTIONS {
        let args: Vec<Expr> = (0..spec.min_args)
            .map(|n| match (spec.name, n) {
                ("cidr_match", 1) => s("10.0.0.0/8"),
                _ => field("source.ip"),
            })
            .collect();
        if let Err(e) = CompiledExpr::compile(&call(spec.name, args)) {
            panic!(
                "function `{}` is declared but not implemented: {e}",
                spec.name
            );
        }
    }
}

#[test]
fn filter_conditions_do_not_allocate() {
    let ev = event();
    let conditions = [
        compile(&cmp(CmpOp::Eq, field("event.action"), s("ConsoleLogin"))),
        compile(&cmp(CmpOp::Gt, field("file.size"), i(10))),
        compile(&Expr::In {
            lhs: Box::new(field("event.outcome")),
            rhs: Box::new(Expr::List(vec![s("failure"), s("unknown")])),
        }),
        compile(&Expr::And(
            Box::new(call("starts_with", vec![field("user.name"), s("Al")])),
            Box::new(call(
                "cidr_match",
                vec![field("source.ip"), s("10.0.0.0/8")],
            )),
        )),
    ];
    let before = crate::test_alloc::allocations();
    let mut hits = 0;
    for _ in 0..100 {
        hits += conditions.iter().filter(|c| c.matches(&ev)).count();
    }
    let after = crate::test_alloc::allocations();
    assert_eq!(hits, 400);
    assert_eq!(after - before, 0, "evaluating conditions allocated");
}

#[test]
fn field_comparisons_borrow_instead_of_cloning() {
    let expr = compile(&cmp(CmpOp::Eq, field("user"), field("user")));
    let ev = event();
    assert!(matches!(
        compile(&field("user")).evaluate_ref(&ev),
        Cow::Borrowed(_)
    ));
    assert!(matches!(
        compile(&s("x")).evaluate_ref(&ev),
        Cow::Borrowed(_)
    ));
    assert!(expr.matches(&ev));
}
