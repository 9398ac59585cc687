//! Sparse text columns grow exactly the trees their dense twins grow: the same seed, the
//! same bins, the same candidate splits (the zeros' class weights, which the sparse search
//! takes as what the stored values leave, are exact with whole-number sample weights), for
//! random forests and extra trees, with bootstrap and out-of-bag scoring.

use mlkit_forest::data::{read_csv, training_table, Table, TextFeatures};
use mlkit_forest::matrix::{Column, Matrix};
use mlkit_forest::text::TextOptions;
use mlkit_forest::{Forest, ForestParams};

fn company_table(options: TextOptions) -> Table {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/company_sectors.csv"
    );
    let csv = read_csv(
        "company_sectors.csv",
        &std::fs::read_to_string(path).unwrap(),
    )
    .unwrap();
    let names: Vec<String> = ["description", "employees", "country"]
        .map(String::from)
        .to_vec();
    let text = TextFeatures {
        tfidf: &names[..1],
        options,
        embedded: &[],
    };
    training_table(&csv, "sector", &names, &text, 2).unwrap()
}

/// The same matrix with every column dense.
fn densified(m: &Matrix) -> Matrix {
    let columns = m
        .columns()
        .iter()
        .map(|c| match c {
            Column::Dense(v) => v.clone(),
            Column::Sparse(s) => {
                let mut v = vec![0.0; m.rows()];
                for (&r, &x) in s.rows.iter().zip(&s.values) {
                    v[r as usize] = x;
                }
                v
            }
        })
        .collect();
    Matrix::dense(columns).unwrap()
}

#[test]
fn sparse_columns_grow_the_trees_of_their_dense_twins() {
    for options in [
        TextOptions::default(),
        TextOptions {
            hash: Some(256),
            ..TextOptions::default()
        },
    ] {
        let sparse = company_table(options);
        assert!(sparse.matrix.has_sparse());
        assert!(sparse.matrix.width() > 50, "{}", sparse.matrix.width());
        let dense = Table {
            matrix: densified(&sparse.matrix),
            ..sparse.clone()
        };
        for extra in [false, true] {
            let params = ForestParams {
                trees: 30,
                extra,
                bootstrap: true,
                oob: true,
                seed: 7,
                ..ForestParams::default()
            };
            let a = Forest::fit(&sparse, &params, 2).unwrap();
            let b = Forest::fit(&dense, &params, 2).unwrap();
            assert_eq!(a.trees, b.trees, "extra trees: {extra}");
            assert_eq!(a.oob_score, b.oob_score);
            assert_eq!(a.importances, b.importances);
            let nodes: usize = a.trees.iter().map(|t| t.nodes.len()).sum();
            assert!(nodes > 30 * 5, "the trees split: {nodes} nodes");
            let (sa, sb) = (
                a.score(&sparse.matrix, 1).unwrap(),
                b.score(&dense.matrix, 1).unwrap(),
            );
            assert_eq!(sa.votes, sb.votes);
            assert_eq!(sa.leaf, sb.leaf);
            // A subset keeps the rows' sparse values.
            let rows: Vec<usize> = (0..sparse.rows()).rev().step_by(3).collect();
            assert_eq!(
                densified(&sparse.subset(&rows).matrix),
                dense.subset(&rows).matrix
            );
        }
    }
}
