//! Unit tests of the tutorial dialect: every statement form. Errors, carets and the
//! robustness sweep are in error_tests.rs.
pub(super) mod statements {
    use super::super::*;

    pub(in super::super) fn ok(s: &str) -> Statement {
        match parse(s) {
            Ok(st) => st,
            Err(e) => panic!("failed to parse {s:?}:\n{e}"),
        }
    }
    pub(in super::super) fn err(s: &str) -> ParseError {
        match parse(s) {
            Ok(st) => panic!("expected error for {s:?}, got {st:?}"),
            Err(e) => e,
        }
    }
    fn t(s: &str) -> OptionValue {
        OptionValue::Text(s.to_string())
    }
    pub(in super::super) fn qn(schema: Option<&str>, name: &str) -> QualifiedName {
        QualifiedName { schema: schema.map(str::to_string), name: name.to_string() }
    }
    fn search_parts(st: Statement) -> (Vec<String>, String, String, String) {
        match st {
            Statement::SearchImage { images, model, source_query, order_limit } => {
                (images, model, source_query, order_limit)
            }
            other => panic!("not a search: {other:?}"),
        }
    }
    fn split(q: &str) -> (String, String) {
        let (_, _, s, o) = search_parts(ok(&format!("SEARCH IMAGE images='a.jpg' USING m AS {q}")));
        (s, o)
    }

    // ------------------------------------------------------- tutorial

