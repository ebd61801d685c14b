use super::*;
use crate::normalise::samples::{
    assert_time_from_ingest, entity_keys, get, normalised, refused_lines, s,
};
use pipectl_core::json::from_str;

/// The sample file's lines without a CloudTrail time: fixtures cut down to a few
/// fields without `eventTime`, and records whose time was redacted (312, 436).
const WITHOUT_TIME: &[usize] = &[
    34, 35, 36, 37, 74, 87, 312, 317, 318, 376, 377, 378, 379, 380, 428, 434, 436,
];

fn sample(line: usize) -> Value {
    normalised("aws_cloudtrail.jsonl", line, normalise)
}

#[test]
fn every_record_of_the_sample_normalises_those_without_a_time_at_the_time_received() {
    let refused = refused_lines(
        "aws_cloudtrail.jsonl",
        normalise,
        "eventName",
        "aws.cloudtrail",
        "aws",
        &[],
        &[],
    );
    assert!(refused.is_empty(), "{refused:?}");
    for &line in WITHOUT_TIME {
        assert_time_from_ingest(&sample(line));
    }
}

#[test]
fn assumed_role_run_instances() {
    let e = sample(92);
    assert_eq!(s(&e, "@timestamp"), Some("2024-12-16T18:41:07Z"));
    assert_eq!(s(&e, "user.name"), Some("AWSServiceRoleForAutoScaling"));
    let role = "arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling";
    assert_eq!(s(&e, "user.id"), Some(role));
    assert_eq!(s(&e, "cloud.instance.id"), Some("i-07d06021b0da55115"));
    assert_eq!(s(&e, "cloud.region"), Some("us-west-2"));
    assert_eq!(s(&e, "cloud.account.id"), Some("111122223333"));
    assert_eq!(s(&e, "cloud.service.name"), Some("ec2"));
    assert_eq!(s(&e, "source.address"), Some("autoscaling.amazonaws.com"));
    assert_eq!(s(&e, "source.domain"), Some("autoscaling.amazonaws.com"));
    assert_eq!(get(&e, "source.ip"), None);
    assert_eq!(s(&e, "event.outcome"), Some("success"));
    assert_eq!(entity_keys(&e), [format!("aws_user:{role}")]);
}

#[test]
fn root_console_login() {
    let e = sample(70);
    assert_eq!(s(&e, "user.name"), Some("root"));
    assert_eq!(s(&e, "user.id"), Some("arn:aws:iam::123456789012:root"));
    assert_eq!(s(&e, "source.ip"), Some("111.111.111.111"));
    assert_eq!(s(&e, "user_agent.original"), Some("Mozilla"));
    assert_eq!(s(&e, "event.provider"), Some("signin.amazonaws.com"));
    assert_eq!(
        pipectl_core::json::to_string(get(&e, "event.category").unwrap()),
        r#"["authentication"]"#
    );
    assert_eq!(s(&e, "event.outcome"), Some("success"));
    assert_eq!(entity_keys(&e), ["aws_user:arn:aws:iam::123456789012:root"]);
}

#[test]
fn access_denied_is_a_failure() {
    let e = sample(22);
    assert_eq!(s(&e, "event.outcome"), Some("failure"));
    assert_eq!(s(&e, "error.code"), Some("AccessDenied"));
    assert!(s(&e, "error.message").is_some_and(|m| m.contains("LeaveOrganization")));
    assert_eq!(
        s(&e, "user.id"),
        Some("arn:aws:iam::111122223333:role/SampleRole")
    );
    // `Leave…` is no verb with a clear ECS type, so the call gets no category.
    assert_eq!(get(&e, "event.category"), None);

    let denied = normalise(
        from_str(
            r#"{"eventTime":"2026-01-02T03:04:05Z","eventName":"CreateAccessKey",
            "eventSource":"iam.amazonaws.com","errorCode":"AccessDenied",
            "userIdentity":{"type":"IAMUser","userName":"bob","arn":"arn:aws:iam::1:user/bob"},
            "requestParameters":{"userName":"admin"}}"#,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        pipectl_core::json::to_string(get(&denied, "event.type").unwrap()),
        r#"["creation","denied"]"#
    );
    assert_eq!(s(&denied, "user.target.name"), Some("admin"));
}

