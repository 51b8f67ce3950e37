//! The users file: parsing errors named as file:line, comments kept on rewrite,
//! duplicates refused, atomic writes that keep the mode.

use super::*;
use crate::test_dir::TestDir;

const HASH: &str =
    "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHRzYWx0c2FsdA$8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA";

fn err(text: &str) -> String {
    UsersFile::parse(text, "/etc/tracksd/users")
        .unwrap_err()
        .to_string()
}

#[test]
fn comments_blank_lines_and_users_parse_and_render_back_unchanged() {
    let text = format!("# who may log in\n\nalice:{HASH}\n  # indented comment\nbob:{HASH}\n");
    let doc = UsersFile::parse(&text, "u").unwrap();
    let names: Vec<&str> = doc.users().map(|(n, _)| n).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(doc.render(), text);
}

#[test]
fn bad_lines_are_named_by_file_and_line() {
    let e = err(&format!("# ok\nalice:{HASH}\nbob\n"));
    assert!(
        e.starts_with("/etc/tracksd/users:3: expected name:$pbkdf2"),
        "{e}"
    );
    let e = err("alice:$pbkdf2-sha256$i=10,l=32$x$y\n");
    assert!(
        e.starts_with("/etc/tracksd/users:1: user \"alice\": "),
        "{e}"
    );
    assert!(e.contains("less than the minimum"), "{e}");
    let e = err(&format!(":{HASH}\n"));
    assert!(e.contains(":1: user name must be 1-64 characters"), "{e}");
    let e = err(&format!("{}:{HASH}\n", "x".repeat(65)));
    assert!(e.contains(":1: user name must be 1-64"), "{e}");
    let e = err("alice:not-a-hash\n");
    assert!(
        e.contains(":1: user \"alice\": not a valid PHC string"),
        "{e}"
    );
    // The hash itself is never quoted back.
    let e = err(&format!("alice:{}x\n", &HASH[..HASH.len() - 1]));
    assert!(!e.contains(&HASH[40..]), "{e}");
}

#[test]
fn a_name_listed_twice_is_refused() {
    let e = err(&format!("alice:{HASH}\n\nalice:{HASH}\n"));
    assert_eq!(
        e,
        "/etc/tracksd/users:3: user \"alice\" is listed twice (first on line 1)"
    );
}

#[test]
fn names_follow_the_users_rule_and_cannot_hold_a_colon() {
    assert_eq!(username_problem("alice smith"), None);
    assert!(username_problem("").is_some());
    assert!(username_problem("a\nb").is_some());
    assert!(file_username_problem("a:b").unwrap().contains("':'"));
    assert!(file_username_problem("#a").unwrap().contains("'#'"));
    assert_eq!(file_username_problem("ålice"), None);
}

#[test]
fn add_set_remove_keep_the_comments_in_place() {
    let text = format!("# head\nalice:{HASH}\n# tail\n");
    let mut doc = UsersFile::parse(&text, "u").unwrap();
    let other = PasswordHash::parse(
        "$pbkdf2-sha256$i=2000,l=32$c2FsdHNhbHRzYWx0c2FsdA$8nX7hwFEzIB8aPajJTYK8weHQc5Ngz0pFVAKvSu4jQA",
    )
    .unwrap();
    assert!(!doc.add("alice", other.clone()));
    assert!(doc.add("bob", other.clone()));
    assert!(doc.set_hash("alice", other.clone()));
    assert!(!doc.set_hash("carol", other.clone()));
    assert_eq!(
        doc.render(),
        format!("# head\nalice:{other}\n# tail\nbob:{other}\n")
    );
    assert!(doc.remove("alice"));
    assert!(!doc.remove("alice"));
    assert_eq!(doc.render(), format!("# head\n# tail\nbob:{other}\n"));
}

fn config_with(dir: &Path, users_toml: &str, users_file: &str) -> Config {
    let path = dir.join("tracksd.toml");
    fs::write(
        &path,
        format!("users_file = \"{users_file}\"\n{users_toml}"),
    )
    .unwrap();
    let mut c = crate::config::load_file(&path).unwrap();
    load_into(&mut c)
        .map(|()| c)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn load_into_adds_the_files_users_and_a_missing_file_adds_none() {
    let dir = TestDir::new("users-file");
    let c = config_with(&dir, "", "users");
    assert_eq!(c.users_file.as_deref(), Some(dir.join("users").as_path()));
    assert!(c.users.is_empty());
    assert!(no_users_hint(&c).unwrap().contains("does not exist"));
    fs::write(dir.join("users"), format!("alice:{HASH}\n")).unwrap();
    let c = config_with(&dir, "", "users");
    assert_eq!(c.users[0].username, "alice");
    assert_eq!(no_users_hint(&c), None);
}

#[test]
fn a_name_in_both_the_file_and_users_is_refused() {
    let dir = TestDir::new("users-file");
    fs::write(dir.join("users"), format!("# c\njohn:{HASH}\n")).unwrap();
    let path = dir.join("tracksd.toml");
    fs::write(
        &path,
        format!(
            "users_file = \"users\"\n[[users]]\nusername = \"john\"\npassword_hash = \"{HASH}\"\n"
        ),
    )
    .unwrap();
    let mut c = crate::config::load_file(&path).unwrap();
    let e = load_into(&mut c).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}:2: user \"john\" is also in [[users]]",
            dir.join("users").display()
        )),
        "{e}"
    );
}

#[test]
fn write_atomic_keeps_the_mode_and_leaves_no_temp_file() {
    let dir = TestDir::new("users-file");
    let path = dir.join("users");
    write_atomic(&path, "a\n").unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    write_atomic(&path, "b\n").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "b\n");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    let names: Vec<_> = fs::read_dir(&*dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["users"]);
}

#[test]
fn the_users_file_key_must_be_a_non_empty_path_and_absolute_stays_as_written() {
    for (text, reason) in [
        ("users_file = \"\"\n", "key `users_file`: must not be empty"),
        (
            "users_file = 3\n",
            "key `users_file`: expected a string, got 3",
        ),
    ] {
        let e = crate::config::parse(text, "t.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(e, format!("t.toml: {reason}"));
    }
    let dir = TestDir::new("users-file");
    let c = config_with(&dir, "", "/etc/tracksd/users-not-here");
    assert_eq!(
        c.users_file.as_deref(),
        Some(Path::new("/etc/tracksd/users-not-here"))
    );
}
