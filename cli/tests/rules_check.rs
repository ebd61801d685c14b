//! `pipectl rules check`: counts, each refusal with its file and reason, the summary by
//! reason, and the exit codes (0 all loaded, 1 some refused, 78 no rules).

use std::path::PathBuf;
use std::process::{Command, Output};

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipectl"))
        .arg("rules")
        .arg("check")
        .args(args)
        .output()
        .expect("pipectl runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("pipectl-rules-check-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_corpus_cloud_rules_all_load() {
    let cloud = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/sigma/rules/cloud");
    let out = check(&[cloud.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("loaded 225 rules"), "{stdout}");
    assert!(stdout.contains("refused 0"), "{stdout}");
}

#[test]
fn refusals_are_listed_with_reasons_and_exit_1() {
    let dir = temp_dir("refused");
    std::fs::write(
        dir.join("good.yml"),
        "title: Good\nlogsource: {product: aws}\ndetection: {sel: {eventName: x}, condition: sel}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("bad.yml"),
        "title: Bad\nlogsource: {product: aws}\ndetection: {sel: {eventName|shout: x}, condition: sel}\n",
    )
    .unwrap();
    let out = check(&[dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("bad.yml (Bad): `eventName|shout` uses the modifier `shout`"),
        "{stdout}"
    );
    assert!(stdout.contains("loaded 1 rule "), "{stdout}");
    assert!(stdout.contains("1  unknown modifier `shout`"), "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn placeholders_can_be_given_on_the_command_line() {
    let dir = temp_dir("placeholder");
    std::fs::write(
        dir.join("p.yml"),
        "title: P\nlogsource: {product: windows}\ndetection: {sel: {Host|expand: '%Servers%'}, condition: sel}\n",
    )
    .unwrap();
    assert_eq!(check(&[dir.to_str().unwrap()]).status.code(), Some(1));
    let out = check(&["--placeholder", "Servers=srv*", dir.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn no_rules_is_a_configuration_error() {
    let dir = temp_dir("empty");
    assert_eq!(check(&[dir.to_str().unwrap()]).status.code(), Some(78));
    assert_eq!(
        check(&[dir.join("missing").to_str().unwrap()])
            .status
            .code(),
        Some(78)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
