//! `terminagent staff add` (API.md "Staff, roles and devices"): the first
//! account made on the database itself, with a one-time password.

use std::process::Stdio;

use terminagent_eventstore::testing::TestDatabase;
use terminagent_eventstore::{Backend, EventStore, StoreOptions};
use terminagent_tests::{Scratch, binary};

/// Runs `terminagent ARGS`; its exit code, stdout and stderr.
async fn run(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new(binary())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("terminagent runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn staff_add_makes_an_account_with_a_one_time_password() {
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let db = TestDatabase::new(backend).await.unwrap();
        let dir = Scratch::new();
        let add = |role: &'static str| {
            let url = db.url().to_owned();
            let dir = dir.path().to_owned();
            async move {
                run(
                    &dir,
                    &[
                        "staff",
                        "add",
                        "--database-url",
                        &url,
                        "--email",
                        "ada@stadt.example",
                        "--name",
                        "Ada Admin",
                        "--role",
                        role,
                    ],
                )
                .await
            }
        };
        let (code, out, err) = add("admin").await;
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("account ada@stadt.example created"), "{out}");
        let password = out
            .lines()
            .find_map(|line| line.strip_prefix("one-time password: "))
            .expect("the password is printed")
            .to_owned();
        assert_eq!(password.chars().count(), 20);

        let store = EventStore::connect(db.url(), StoreOptions::default()).await.unwrap();
        let log = store.read_all(0, 100).await.unwrap();
        let registered: Vec<_> = log
            .iter()
            .filter(|e| e.event.event_type == "staff.registered")
            .collect();
        assert_eq!(registered.len(), 1);
        assert_eq!(registered[0].event.actor.as_deref(), Some("operator"));
        let data = registered[0].event.data.to_value();
        assert_eq!(data["roles"], serde_json::json!([{"role": "admin"}]));
        let staff_id = data["staff"].as_str().unwrap();
        let (hash, one_time) = store.staff_credentials().password(staff_id).await.unwrap().unwrap();
        assert!(hash.starts_with("$argon2id$"), "Argon2id: {hash}");
        assert!(one_time);
        assert!(!hash.contains(&password));
        assert!(
            !serde_json::to_string(&data).unwrap().contains(&password),
            "no password in the log"
        );

        // Again: the same account, a new password.
        let (code, out, _) = add("admin").await;
        assert_eq!(code, 0);
        assert!(out.contains("unchanged"), "{out}");
        let (again, _) = store.staff_credentials().password(staff_id).await.unwrap().unwrap();
        assert_ne!(again, hash);
        store.close().await;
    }
}

#[tokio::test]
async fn staff_add_says_what_is_wrong() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let dir = Scratch::new();
    for (extra, needle) in [
        (&["--role", "clerk"][..], "needs an office"),
        (&["--role", "lead", "--office", "nirgends"][..], "not registered"),
        (&["--role", "boss"][..], "unknown role"),
        (&["--role", "auditor", "--office", "mitte"][..], "every office"),
    ] {
        let mut args = vec![
            "staff",
            "add",
            "--database-url",
            db.url(),
            "--email",
            "eva@stadt.example",
            "--name",
            "Eva",
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = run(dir.path(), &args).await;
        assert_eq!(code, 1, "{extra:?}: {out}{err}");
        assert!(
            err.starts_with("terminagent: ") && err.contains(needle),
            "{needle}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, _, err) = run(
        dir.path(),
        &[
            "staff",
            "add",
            "--database-url",
            db.url(),
            "--email",
            "kein-at",
            "--name",
            "Eva",
            "--role",
            "admin",
        ],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("--email"), "{err}");
}