#[test]
fn s3_objects_and_bytes() {
    let put = sample(352);
    assert_eq!(s(&put, "file.directory"), Some("s3://production-data"));
    assert_eq!(
        s(&put, "file.path"),
        Some("s3://production-data/documents/financial/HOW_TO_DECRYPT_FILES.txt")
    );
    assert_eq!(s(&put, "file.name"), Some("HOW_TO_DECRYPT_FILES.txt"));
    assert_eq!(get(&put, "file.size").and_then(Value::as_i64), Some(2048));
    assert_eq!(
        s(&put, "user.id"),
        Some("arn:aws:iam::111111111111:user/compromised-user")
    );
    assert_eq!(
        pipectl_core::json::to_string(get(&put, "event.category").unwrap()),
        r#"["file"]"#
    );

    let copy = sample(323);
    assert_eq!(s(&copy, "file.directory"), Some("s3://victim-data-bucket"));
    assert_eq!(get(&copy, "file.size"), None);
    assert_eq!(s(&copy, "user.name"), Some("sample-role-elastic-rhodes"));
    assert_eq!(
        s(&copy, "user.id"),
        Some("arn:aws:iam::111111111111:role/sample-role-elastic-rhodes")
    );

    let get_object = from_str(
        r#"{"eventTime":"2026-01-02T03:04:05Z","eventName":"GetObject","eventSource":"s3.amazonaws.com",
        "eventID":"e1","requestParameters":{"bucketName":"b","key":"a/b/c.csv"},
        "additionalEventData":{"bytesTransferredIn":0,"bytesTransferredOut":1048576.0},
        "userIdentity":{"type":"IAMUser","userName":"alice","accountId":"123456789012"}}"#,
    )
    .unwrap();
    let e = normalise(get_object).unwrap();
    assert_eq!(
        get(&e, "file.size").and_then(Value::as_i64),
        Some(1_048_576)
    );
    assert_eq!(
        s(&e, "user.id"),
        Some("arn:aws:iam::123456789012:user/alice")
    );
    assert_eq!(
        s(&e, "event.id"),
        Some(
            pipectl_core::detect::sigma::hit::document_id(&["event", "aws.cloudtrail", "e1"])
                .as_str()
        )
    );
}

#[test]
fn lowercased_keys_are_read() {
    let e = sample(31);
    assert_eq!(s(&e, "event.action"), Some("GetRecords"));
    assert_eq!(s(&e, "@timestamp"), Some("2023-01-10T21:04:02Z"));
    assert_eq!(s(&e, "cloud.region"), Some("eu-west-1"));
    assert_eq!(s(&e, "user.id"), Some("arn:aws:test_arn"));
}

#[test]
fn refusals_say_why() {
    for json in [
        r#"{"eventName":"X"}"#,
        r#"{"eventTime":"redacted","eventName":"X"}"#,
    ] {
        assert_time_from_ingest(&normalise(from_str(json).unwrap()).unwrap());
    }
    let err = |json: &str| normalise(from_str(json).unwrap()).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"eventTime":"2024-01-01T00:00:00Z"}"#),
        "aws_cloudtrail: no `eventName`: not a CloudTrail record"
    );
    assert_eq!(
        err("[1]"),
        "aws_cloudtrail: the record is an array, not an object"
    );
}

#[test]
fn session_arns_give_their_role() {
    assert_eq!(
        role_of_session("arn:aws:sts::123:assumed-role/Admin/alice@x.example").as_deref(),
        Some("arn:aws:iam::123:role/Admin")
    );
    assert_eq!(role_of_session("arn:aws:iam::123:user/alice"), None);
    assert_eq!(role_of_session("arn:aws"), None);
}
