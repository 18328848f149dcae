//! The access method's handler (what `CREATE ACCESS METHOD ann ... HANDLER ann_handler`
//! calls): an IndexAmRoutine pointing at the callbacks of the other files, and the SQL
//! objects (access method, operator classes).
use super::{build, cost, insert, options, scan, vacuum};
use pgrx::pg_sys;
use pgrx::prelude::*;

#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo_ann_handler() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn ann_handler(_fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let mut am = PgBox::<pg_sys::IndexAmRoutine>::alloc_node(pg_sys::NodeTag::T_IndexAmRoutine);
    am.amstrategies = 0; // operator classes number their one ordering operator freely
    am.amsupport = 0;
    am.amoptsprocnum = 0;
    am.amcanorder = false;
    am.amcanorderbyop = true;
    am.amcanbackward = false;
    am.amcanunique = false;
    am.amcanmulticol = false;
    am.amoptionalkey = true;
    am.amsearcharray = false;
    am.amsearchnulls = false;
    am.amstorage = false;
    am.amclusterable = false;
    am.ampredlocks = false;
    am.amcanparallel = false;
    am.amcaninclude = false;
    am.amusemaintenanceworkmem = false; // VACUUM needs no memory of its own
    am.amparallelvacuumoptions = pg_sys::VACUUM_OPTION_PARALLEL_BULKDEL as u8;
    am.amkeytype = pg_sys::InvalidOid;

    am.ambuild = Some(build::ambuild);
    am.ambuildempty = Some(build::ambuildempty);
    am.aminsert = Some(insert::aminsert);
    am.ambulkdelete = Some(vacuum::ambulkdelete);
    am.amvacuumcleanup = Some(vacuum::amvacuumcleanup);
    am.amcanreturn = None;
    am.amcostestimate = Some(cost::amcostestimate);
    am.amoptions = Some(options::amoptions);
    am.amproperty = None;
    am.ambuildphasename = Some(build::ambuildphasename);
    am.amvalidate = Some(amvalidate);
    am.amadjustmembers = None;
    am.ambeginscan = Some(scan::ambeginscan);
    am.amrescan = Some(scan::amrescan);
    am.amgettuple = Some(scan::amgettuple);
    am.amgetbitmap = None;
    am.amendscan = Some(scan::amendscan);
    am.ammarkpos = None;
    am.amrestrpos = None;
    am.amestimateparallelscan = None;
    am.aminitparallelscan = None;
    am.amparallelrescan = None;
    pg_sys::Datum::from(am.into_pg())
}

#[pg_guard]
unsafe extern "C-unwind" fn amvalidate(_opclass: pg_sys::Oid) -> bool {
    true
}

// Strategy numbers: 1 <->, 2 <#>, 3 <=> as resolved with the default search_path (the
// pg_catalog operators), 4, 5, 6 the same operators written OPERATOR(image_search.<=>).
// Keep in sync with the 0.3.0 -> 0.4.0 upgrade script and src/comments.sql.
extension_sql!(
    r#"
CREATE FUNCTION ann_handler(internal) RETURNS index_am_handler
    LANGUAGE c AS 'MODULE_PATHNAME', 'ann_handler';
CREATE ACCESS METHOD ann TYPE INDEX HANDLER ann_handler;
CREATE OPERATOR CLASS embedding_l2_ops FOR TYPE embedding USING ann AS
    OPERATOR 1 pg_catalog.<-> (embedding, embedding) FOR ORDER BY float_ops,
    OPERATOR 4 @extschema@.<-> (embedding, embedding) FOR ORDER BY float_ops;
CREATE OPERATOR CLASS embedding_ip_ops FOR TYPE embedding USING ann AS
    OPERATOR 2 pg_catalog.<#> (embedding, embedding) FOR ORDER BY float_ops,
    OPERATOR 5 @extschema@.<#> (embedding, embedding) FOR ORDER BY float_ops;
CREATE OPERATOR CLASS embedding_cosine_ops DEFAULT FOR TYPE embedding USING ann AS
    OPERATOR 3 pg_catalog.<=> (embedding, embedding) FOR ORDER BY float_ops,
    OPERATOR 6 @extschema@.<=> (embedding, embedding) FOR ORDER BY float_ops;
"#,
    name = "ann_index",
    requires = ["embedding_operators", "embedding_operators_everywhere"]
);
