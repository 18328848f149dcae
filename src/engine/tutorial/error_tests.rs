//! Unit tests of the tutorial dialect's errors: unknown statements, injection
//! attempts, the caret display, and a robustness sweep of mangled statements (no
//! panics, errors point inside the statement).
mod errors {
    use super::super::tests::statements::{err, ok, qn};
    use super::super::*;

    #[test]
    fn unknown_and_empty_statements() {
        let e = err("SELECT * FROM t");
        assert_eq!(e.position, 0);
        assert_eq!(
            e.message,
            "expected COPY, BUILD MODEL, CONVERT USING, SEARCH IMAGE or PRINT IMAGE, found \"SELECT\""
        );
        assert_eq!(
            err("  ;").message,
            "expected COPY, BUILD MODEL, CONVERT USING, SEARCH IMAGE or PRINT IMAGE, found \";\""
        );
        let e = err("   -- only a comment\n");
        assert_eq!((e.position, e.message.as_str()), (21, "empty statement"));
        let e = err("/* unterminated");
        assert_eq!((e.position, e.message.as_str()), (0, "unterminated /* comment"));
        let e = err("BUILD MODELS m");
        assert_eq!((e.position, e.message.as_str()), (6, "expected MODEL, found \"MODELS\""));
        let e = err("CONVERT m AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (8, "expected USING, found \"m\""));
    }

    #[test]
    fn injection_attempts() {
        let e = err("BUILD MODEL x; DROP TABLE y USING SimCLR AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (13, "expected USING, found \";\""));
        let e = err("BUILD MODEL m USING simclr AS SELECT 1; DROP TABLE y");
        assert_eq!((e.position, e.message.as_str()), (40, "unexpected \"DROP\" after end of statement"));
        let e = err("BUILD MODEL m USING simclr AS SELECT 1 -- x\n; DROP TABLE y;");
        assert_eq!(e.position, 46);
        let e = err("COPY t FROM 'x'; DROP TABLE y");
        assert_eq!((e.position, e.message.as_str()), (17, "unexpected \"DROP\" after end of statement"));
        let e = err("SEARCH IMAGE images='a' USING m AS SELECT 1) s; DROP TABLE y; SELECT (1");
        assert_eq!((e.position, e.message.as_str()), (43, "unbalanced \")\" in query"));
        let e = err("CONVERT USING m AS SELECT (1");
        assert_eq!((e.position, e.message.as_str()), (26, "unbalanced \"(\" in query"));
        let e = err("CONVERT USING m AS SELECT (1; DROP TABLE y)");
        assert_eq!(e.position, 28);
        let e = err("CONVERT USING m AS SELECT 'abc");
        assert_eq!((e.position, e.message.as_str()), (26, "unterminated quoted string"));
        let e = err("CONVERT USING m AS SELECT $x$ abc $y$");
        assert_eq!((e.position, e.message.as_str()), (26, "unterminated dollar-quoted string"));
        let e = err("CONVERT USING m AS SELECT 1 /* ; DROP TABLE y");
        assert_eq!((e.position, e.message.as_str()), (28, "unterminated /* comment"));
        // quote tricks end up inside returned strings, not as structure
        let st = ok("COPY \"t\"\" FROM 'x'; DROP TABLE y; --\" FROM 'p'");
        assert_eq!(
            st,
            Statement::Copy { table: qn(None, "t\" FROM 'x'; DROP TABLE y; --"), path: "p".into(), options: vec![] }
        );
        // semicolons inside quotes in the query are fine
        assert!(matches!(
            ok("CONVERT USING m AS SELECT ';' AS \";\", $$;$$"),
            Statement::Convert { source_query, .. } if source_query == "SELECT ';' AS \";\", $$;$$"
        ));
    }

    /// sqlparser's tokenizer cuts the statement; where it stops, the error is named
    /// in our words at the opening quote (after an E, U&, N, X or B prefix).
    #[test]
    fn tokenizer_failures_in_our_words() {
        for (statement, position, message) in [
            ("CONVERT USING m AS SELECT E'abc", 27, "unterminated quoted string"),
            ("CONVERT USING m AS SELECT U&\"abc", 28, "unterminated quoted identifier"),
            ("CONVERT USING m AS SELECT x'ab", 27, "unterminated quoted string"),
            ("CONVERT USING m AS SELECT $$abc", 26, "unterminated dollar-quoted string"),
            ("COPY t FROM 'x.csv' /* open", 20, "unterminated /* comment"),
            ("COPY \"t FROM 'x.csv'", 5, "unterminated quoted identifier"),
            // Inside a token sqlparser reads as one (`=>`), the grammar goes on from the `>`.
            ("CONVERT USING m OPTIONS (a=>1) AS SELECT 1", 27, "expected option value, found \">\""),
            // Anything else keeps sqlparser's words.
            ("CONVERT USING m AS SELECT 0b", 26, "expected a binary digit after '0b'"),
        ] {
            let e = err(statement);
            assert_eq!((e.position, e.message.as_str()), (position, message), "{statement}");
        }
        // Whitespace as Postgres has it (vertical tab, form feed, CR LF), nested comments.
        let copy = Statement::Copy { table: qn(None, "t"), path: "x.csv".into(), options: vec![] };
        assert_eq!(ok("COPY\u{b}t\u{c}FROM\r\n'x.csv' /* a /* nested */ comment */ ;"), copy);
    }

    #[test]
    fn caret_display() {
        let e = err("BUILD MODEL m USIN SimCLR AS SELECT 1");
        assert_eq!(e.position, 14);
        assert_eq!(
            e.to_string(),
            "syntax error at position 14: expected USING, found \"USIN\"\n\
             BUILD MODEL m USIN SimCLR AS SELECT 1\n\
             \x20             ^"
        );
        assert_eq!(e.cursor_position(), 15);
        // end of input
        let e = err("COPY t FROM");
        assert_eq!(
            e.to_string(),
            "syntax error at position 11: expected quoted file path, found end of input\nCOPY t FROM\n           ^"
        );
    }

    #[test]
    fn caret_display_multiline_and_unicode() {
        let s = "BUILD MODEL modèle\n  USING simclr\n\tOPTIONS (a=1, a=2)\n  AS SELECT 1";
        let e = err(s);
        assert_eq!(e.position, s.find("a=2").unwrap());
        assert_eq!(
            e.to_string(),
            format!("syntax error at position {}: option \"a\" specified more than once\n\tOPTIONS (a=1, a=2)\n\t              ^", e.position)
        );
        let e = err("COPY ñandú ;");
        assert_eq!(e.position, 13);
        assert_eq!(e.cursor_position(), 12);
        assert!(e.to_string().ends_with("COPY ñandú ;\n           ^"), "{e}");
    }

    #[test]
    fn caret_display_long_line_window() {
        let s = format!("CONVERT USING m AS SELECT {} FROM t; x", "a, ".repeat(100));
        let e = err(&s);
        let shown = e.to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("...") && lines[1].len() < 130);
        let caret_col = lines[2].len() - 1;
        assert_eq!(&lines[1][caret_col..caret_col + 1], "x");
    }
}

