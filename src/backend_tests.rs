//! Tests that need a running Postgres backend (`cargo pgrx test`). The SQL
//! surface is covered by the golden tests in test/; these check what SQL
//! cannot see: ONNX Runtime inside the backend, the exported ONNX file, and
//! that a Rust panic becomes an ERROR.
#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use crate::engine::onnx::architectures as model_files;
    use crate::engine::onnx::encoder_file::with_initializer;
    use crate::model::runtime as onnx;
    use ort::value::TensorRef;
    use pgrx::prelude::*;

    fn run_encoder(model: &[u8], images: &[f32], n: usize, dim: usize) -> Vec<f32> {
        let mut session = onnx::session(model).expect("session");
        let input = TensorRef::from_array_view(([n, 1, 28, 28], images)).unwrap();
        let outputs = session.run(ort::inputs!["images" => input]).unwrap();
        let (shape, values) = outputs["embedding"].try_extract_tensor::<f32>().unwrap();
        assert_eq!(&shape[..], &[n as i64, dim as i64]);
        values.to_vec()
    }

    #[pg_test]
    fn onnx_runtime_runs_the_encoder_graph_inside_the_backend() {
        let arch = model_files::simclr_cnn(1);
        let params = arch.initial_params();
        let model = with_initializer(arch.features.plain, "params", &params[..arch.encoder_param_count]);
        let images: Vec<f32> = (0..2 * 28 * 28).map(|i| (i % 29) as f32 / 29.0).collect();
        let out = run_encoder(&model, &images, 2, arch.embedding_dim);
        assert!(out.iter().all(|v| v.is_finite()));
        assert_ne!(&out[..128], &out[128..], "different images give different embeddings");
        assert!(onnx::build_info().unwrap().starts_with("ORT Build Info"), "{}", onnx::build_info().unwrap());
    }

    fn build_small_model(name: &str, seed: i64) {
        Spi::run(&format!(
            "SELECT * FROM image_search.load_csv('pg_test_train', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true);
             SELECT * FROM image_search.build_model('{name}', 'SELECT img_path FROM pg_test_train ORDER BY filename LIMIT 96',
                 image_col => 'img_path', max_epochs => 1, seed => {seed}, overwrite => true)"
        ))
        .unwrap();
    }

    #[pg_test]
    fn exported_encoder_runs_standalone_and_matches_embed_image() {
        build_small_model("exported", 1);
        let onnx_bytes = Spi::get_one::<Vec<u8>>("SELECT image_search.export_model('exported')").unwrap().unwrap();
        let stored = Spi::get_one::<Vec<f32>>(
            "SELECT image_search.embed_image('exported', 'tutorial_data/mnist_data/test/923.jpg')::real[]",
        )
        .unwrap()
        .unwrap();
        let root = crate::settings::string(&crate::settings::IMAGE_ROOT).expect("image_root is set for tests");
        let picture = crate::engine::image::decode::load_path(
            &std::path::Path::new(&root).join("tutorial_data/mnist_data/test/923.jpg"),
            &Default::default(),
        )
        .unwrap();
        let tensor = crate::engine::image::resize::to_tensor(&picture, 28, 1);
        // A grayscale model carries the gradient descriptor by default: 128 + 64 values.
        let standalone = run_encoder(
            &onnx_bytes,
            &tensor,
            1,
            model_files::simclr_cnn(1).embedding_dim(true, model_files::Readout::Features),
        );
        assert_eq!(standalone, stored, "the exported file is the model that embed_image runs");
    }

    #[pg_test]
    fn the_gradient_descriptor_sits_beside_the_learnt_embedding() {
        build_small_model("with_descriptor", 1);
        let embedding = Spi::get_one::<Vec<f32>>(
            "SELECT image_search.embed_image('with_descriptor', 'tutorial_data/mnist_data/test/923.jpg')::real[]",
        )
        .unwrap()
        .unwrap();
        let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let learnt = model_files::simclr_cnn(1).embedding_dim;
        assert_eq!(embedding.len(), learnt + crate::engine::gradient_descriptor::DIMS);
        assert!((norm(&embedding[..learnt]) - 1.0).abs() < 1e-4, "unit(h) first");
        assert!((norm(&embedding[learnt..]) - 0.5).abs() < 1e-4, "then 0.5 x the unit projected descriptor");
        Spi::run(
            "SELECT * FROM image_search.build_model('without_descriptor', 'SELECT img_path FROM pg_test_train ORDER BY filename LIMIT 96',
                 image_col => 'img_path', max_epochs => 1, seed => 1, gradient_descriptor => false, overwrite => true)",
        )
        .unwrap();
        let dims =
            Spi::get_one::<i32>("SELECT embedding_dim FROM image_search.model_list WHERE name = 'without_descriptor'");
        assert_eq!(dims.unwrap(), Some(learnt as i32));
    }

    #[pg_test]
    fn label_votes_appended_to_an_encoder_match_the_plain_rust_reference() {
        use crate::engine::label_votes;
        let arch = model_files::simclr_cnn(1);
        let params = arch.initial_params();
        let model = with_initializer(arch.features.plain, "params", &params[..arch.encoder_param_count]);
        let image = |i: usize| (0..28 * 28).map(move |p| ((p * (i + 3) + i * 7) % 31) as f32 / 31.0);
        let references: Vec<f32> = (0..30).flat_map(image).collect();
        let dim = arch.embedding_dim;
        let embeddings: Vec<Vec<f32>> =
            run_encoder(&model, &references, 30, dim).chunks(dim).map(<[f32]>::to_vec).collect();
        let labels: Vec<Option<String>> =
            (0..30).map(|i| Some(["bag", "coat", "shoe"][(i * 7 + i / 4) % 3].to_string())).collect();
        let reference = label_votes::choose_reference(&labels, 1).unwrap();
        let with_votes = label_votes::append(&model, &reference, &embeddings);
        // Queries unlike every reference image (the references' pattern repeats every 31 rows).
        let queries: Vec<f32> =
            (0..4 * 28 * 28).map(|p| ((p as f32 * 0.37).sin() * 0.5 + 0.5) * (p % 5) as f32 / 4.0).collect();
        let plain = run_encoder(&model, &queries, 4, dim);
        let mut session = onnx::session(&with_votes).expect("session");
        let input = TensorRef::from_array_view(([4usize, 1, 28, 28], &queries[..])).unwrap();
        let outputs = session.run(ort::inputs!["images" => input]).unwrap();
        let (shape, got) = outputs[label_votes::OUTPUT].try_extract_tensor::<f32>().unwrap();
        assert_eq!(&shape[..], &[4, (dim + 3) as i64]);
        let unit = |v: &[f32]| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter().map(|x| x / n).collect::<Vec<f32>>()
        };
        for (q, row) in got.chunks(dim + 3).enumerate() {
            // No near-tie at the 20th place, where ONNX Runtime's float32 TopK and the f64
            // reference could disagree without either being wrong.
            let e = unit(&plain[q * dim..(q + 1) * dim]);
            let mut similar: Vec<f32> =
                embeddings.iter().map(|r| unit(r).iter().zip(&e).map(|(a, b)| a * b).sum()).collect();
            similar.sort_by(|a, b| b.total_cmp(a));
            assert!(similar[label_votes::VOTERS - 1] - similar[label_votes::VOTERS] > 1e-5, "query {q}: a tie");
            let want = label_votes::votes_reference(&plain[q * dim..(q + 1) * dim], &reference, &embeddings);
            assert!(row.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5), "query {q}: {row:?} vs {want:?}");
        }
    }

    #[pg_test]
    fn the_same_seed_trains_the_same_model() {
        build_small_model("seeded_a", 7);
        build_small_model("seeded_b", 7);
        build_small_model("seeded_c", 8);
        let same = Spi::get_one::<bool>(
            "SELECT a.encoder_onnx = b.encoder_onnx FROM image_search.models a, image_search.models b
             WHERE a.name = 'seeded_a' AND b.name = 'seeded_b'",
        )
        .unwrap()
        .unwrap();
        let different = Spi::get_one::<bool>(
            "SELECT a.encoder_onnx <> c.encoder_onnx FROM image_search.models a, image_search.models c
             WHERE a.name = 'seeded_a' AND c.name = 'seeded_c'",
        )
        .unwrap()
        .unwrap();
        assert!(same && different);
    }

    /// The embeddings of a few test digits by `model`, one after another.
    fn test_digit_embeddings(model: &str) -> Vec<f32> {
        ["923", "10051", "10120", "10319"]
            .iter()
            .flat_map(|image| {
                Spi::get_one::<Vec<f32>>(&format!(
                    "SELECT image_search.embed_image('{model}', 'tutorial_data/mnist_data/test/{image}.jpg')::real[]"
                ))
                .unwrap()
                .unwrap()
            })
            .collect()
    }

    #[pg_test]
    fn a_build_on_several_threads_trains_the_model_of_one_thread() {
        // One thread runs the single-graph step; three cut each batch into slices, one
        // of which straddles the first and the second views.
        Spi::run("SELECT * FROM image_search.load_csv('pg_test_train', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true)")
            .unwrap();
        let build = |name: &str, threads: i32, seed: i32| {
            Spi::run(&format!(
                "SET image_search.threads = {threads};
                 SELECT * FROM image_search.build_model('{name}', 'SELECT img_path FROM pg_test_train ORDER BY filename LIMIT 96',
                     image_col => 'img_path', max_epochs => 3, learning_rate => 0.01, seed => {seed}, overwrite => true);
                 RESET image_search.threads"
            ))
            .unwrap();
            test_digit_embeddings(name)
        };
        let one = build("one_thread", 1, 7);
        let three = build("three_threads", 3, 7);
        let other_seed = build("other_seed", 1, 8);
        let largest_difference =
            |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        let rounding = largest_difference(&one, &three);
        let training = largest_difference(&one, &other_seed);
        assert!(training > 0.01, "another seed trains another model: {training}");
        assert!(rounding < training / 100.0, "three threads: {rounding}, another seed: {training}");
    }

    #[pg_test]
    fn a_model_trained_with_flips_embeds_a_mirror_image_identically() {
        let root = crate::settings::string(&crate::settings::IMAGE_ROOT).expect("image_root is set for tests");
        let digit = image::open(std::path::Path::new(&root).join("tutorial_data/mnist_data/test/923.jpg")).unwrap();
        let png = |picture: &image::DynamicImage| {
            let mut bytes = std::io::Cursor::new(Vec::new());
            picture.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
            bytes.into_inner()
        };
        let (plain, mirrored) = (png(&digit), png(&digit.fliph()));
        let distance = |model: &str| {
            Spi::run(&format!(
                "SELECT * FROM image_search.load_csv('pg_test_train', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true);
                 SELECT * FROM image_search.build_model('{model}', 'SELECT img_path FROM pg_test_train ORDER BY filename LIMIT 64',
                     image_col => 'img_path', max_epochs => 1, flip => {}, overwrite => true)",
                model == "flipped"
            ))
            .unwrap();
            Spi::get_one_with_args::<f64>(
                &format!("SELECT image_search.embed_image('{model}', $1) <-> image_search.embed_image('{model}', $2)"),
                &[plain.clone().into(), mirrored.clone().into()],
            )
            .unwrap()
            .unwrap()
        };
        assert!(distance("flipped") < 1e-5, "a mirror image embeds like the image");
        assert!(distance("unflipped") > 1e-3, "without flips it does not, so the check above can fail");
    }

    /// Exists only in test builds: a panic in Rust must surface as an ERROR.
    #[pg_extern]
    fn panic_on_purpose() -> i32 {
        let items: Vec<i32> = Vec::new();
        items[usize::MAX % 7] // index out of bounds
    }

    #[pg_test(error = "index out of bounds: the len is 0 but the index is 1")]
    fn a_rust_panic_becomes_an_error() {
        Spi::get_one::<i32>("SELECT tests.panic_on_purpose()").unwrap();
    }

    #[pg_test]
    fn the_backend_survives_a_panic_in_a_worker_thread() {
        let caught = std::panic::catch_unwind(|| {
            use rayon::prelude::*;
            (0..4).into_par_iter().for_each(|i| assert!(i < 3, "worker failed"));
        });
        assert!(caught.is_err());
        assert_eq!(Spi::get_one::<i32>("SELECT 1").unwrap(), Some(1));
    }
}
