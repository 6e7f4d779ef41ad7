//! Path normalization for file locks: two spellings of one file must take the same lock.

/// Normalizes a path lexically: `./src//a/../b.ts` becomes `src/b.ts`. Backslashes count
/// as separators; a leading `/` is kept; `..` that climbs above the start is kept as written
/// (it names a file outside the tree, still distinct from any inside it).
pub fn normalize_path(path: &str) -> String {
    let unified = path.trim().replace('\\', "/");
    let absolute = unified.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in unified.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if absolute => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    #[test]
    fn spellings_of_one_file_agree() {
        assert_eq!(normalize_path("src/auth/auth.ts"), "src/auth/auth.ts");
        assert_eq!(normalize_path("./src//auth/./auth.ts"), "src/auth/auth.ts");
        assert_eq!(
            normalize_path("src/components/../auth/auth.ts"),
            "src/auth/auth.ts"
        );
        assert_eq!(normalize_path("src\\auth\\auth.ts"), "src/auth/auth.ts");
        assert_eq!(normalize_path("src/auth/"), "src/auth");
    }

    #[test]
    fn edges_are_kept_distinct() {
        assert_eq!(normalize_path("../shared/x"), "../shared/x");
        assert_eq!(normalize_path("/etc/../etc/hosts"), "/etc/hosts");
        assert_eq!(normalize_path("/../x"), "/x");
        assert_eq!(normalize_path("./"), ".");
        assert_ne!(normalize_path("Src/a"), normalize_path("src/a"));
    }
}