#[cfg(test)]
mod robustness {
    use super::super::*;

    /// Deterministic xorshift so the test needs no dependencies.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    fn check(s: &str) {
        match parse(s) {
            Ok(_) => {}
            Err(e) => {
                assert!(e.position <= s.len(), "{s:?}: {e:?}");
                assert!(s.is_char_boundary(e.position), "{s:?}: {e:?}");
                let shown = e.to_string();
                assert_eq!(shown.lines().count().max(3), 3, "{shown}");
                let _ = e.cursor_position();
            }
        }
    }

    #[test]
    fn no_panics_on_prefixes_and_mutations() {
        let base = [
            "COPY mnist_train OPTIONS(overwrite=True) FROM \"tutorial_data/mnist_data/mnist_train.csv\";",
            "BUILD MODEL my_image_search_model USING SimCLR OPTIONS (max_epochs=5, batch_size=256, image_col='img_path', overwrite=True) AS SELECT * FROM mnist_train;",
            "CONVERT USING m OPTIONS (table_name='mnist_test') AS SELECT $t$x$t$, E'\\'', \"q\"\"\" FROM (SELECT 1) s /* c */ -- d\n;",
            "PRINT IMAGE AS (SEARCH IMAGE images=('a.jpg','ñ.jpg') USING m AS SELECT * FROM t ORDER BY s DESC LIMIT 4);",
        ];
        let alphabet: Vec<char> = "'\"()$;,.=-/*\\ \nEeaz0ñ".chars().collect();
        let mut seed = 0x9E3779B97F4A7C15u64;
        for s in base {
            assert!(parse(s).is_ok(), "{s}");
            for (i, _) in s.char_indices() {
                check(&s[..i]);
                check(&s[i..]);
            }
            for _ in 0..3000 {
                let mut chars: Vec<char> = s.chars().collect();
                for _ in 0..(1 + rng(&mut seed) % 3) {
                    let at = (rng(&mut seed) as usize) % chars.len();
                    let c = alphabet[(rng(&mut seed) as usize) % alphabet.len()];
                    match rng(&mut seed) % 3 {
                        0 => chars[at] = c,
                        1 => chars.insert(at, c),
                        _ => {
                            chars.remove(at);
                        }
                    }
                }
                check(&chars.into_iter().collect::<String>());
            }
        }
    }
}