    #[test]
    fn tutorial_copy_train() {
        assert_eq!(
            ok(r#"COPY mnist_train OPTIONS(overwrite=True) FROM "tutorial_data/mnist_data/mnist_train.csv";"#),
            Statement::Copy {
                table: qn(None, "mnist_train"),
                path: "tutorial_data/mnist_data/mnist_train.csv".into(),
                options: vec![("overwrite".into(), OptionValue::Bool(true))],
            }
        );
    }

    #[test]
    fn tutorial_copy_test() {
        assert_eq!(
            ok(r#"COPY mnist_test OPTIONS(overwrite=True) FROM "tutorial_data/mnist_data/mnist_test.csv";"#),
            Statement::Copy {
                table: qn(None, "mnist_test"),
                path: "tutorial_data/mnist_data/mnist_test.csv".into(),
                options: vec![("overwrite".into(), OptionValue::Bool(true))],
            }
        );
    }

    #[test]
    fn tutorial_build_model() {
        assert_eq!(
            ok("BUILD MODEL my_image_search_model USING SimCLR OPTIONS (max_epochs=5, batch_size=256, image_col='img_path', overwrite=True) AS SELECT * FROM mnist_train;"),
            Statement::BuildModel {
                model: "my_image_search_model".into(),
                algorithm: "simclr".into(),
                options: vec![
                    ("max_epochs".into(), OptionValue::Int(5)),
                    ("batch_size".into(), OptionValue::Int(256)),
                    ("image_col".into(), t("img_path")),
                    ("overwrite".into(), OptionValue::Bool(true)),
                ],
                source_query: "SELECT * FROM mnist_train".into(),
            }
        );
    }

    #[test]
    fn tutorial_convert() {
        assert_eq!(
            ok("CONVERT USING my_image_search_model OPTIONS (table_name='mnist_test', image_col='img_path') AS SELECT * FROM mnist_test;"),
            Statement::Convert {
                model: "my_image_search_model".into(),
                options: vec![
                    ("table_name".into(), t("mnist_test")),
                    ("image_col".into(), t("img_path")),
                ],
                source_query: "SELECT * FROM mnist_test".into(),
            }
        );
    }

    #[test]
    fn tutorial_search() {
        assert_eq!(
            ok("SEARCH IMAGE images='tutorial_data/mnist_data/test/923.jpg' USING my_image_search_model AS SELECT * FROM mnist_test;"),
            Statement::SearchImage {
                images: vec!["tutorial_data/mnist_data/test/923.jpg".into()],
                model: "my_image_search_model".into(),
                source_query: "SELECT * FROM mnist_test".into(),
                order_limit: "".into(),
            }
        );
    }

    #[test]
    fn tutorial_print() {
        assert_eq!(
            ok("PRINT IMAGE AS (SEARCH IMAGE images='tutorial_data/mnist_data/test/923.jpg' USING my_image_search_model AS SELECT * FROM mnist_test ORDER BY my_image_search_model_simclr_similarity1 DESC LIMIT 4);"),
            Statement::PrintImage {
                inner: Box::new(Statement::SearchImage {
                    images: vec!["tutorial_data/mnist_data/test/923.jpg".into()],
                    model: "my_image_search_model".into(),
                    source_query: "SELECT * FROM mnist_test".into(),
                    order_limit: "ORDER BY my_image_search_model_simclr_similarity1 DESC LIMIT 4".into(),
                })
            }
        );
    }

    #[test]
    fn tutorial_without_semicolons_and_with_newlines() {
        let st = ok("\n  build   model\tmy_image_search_model\n using simclr\n options (max_epochs = 5 ,\n batch_size=256)\n as\n select *\n from mnist_train  \n");
        assert_eq!(
            st,
            Statement::BuildModel {
                model: "my_image_search_model".into(),
                algorithm: "simclr".into(),
                options: vec![("max_epochs".into(), OptionValue::Int(5)), ("batch_size".into(), OptionValue::Int(256)),],
                source_query: "select *\n from mnist_train".into(),
            }
        );
        let p = ok(
            "print image as (\n search image images='x.jpg' using m as select * from t order by s desc limit 4\n) ;; ",
        );
        assert!(matches!(p, Statement::PrintImage { .. }));
    }

    // ------------------------------------------------- case / identifiers

    #[test]
    fn keywords_case_insensitive() {
        let a = ok("CoPy T OpTiOnS(OVERWRITE=TRUE) fRoM 'x.csv'");
        assert_eq!(
            a,
            Statement::Copy {
                table: qn(None, "t"),
                path: "x.csv".into(),
                options: vec![("overwrite".into(), OptionValue::Bool(true))],
            }
        );
        let b = ok("Search Image IMAGES='a.jpg' Using M aS select 1 Order By 1 Limit 2");
        assert_eq!(search_parts(b), (vec!["a.jpg".into()], "m".into(), "select 1".into(), "Order By 1 Limit 2".into()));
        assert!(matches!(ok("convert using M as table t"), Statement::Convert { model, .. } if model == "m"));
    }

    #[test]
    fn quoted_identifiers() {
        assert_eq!(
            ok(r#"COPY "My Table" FROM 'x.csv'"#),
            Statement::Copy { table: qn(None, "My Table"), path: "x.csv".into(), options: vec![] }
        );
        assert!(matches!(
            ok(r#"BUILD MODEL "a""b" USING SimCLR AS SELECT 1"#),
            Statement::BuildModel { model, .. } if model == "a\"b"
        ));
        assert!(matches!(
            ok(r#"CONVERT USING "Mixed Case" AS SELECT 1"#),
            Statement::Convert { model, .. } if model == "Mixed Case"
        ));
        assert!(matches!(
            ok(r#"BUILD MODEL m USING "SimCLR" AS SELECT 1"#),
            Statement::BuildModel { algorithm, .. } if algorithm == "SimCLR"
        ));
        // bare identifiers with digits, $ and non-ASCII
        assert!(matches!(
            ok("BUILD MODEL Modèle_1$x USING simclr AS SELECT 1"),
            Statement::BuildModel { model, .. } if model == "modèle_1$x"
        ));
    }

    #[test]
    fn schema_qualified_names() {
        assert!(matches!(ok("COPY s.t FROM 'x'"), Statement::Copy { table, .. } if table == qn(Some("s"), "t")));
        assert!(matches!(ok("COPY S . T FROM 'x'"), Statement::Copy { table, .. } if table == qn(Some("s"), "t")));
        assert!(matches!(
            ok(r#"COPY "My Schema"."My.Table" FROM 'x'"#),
            Statement::Copy { table, .. } if table == qn(Some("My Schema"), "My.Table")
        ));
        let e = err("COPY a.b.c FROM 'x'");
        assert_eq!(e.position, 8);
        assert!(e.message.contains("too many dotted names"), "{}", e.message);
        // FROM is taken as the table name (positional grammar), then "'x'" isn't FROM
        let e = err("COPY a. FROM 'x'");
        assert_eq!((e.position, e.message.as_str()), (13, "expected OPTIONS or FROM, found \"'x'\""));
    }

    #[test]
    fn identifier_errors() {
        let e = err(r#"COPY "" FROM 'x'"#);
        assert_eq!((e.position, e.message.as_str()), (5, "zero-length delimited identifier"));
        let long = "a".repeat(64);
        let e = err(&format!("BUILD MODEL {long} USING simclr AS SELECT 1"));
        assert_eq!(e.position, 12);
        assert!(e.message.contains("too long"));
        assert!(parse(&format!("BUILD MODEL {} USING simclr AS SELECT 1", "a".repeat(63))).is_ok());
        let e = err(r#"COPY "abc FROM 'x'"#);
        assert_eq!((e.position, e.message.as_str()), (5, "unterminated quoted identifier"));
        let e = err("COPY 'tbl' FROM 'x'");
        assert_eq!(e.position, 5);
        assert_eq!(e.message, "expected table name, found \"'tbl'\"");
    }

    // -------------------------------------------------------------- COPY

    #[test]
    fn copy_variants() {
        let expect = Statement::Copy {
            table: qn(None, "t"),
            path: "it's.csv".into(),
            options: vec![("overwrite".into(), OptionValue::Bool(false)), ("delimiter".into(), t(";"))],
        };
        assert_eq!(ok("COPY t FROM 'it''s.csv' OPTIONS (overwrite=false, delimiter=';');"), expect);
        assert_eq!(ok("COPY t OPTIONS (overwrite=False, delimiter=\";\") FROM \"it's.csv\""), expect);
        assert_eq!(
            ok("COPY t FROM 'a\\b.csv'"),
            Statement::Copy { table: qn(None, "t"), path: "a\\b.csv".into(), options: vec![] }
        );
        assert_eq!(
            ok(r#"COPY t FROM "say ""hi"".csv" OPTIONS()"#),
            Statement::Copy { table: qn(None, "t"), path: "say \"hi\".csv".into(), options: vec![] }
        );
        let e = err("COPY t OPTIONS(a=1) FROM 'x' OPTIONS(b=2)");
        assert_eq!((e.position, e.message.as_str()), (29, "OPTIONS specified more than once"));
        let e = err("COPY t FROM x.csv");
        assert_eq!(e.position, 12);
        assert_eq!(e.message, "expected quoted file path, found \"x\"");
        let e = err("COPY t FROM ''");
        assert_eq!(e.position, 12);
        let e = err("COPY t TO 'x'");
        assert_eq!(e.message, "expected OPTIONS or FROM, found \"TO\"");
        let e = err("COPY t FROM 'x' DELIMITER ','");
        assert_eq!(e.position, 16);
        assert_eq!(e.message, "unexpected \"DELIMITER\" after end of statement");
    }

    // ---------------------------------------------------------- options

    #[test]
    fn option_values() {
        let st = ok("BUILD MODEL m USING simclr OPTIONS (a=1, b=-2, c=+3, d=1.5, e=-.25, f=1e3, g=2.5E-2, h=TRUE, i=false, j='Str', k=\"Dq\", l=SomeWord, m=9223372036854775807, n=-9223372036854775808, O=5.) AS SELECT 1");
        let Statement::BuildModel { options, .. } = st else { panic!() };
        assert_eq!(
            options,
            vec![
                ("a".into(), OptionValue::Int(1)),
                ("b".into(), OptionValue::Int(-2)),
                ("c".into(), OptionValue::Int(3)),
                ("d".into(), OptionValue::Float(1.5)),
                ("e".into(), OptionValue::Float(-0.25)),
                ("f".into(), OptionValue::Float(1000.0)),
                ("g".into(), OptionValue::Float(0.025)),
                ("h".into(), OptionValue::Bool(true)),
                ("i".into(), OptionValue::Bool(false)),
                ("j".into(), t("Str")),
                ("k".into(), t("Dq")),
                ("l".into(), t("someword")),
                ("m".into(), OptionValue::Int(i64::MAX)),
                ("n".into(), OptionValue::Int(i64::MIN)),
                ("o".into(), OptionValue::Float(5.0)),
            ]
        );
        // quoted strings are never coerced
        let Statement::Convert { options, .. } = ok("CONVERT USING m OPTIONS (x='5', y='true') AS SELECT 1") else {
            panic!()
        };
        assert_eq!(options, vec![("x".into(), t("5")), ("y".into(), t("true"))]);
    }

    #[test]
    fn option_errors() {
        let e = err("BUILD MODEL m USING simclr OPTIONS (a=9223372036854775808) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (38, "integer \"9223372036854775808\" is out of range"));
        let e = err("BUILD MODEL m USING simclr OPTIONS (a=5abc) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (38, "invalid number \"5abc\""));
        let e = err("BUILD MODEL m USING simclr OPTIONS (a=1e999) AS SELECT 1");
        assert_eq!(e.position, 38);
        let e = err("BUILD MODEL m USING simclr OPTIONS (a=1,) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (40, "expected option name, found \")\""));
        let e = err("BUILD MODEL m USING simclr OPTIONS (a 1) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (38, "expected \"=\", found \"1\""));
        let e = err("BUILD MODEL m USING simclr OPTIONS (a=1 b=2) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (40, "expected \",\" or \")\", found \"b\""));
        let e = err("BUILD MODEL m USING simclr OPTIONS a=1 AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (35, "expected \"(\", found \"a\""));
        let e = err("BUILD MODEL m USING simclr OPTIONS (a=) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (38, "expected option value, found \")\""));
        let e = err("BUILD MODEL m USING simclr OPTIONS (a='x) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (38, "unterminated quoted string"));
    }

    #[test]
    fn duplicate_options() {
        let e = err("BUILD MODEL m USING SimCLR OPTIONS (max_epochs=5, batch_size=256, MAX_EPOCHS=6) AS SELECT 1");
        assert_eq!(e.position, 66);
        assert_eq!(e.message, "option \"max_epochs\" specified more than once");
        let e = err("COPY t OPTIONS(overwrite=True, Overwrite=False) FROM 'x'");
        assert_eq!(e.position, 31);
        assert!(e.message.contains("\"overwrite\""));
    }

    // ------------------------------------------------------ SEARCH IMAGE

    #[test]
    fn search_image_lists() {
        let (images, _, _, _) =
            search_parts(ok("SEARCH IMAGE images=('a.jpg', \"b c.jpg\" ,'it''s.png') USING m AS SELECT 1"));
        assert_eq!(images, vec!["a.jpg", "b c.jpg", "it's.png"]);
        // a single string is one path even if it contains commas
        let (images, _, _, _) = search_parts(ok("SEARCH IMAGE images='a.jpg,b.jpg' USING m AS SELECT 1"));
        assert_eq!(images, vec!["a.jpg,b.jpg"]);
        let e = err("SEARCH IMAGE images=() USING m AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (21, "expected quoted image path, found \")\""));
        let e = err("SEARCH IMAGE images=('a.jpg',) USING m AS SELECT 1");
        assert_eq!(e.position, 29);
        let e = err("SEARCH IMAGE images=a.jpg USING m AS SELECT 1");
        assert_eq!(e.position, 20);
        let e = err("SEARCH IMAGE images='' USING m AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (20, "quoted image path or \"(\" must not be empty"));
        let e = err("SEARCH IMAGE img='a' USING m AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (13, "expected IMAGES, found \"img\""));
    }

    #[test]
    fn order_limit_split_basic() {
        assert_eq!(split("SELECT * FROM t"), ("SELECT * FROM t".into(), "".into()));
        assert_eq!(split("SELECT * FROM t LIMIT 4"), ("SELECT * FROM t".into(), "LIMIT 4".into()));
        assert_eq!(
            split("SELECT * FROM t  order\n by s desc limit 4 ;"),
            ("SELECT * FROM t".into(), "order\n by s desc limit 4".into())
        );
        assert_eq!(split("SELECT * FROM t OFFSET 2"), ("SELECT * FROM t".into(), "OFFSET 2".into()));
        assert_eq!(
            split("SELECT * FROM t FETCH FIRST 3 ROWS ONLY"),
            ("SELECT * FROM t".into(), "FETCH FIRST 3 ROWS ONLY".into())
        );
        assert_eq!(split("TABLE t ORDER BY 1"), ("TABLE t".into(), "ORDER BY 1".into()));
    }

    #[test]
    fn order_limit_not_split_inside_parens_quotes_comments() {
        // subquery
        assert_eq!(
            split("SELECT * FROM (SELECT * FROM t ORDER BY x LIMIT 10) s ORDER BY sim DESC LIMIT 4"),
            ("SELECT * FROM (SELECT * FROM t ORDER BY x LIMIT 10) s".into(), "ORDER BY sim DESC LIMIT 4".into())
        );
        assert_eq!(
            split("SELECT * FROM (SELECT * FROM t ORDER BY x LIMIT 10) s"),
            ("SELECT * FROM (SELECT * FROM t ORDER BY x LIMIT 10) s".into(), "".into())
        );
        // window / aggregate ORDER BY, CTE
        assert_eq!(
            split("WITH c AS (SELECT * FROM t ORDER BY 1 LIMIT 3) SELECT string_agg(a, ',' ORDER BY a) OVER (ORDER BY b) FROM c"),
            ("WITH c AS (SELECT * FROM t ORDER BY 1 LIMIT 3) SELECT string_agg(a, ',' ORDER BY a) OVER (ORDER BY b) FROM c".into(), "".into())
        );
        // strings, E-strings, quoted identifiers, dollar quotes, comments
        let q = "SELECT 'x ORDER BY y', E'it\\'s LIMIT 1', \"order by\", $$ LIMIT 2 $$, $tag$ ) ORDER BY $ $tag$ /* LIMIT 3 /* nested ) */ */ -- LIMIT 4 )\nFROM t";
        assert_eq!(split(q), (q.into(), "".into()));
        assert_eq!(split(&format!("{q} LIMIT 5")), (q.into(), "LIMIT 5".into()));
        // reserved words used as column labels
        assert_eq!(
            split("SELECT t.limit, x AS offset, t . order FROM t"),
            ("SELECT t.limit, x AS offset, t . order FROM t".into(), "".into())
        );
        // ORDER without BY is not a split point; $1 params and a$b identifiers are fine
        assert_eq!(split("SELECT a$limit, $1 FROM t LIMIT 1"), ("SELECT a$limit, $1 FROM t".into(), "LIMIT 1".into()));
        // UNION of parenthesised branches
        assert_eq!(
            split("(SELECT * FROM a LIMIT 2) UNION ALL (SELECT * FROM b) ORDER BY 1"),
            ("(SELECT * FROM a LIMIT 2) UNION ALL (SELECT * FROM b)".into(), "ORDER BY 1".into())
        );
    }

    #[test]
    fn query_trimming_and_comments() {
        assert_eq!(split("  /* lead */ SELECT * FROM t -- trailing comment"), ("SELECT * FROM t".into(), "".into()));
        assert_eq!(
            split("SELECT * FROM t LIMIT 4 -- trailing\n ; -- after\n ;"),
            ("SELECT * FROM t".into(), "LIMIT 4".into())
        );
        assert!(matches!(
            ok("CONVERT USING m AS SELECT 1 -- c"),
            Statement::Convert { source_query, .. } if source_query == "SELECT 1"
        ));
        let e = err("SEARCH IMAGE images='a' USING m AS LIMIT 4");
        assert_eq!((e.position, e.message.as_str()), (35, "expected a query before \"LIMIT\""));
        let e = err("SEARCH IMAGE images='a' USING m AS ;");
        assert_eq!((e.position, e.message.as_str()), (35, "expected a query after AS, found \";\""));
        let e = err("BUILD MODEL m USING simclr AS   ");
        assert_eq!((e.position, e.message.as_str()), (32, "expected a query after AS, found end of input"));
        let e = err("BUILD MODEL m USING simclr AS -- nothing");
        assert_eq!(e.position, 40);
    }

    // ------------------------------------------------------- PRINT IMAGE

    #[test]
    fn print_image_variants() {
        assert_eq!(
            ok("PRINT IMAGE AS (SELECT img_path FROM t WHERE x = ')' LIMIT 3);"),
            Statement::PrintImage {
                inner: Box::new(Statement::Query("SELECT img_path FROM t WHERE x = ')' LIMIT 3".into()))
            }
        );
        assert_eq!(
            ok("PRINT IMAGE AS (SELECT 1) UNION (SELECT 2)"),
            Statement::PrintImage { inner: Box::new(Statement::Query("(SELECT 1) UNION (SELECT 2)".into())) }
        );
        assert_eq!(
            ok("PRINT IMAGE AS SELECT 1"),
            Statement::PrintImage { inner: Box::new(Statement::Query("SELECT 1".into())) }
        );
        let st = ok("PRINT IMAGE AS SEARCH IMAGE images=('a','b') USING m AS SELECT * FROM t LIMIT 2;");
        let Statement::PrintImage { inner } = st else { panic!() };
        assert_eq!(
            search_parts(*inner),
            (vec!["a".into(), "b".into()], "m".into(), "SELECT * FROM t".into(), "LIMIT 2".into())
        );
        // inner query with nested parens keeps them
        let st =
            ok("PRINT IMAGE AS ( SEARCH IMAGE images='a' USING m AS SELECT * FROM (SELECT 1) s ORDER BY (sim) DESC )");
        let Statement::PrintImage { inner } = st else { panic!() };
        assert_eq!(search_parts(*inner).2, "SELECT * FROM (SELECT 1) s");
    }

    #[test]
    fn print_image_errors() {
        let s = "PRINT IMAGE AS (SEARCH IMAGE images='a' USING m AS SELECT 1; DROP TABLE t)";
        let e = err(s);
        assert_eq!((e.position, e.message.as_str()), (59, "\";\" is only allowed at the end of the statement"));
        let e = err("PRINT IMAGE AS (SEARCH IMAGE images='a' USING m AS SELECT 1) garbage");
        assert_eq!((e.position, e.message.as_str()), (61, "unexpected \"garbage\" after PRINT IMAGE AS (...)"));
        let e = err("PRINT IMAGE AS (SEARCH IMAGE images='a' USING m AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (15, "unbalanced \"(\": missing \")\""));
        let e = err("PRINT IMAGE AS (SEARCH IMAGE images='a' USIN m AS SELECT 1)");
        assert_eq!((e.position, e.message.as_str()), (40, "expected USING, found \"USIN\""));
        let e = err("PRINT IMAGE AS (SEARCH IMAGE images='a')");
        assert_eq!((e.position, e.message.as_str()), (39, "expected USING, found \")\""));
        let e = err("PRINT IMAGE AS (BUILD MODEL m USING simclr AS SELECT 1)");
        assert_eq!((e.position, e.message.as_str()), (16, "expected SEARCH IMAGE or a query, found \"BUILD\""));
        let e = err("PRINT IMAGE AS ()");
        assert_eq!(e.position, 16);
        let e = err("PRINT IMAGE (SELECT 1)");
        assert_eq!((e.position, e.message.as_str()), (12, "expected AS, found \"(\""));
    }
}
